r"""Training the ``cnn`` model type with torch, on CPU, from scratch.

This module imports torch (the ``vision`` extra) at its top and is imported only when
a CNN is fitted: neither ``import shopfloor`` nor scoring a fitted model loads it.

The network is a few blocks of 3×3 convolution → batch normalisation → ReLU, each block
closed by a 2×2 max pooling, then a global average pooling and one linear layer (see
:mod:`~shopfloor.ml.models.cnn_graph` for the same network as ONNX). Training:

- inputs are standardised per channel with the training images' mean and deviation;
- AdamW with a one-cycle learning-rate schedule over at most ``epochs``;
- the cross-entropy is weighted by :math:`w_c = n / (k\,n_c)` (``n`` images, ``k``
  classes, ``n_c`` images of class ``c``), so a rare class weighs as much as a common one;
- each batch is augmented by the ``augment`` function the caller gives (the model type
  gives :func:`shopfloor.features.images.augment` with its ``augmentation`` parameter),
  seeded by the training seed, the epoch and the batch;
- after every epoch the network is scored on the *calibration* images (held back from
  the gradient steps); the epoch with the best calibration accuracy (lowest calibration
  loss among equals) is kept, and training stops after ``patience`` epochs without a
  better one (early stopping);
- on the same calibration images a temperature :math:`T` is fitted (temperature
  scaling): it minimises the negative log-likelihood of
  :math:`\operatorname{softmax}(z / T)` over :math:`T \in [0.25, 10]`, so the
  confidence is calibrated without changing any prediction.

Everything is seeded (``seed``): weights, batch order and augmentation come from torch
generators forked from the seed, torch's deterministic algorithms are switched on during
training, and the number of CPU threads (``n_threads``) is fixed, so the same data and
options train the same network, bit for bit, on the same machine. Torch's global
settings (threads, determinism, random state) are restored afterwards.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812  (torch's own convention)
from torch import nn

from shopfloor.errors import ModelError
from shopfloor.ml.models.cnn_graph import CnnWeights, fold_batch_norm

__all__ = [
    "EpochProgress",
    "TrainingOptions",
    "TrainingResult",
    "fit_temperature",
    "train_cnn",
]

TEMPERATURE_RANGE = (0.25, 10.0)
"""Temperature scaling never sharpens by more than 4×, nor softens by more than 10×."""


@dataclass(frozen=True)
class TrainingOptions:
    """How the network is built and trained (the ``cnn`` model type's parameters).

    Attributes
    ----------
    channels
        Output channels of each block; each block halves the image's height and width.
    convs_per_block
        Convolutions (each with batch normalisation and ReLU) in a block.
    epochs
        Most passes over the training images.
    patience
        Epochs without a better calibration score before training stops.
    batch_size
        Images per gradient step.
    learning_rate
        Peak learning rate of the one-cycle schedule.
    weight_decay
        AdamW's decoupled weight decay.
    dropout
        Dropout before the linear layer, in training only.
    class_weight
        Whether the loss weighs classes inversely to their frequency.
    seed
        Seeds everything random in training.
    n_threads
        CPU threads torch uses while training.
    views
        Views of each image averaged when scoring (1, 4 flips, 8 flips and transposes;
        see :mod:`~shopfloor.ml.models.cnn_graph`), on the calibration images as in the
        exported graph.
    crop
        Train on random ``crop``×``crop`` squares of the images (more varied batches,
        each step cheaper); scoring sees the whole image, the global average pooling
        making the network independent of the size. ``None``: whole images.
    """

    channels: tuple[int, ...] = (16, 32, 64, 128)
    convs_per_block: int = 1
    epochs: int = 40
    patience: int = 10
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    class_weight: bool = True
    seed: int = 0
    n_threads: int = 1
    views: int = 1
    crop: int | None = None


@dataclass(frozen=True)
class EpochProgress:
    """What one epoch of training reached, as told to the progress callback.

    Attributes
    ----------
    epoch, epochs
        This epoch (from 1) and the most there may be.
    loss, accuracy
        Mean training loss and accuracy over the epoch's (augmented) batches.
    calibration_loss, calibration_accuracy
        On the calibration images, without augmentation (NaN when there are none).
    best
        Whether this epoch is the best so far (the one kept).
    """

    epoch: int
    epochs: int
    loss: float
    accuracy: float
    calibration_loss: float
    calibration_accuracy: float
    best: bool


ProgressCallback = Callable[[EpochProgress], None]
"""Told what every epoch reached (to draw a progress bar)."""
AugmentFunction = Callable[[npt.NDArray[np.float32], int], npt.NDArray[np.float32]]
"""``(images (n, h, w, c), seed) → augmented copies``, the same seed giving the same copies."""


@dataclass(frozen=True)
class TrainingResult:
    """A trained network in evaluation form, and how training went."""

    weights: CnnWeights
    best_epoch: int
    history: list[EpochProgress] = field(default_factory=list)


@contextmanager
def _torch_settings(seed: int, n_threads: int) -> Iterator[None]:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(n_threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _network(in_channels: int, n_classes: int, options: TrainingOptions) -> Any:
    layers: list[Any] = []
    channels = in_channels
    for out in options.channels:
        for _ in range(options.convs_per_block):
            layers += [
                nn.Conv2d(channels, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            channels = out
        layers.append(nn.MaxPool2d(2))
    layers += [
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(options.dropout),
        nn.Linear(channels, n_classes),
    ]
    return nn.Sequential(*layers)


def fit_temperature(
    logits: npt.NDArray[np.float64],
    codes: npt.NDArray[np.int64],
    *,
    bounds: tuple[float, float] = TEMPERATURE_RANGE,
) -> float:
    r"""The temperature :math:`T` minimising the mean negative log-likelihood.

    The loss :math:`-\log \operatorname{softmax}(\beta z)_y` is convex in
    :math:`\beta = 1/T`, so a golden-section search over :math:`\beta` finds the
    minimum in ``bounds``. With no rows, :math:`T = 1`.

    Examples
    --------
    >>> import numpy as np
    >>> logits = np.array([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    >>> 1.0 < fit_temperature(logits, np.array([0, 0, 1, 1])) < 10.0
    True
    """
    if logits.shape[0] == 0:
        return 1.0
    z = logits.astype(np.float64)
    rows = np.arange(z.shape[0])

    def nll(beta: float) -> float:
        s = beta * z
        top = s.max(axis=1)
        lse = top + np.log(np.exp(s - top[:, None]).sum(axis=1))
        return float(np.mean(lse - s[rows, codes]))

    low, high = 1.0 / bounds[1], 1.0 / bounds[0]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(60):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return float(1.0 / ((a + b) / 2.0))


def _weights(network: Any, mean: Any, std: Any, options: TrainingOptions, t: float) -> CnnWeights:
    modules = list(network)
    convs: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = []
    for conv, norm in itertools.pairwise(modules):
        if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):

            def array(tensor: Any) -> npt.NDArray[np.float32]:
                return np.asarray(tensor.detach().numpy(), dtype=np.float32)

            convs.append(
                fold_batch_norm(
                    array(conv.weight),
                    None if conv.bias is None else array(conv.bias),
                    array(norm.weight),
                    array(norm.bias),
                    array(norm.running_mean),
                    array(norm.running_var),
                    float(norm.eps),
                )
            )
    linear = modules[-1]
    return CnnWeights(
        mean=np.asarray(mean.numpy().reshape(-1), np.float32),
        std=np.asarray(std.numpy().reshape(-1), np.float32),
        convs=convs,
        convs_per_block=options.convs_per_block,
        linear=(
            np.asarray(linear.weight.detach().numpy(), np.float32),
            np.asarray(linear.bias.detach().numpy(), np.float32),
        ),
        temperature=t,
        views=options.views,
    )


def _nchw(images: npt.NDArray[np.float32]) -> Any:
    """``(n, h, w, c)`` numpy → ``(n, c, h, w)`` contiguous float32 torch."""
    return torch.from_numpy(np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2)), np.float32))


def random_crops(x: Any, size: int, generator: Any) -> Any:
    """One random ``size``×``size`` square of each image of ``x`` ``(n, c, h, w)``."""
    n, _, h, w = x.shape
    tops = torch.randint(0, h - size + 1, (n,), generator=generator).tolist()
    lefts = torch.randint(0, w - size + 1, (n,), generator=generator).tolist()
    return torch.stack(
        [
            x[i, :, t : t + size, left : left + size]
            for i, (t, left) in enumerate(zip(tops, lefts, strict=True))
        ]
    )


def views_of(x: Any, views: int) -> list[Any]:
    """The views of a batch ``(n, c, h, w)`` the graph averages, in the graph's order."""
    if views == 1:
        return [x]
    out = [x, x.flip(3), x.flip(2), x.flip(3).flip(2)]
    if views == 8:
        out += [v.transpose(2, 3) for v in out]
    return out


def _evaluate(
    network: Any, images: Any, codes: Any, mean: Any, std: Any, batch_size: int, views: int
) -> tuple[Any, float, float]:
    """Logits (mean over the views), mean loss and accuracy of ``images``, evaluation mode."""
    network.eval()

    def logits_of(x: Any) -> Any:
        return torch.stack([network(v) for v in views_of((x - mean) / std, views)]).mean(dim=0)

    with torch.inference_mode():
        logits = torch.cat(
            [logits_of(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)]
        )
        loss = float(F.cross_entropy(logits, codes))
        accuracy = float((logits.argmax(dim=1) == codes).float().mean())
    return logits, loss, accuracy


def train_cnn(
    images: npt.NDArray[np.float32],
    codes: npt.NDArray[np.int64],
    calibration_images: npt.NDArray[np.float32],
    calibration_codes: npt.NDArray[np.int64],
    *,
    n_classes: int,
    options: TrainingOptions,
    augment: AugmentFunction | None = None,
    progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Train the network on ``images`` and calibrate it on ``calibration_images``.

    Parameters
    ----------
    images, calibration_images
        ``float32[n, height, width, channels]``, preprocessed, all of one shape.
    codes, calibration_codes
        The class index of each image, in ``[0, n_classes)``.
    n_classes
        Outputs of the network.
    options
        Architecture and training (see :class:`TrainingOptions`).
    augment
        Makes the randomized copies of each training batch; ``None``: no augmentation.
    progress
        Called after every epoch with what it reached.

    Returns
    -------
    TrainingResult
        The best epoch's network with batch normalisation folded and its temperature.
    """
    if images.ndim != 4 or images.shape[0] < 2:
        raise ModelError(
            f"cnn: expected at least 2 training images (n, height, width, channels), "
            f"got {images.shape}"
        )
    if calibration_images.shape[1:] != images.shape[1:]:
        raise ModelError(
            f"cnn: calibration images {calibration_images.shape[1:]} differ from "
            f"training images {images.shape[1:]}"
        )
    if options.views == 8 and images.shape[1] != images.shape[2]:
        raise ModelError(
            f"cnn: 8 views (flips and transposes) need square images, got "
            f"{images.shape[1]}×{images.shape[2]} pixels (use 4 views, the flips, or 1)"
        )
    side = 2 ** len(options.channels)
    if options.crop is not None and not side <= options.crop <= min(images.shape[1:3]):
        raise ModelError(
            f"cnn: crop {options.crop} must be between {side} (for {len(options.channels)} "
            f"blocks) and the image size {images.shape[1]}×{images.shape[2]}"
        )
    if min(images.shape[1:3]) < side:
        raise ModelError(
            f"cnn: images of {images.shape[1]}×{images.shape[2]} pixels are too small for "
            f"{len(options.channels)} blocks (each halves the size; at least {side} pixels)"
        )
    with _torch_settings(options.seed, options.n_threads):
        generator = torch.Generator().manual_seed(options.seed)
        x = _nchw(images)
        y = torch.from_numpy(np.ascontiguousarray(codes, np.int64))
        x_cal = _nchw(calibration_images)
        y_cal = torch.from_numpy(np.ascontiguousarray(calibration_codes, np.int64))
        mean = x.mean(dim=(0, 2, 3), keepdim=True)[:1]
        std = x.std(dim=(0, 2, 3), keepdim=True)[:1].clamp_min(1e-3)
        counts = torch.bincount(y, minlength=n_classes).double()
        class_weight = None
        if options.class_weight:
            present = counts > 0
            w = torch.zeros(n_classes, dtype=torch.float64)
            w[present] = counts.sum() / (present.sum() * counts[present])
            class_weight = w.float()

        network = _network(x.shape[1], n_classes, options)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay
        )
        n = x.shape[0]
        batch = min(options.batch_size, n)
        # the last incomplete batch is dropped (batch normalisation needs > 1 image)
        steps = max(1, n // batch)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=options.learning_rate, total_steps=options.epochs * steps
        )
        history: list[EpochProgress] = []
        best_key: tuple[float, float] | None = None
        best_state: dict[str, Any] = {}
        best_epoch = 0
        for epoch in range(1, options.epochs + 1):
            network.train()
            order = torch.randperm(n, generator=generator)
            total_loss, correct, seen = 0.0, 0, 0
            for step in range(steps):
                rows = order[step * batch : (step + 1) * batch]
                yb = y[rows]
                if augment is None:
                    xb = x[rows]
                else:
                    seed = (options.seed * 1_000_003 + epoch) * 1_000_003 + step
                    xb = _nchw(augment(images[rows.numpy()], seed % 2**63))
                if options.crop is not None:
                    xb = random_crops(xb, options.crop, generator)
                logits = network((xb - mean) / std)
                loss = F.cross_entropy(logits, yb, weight=class_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total_loss += float(loss.detach()) * len(rows)
                correct += int((logits.argmax(dim=1) == yb).sum())
                seen += len(rows)
            if x_cal.shape[0]:
                _, cal_loss, cal_accuracy = _evaluate(
                    network, x_cal, y_cal, mean, std, batch, options.views
                )
            else:
                cal_loss, cal_accuracy = math.nan, math.nan
            key = (cal_accuracy, -cal_loss) if x_cal.shape[0] else (float(epoch), 0.0)
            best = best_key is None or key > best_key
            if best:
                best_key, best_epoch = key, epoch
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            record = EpochProgress(
                epoch=epoch,
                epochs=options.epochs,
                loss=total_loss / max(seen, 1),
                accuracy=correct / max(seen, 1),
                calibration_loss=cal_loss,
                calibration_accuracy=cal_accuracy,
                best=best,
            )
            history.append(record)
            if progress is not None:
                progress(record)
            if epoch - best_epoch >= options.patience:
                break
        network.load_state_dict(best_state)
        temperature = 1.0
        if x_cal.shape[0]:
            logits, _, _ = _evaluate(network, x_cal, y_cal, mean, std, batch, options.views)
            temperature = fit_temperature(logits.double().numpy(), calibration_codes)
        network.eval()
        return TrainingResult(
            weights=_weights(network, mean, std, options, temperature),
            best_epoch=best_epoch,
            history=history,
        )
