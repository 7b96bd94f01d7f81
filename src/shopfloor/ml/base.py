"""The model contract: what every model type does, as scikit-learn's estimators do.

A model type is a class registered with :func:`register_model`. Its parameters are the
keywords of ``__init__``, stored unchanged on attributes of the same name (so
:meth:`Model.get_params` and :meth:`Model.clone` work by introspection), and it learns
only in ``fit``. Fitted attributes end with an underscore.

Two tasks:

- :class:`AnomalyModel` learns "healthy" from a baseline (``fit(X, regime=...)``) and
  scores windows (``score``): higher is more anomalous; ``NaN`` means *unknown* (a regime
  the baseline did not cover, or no finite input), never healthy.
- :class:`Classifier` learns labelled classes (``fit(X, y)``) and gives class
  probabilities (``predict_proba``).

Two more for images (:class:`ImageModel`), fed float32 ``(n, height, width, channels)``
arrays made by :func:`shopfloor.features.images.preprocess_batch` under the model's own
``preprocess`` parameter:

- :class:`ImageClassifier` learns labelled images (``fit(images, y)``);
- :class:`ImageAnomalyModel` learns good parts only (``fit(images)``) and scores
  departures from them, with a threshold calibrated on held-back good images.

Both give ``predict_proba`` over :attr:`ImageModel.classes_` (an anomaly model's classes
are ``defect`` and ``good``), so one helper (:func:`shopfloor.ml.images.classify_images`)
turns either into a class and a confidence, or ``uncertain`` below the model's
``min_confidence``.

Inputs of the first two are float64 matrices of windows × features, with the feature
names beside them (``feature_names``); a model fitted on some names refuses a matrix
with other names.

A fitted model becomes an :class:`Artifact` (:meth:`Model.to_artifact`): its type, its
parameters, JSON metadata and a payload that is either ONNX (where the model exports) or
numpy arrays in an ``.npz`` read with ``allow_pickle=False``. Nothing is ever unpickled:
an artifact cannot run code when it is loaded. :func:`load_model` rebuilds the model and
gives identical scores.

Examples
--------
>>> import numpy as np
>>> from shopfloor.ml.base import MODEL_TYPES
>>> sorted(MODEL_TYPES) == sorted(set(MODEL_TYPES))
True
"""

from __future__ import annotations

import inspect
import io
import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self, TypeVar

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError, NotFittedError
from shopfloor.features.images import ImageBatch, ImagePreprocess

__all__ = [
    "DEFECT",
    "GOOD",
    "MODEL_TYPES",
    "UNCERTAIN",
    "AnomalyModel",
    "Artifact",
    "Classifier",
    "FloatMatrix",
    "ImageAnomalyModel",
    "ImageClassifier",
    "ImageModel",
    "Model",
    "build_model",
    "load_model",
    "model_types",
    "register_model",
]

FloatMatrix = npt.NDArray[np.float64]
Task = Literal["anomaly", "classification", "image_classification", "image_anomaly"]
PayloadFormat = Literal["onnx", "npz"]

ARTIFACT_VERSION = 1
"""Bumped when the artifact layout changes; older artifacts keep loading."""


@dataclass(frozen=True)
class Artifact:
    """A fitted model as data: type, parameters, JSON metadata and a safe payload.

    ``payload`` is ONNX bytes (``format="onnx"``) or an ``.npz`` of plain numeric arrays
    (``format="npz"``, read with ``allow_pickle=False``). :meth:`to_bytes` packs all of
    it into one zip file (``artifact.json`` + ``payload.onnx`` or ``payload.npz``).
    """

    model_type: str
    params: dict[str, Any]
    format: PayloadFormat
    payload: bytes
    meta: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """One zip file; the same artifact always packs to the same bytes."""
        manifest = {
            "artifact_version": ARTIFACT_VERSION,
            "model_type": self.model_type,
            "params": self.params,
            "format": self.format,
            "meta": self.meta,
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in (
                ("artifact.json", json.dumps(manifest, sort_keys=True, indent=1).encode()),
                (f"payload.{self.format}", self.payload),
            ):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "artifact") -> Artifact:
        """Unpack :meth:`to_bytes`; ``ModelError`` naming ``source`` when it is not one."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                manifest = json.loads(zf.read("artifact.json"))
                fmt = manifest["format"]
                if fmt not in ("onnx", "npz"):
                    raise ModelError(f"{source}: unknown payload format {fmt!r}")
                payload = zf.read(f"payload.{fmt}")
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as err:
            raise ModelError(f"{source} is not a model artifact: {err}") from err
        return cls(
            model_type=str(manifest["model_type"]),
            params=dict(manifest["params"]),
            format=fmt,
            payload=payload,
            meta=dict(manifest.get("meta", {})),
        )


def arrays_to_npz(arrays: dict[str, npt.NDArray[Any]]) -> bytes:
    """Numeric arrays → ``.npz`` bytes; object arrays are refused (they would pickle)."""
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise ModelError(f"array {name!r} holds Python objects; artifacts keep numbers only")
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buffer.getvalue()


def npz_to_arrays(data: bytes) -> dict[str, npt.NDArray[Any]]:
    """``.npz`` bytes → arrays, never unpickling (``allow_pickle=False``)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise ModelError(f"model payload is not a plain numeric .npz: {err}") from err


