r"""Texture features of images: local binary patterns, co-occurrence statistics, gradients.

Every function takes preprocessed images ``(n, height, width, channels)`` (float, see
:mod:`shopfloor.features.images`; colour images are averaged to one channel) and returns
one float64 row of features per image, vectorized over the batch. Intensities are first
mapped to 0..1 between each image's 1st and 99th percentiles, so the features do not
depend on the image's brightness or contrast, nor on the preprocessing's normalization.

- :func:`lbp_histograms`: rotation-invariant uniform local binary patterns
  (:math:`\mathrm{LBP}^{riu2}_{P,R}`, Ojala et al. 2002) at a few radii: each pixel
  compares its :math:`P` neighbours on a circle of radius :math:`R` (bilinear
  interpolation) with itself; a pattern with at most two 0/1 transitions is labelled by
  its number of ones (``0..P``), any other by :math:`P+1`. The feature is the normalized
  histogram of the labels, :math:`P+2` bins per radius.
- :func:`glcm_features`: grey-level co-occurrence statistics (Haralick 1973) on
  ``levels`` grey levels, symmetric and normalized, averaged over the four directions
  0°, 45°, 90°, 135° (so rotation-invariant): contrast :math:`\sum p_{ij}(i-j)^2`,
  dissimilarity :math:`\sum p_{ij}|i-j|`, homogeneity :math:`\sum p_{ij}/(1+(i-j)^2)`,
  energy :math:`\sqrt{\sum p_{ij}^2}`, correlation and entropy, for each distance.
- :func:`gradient_histograms`: histograms of oriented gradients (Dalal and Triggs 2005):
  unsigned orientations in ``orientations`` bins weighted by gradient magnitude, over the
  whole image and over a ``grid`` × ``grid`` grid of cells (each cell L2-normalized),
  plus the mean and spread of the gradient magnitude.
- :func:`intensity_statistics`: percentiles, standard deviation, skewness and kurtosis
  of the raw intensities (before the percentile mapping).
- :func:`spatial_features`: where things are, for objects seen in about the same pose
  (parts on a conveyor, not textures): the oriented-gradient histogram of each cell of a
  ``grid`` × ``grid`` grid and the mean intensity of each cell of a twice finer grid.

:func:`texture_features` concatenates all four: what the ``classical`` and ``good_only``
model types learn on.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> images = rng.random((2, 32, 32, 1)).astype(np.float32)
>>> lbp_histograms(images, radii=(1,)).shape
(2, 10)
>>> bool(np.allclose(lbp_histograms(images, radii=(1,)).sum(axis=1), 1.0))
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "glcm_features",
    "gradient_histograms",
    "intensity_statistics",
    "lbp_histograms",
    "spatial_feature_names",
    "spatial_features",
    "texture_feature_names",
    "texture_features",
]

FloatRows = npt.NDArray[np.float64]
GLCM_PROPERTIES = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "entropy")


_PERCENTILE_STEP = 3
"""Percentiles are taken over every third pixel: the same to a fraction of a grey level, faster."""


def _gray(images: npt.ArrayLike) -> npt.NDArray[np.float32]:
    batch = np.asarray(images, dtype=np.float32)
    if batch.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels), got shape {batch.shape}")
    return batch.mean(axis=3) if batch.shape[3] > 1 else batch[:, :, :, 0]


def _unit(gray: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each image mapped to 0..1 between its 1st and 99th percentiles (clipped)."""
    n = gray.shape[0]
    if n == 0:
        return gray
    sample = gray.reshape(n, -1)[:, ::_PERCENTILE_STEP]
    low, high = np.percentile(sample, [1.0, 99.0], axis=1).astype(np.float32)
    span = np.maximum(high - low, np.float32(1e-6))
    out: npt.NDArray[np.float32] = (gray - low[:, None, None]) / span[:, None, None]
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _prepared(images: npt.ArrayLike | _Unit) -> npt.NDArray[np.float32]:
    if isinstance(images, _Unit):
        return images.gray
    return _unit(_gray(images))


class _Unit:
    """Images already mapped to 0..1 (one pass shared by the features of one batch)."""

    def __init__(self, gray: npt.NDArray[np.float32]) -> None:
        self.gray = gray


