r"""``onnx_image``: an image classifier from a user's ONNX file (weights trained elsewhere).

No pretrained weights can be downloaded here, but a user may bring their own: an ONNX
graph taking one float32 image batch (``NCHW`` as torch exports, or ``NHWC``) of the
shape the ``preprocess`` parameter makes, and giving one row of class scores per image
(``logits`` or ``probabilities``) in the order of ``classes``. ``fit`` does not change
the weights: it reads the file, checks it against the preprocessing and the classes, and
calibrates the confidence by temperature scaling on the labelled images it is given (the
calibration part when the training service has one): the temperature :math:`T`
minimizing the negative log-likelihood of :math:`\mathrm{softmax}(z / T)`. The graph
is kept in the artifact, so a registered version never reads the file again.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "linear.onnx"
>>> _ = path.write_bytes(linear_onnx((8, 8, 1), 2, seed=0))
>>> model = OnnxImageClassifier(
...     weights=str(path), classes=["ok", "scratch"], preprocess={"size": [8, 8]}
... )
>>> x = np.random.default_rng(0).random((6, 8, 8, 1)).astype(np.float32)
>>> model.fit(x, ["ok", "scratch"] * 3).predict_proba(x).shape
(6, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.features.images import ImageBatch
from shopfloor.ml.base import Artifact, ImageClassifier, register_model

__all__ = ["EXAMPLE_WEIGHTS", "OnnxImageClassifier", "linear_onnx"]

Layout = Literal["nchw", "nhwc"]
Output = Literal["logits", "probabilities"]

EXAMPLE_WEIGHTS = Path(__file__).with_name("onnx_image_example.onnx")
"""A linear classifier of 24×24 grayscale images into 3 classes (``linear_onnx((24, 24,
1), 3, seed=0)``), shipped for the contract suite and the documentation's example."""


