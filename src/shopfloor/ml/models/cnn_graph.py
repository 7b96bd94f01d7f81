r"""The ``cnn`` network as an ONNX graph, written from its weights with ``onnx.helper``.

The graph is built from plain numpy arrays, not by tracing torch, so an artifact
depends neither on the torch exporter (whose TorchScript form is deprecated and whose
``torch.export`` form needs onnxscript) nor on torch being installed, and the same
weights always give the same bytes. Batch normalisation is folded into the convolution
before it: with the layer's running mean :math:`\mu`, variance :math:`\sigma^2`, scale
:math:`\gamma` and shift :math:`\beta`, each output channel's kernel becomes
:math:`W\,\gamma/\sqrt{\sigma^2+\epsilon}` and its bias
:math:`\beta - \mu\,\gamma/\sqrt{\sigma^2+\epsilon}`, which is exactly what the
network computes in evaluation mode.

The graph (opset 17, which every onnxruntime ≥ 1.18 runs)::

    image float32[n, H, W, C], preprocessed as the model's ``preprocess`` says
      → Transpose to [n, C, H, W]
      → (x - mean) / std                         per channel, from the training images
      → the views: the image alone, or flipped    (views = 1, 4 or 8; stacked on the batch)
        left-right, upside-down and both (4), and each of those transposed (8)
      → [Conv 3×3 → ReLU] × convs_per_block → MaxPool 2×2      per block
      → GlobalAveragePool → Flatten → mean over the views
                                                 "embedding" float32[n, channels[-1]]
      → Gemm → ÷ temperature → Softmax           "probabilities" float32[n, classes]

Averaging the views (test-time augmentation) makes the class of a texture independent
of its orientation; the linear layer being affine, the mean of the embeddings gives the
mean of the views' logits. The batch axis is dynamic; the embedding is a second output,
for uses such as the distance of a part to good parts.

Examples
--------
>>> import numpy as np
>>> from shopfloor.ml.onnxio import OnnxGraph
>>> rng = np.random.default_rng(0)
>>> weights = CnnWeights(
...     mean=np.zeros(1, np.float32), std=np.ones(1, np.float32),
...     convs=[(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), np.zeros(4, np.float32))],
...     convs_per_block=1,
...     linear=(rng.normal(size=(3, 4)).astype(np.float32), np.zeros(3, np.float32)),
...     temperature=1.0,
... )
>>> graph = OnnxGraph(cnn_to_onnx(weights))
>>> graph.run(np.zeros((2, 8, 8, 1)))["probabilities"].shape
(2, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError
from shopfloor.ml.onnxio import TARGET_OPSET

__all__ = [
    "EMBEDDING",
    "IMAGE",
    "PROBABILITIES",
    "VIEWS",
    "CnnWeights",
    "cnn_to_onnx",
    "fold_batch_norm",
]

IMAGE = "image"
"""Name of the graph's input: float32[n, height, width, channels], preprocessed images."""
PROBABILITIES = "probabilities"
"""Name of the output holding the calibrated class probabilities."""
EMBEDDING = "embedding"
"""Name of the output holding the pooled features the classifier reads."""

VIEWS = (1, 4, 8)
"""How many views of an image the graph may average (see the module docstring)."""

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class CnnWeights:
    """A trained network in evaluation form: batch normalisation already folded.

    Attributes
    ----------
    mean, std
        Per input channel, subtracted then divided by inside the graph.
    convs
        ``(kernel[out, in, 3, 3], bias[out])`` of every convolution, first to last.
    convs_per_block
        Convolutions before each 2×2 max pooling.
    linear
        ``(weight[classes, features], bias[classes])`` of the classifier.
    temperature
        Divides the logits before the softmax (temperature scaling, > 0).
    views
        1, or the number of flipped (4) and transposed (8) views averaged.
    """

    mean: F32
    std: F32
    convs: list[tuple[F32, F32]]
    convs_per_block: int
    linear: tuple[F32, F32]
    temperature: float
    views: int = 1

    def __post_init__(self) -> None:
        if self.views not in VIEWS:
            raise ModelError(f"cnn: views must be one of {VIEWS}, got {self.views!r}")
        if not self.convs or len(self.convs) % self.convs_per_block:
            raise ModelError(
                f"cnn: {len(self.convs)} convolutions do not make blocks of {self.convs_per_block}"
            )
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ModelError(f"cnn: temperature must be > 0, got {self.temperature!r}")
        channels = self.mean.shape[0]
        for i, (kernel, bias) in enumerate(self.convs):
            if kernel.ndim != 4 or kernel.shape[1] != channels or bias.shape != kernel.shape[:1]:
                raise ModelError(
                    f"cnn: convolution {i} has kernel {kernel.shape} and bias {bias.shape} "
                    f"after {channels} channels"
                )
            channels = kernel.shape[0]
        weight, bias = self.linear
        if weight.shape[1:] != (channels,) or bias.shape != weight.shape[:1]:
            raise ModelError(
                f"cnn: classifier weight {weight.shape} and bias {bias.shape} "
                f"after {channels} features"
            )


