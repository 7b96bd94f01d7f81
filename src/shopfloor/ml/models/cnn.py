"""``cnn``: a small convolutional network trained from scratch on CPU, scored as ONNX.

Fitting trains the network with torch (the ``vision`` extra,
:mod:`~shopfloor.ml.models.cnn_training`): a few convolution blocks, global average
pooling and a linear layer, AdamW, class-weighted loss, augmentation
(:func:`shopfloor.features.images.augment`), early stopping and temperature scaling on
held-back calibration images. The trained network is then written as an ONNX graph
(:mod:`~shopfloor.ml.models.cnn_graph`) with the softmax inside, and every probability,
before and after save/load, comes from onnxruntime running that graph: a registered
``cnn`` model scores where torch is not installed, and only fitting needs it.

The calibration images are the ``calibration`` part ``fit`` is given (the training
service's calibration split); without one, ``fit`` holds back a stratified
``calibration_fraction`` of the training images itself (seeded by ``random_state``).

Examples
--------
>>> from shopfloor.testing.model_checks import example_pixels
>>> from shopfloor.features.images import preprocess_batch
>>> pixels, labels = example_pixels(36)
>>> model = CnnClassifier(preprocess={"size": [16, 16]}, channels=[4, 8], epochs=2, n_threads=1)
>>> images = preprocess_batch(list(pixels), model.preprocess_spec)
>>> model.fit(images, labels).classes_
['plain', 'spots', 'stripes']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.features.images import Augmentation, ImageBatch, augment
from shopfloor.ml.base import Artifact, ImageClassifier, register_model
from shopfloor.ml.models.cnn_graph import PROBABILITIES, VIEWS, cnn_to_onnx
from shopfloor.ml.onnxio import OnnxGraph

if TYPE_CHECKING:
    from shopfloor.ml.models.cnn_training import AugmentFunction, ProgressCallback, TrainingResult

__all__ = ["DEFAULT_AUGMENTATION", "DEFAULT_PREPROCESS", "VISION_EXTRA", "CnnClassifier"]

DEFAULT_PREPROCESS: dict[str, Any] = {
    "size": [64, 64],
    "grayscale": True,
    "roi": None,
    "normalize": "unit",
}
"""64×64 grayscale, values 0..1: on NEU's 200×200 textures as accurate as 128×128 (on the
calibration part), four times faster to train and to score."""

DEFAULT_AUGMENTATION: dict[str, Any] = {
    "flip_horizontal": True,
    "flip_vertical": True,
    "quarter_turns": True,
    "rotation_deg": 10.0,
    "brightness": 0.1,
    "contrast": 0.2,
    "noise_std": 0.02,
}
"""Flips, quarter turns (square images), rotations up to 10°, brightness ±10 % and contrast
±20 % of the range, noise 2 %."""

SCORING_BATCH = 32
"""Images per onnxruntime call: bounds the memory the first layers' activations take."""

VISION_EXTRA = "install the vision extra: pip install 'shopfloor[vision]'"
"""What to do when torch is missing (only fitting a ``cnn`` needs it)."""