def _uniform_lookup(points: int) -> npt.NDArray[np.int64]:
    """Code (0 .. 2**P - 1) → riu2 label (0 .. P + 1)."""
    codes = np.arange(2**points)
    bits = (codes[:, None] >> np.arange(points)) & 1
    transitions = np.sum(bits != np.roll(bits, 1, axis=1), axis=1)
    ones = bits.sum(axis=1)
    return np.where(transitions <= 2, ones, points + 1).astype(np.int64)


def lbp_histograms(
    images: npt.ArrayLike | _Unit, *, radii: Sequence[float] = (1, 2, 3), points: int = 8
) -> FloatRows:
    """Normalized riu2 LBP histograms: ``(n, len(radii) * (points + 2))``.

    Parameters
    ----------
    images
        ``(n, height, width, channels)``; each image larger than ``2 * max(radii) + 2``.
    radii
        Circle radii in pixels.
    points
        Neighbours on each circle (at most 16).
    """
    gray = _prepared(images)
    n, height, width = gray.shape
    if not 1 <= points <= 16:
        raise ValueError(f"points must be 1..16, got {points}")
    lookup = _uniform_lookup(points)
    rows = []
    for radius in radii:
        margin = int(np.ceil(radius)) + 1
        if min(height, width) <= 2 * margin:
            raise ValueError(f"images of {height}×{width} are too small for LBP radius {radius}")
        centre = gray[:, margin:-margin, margin:-margin]
        h, w = centre.shape[1:]
        code = np.zeros(centre.shape, dtype=np.uint16)
        for k in range(points):
            angle = 2 * np.pi * k / points
            dy, dx = -radius * np.sin(angle), radius * np.cos(angle)
            y0, x0 = int(np.floor(dy)), int(np.floor(dx))
            fy, fx = dy - y0, dx - x0

            value = np.zeros(centre.shape, dtype=np.float32)
            for oy, ox, weight in (
                (y0, x0, (1 - fy) * (1 - fx)),
                (y0, x0 + 1, (1 - fy) * fx),
                (y0 + 1, x0, fy * (1 - fx)),
                (y0 + 1, x0 + 1, fy * fx),
            ):
                if weight > 1e-9:
                    sl = gray[:, margin + oy : margin + oy + h, margin + ox : margin + ox + w]
                    value += np.float32(weight) * sl
            code |= (value >= centre - np.float32(1e-6)).astype(np.uint16) << np.uint16(k)
        labels = lookup[code].reshape(n, h * w)
        offsets = np.arange(n)[:, None] * (points + 2)
        counts = np.bincount((labels + offsets).ravel(), minlength=n * (points + 2))
        rows.append(counts.reshape(n, points + 2) / float(h * w))
    return np.concatenate(rows, axis=1) if rows else np.zeros((n, 0))


