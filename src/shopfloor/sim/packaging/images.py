r"""Images of packaged goods on a conveyor, as a line camera sees them from above.

The product is a gable-top carton: a rectangular body with a printed label (a logo block
and a barcode), a heat seal along its top edge and a screw cap near one corner. Each
image is rendered from geometry (vectorized over pixels: every shape is a mask in the
part's own coordinates, so rotation and position cost nothing extra), then lit and
noised as a real camera would be:

- **position and rotation**: the part lands off-centre (``position_jitter`` of the
  image size) and turned up to ``rotation_deg``;
- **lighting**: a global gain, a linear illumination gradient across the field and a
  small colour cast;
- **sensor noise**: additive Gaussian noise (``noise``, in 0–1 intensity units).

Defect classes (:data:`DEFECTS`), each a physical change of the same carton:

``good``
    as designed.
``dented``
    a crushed corner or side: the outline is pushed in and the dent is shaded.
``torn_seal``
    the top seal has an open, dark, ragged gap.
``misprinted_label``
    the label is missing, shifted off its panel, or smeared (barcode bars blurred).
``contamination``
    dark spots (dirt, product residue) on the carton.
``misaligned_cap``
    the cap sits away from its seat and tilted.

Everything comes from a seeded :class:`numpy.random.Generator`: the same seed renders
the same images, bit for bit.

Examples
--------
>>> import numpy as np
>>> image = render_part(np.random.default_rng(0), "torn_seal", size=96)
>>> image.shape, image.dtype
((96, 96, 3), dtype('uint8'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["DEFECTS", "Defect", "RenderParams", "render_part"]

Defect = Literal[
    "good", "dented", "torn_seal", "misprinted_label", "contamination", "misaligned_cap"
]
DEFECTS: tuple[Defect, ...] = (
    "good",
    "dented",
    "torn_seal",
    "misprinted_label",
    "contamination",
    "misaligned_cap",
)

Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float64]

# colours, RGB in 0-1
_BELT = np.array([0.22, 0.23, 0.25])
_CARTON = np.array([0.93, 0.91, 0.86])
_SEAL = np.array([0.80, 0.78, 0.72])
_LABEL = np.array([0.15, 0.38, 0.70])
_LOGO = np.array([0.95, 0.75, 0.10])
_CAP = np.array([0.85, 0.20, 0.15])
_DIRT = np.array([0.25, 0.18, 0.10])

# the carton in part coordinates (units of the image size, centre at 0, 0)
_HALF_W, _HALF_H = 0.27, 0.36
_SEAL_H = 0.06
_LABEL_BOX = (-0.20, 0.20, -0.14, 0.20)  # u0, u1, v0, v1
_CAP_AT, _CAP_R = (0.15, -0.22), 0.065


@dataclass(frozen=True)
class RenderParams:
    """How much images vary (all drawn per image from the generator)."""

    position_jitter: float = 0.04
    """Largest offset of the part's centre, as a fraction of the image size."""
    rotation_deg: float = 6.0
    """Largest rotation either way."""
    gain: tuple[float, float] = (0.75, 1.2)
    """Range of the global lighting gain."""
    gradient: float = 0.15
    """Largest change of illumination across the field."""
    noise: float = 0.02
    """Standard deviation of the sensor noise (0-1 intensity)."""


def _part_coordinates(
    rng: np.random.Generator, size: int, p: RenderParams
) -> tuple[Floats, Floats]:
    """Each pixel's coordinates in the part's frame (``u`` across, ``v`` down)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size - 0.5
    cx, cy = rng.uniform(-p.position_jitter, p.position_jitter, 2)
    theta = np.deg2rad(rng.uniform(-p.rotation_deg, p.rotation_deg))
    c, s = np.cos(theta), np.sin(theta)
    dx, dy = x - cx, y - cy
    return c * dx + s * dy, -s * dx + c * dy


def _paint(canvas: Floats, mask: npt.NDArray[np.bool_] | Floats, colour: Floats) -> None:
    """Blend ``colour`` over ``canvas`` where ``mask`` (bool or 0-1 coverage)."""
    alpha = mask.astype(np.float64)[..., None]
    canvas *= 1.0 - alpha
    canvas += alpha * colour


def _barcode(rng: np.random.Generator, u: Floats, v: Floats, smear: float) -> Floats:
    """Coverage (0-1) of a barcode's bars below the logo; ``smear`` blurs them."""
    edges = np.cumsum(rng.uniform(0.004, 0.014, 40)) - 0.17
    bar = (np.searchsorted(edges, u) % 2 == 0).astype(np.float64)
    inside = (np.abs(u) < 0.16) & (v > 0.06) & (v < 0.17)
    if smear > 0:
        bar = 0.5 + (bar - 0.5) * (1.0 - smear)
    return np.where(inside, bar, 0.0)