def fold_batch_norm(
    kernel: F32,
    bias: F32 | None,
    gamma: F32,
    beta: F32,
    running_mean: F32,
    running_var: F32,
    eps: float,
) -> tuple[F32, F32]:
    """A convolution followed by batch normalisation, as one convolution.

    Returns
    -------
    kernel, bias
        float32, computed in float64 (see the module docstring for the formula).
    """
    scale = gamma.astype(np.float64) / np.sqrt(running_var.astype(np.float64) + eps)
    conv_bias = np.zeros_like(scale) if bias is None else bias.astype(np.float64)
    folded_kernel = kernel.astype(np.float64) * scale[:, None, None, None]
    folded_bias = beta.astype(np.float64) + (conv_bias - running_mean) * scale
    return folded_kernel.astype(np.float32), folded_bias.astype(np.float32)


def cnn_to_onnx(weights: CnnWeights) -> bytes:
    """The network as ONNX bytes (see the module docstring for the graph)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    channels = int(weights.mean.shape[0])
    n_classes = int(weights.linear[0].shape[0])
    init: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def constant(name: str, value: npt.NDArray[np.float32]) -> str:
        init.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    shape = (1, channels, 1, 1)
    nodes.append(helper.make_node("Transpose", [IMAGE], ["nchw"], perm=[0, 3, 1, 2]))
    nodes.append(
        helper.make_node("Sub", ["nchw", constant("mean", weights.mean.reshape(shape))], ["c"])
    )
    inv_std = (1.0 / weights.std.astype(np.float64)).astype(np.float32)
    nodes.append(helper.make_node("Mul", ["c", constant("inv_std", inv_std.reshape(shape))], ["x"]))
    current = "x"
    if weights.views > 1:
        int_init: list[onnx.TensorProto] = []
        for name, values in (
            ("flip.start", [-1]),
            ("flip.end", [np.iinfo(np.int64).min]),
            ("flip.step", [-1]),
            ("axis.h", [2]),
            ("axis.w", [3]),
            ("views.shape", [weights.views, -1, int(weights.linear[0].shape[1])]),
        ):
            int_init.append(numpy_helper.from_array(np.array(values, np.int64), name))
        init.extend(int_init)

        def flip(source: str, axis: str, out: str) -> str:
            nodes.append(
                helper.make_node(
                    "Slice", [source, "flip.start", "flip.end", axis, "flip.step"], [out]
                )
            )
            return out

        views = ["x", flip("x", "axis.w", "x.fw"), flip("x", "axis.h", "x.fh")]
        views.append(flip("x.fw", "axis.h", "x.fhw"))
        if weights.views == 8:
            for view in list(views):
                nodes.append(
                    helper.make_node("Transpose", [view], [f"{view}.t"], perm=[0, 1, 3, 2])
                )
                views.append(f"{view}.t")
        nodes.append(helper.make_node("Concat", views, ["x.views"], axis=0))
        current = "x.views"
    for i, (kernel, bias) in enumerate(weights.convs):
        k, b = constant(f"conv{i}.w", kernel), constant(f"conv{i}.b", bias)
        nodes.append(
            helper.make_node(
                "Conv", [current, k, b], [f"conv{i}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]
            )
        )
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
        current = f"relu{i}"
        if (i + 1) % weights.convs_per_block == 0:
            nodes.append(
                helper.make_node(
                    "MaxPool", [current], [f"pool{i}"], kernel_shape=[2, 2], strides=[2, 2]
                )
            )
            current = f"pool{i}"
    nodes.append(helper.make_node("GlobalAveragePool", [current], ["gap"]))
    if weights.views == 1:
        nodes.append(helper.make_node("Flatten", ["gap"], [EMBEDDING], axis=1))
    else:
        nodes.append(helper.make_node("Flatten", ["gap"], ["gap.flat"], axis=1))
        nodes.append(helper.make_node("Reshape", ["gap.flat", "views.shape"], ["gap.views"]))
        nodes.append(
            helper.make_node("ReduceMean", ["gap.views"], [EMBEDDING], axes=[0], keepdims=0)
        )
    weight, bias = weights.linear
    nodes.append(
        helper.make_node(
            "Gemm",
            [EMBEDDING, constant("fc.w", weight), constant("fc.b", bias)],
            ["logits"],
            transB=1,
        )
    )
    inv_t = np.array(1.0 / weights.temperature, dtype=np.float32)
    nodes.append(helper.make_node("Mul", ["logits", constant("inv_temperature", inv_t)], ["z"]))
    nodes.append(helper.make_node("Softmax", ["z"], [PROBABILITIES], axis=1))
    graph = helper.make_graph(
        nodes,
        "shopfloor_cnn",
        [helper.make_tensor_value_info(IMAGE, TensorProto.FLOAT, ["n", "h", "w", channels])],
        [
            helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, ["n", n_classes]),
            helper.make_tensor_value_info(
                EMBEDDING, TensorProto.FLOAT, ["n", int(weights.linear[0].shape[1])]
            ),
        ],
        init,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", TARGET_OPSET[""])],
        producer_name="shopfloor",
    )
    model.ir_version = 8  # read by every onnxruntime ≥ 1.18
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