def glcm_features(
    images: npt.ArrayLike | _Unit, *, distances: Sequence[int] = (1, 2, 4), levels: int = 16
) -> FloatRows:
    """Co-occurrence statistics averaged over four directions: ``(n, 6 * len(distances))``.

    Columns: for each distance, contrast, dissimilarity, homogeneity, energy,
    correlation, entropy (see the module docstring).
    """
    gray = _prepared(images)
    n, height, width = gray.shape
    q = np.minimum((gray * levels).astype(np.int64), levels - 1)
    i_idx, j_idx = np.meshgrid(np.arange(levels), np.arange(levels), indexing="ij")
    diff = (i_idx - j_idx).astype(np.float64)
    columns = []
    for distance in distances:
        if distance < 1 or distance >= min(height, width):
            raise ValueError(f"GLCM distance {distance} does not fit {height}×{width} images")
        props = np.zeros((n, len(GLCM_PROPERTIES)))
        for dy, dx in (
            (0, distance),
            (-distance, distance),
            (-distance, 0),
            (-distance, -distance),
        ):
            ys = slice(max(0, -dy), height - max(0, dy))
            xs = slice(max(0, -dx), width - max(0, dx))
            yt = slice(max(0, dy), height - max(0, -dy))
            xt = slice(max(0, dx), width - max(0, -dx))
            pair = q[:, ys, xs] * levels + q[:, yt, xt]
            offsets = np.arange(n)[:, None] * levels * levels
            counts = np.bincount(
                (pair.reshape(n, pair[0].size if n else 0) + offsets).ravel(),
                minlength=n * levels * levels,
            ).reshape(n, levels, levels)
            p = counts + counts.transpose(0, 2, 1)
            p = p / np.maximum(p.sum(axis=(1, 2), keepdims=True), 1)
            mean_i = np.sum(p * i_idx, axis=(1, 2))
            var_i = np.sum(p * (i_idx - mean_i[:, None, None]) ** 2, axis=(1, 2))
            cov = np.sum(
                p * (i_idx - mean_i[:, None, None]) * (j_idx - mean_i[:, None, None]), axis=(1, 2)
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                correlation = np.where(var_i > 1e-12, cov / np.maximum(var_i, 1e-12), 1.0)
                entropy = -np.sum(
                    np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=(1, 2)
                )
            props += np.column_stack(
                [
                    np.sum(p * diff**2, axis=(1, 2)),
                    np.sum(p * np.abs(diff), axis=(1, 2)),
                    np.sum(p / (1.0 + diff**2), axis=(1, 2)),
                    np.sqrt(np.sum(p**2, axis=(1, 2))),
                    correlation,
                    entropy,
                ]
            )
        columns.append(props / 4.0)
    return np.concatenate(columns, axis=1) if columns else np.zeros((n, 0))


def gradient_histograms(
    images: npt.ArrayLike | _Unit, *, orientations: int = 9, grid: int = 0
) -> FloatRows:
    """Oriented-gradient histograms: ``(n, orientations * (1 + grid**2) + 2)``.

    Columns: the whole image's magnitude-weighted orientation histogram (normalized to
    sum 1), then each grid cell's histogram (L2-normalized), row by row (none when
    ``grid`` is 0: a texture's defect can be anywhere), then the mean and standard
    deviation of the gradient magnitude.
    """
    gray = _prepared(images)
    n, height, width = gray.shape
    cells = max(grid, 1)
    if grid < 0 or min(height, width) < 2 * cells:
        raise ValueError(f"a {grid}×{grid} grid does not fit {height}×{width} images")
    gy = np.zeros_like(gray)
    gx = np.zeros_like(gray)
    gy[:, 1:-1, :] = gray[:, 2:, :] - gray[:, :-2, :]
    gx[:, :, 1:-1] = gray[:, :, 2:] - gray[:, :, :-2]
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle / np.pi * orientations).astype(np.int64), orientations - 1)
    cell_y = np.minimum(np.arange(height) * cells // height, cells - 1)
    cell_x = np.minimum(np.arange(width) * cells // width, cells - 1)
    cell = (cell_y[:, None] * cells + cell_x[None, :])[None]
    index = (np.arange(n)[:, None, None] * cells * cells + cell) * orientations + bins
    per_cell = np.bincount(
        index.ravel(), weights=magnitude.ravel(), minlength=n * cells * cells * orientations
    ).reshape(n, cells * cells, orientations)
    whole = per_cell.sum(axis=1)
    whole = whole / np.maximum(whole.sum(axis=1, keepdims=True), 1e-12)
    norms = np.sqrt(np.sum(per_cell**2, axis=2, keepdims=True))
    per_cell = per_cell / np.maximum(norms, 1e-12) if grid else per_cell[:, :0]
    flat = magnitude.reshape(n, height * width)
    return np.concatenate(
        [
            whole,
            per_cell.reshape(n, per_cell.shape[1] * per_cell.shape[2]),
            flat.mean(axis=1)[:, None],
            flat.std(axis=1)[:, None],
        ],
        axis=1,
    )


def intensity_statistics(images: npt.ArrayLike) -> FloatRows:
    """Percentiles (5, 25, 50, 75, 95), std, skewness and kurtosis: ``(n, 8)``.

    Taken over every third pixel (row-major), which changes them by a fraction of a grey
    level and costs a third of the time.
    """
    gray = _gray(images)
    n = gray.shape[0]
    flat = gray.reshape(n, gray.shape[1] * gray.shape[2])[:, ::_PERCENTILE_STEP].astype(np.float64)
    if n == 0:
        return np.zeros((0, 8))
    pct = np.percentile(flat, [5, 25, 50, 75, 95], axis=1).T
    mean = flat.mean(axis=1, keepdims=True)
    std = flat.std(axis=1)
    safe = np.maximum(std, 1e-12)[:, None]
    z = (flat - mean) / safe
    skew = np.where(std > 1e-12, np.mean(z**3, axis=1), 0.0)
    kurt = np.where(std > 1e-12, np.mean(z**4, axis=1), 0.0)
    return np.column_stack([pct, std, skew, kurt])


def texture_feature_names(
    *,
    radii: Sequence[float] = (1, 2, 3),
    points: int = 8,
    distances: Sequence[int] = (1, 2, 4),
    orientations: int = 9,
    grid: int = 0,
) -> list[str]:
    """The column names of :func:`texture_features` with the same parameters."""
    names = [f"lbp.r{r:g}.{b}" for r in radii for b in range(points + 2)]
    names += [f"glcm.d{d}.{p}" for d in distances for p in GLCM_PROPERTIES]
    names += [f"hog.all.{b}" for b in range(orientations)]
    names += [f"hog.c{c}.{b}" for c in range(grid * grid) for b in range(orientations)]
    names += ["grad.mean", "grad.std"]
    names += [f"intensity.{s}" for s in ("p5", "p25", "p50", "p75", "p95", "std", "skew", "kurt")]
    return names


def texture_features(
    images: npt.ArrayLike,
    *,
    radii: Sequence[float] = (1, 2, 3),
    points: int = 8,
    distances: Sequence[int] = (1, 2, 4),
    orientations: int = 9,
    grid: int = 0,
) -> FloatRows:
    """LBP, GLCM, gradient and intensity features side by side.

    Columns as :func:`texture_feature_names` gives with the same parameters.
    """
    unit = _Unit(_unit(_gray(images)))
    return np.concatenate(
        [
            lbp_histograms(unit, radii=radii, points=points),
            glcm_features(unit, distances=distances),
            gradient_histograms(unit, orientations=orientations, grid=grid),
            intensity_statistics(images),
        ],
        axis=1,
    )


def spatial_features(
    images: npt.ArrayLike | _Unit, *, grid: int = 6, orientations: int = 9
) -> FloatRows:
    """Cell by cell: ``(n, grid**2 * orientations + (2 * grid)**2)``.

    Columns: each cell's L2-normalized gradient-orientation histogram (row by row), then
    the mean 0..1 intensity (after the percentile mapping) of each cell of a
    ``2 * grid`` × ``2 * grid`` grid. Unlike the texture features these depend on where
    things are in the image: for parts that are seen in about the same pose.
    """
    gray = _prepared(images)
    n, height, width = gray.shape
    fine = 2 * grid
    if grid < 1 or min(height, width) < 2 * fine:
        raise ValueError(f"a {grid}×{grid} spatial grid does not fit {height}×{width} images")
    hog = gradient_histograms(_Unit(gray), orientations=orientations, grid=grid)
    cells = hog[:, orientations : orientations + grid * grid * orientations]
    ys = np.minimum(np.arange(height) * fine // height, fine - 1)
    xs = np.minimum(np.arange(width) * fine // width, fine - 1)
    index = (np.arange(n)[:, None, None] * fine * fine) + (ys[:, None] * fine + xs[None, :])[None]
    sums = np.bincount(index.ravel(), weights=gray.ravel(), minlength=n * fine * fine)
    counts = np.bincount((ys[:, None] * fine + xs[None, :]).ravel(), minlength=fine * fine)
    means = sums.reshape(n, fine * fine) / counts[None, :]
    return np.concatenate([cells, means], axis=1)


def spatial_feature_names(*, grid: int = 6, orientations: int = 9) -> list[str]:
    """The column names of :func:`spatial_features` with the same parameters."""
    names = [f"cell{c}.hog.{b}" for c in range(grid * grid) for b in range(orientations)]
    return names + [f"fine{c}.mean" for c in range((2 * grid) ** 2)]