class Model(ABC):
    """What every model type shares: parameters, cloning, feature names, artifacts."""

    model_type: ClassVar[str]
    """The name in project files and the registry (``isolation_forest``)."""
    task: ClassVar[Task]
    exports_onnx: ClassVar[bool] = False
    """Whether :meth:`to_artifact` writes ONNX (else an ``.npz`` of arrays)."""
    contract_params: ClassVar[dict[str, Any]] = {}
    """Parameters ``testing.check_model`` builds the type with (small and fast)."""
    contract_exemptions: ClassVar[dict[str, str]] = {}
    """Contract check name → why this type is exempt from it (as River's estimator tags)."""

    feature_names_in_: list[str]

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` keywords and their current values (as scikit-learn's)."""
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        return {name: getattr(self, name) for name in names}

    def clone(self) -> Self:
        """A new, unfitted model with the same parameters."""
        return type(self)(**self.get_params())

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` has run."""
        return hasattr(self, "feature_names_in_")

    def check_fitted(self) -> None:
        """``NotFittedError`` naming the model type when ``fit`` has not run."""
        if not self.fitted:
            raise NotFittedError(f"{self.model_type} model is not fitted: call fit first")

    def _set_features(self, x: FloatMatrix, feature_names: Sequence[str] | None) -> FloatMatrix:
        x = _matrix(x, self.model_type)
        names = list(feature_names) if feature_names is not None else _default_names(x)
        if len(names) != x.shape[1]:
            raise ModelError(
                f"{self.model_type}: {len(names)} feature names for {x.shape[1]} columns"
            )
        self.feature_names_in_ = names
        return x

    def _check_features(self, x: FloatMatrix, feature_names: Sequence[str] | None) -> FloatMatrix:
        self.check_fitted()
        x = _matrix(x, self.model_type)
        names = list(feature_names) if feature_names is not None else None
        if names is not None and names != self.feature_names_in_:
            raise ModelError(
                f"{self.model_type} was fitted on features {self.feature_names_in_}, got {names}"
            )
        if x.shape[1] != len(self.feature_names_in_):
            raise ModelError(
                f"{self.model_type} was fitted on {len(self.feature_names_in_)} features, "
                f"got {x.shape[1]} columns"
            )
        return x

    @abstractmethod
    def to_artifact(self) -> Artifact:
        """The fitted model as a safe :class:`Artifact`."""

    @classmethod
    @abstractmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild a fitted model from :meth:`to_artifact`; identical outputs."""