def render_part(
    rng: np.random.Generator,
    defect: Defect,
    *,
    size: int = 128,
    params: RenderParams | None = None,
) -> Image:
    """One camera image (``size`` × ``size`` RGB, uint8) of a carton with ``defect``.

    Parameters
    ----------
    rng
        Draws position, lighting, noise and the defect's shape.
    defect
        One of :data:`DEFECTS`.
    size
        Image width and height in pixels (at least 32).
    params
        How much images vary.
    """
    if defect not in DEFECTS:
        raise ValueError(f"defect must be one of {', '.join(DEFECTS)}, got {defect!r}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    p = params or RenderParams()
    u, v = _part_coordinates(rng, size, p)
    canvas = np.empty((size, size, 3))
    canvas[:] = _BELT
    # belt texture: faint stripes along the direction of travel
    canvas *= 1.0 + 0.04 * np.sin(2 * np.pi * 14 * (u + v))[..., None]

    half_w = _HALF_W * rng.uniform(0.98, 1.02)
    body = (np.abs(u) < half_w) & (np.abs(v) < _HALF_H)
    dent = np.zeros_like(u)
    if defect == "dented":  # an elliptical push on a side or a corner
        du = rng.choice([-1.0, 1.0]) * half_w
        dv = rng.uniform(-_HALF_H, _HALF_H)
        r = rng.uniform(0.07, 0.12)
        d2 = ((u - du) / r) ** 2 + ((v - dv) / (1.6 * r)) ** 2
        body &= d2 > 0.45
        dent = np.clip(1.0 - d2, 0.0, 1.0) * body
    _paint(canvas, body, _CARTON)
    # the body is lit from one side: a soft edge shading gives it volume
    shade = 1.0 - 0.25 * np.clip((np.abs(u) - (half_w - 0.05)) / 0.05, 0, 1) * body
    canvas *= shade[..., None]
    canvas *= (1.0 - 0.45 * dent)[..., None]

    seal = body & (v < -_HALF_H + _SEAL_H)
    _paint(canvas, seal, _SEAL)
    if defect == "torn_seal":  # an open, ragged gap across part of the seal
        start = rng.uniform(-half_w, half_w - 0.12)
        width = rng.uniform(0.07, 0.16)
        ragged = 0.012 * np.sin(2 * np.pi * 40 * u + rng.uniform(0, 6))
        gap = seal & (u > start) & (u < start + width) & (v > -_HALF_H + 0.008 + ragged)
        _paint(canvas, gap, np.array([0.08, 0.07, 0.06]))

    u0, u1, v0, v1 = _LABEL_BOX
    shift_u = shift_v = smear = 0.0
    missing = False
    if defect == "misprinted_label":
        kind = rng.integers(3)
        if kind == 0:
            missing = True
        elif kind == 1:
            shift_u, shift_v = rng.uniform(0.06, 0.12) * rng.choice([-1, 1], 2)
        else:
            smear = rng.uniform(0.6, 0.9)
    if not missing:
        lu, lv = u - shift_u, v - shift_v
        label = body & (lu > u0) & (lu < u1) & (lv > v0) & (lv < v1)
        _paint(canvas, label, _LABEL)
        logo = label & (np.hypot(lu, lv + 0.04) < 0.07)
        _paint(canvas, logo, _LOGO)
        _paint(canvas, _barcode(rng, lu, lv, smear) * label, np.array([0.97, 0.97, 0.97]))

    cap_u, cap_v = _CAP_AT
    squash = 1.0
    if defect == "misaligned_cap":
        angle = rng.uniform(0, 2 * np.pi)
        off = rng.uniform(0.04, 0.07)
        cap_u, cap_v = cap_u + off * np.cos(angle), cap_v + off * np.sin(angle)
        squash = rng.uniform(0.6, 0.8)  # tilted: seen as an ellipse
    cap_d = np.hypot((u - cap_u) / squash, v - cap_v)
    _paint(canvas, cap_d < _CAP_R, _CAP)
    _paint(canvas, np.abs(cap_d - 0.6 * _CAP_R) < 0.006, _CAP * 0.7)  # the grip ring

    if defect == "contamination":
        for _ in range(rng.integers(2, 6)):
            su, sv = rng.uniform(-half_w, half_w), rng.uniform(-_HALF_H, _HALF_H)
            r = rng.uniform(0.01, 0.035)
            spot = np.clip(1.5 - np.hypot(u - su, v - sv) / r, 0.0, 1.0) * body
            _paint(canvas, 0.9 * spot, _DIRT)

    # lighting, colour cast and sensor noise
    gain = rng.uniform(*p.gain)
    direction = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size] / size - 0.5
    light = gain * (1.0 + p.gradient * (np.cos(direction) * xs + np.sin(direction) * ys))
    canvas *= light[..., None] * rng.uniform(0.96, 1.04, 3)
    canvas += rng.normal(0.0, p.noise, canvas.shape)
    return (np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