def linear_onnx(
    shape: tuple[int, int, int], n_classes: int, *, seed: int, layout: Layout = "nchw"
) -> bytes:
    """A small ONNX image classifier (flatten, matmul, bias: logits), seeded random weights.

    For tests, examples and benchmarks: any graph of this form can stand in for a user's
    own trained network.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w, c = shape
    dims = [None, c, h, w] if layout == "nchw" else [None, h, w, c]
    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, 0.05, (h * w * c, n_classes)).astype(np.float32)
    bias = rng.normal(0.0, 0.1, n_classes).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["image"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weight"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["logits"]),
        ],
        "linear_image_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, n_classes])],
        [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def fit_temperature(logits: npt.NDArray[np.float64], codes: npt.NDArray[np.int64]) -> float:
    """The temperature minimizing the mean negative log-likelihood (log grid, then refined)."""

    def nll(t: float) -> float:
        p = _softmax(logits / t)
        return float(-np.mean(np.log(np.maximum(p[np.arange(len(codes)), codes], 1e-300))))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))
    losses = [nll(t) for t in grid]
    i = int(np.argmin(losses))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    fine = np.exp(np.linspace(np.log(lo), np.log(hi), 41))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


@register_model
class OnnxImageClassifier(ImageClassifier):
    """A user-supplied ONNX image classifier, its confidence calibrated by a temperature.

    Parameters
    ----------
    weights
        Path of the ONNX file (read by ``fit`` only; the artifact keeps the graph).
    classes
        The class of each output column, in order.
    preprocess
        What the graph takes (:class:`~shopfloor.features.images.ImagePreprocess`).
    min_confidence
        Below this probability of the best class the outcome is ``uncertain``.
    layout
        ``nchw`` (channels first, as torch exports) or ``nhwc``.
    output
        Whether the first output holds ``logits`` or ``probabilities``.
    calibrate
        Fit a temperature on the labelled images given to ``fit`` (else ``T = 1``).
    """

    model_type: ClassVar[str] = "onnx_image"
    exports_onnx: ClassVar[bool] = True
    contract_params: ClassVar[dict[str, Any]] = {
        "weights": str(EXAMPLE_WEIGHTS),
        "classes": ["plain", "spots", "stripes"],
        "preprocess": {"size": [24, 24]},
    }

    onnx_: bytes
    graph_: Any
    temperature_: float

    def __init__(
        self,
        weights: str | None = None,
        classes: list[str] | None = None,
        preprocess: dict[str, Any] | None = None,
        min_confidence: float = 0.5,
        layout: Layout = "nchw",
        output: Output = "logits",
        calibrate: bool = True,
    ) -> None:
        self._init_image(preprocess, min_confidence)
        if layout not in ("nchw", "nhwc"):
            raise ModelError(f"onnx_image: layout must be nchw or nhwc, got {layout!r}")
        if output not in ("logits", "probabilities"):
            raise ModelError(f"onnx_image: output must be logits or probabilities, got {output!r}")
        if classes is not None and (
            not isinstance(classes, list)
            or len(classes) < 2
            or len(set(map(str, classes))) != len(classes)
        ):
            raise ModelError(
                f"onnx_image: classes must be 2 or more distinct names, got {classes!r}"
            )
        self.weights = weights
        self.classes = classes
        self.layout = layout
        self.output = output
        self.calibrate = calibrate

    def _session(self, payload: bytes) -> Any:
        from shopfloor.ml.onnxio import OnnxGraph

        return OnnxGraph(payload, source=f"onnx_image weights {self.weights}")

    def _read(self) -> bytes:
        if not self.weights or not self.classes:
            raise ModelError(
                "onnx_image: give the ONNX file and its classes, e.g. --params "
                '\'{"weights": "net.onnx", "classes": ["ok", "scratch"]}\''
            )
        try:
            return Path(self.weights).read_bytes()
        except OSError as err:
            raise ModelError(f"onnx_image: cannot read weights {self.weights}: {err}") from err

    def _scores(self, graph: Any, batch: ImageBatch) -> npt.NDArray[np.float64]:
        """The graph's first output as logits (log of probabilities when it gives those)."""
        x = np.transpose(batch, (0, 3, 1, 2)) if self.layout == "nchw" else batch
        try:
            raw = np.asarray(graph.run(np.ascontiguousarray(x))[graph.outputs[0]], np.float64)
        except Exception as err:  # onnxruntime's own errors: wrong shape, type
            raise ModelError(
                f"onnx_image: {self.weights} does not take {self.layout} images of shape "
                f"{tuple(x.shape[1:])}: {err}"
            ) from err
        classes = self.classes or []
        if raw.ndim != 2 or raw.shape[1] != len(classes):
            raise ModelError(
                f"onnx_image: {self.weights} gives outputs of shape {raw.shape[1:]}, expected "
                f"one score per class ({len(classes)}: {', '.join(classes)})"
            )
        return np.log(np.maximum(raw, 1e-12)) if self.output == "probabilities" else raw

    def fit(
        self,
        images: ImageBatch,
        y: Sequence[str],
        *,
        calibration: tuple[ImageBatch, Sequence[str]] | None = None,
    ) -> Self:
        """Check the graph on ``images``; fit its temperature (on ``calibration`` if given)."""
        batch = self._fit_images(images)
        labels = [str(v) for v in y]
        if len(labels) != batch.shape[0]:
            raise ModelError(f"onnx_image: {len(labels)} labels for {batch.shape[0]} images")
        payload = self._read()
        graph = self._session(payload)
        classes = [str(c) for c in self.classes or []]
        unknown = sorted(set(labels) - set(classes))
        if calibration is not None:
            unknown = sorted(set(unknown) | (set(map(str, calibration[1])) - set(classes)))
        if unknown:
            raise ModelError(
                f"onnx_image: labels {unknown} are not among the graph's classes {classes}"
            )
        temperature = 1.0
        if self.calibrate:
            held, held_labels = (batch, labels) if calibration is None else calibration
            held_batch = self._images(held)
            logits = self._scores(graph, held_batch) if len(held_batch) else np.zeros((0, 0))
            if len(held_batch):
                codes = np.array([classes.index(str(c)) for c in held_labels], dtype=np.int64)
                temperature = fit_temperature(logits, codes)
        else:
            self._scores(graph, batch[:1])
        self.onnx_ = payload
        self.graph_ = graph
        self.classes_ = classes
        self.temperature_ = temperature
        self._fitted_on(batch)
        return self

    def predict_proba(self, images: ImageBatch) -> npt.NDArray[np.float64]:
        """Images × classes: the softmax of the graph's logits over the temperature."""
        batch = self._check_images(images)
        if batch.shape[0] == 0:
            return np.zeros((0, len(self.classes_)))
        return _softmax(self._scores(self.graph_, batch) / self.temperature_)

    def to_artifact(self) -> Artifact:
        """The user's graph as the ONNX payload; classes, temperature, shape in the metadata."""
        self.check_fitted()
        return self._image_artifact("onnx", self.onnx_, temperature=self.temperature_)

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact` (the weights file is not read again)."""
        model = cls._from_image_artifact(artifact)
        model.onnx_ = artifact.payload
        model.graph_ = model._session(artifact.payload)
        model.temperature_ = float(artifact.meta["temperature"])
        return model