class AnomalyModel(Model):
    """Learns a healthy baseline; scores departures from it.

    ``regime`` (one label or ``None`` per row) lets a model learn each operating regime
    separately; a row whose regime the baseline did not contain scores ``NaN``.
    """

    task: ClassVar[Task] = "anomaly"

    @abstractmethod
    def fit(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        """Learn healthy from baseline windows (rows) of features (columns)."""

    @abstractmethod
    def score(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> npt.NDArray[np.float64]:
        """One score per row: higher is more anomalous; ``NaN`` is unknown."""

    def contributions(
        self,
        x: FloatMatrix,
        *,
        regime: Sequence[str | None] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> FloatMatrix:
        """How each feature makes up each row's score: rows × features, non-negative.

        Optional: a type that can split its score over its features says so here; for
        the others :func:`shopfloor.ml.explain.feature_contributions` falls back on
        robust z-scores against the baseline.

        Raises
        ------
        NotImplementedError
            When the type has no contributions of its own.
        """
        raise NotImplementedError(f"{self.model_type} has no contributions of its own")


class Classifier(Model):
    """Learns labelled classes; gives class probabilities."""

    task: ClassVar[Task] = "classification"
    classes_: list[str]

    @abstractmethod
    def fit(
        self,
        x: FloatMatrix,
        y: Sequence[str],
        *,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        """Learn from rows ``x`` with labels ``y``."""

    @abstractmethod
    def predict_proba(
        self, x: FloatMatrix, *, feature_names: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        """Rows × :attr:`classes_` probabilities, each row summing to 1."""

    def predict(self, x: FloatMatrix, *, feature_names: Sequence[str] | None = None) -> list[str]:
        """The most probable class of each row."""
        proba = self.predict_proba(x, feature_names=feature_names)
        return [self.classes_[i] for i in np.argmax(proba, axis=1)]


UNCERTAIN = "uncertain"
"""The outcome of an image whose best class is less confident than ``min_confidence``."""
GOOD = "good"
"""The class of a good part (an :class:`ImageAnomalyModel`'s inlier)."""
DEFECT = "defect"
"""The class of a part an :class:`ImageAnomalyModel` scores above its threshold."""


class ImageModel(Model):
    """What image model types share: preprocessing stored with the model, classes, confidence.

    Every image type takes two keywords beside its own (so both are stored with it, in
    its artifact's parameters):

    ``preprocess``
        An :class:`~shopfloor.features.images.ImagePreprocess` as plain JSON (size,
        grayscale, region of interest, normalization): what scoring does to encoded images
        before they reach the model. ``fit`` refuses images of another shape.
    ``min_confidence``
        Below this probability of its best class, an image's outcome is :data:`UNCERTAIN`
        (manual review) instead of a forced class.

    A subclass calls ``self._init_image(preprocess, min_confidence)`` in ``__init__``;
    in ``fit``, ``self._fit_images(images)`` first (the checked batch) and
    ``self._fitted_on(batch)`` last, once everything is learned (a failed ``fit`` leaves
    the model unfitted); and ``self._check_images(images)`` first when scoring.
    """

    classes_: list[str]
    input_shape_: tuple[int, int, int]
    preprocess: dict[str, Any]
    min_confidence: float

    def _init_image(self, preprocess: Any, min_confidence: float) -> None:
        try:
            self.preprocess = ImagePreprocess.from_params(preprocess).as_params()
        except ValueError as err:
            raise ModelError(f"{self.model_type}: {err}") from None
        if not isinstance(min_confidence, int | float) or not 0.0 <= min_confidence <= 1.0:
            raise ModelError(
                f"{self.model_type}: min_confidence must be a probability in [0, 1], "
                f"got {min_confidence!r}"
            )
        self.min_confidence = float(min_confidence)

    @property
    def preprocess_spec(self) -> ImagePreprocess:
        """The :class:`~shopfloor.features.images.ImagePreprocess` of ``preprocess``."""
        cached: tuple[dict[str, Any], ImagePreprocess] | None = self.__dict__.get("_spec")
        if cached is None or cached[0] is not self.preprocess:  # validated once per dict
            cached = (self.preprocess, ImagePreprocess.from_params(self.preprocess))
            self.__dict__["_spec"] = cached
        return cached[1]

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` has run."""
        return hasattr(self, "input_shape_")

    def _images(self, images: Any) -> ImageBatch:
        batch = np.asarray(images, dtype=np.float32)
        if batch.ndim != 4:
            raise ModelError(
                f"{self.model_type}: expected images shaped (n, height, width, channels), "
                f"got {batch.ndim}-D {batch.shape}"
            )
        return batch

    def _fit_images(self, images: Any) -> ImageBatch:
        """Images to fit on, checked against the preprocessing (``ModelError`` if not)."""
        batch = self._images(images)
        expected = tuple(self.preprocess_spec.shape)
        if batch.shape[1:] != expected:
            raise ModelError(
                f"{self.model_type}: images are {batch.shape[1:]} (height, width, channels) "
                f"but its preprocessing makes {expected}"
            )
        if batch.shape[0] == 0:
            raise ModelError(f"{self.model_type}: no images to fit")
        if not np.isfinite(batch).all():
            raise ModelError(f"{self.model_type}: images hold NaN or infinite values")
        return batch

    def _fitted_on(self, images: ImageBatch) -> None:
        """Mark the model fitted on images of this shape (last in ``fit``)."""
        self.input_shape_ = (int(images.shape[1]), int(images.shape[2]), int(images.shape[3]))

    def _check_images(self, images: Any) -> ImageBatch:
        self.check_fitted()
        batch = self._images(images)
        if batch.shape[1:] != self.input_shape_:
            raise ModelError(
                f"{self.model_type} was fitted on images {self.input_shape_} "
                f"(height, width, channels), got {batch.shape[1:]}"
            )
        return batch

    def _image_artifact(self, fmt: PayloadFormat, payload: bytes, **meta: Any) -> Artifact:
        """The artifact of a fitted image model: its classes and input shape in the metadata.

        ``meta`` adds what the type learned besides (a temperature, a threshold).
        """
        self.check_fitted()
        return Artifact(
            model_type=self.model_type,
            params=self.get_params(),
            format=fmt,
            payload=payload,
            meta={"classes": self.classes_, "input_shape": list(self.input_shape_), **meta},
        )

    @classmethod
    def _from_image_artifact(cls, artifact: Artifact) -> Self:
        """A model built from the artifact's parameters, with its classes and input shape.

        The type then puts back what it learned (its payload, its ``meta``).
        """
        model = cls(**artifact.params)
        h, w, c = (int(v) for v in artifact.meta["input_shape"])
        model.input_shape_ = (h, w, c)
        if not isinstance(model, ImageAnomalyModel):  # whose classes are fixed
            model.classes_ = [str(v) for v in artifact.meta["classes"]]
        return model

    @abstractmethod
    def predict_proba(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        """Images × :attr:`classes_` probabilities (float64), each row summing to 1."""

    def predict(self, images: ImageBatch) -> list[str]:
        """The most probable class of each image (never :data:`UNCERTAIN`)."""
        proba = self.predict_proba(images)
        return [self.classes_[i] for i in np.argmax(proba, axis=1)]


class ImageClassifier(ImageModel):
    """Learns labelled images; gives class probabilities (calibrated where the type can)."""

    task: ClassVar[Task] = "image_classification"

    @abstractmethod
    def fit(
        self,
        images: ImageBatch,
        y: Sequence[str],
        *,
        calibration: tuple[ImageBatch, Sequence[str]] | None = None,
    ) -> Self:
        """Learn from preprocessed images ``(n, h, w, c)`` with one class name each.

        ``calibration`` holds held-back labelled images (the training service's
        calibration part) a type may use to stop training early or to calibrate its
        confidence (e.g. a temperature), never to learn its weights; a type that
        calibrates otherwise (cross-validation inside ``fit``) ignores it.
        """

    def _check_labels(self, images: ImageBatch, y: Sequence[str]) -> list[str]:
        """The labels as text, one per image, at least two classes (else ``ModelError``)."""
        labels = [str(label) for label in y]
        if len(labels) != images.shape[0]:
            raise ModelError(
                f"{self.model_type}: {len(labels)} labels for {images.shape[0]} images"
            )
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ModelError(f"{self.model_type}: needs at least 2 classes, got {classes}")
        if UNCERTAIN in classes:
            raise ModelError(f"{self.model_type}: {UNCERTAIN!r} is an outcome, not a class")
        return labels


class ImageAnomalyModel(ImageModel):
    """Learns good parts only; scores departures from them (higher is more anomalous).

    ``fit`` learns from good images and sets a first ``threshold_``;
    :meth:`calibrate` sets it again from held-back good images (a quantile of their
    scores), which is what training on a user's folder does. A score above the threshold
    is a :data:`DEFECT`. ``predict_proba`` gives ``[P(defect), P(good)]``, a logistic of
    the score's distance to the threshold in units of the good scores' spread
    (``scale_``), so :data:`UNCERTAIN` applies near the threshold.
    """

    task: ClassVar[Task] = "image_anomaly"
    threshold_: float
    scale_: float

    @property
    def classes_(self) -> list[str]:  # type: ignore[override]
        """``["defect", "good"]``."""
        return [DEFECT, GOOD]

    @abstractmethod
    def fit(self, images: ImageBatch) -> Self:
        """Learn from preprocessed good images ``(n, h, w, c)``; sets a first threshold."""

    @abstractmethod
    def score(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        """One float64 score per image: higher is more anomalous."""

    def calibrate(self, good: ImageBatch, *, quantile: float = 0.99) -> Self:
        """Set ``threshold_`` to the ``quantile`` of held-back good images' scores.

        ``scale_`` becomes the spread of those scores (their interquartile range, at
        least 1e-9 of the threshold), which makes ``predict_proba`` comparable across types.
        """
        if not 0.5 <= quantile < 1.0:
            raise ModelError(f"{self.model_type}: quantile must be in [0.5, 1), got {quantile}")
        scores = self.score(good)
        scores = scores[np.isfinite(scores)]
        if scores.size == 0:
            raise ModelError(f"{self.model_type}: no good images to calibrate the threshold on")
        self.threshold_, self.scale_ = threshold_from_scores(scores, quantile)
        return self

    def predict_proba(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        """``[P(defect), P(good)]`` per image, from the score and the threshold."""
        score = self.score(images)
        z = np.clip((score - self.threshold_) / self.scale_, -50.0, 50.0)
        defect = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([defect, 1.0 - defect]).astype(np.float64)


def threshold_from_scores(scores: npt.NDArray[np.float64], quantile: float) -> tuple[float, float]:
    """``(threshold, scale)`` from good parts' scores: their quantile and their spread."""
    threshold = float(np.quantile(scores, quantile))
    q75, q25 = np.quantile(scores, [0.75, 0.25])
    scale = max(float(q75 - q25), abs(threshold) * 1e-9, 1e-12)
    return threshold, scale


MODEL_TYPES: dict[str, type[Model]] = {}
"""Model type name → class; every entry passes ``testing.check_model``."""

M = TypeVar("M", bound=type[Model])


def register_model(cls: M) -> M:
    """Class decorator: make a model type known by its ``model_type``."""
    name = cls.model_type
    if name in MODEL_TYPES and MODEL_TYPES[name] is not cls:
        raise ModelError(f"model type {name!r} is registered twice")
    MODEL_TYPES[name] = cls
    return cls


def model_types() -> dict[str, type[Model]]:
    """Every registered model type by name, the built-in ones included."""
    _load_builtin_types()
    return dict(MODEL_TYPES)


def _known() -> str:
    return ", ".join(sorted(MODEL_TYPES))


def build_model(model_type: str, params: dict[str, Any] | None = None) -> Model:
    """A new model of ``model_type``; ``ModelError`` names an unknown type or parameter."""
    _load_builtin_types()
    cls = MODEL_TYPES.get(model_type)
    if cls is None:
        raise ModelError(f"unknown model type {model_type!r} (known: {_known()})")
    params = dict(params or {})
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ModelError(
            f"model type {model_type!r}: unknown parameter(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(accepted))})"
        )
    try:
        return cls(**params)
    except (TypeError, ValueError) as err:
        raise ModelError(f"model type {model_type!r}: {err}") from err


def load_model(artifact: Artifact) -> Model:
    """Rebuild the fitted model an artifact holds."""
    _load_builtin_types()
    cls = MODEL_TYPES.get(artifact.model_type)
    if cls is None:
        raise ModelError(
            f"artifact holds unknown model type {artifact.model_type!r} (known: {_known()})"
        )
    try:
        return cls.from_artifact(artifact)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        if isinstance(err, ModelError):
            raise
        raise ModelError(
            f"artifact of model type {artifact.model_type!r} is incomplete or malformed: "
            f"{type(err).__name__}: {err}"
        ) from err


_BUILTIN_LOADER: list[Callable[[], None]] = []


def _load_builtin_types() -> None:
    """Import ``shopfloor.ml.models`` once, which registers the built-in types."""
    if not _BUILTIN_LOADER:
        import shopfloor.ml.models  # noqa: F401  (registers on import)

        _BUILTIN_LOADER.append(lambda: None)


def _matrix(x: Any, model_type: str) -> FloatMatrix:
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2:
        raise ModelError(
            f"{model_type}: expected a 2-D matrix (windows × features), got {array.ndim}-D"
        )
    return array


def _default_names(x: FloatMatrix) -> list[str]:
    return [f"x{i}" for i in range(x.shape[1])]
