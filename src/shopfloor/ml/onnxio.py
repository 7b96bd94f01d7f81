"""ONNX in and out: scikit-learn estimators to ONNX bytes (skl2onnx), scored by onnxruntime.

A model type that exports ONNX scores through the ONNX graph from the moment it is
fitted, not through the scikit-learn estimator: the fitted model and the model reloaded
from its artifact then run the very same graph on the very same float32 inputs, so
save → load → score is bit-identical. (scikit-learn computes in float64 and the ONNX
tree operators in float32; the two agree to about 1e-6, which is why the estimator
itself is never used to score.)

onnxruntime runs with one intra-op thread, so a sum over trees is always taken in the
same order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError

__all__ = ["TARGET_OPSET", "OnnxGraph", "sklearn_to_onnx"]

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
"""Operator sets the artifacts use (onnxruntime ≥ 1.18 runs both)."""


def sklearn_to_onnx(
    estimator: Any, n_features: int, *, options: dict[str, Any] | None = None
) -> bytes:
    """A fitted scikit-learn estimator as ONNX bytes taking ``float32[n, n_features]``.

    Parameters
    ----------
    estimator
        A fitted estimator skl2onnx converts.
    n_features
        Number of input columns.
    options
        skl2onnx converter options for the estimator (e.g. ``{"zipmap": False}``).
    """
    from skl2onnx import to_onnx

    try:
        proto = to_onnx(
            estimator,
            np.zeros((1, n_features), dtype=np.float32),
            options={id(estimator): options} if options else None,
            target_opset=TARGET_OPSET,
        )
    except (RuntimeError, ValueError, TypeError, NameError) as err:
        raise ModelError(
            f"{type(estimator).__name__} could not be converted to ONNX: {err}"
        ) from err
    return bytes(proto.SerializeToString())


class OnnxGraph:
    """An ONNX model ready to run; ``ModelError`` when the bytes are not a valid one.

    Parameters
    ----------
    payload
        ONNX bytes.
    source
        Named in error messages.
    """

    def __init__(self, payload: bytes, *, source: str = "ONNX payload") -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                payload, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{source} is not a valid ONNX model: {err}") from err
        self._input = self._session.get_inputs()[0].name
        self.outputs = [o.name for o in self._session.get_outputs()]

    def run(self, x: npt.NDArray[np.floating[Any]]) -> dict[str, npt.NDArray[Any]]:
        """Output name → array for the rows ``x`` (cast to float32)."""
        if x.shape[0] == 0:
            return {}
        values = self._session.run(None, {self._input: np.ascontiguousarray(x, np.float32)})
        return {name: np.asarray(v) for name, v in zip(self.outputs, values, strict=True)}