def _positive_int(name: str, value: Any, *, low: int = 1, high: int = 100_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelError(f"cnn: {name} must be an integer in {low}..{high}, got {value!r}")
    return value


def _positive_float(name: str, value: Any, *, high: float = float("inf")) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise ModelError(f"cnn: {name} must be a number in (0, {high}], got {value!r}")
    return float(value)


@register_model
class CnnClassifier(ImageClassifier):
    """A small CNN, trained from scratch with torch and scored as ONNX.

    Parameters
    ----------
    preprocess
        Image preprocessing (:class:`~shopfloor.features.images.ImagePreprocess` as a
        dict); default :data:`DEFAULT_PREPROCESS`.
    min_confidence
        Below this (calibrated) probability of the best class the outcome is ``uncertain``.
    channels
        Output channels of each convolution block; each block halves the image size, so
        the images must be at least ``2 ** len(channels)`` pixels high and wide.
    convs_per_block
        3×3 convolutions (with batch normalisation and ReLU) in each block.
    epochs
        Most passes over the training images.
    patience
        Epochs without a better calibration score before training stops early.
    batch_size
        Images per gradient step.
    learning_rate
        Peak learning rate (AdamW, one-cycle schedule).
    weight_decay
        AdamW's weight decay.
    dropout
        Dropout before the linear layer while training.
    augment
        Whether training images are augmented.
    augmentation
        :class:`~shopfloor.features.images.Augmentation` as a dict; default
        :data:`DEFAULT_AUGMENTATION`.
    balanced
        Weight the loss inversely to class frequency.
    calibration_fraction
        Share of the training images held back for early stopping and temperature
        scaling when ``fit`` is given no calibration images.
    random_state
        Seeds the network's weights, batches, augmentation and the held-back split.
    n_threads
        CPU threads torch uses for training (scoring uses one onnxruntime thread).
    crop
        Train on random ``crop``×``crop`` squares of the images, and score whole images
        (the network ends in a global average pooling, so it takes any size): more
        varied training batches for textures. ``None``: train on whole images.
    views
        Views of each image averaged when scoring: 1 (the image), 4 (and its flips) or 8
        (and their transposes; square images only). More views score more slowly (each
        is a pass of the network) and make the class independent of the orientation.
    """

    model_type: ClassVar[str] = "cnn"
    exports_onnx: ClassVar[bool] = True
    contract_params: ClassVar[dict[str, Any]] = {
        "preprocess": {"size": [16, 16], "grayscale": True},
        "channels": [4, 8],
        "epochs": 2,
        "batch_size": 16,
        "n_threads": 1,
    }

    classes_: list[str]
    onnx_: bytes
    graph_: OnnxGraph
    temperature_: float
    best_epoch_: int
    history_: list[dict[str, Any]]

    def __init__(
        self,
        preprocess: dict[str, Any] | None = None,
        min_confidence: float = 0.5,
        channels: list[int] | None = None,
        convs_per_block: int = 1,
        epochs: int = 60,
        patience: int = 20,
        batch_size: int = 32,
        learning_rate: float = 3e-3,
        weight_decay: float = 1e-4,
        dropout: float = 0.1,
        augment: bool = True,
        augmentation: dict[str, Any] | None = None,
        balanced: bool = True,
        calibration_fraction: float = 0.2,
        random_state: int = 0,
        n_threads: int = 2,
        crop: int | None = None,
        views: int = 8,
    ) -> None:
        self._init_image(DEFAULT_PREPROCESS if preprocess is None else preprocess, min_confidence)
        self.channels = [16, 32, 64, 128] if channels is None else channels
        if (
            not isinstance(self.channels, list)
            or not 1 <= len(self.channels) <= 8
            or not all(
                isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 1024
                for c in self.channels
            )
        ):
            raise ModelError(
                f"cnn: channels must be a list of 1..8 integers in 1..1024, got {channels!r}"
            )
        self.convs_per_block = _positive_int("convs_per_block", convs_per_block, high=8)
        self.epochs = _positive_int("epochs", epochs)
        self.patience = _positive_int("patience", patience)
        self.batch_size = _positive_int("batch_size", batch_size, low=2)
        self.learning_rate = _positive_float("learning_rate", learning_rate)
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, int | float):
            raise ModelError(f"cnn: weight_decay must be a number ≥ 0, got {weight_decay!r}")
        if weight_decay < 0:
            raise ModelError(f"cnn: weight_decay must be a number ≥ 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise ModelError(f"cnn: dropout must be a number in [0, 1), got {dropout!r}")
        if not 0 <= dropout < 1:
            raise ModelError(f"cnn: dropout must be a number in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.augment = bool(augment)
        try:
            spec = Augmentation.model_validate(
                DEFAULT_AUGMENTATION if augmentation is None else augmentation
            )
        except ValueError as err:
            raise ModelError(f"cnn: augmentation: {err}") from None
        self.augmentation: dict[str, Any] = spec.model_dump(mode="json")
        self.balanced = bool(balanced)
        self.calibration_fraction = _positive_float(
            "calibration_fraction", calibration_fraction, high=0.5
        )
        self.random_state = _positive_int("random_state", random_state, low=0, high=2**31 - 1)
        self.n_threads = _positive_int("n_threads", n_threads, high=256)
        if views not in VIEWS or isinstance(views, bool):
            raise ModelError(f"cnn: views must be one of {VIEWS}, got {views!r}")
        self.views = views
        if crop is not None:
            _positive_int("crop", crop, high=4096)
        self.crop = crop

    def fit(
        self,
        images: ImageBatch,
        y: Sequence[str],
        *,
        calibration: tuple[ImageBatch, Sequence[str]] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Self:
        """Train on labelled preprocessed images (at least two classes).

        Parameters
        ----------
        images, y
            Preprocessed images ``(n, h, w, c)`` and their classes.
        calibration
            Held-back labelled images for early stopping and temperature scaling (never
            for gradient steps); ``None``: a stratified ``calibration_fraction`` of
            ``images`` is held back.
        progress
            Called after every epoch with an
            :class:`~shopfloor.ml.models.cnn_training.EpochProgress`.

        Raises
        ------
        ModelError
            When torch is not installed (:data:`VISION_EXTRA`), or the images or labels
            do not fit the model.
        """
        try:
            from shopfloor.ml.models import cnn_training
        except ImportError as err:
            raise ModelError(f"cnn: training needs torch; {VISION_EXTRA} ({err})") from err

        batch = self._fit_images(images)
        labels = self._check_labels(batch, y)
        classes = sorted(set(labels))
        codes = np.searchsorted(np.array(classes), np.array(labels)).astype(np.int64)
        if calibration is None:
            train_rows, cal_rows = self._hold_back(codes)
            x_cal, cal_codes = batch[cal_rows], codes[cal_rows]
            x_train, train_codes = batch[train_rows], codes[train_rows]
        else:
            cal_images, cal_labels = calibration
            x_cal = self._calibration_images(cal_images)
            cal_list = [str(label) for label in cal_labels]
            if len(cal_list) != x_cal.shape[0]:
                raise ModelError(
                    f"cnn: {len(cal_list)} calibration labels for {x_cal.shape[0]} images"
                )
            unknown = sorted(set(cal_list) - set(classes))
            if unknown:
                raise ModelError(
                    f"cnn: calibration classes {unknown} are not among the training classes "
                    f"{classes}"
                )
            cal_codes = np.searchsorted(np.array(classes), np.array(cal_list)).astype(np.int64)
            x_train, train_codes = batch, codes
        options = cnn_training.TrainingOptions(
            channels=tuple(self.channels),
            convs_per_block=self.convs_per_block,
            epochs=self.epochs,
            patience=self.patience,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            dropout=self.dropout,
            class_weight=self.balanced,
            seed=self.random_state,
            n_threads=self.n_threads,
            views=self.views,
            crop=self.crop,
        )
        result = cnn_training.train_cnn(
            x_train,
            train_codes,
            x_cal,
            cal_codes,
            n_classes=len(classes),
            options=options,
            augment=self._augmenter() if self.augment else None,
            progress=progress,
        )
        self._keep(result, classes)
        self._fitted_on(batch)
        return self

    def _augmenter(self) -> AugmentFunction:
        spec = Augmentation.model_validate(self.augmentation)

        def run(images: npt.NDArray[np.float32], seed: int) -> npt.NDArray[np.float32]:
            return augment(images, spec, seed=seed)

        return run

    def _hold_back(
        self, codes: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Stratified training and calibration rows: a share of every class is held back."""
        rng = np.random.default_rng(self.random_state)
        train: list[npt.NDArray[np.intp]] = []
        held: list[npt.NDArray[np.intp]] = []
        for code in np.unique(codes):
            rows = rng.permutation(np.flatnonzero(codes == code))
            k = round(self.calibration_fraction * len(rows))
            k = min(k, len(rows) - 1)  # every class keeps a training image
            held.append(rows[:k])
            train.append(rows[k:])
        train_rows, held_rows = np.sort(np.concatenate(train)), np.sort(np.concatenate(held))
        if len(train_rows) < 2:
            raise ModelError(f"cnn: {len(codes)} images are too few to train on")
        return train_rows, held_rows

    def _calibration_images(self, images: Any) -> ImageBatch:
        batch = self._images(images)
        if batch.shape[1:] != tuple(self.preprocess_spec.shape):
            raise ModelError(
                f"cnn: calibration images are {batch.shape[1:]} (height, width, channels) "
                f"but its preprocessing makes {tuple(self.preprocess_spec.shape)}"
            )
        if not np.isfinite(batch).all():
            raise ModelError("cnn: calibration images hold NaN or infinite values")
        return batch

    def _keep(self, result: TrainingResult, classes: list[str]) -> None:
        self.onnx_ = cnn_to_onnx(result.weights)
        self.graph_ = OnnxGraph(self.onnx_, source="cnn graph")
        self.classes_ = classes
        self.temperature_ = result.weights.temperature
        self.best_epoch_ = result.best_epoch
        self.history_ = [
            {
                "epoch": h.epoch,
                "loss": h.loss,
                "accuracy": h.accuracy,
                "calibration_loss": h.calibration_loss,
                "calibration_accuracy": h.calibration_accuracy,
            }
            for h in result.history
        ]

    def predict_proba(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        """Images × :attr:`classes_` calibrated probabilities from the ONNX graph."""
        batch = self._check_images(images)
        if batch.shape[0] == 0:
            return np.zeros((0, len(self.classes_)))
        proba = np.concatenate(
            [
                self.graph_.run(batch[i : i + SCORING_BATCH])[PROBABILITIES]
                for i in range(0, batch.shape[0], SCORING_BATCH)
            ]
        ).astype(np.float64)
        # float32 in the graph: renormalize so each row sums to 1 in float64
        return np.asarray(proba / proba.sum(axis=1, keepdims=True), dtype=np.float64)

    def to_artifact(self) -> Artifact:
        """The network as ONNX; classes, input shape, temperature and best epoch beside it."""
        self.check_fitted()
        return self._image_artifact(
            "onnx", self.onnx_, temperature=self.temperature_, best_epoch=self.best_epoch_
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact` (onnxruntime only: no torch needed)."""
        model = cls._from_image_artifact(artifact)
        model.onnx_ = artifact.payload
        model.graph_ = OnnxGraph(artifact.payload, source="cnn artifact")
        model.temperature_ = float(artifact.meta["temperature"])
        model.best_epoch_ = int(artifact.meta["best_epoch"])
        model.history_ = []
        return model
