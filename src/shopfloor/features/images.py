r"""Image preprocessing and training augmentation: numpy and Pillow only.

An image model never sees an encoded file: it sees float32 arrays shaped
``(n, height, width, channels)`` made by :func:`preprocess_batch` under an
:class:`ImagePreprocess` spec. The spec is a model parameter, stored with the model, so a
registered image model scores encoded bytes with exactly the preprocessing it was trained
with.

The steps, in order:

1. **decode** the encoded bytes (PNG, JPEG, BMP, TIFF) in full; a truncated or corrupt
   file is refused with :class:`~shopfloor.errors.ImageRejected` naming it;
2. **colour**: grayscale (Pillow's ``L``, :math:`Y = 0.299R + 0.587G + 0.114B`) or RGB;
3. **crop** to the region of interest ``roi = (x, y, width, height)`` in pixels of the
   decoded image (it must lie inside the image);
4. **resize** to ``size = (height, width)`` (bilinear, antialiased when shrinking);
5. **normalize**: ``unit`` maps 0..255 to 0..1; ``per_image`` standardizes each image to
   mean 0 and standard deviation 1 (:math:`(x-\bar x)/\max(s, 10^{-6})`, which removes
   lighting differences between images); ``none`` keeps 0..255.

:func:`augment` makes randomized training copies of preprocessed images (flips, quarter
turns, small rotations, brightness and contrast, Gaussian noise), seeded.

Examples
--------
>>> import io
>>> from PIL import Image
>>> buffer = io.BytesIO()
>>> Image.new("RGB", (40, 30), (255, 0, 0)).save(buffer, format="PNG")
>>> spec = ImagePreprocess(size=(16, 16), grayscale=True)
>>> x = preprocess(buffer.getvalue(), spec, name="part-1.png")
>>> x.shape, x.dtype, round(float(x.max()), 3)
((16, 16, 1), dtype('float32'), 0.298)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shopfloor.errors import ImageRejected
from shopfloor.model.imaging import open_image

__all__ = [
    "Augmentation",
    "ImageArray",
    "ImageBatch",
    "ImageInput",
    "ImagePreprocess",
    "augment",
    "decode_image",
    "preprocess",
    "preprocess_batch",
]

ImageArray = npt.NDArray[np.float32]
"""One preprocessed image, float32 ``(height, width, channels)``."""
ImageBatch = npt.NDArray[np.float32]
"""Preprocessed images, float32 ``(n, height, width, channels)``."""
ImageInput = bytes | npt.NDArray[Any]
"""Encoded bytes, or decoded pixels ``(h, w)`` / ``(h, w, c)`` valued 0..255."""

Normalize = Literal["unit", "per_image", "none"]


class ImagePreprocess(BaseModel):
    """How raw images become model input: colour, region of interest, size, normalization.

    Parameters
    ----------
    size
        ``(height, width)`` of the model input, in pixels.
    grayscale
        One channel (``True``) or RGB (``False``).
    roi
        ``(x, y, width, height)`` region of the decoded image kept before resizing;
        ``None`` keeps the whole image.
    normalize
        ``unit`` (0..1), ``per_image`` (each image to mean 0, std 1) or ``none`` (0..255).

    Examples
    --------
    >>> spec = ImagePreprocess(size=(64, 48), grayscale=False)
    >>> spec.shape
    (64, 48, 3)
    >>> ImagePreprocess.from_params(spec.as_params()) == spec
    True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: tuple[int, int] = Field(default=(64, 64))
    grayscale: bool = True
    roi: tuple[int, int, int, int] | None = None
    normalize: Normalize = "unit"

    @model_validator(mode="after")
    def _check(self) -> ImagePreprocess:
        if any(s < 1 or s > 4096 for s in self.size):
            raise ValueError(f"size must be (height, width) in 1..4096 pixels, got {self.size}")
        if self.roi is not None:
            x, y, w, h = self.roi
            if x < 0 or y < 0 or w < 1 or h < 1:
                raise ValueError(
                    f"roi must be (x, y, width, height) with x, y ≥ 0 and width, height ≥ 1, "
                    f"got {self.roi}"
                )
        return self

    @property
    def channels(self) -> int:
        """1 for grayscale, 3 for RGB."""
        return 1 if self.grayscale else 3

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of one preprocessed image."""
        return (self.size[0], self.size[1], self.channels)

    def as_params(self) -> dict[str, Any]:
        """Plain JSON (lists, not tuples): how a model keeps it among its parameters."""
        return self.model_dump(mode="json")

    @classmethod
    def from_params(cls, value: ImagePreprocess | dict[str, Any] | None) -> ImagePreprocess:
        """A spec from a model parameter; ``ValueError`` naming the wrong field."""
        if value is None:
            return cls()
        if isinstance(value, ImagePreprocess):
            return value
        try:
            return cls.model_validate(value)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'preprocess'}: {e['msg']}"
                for e in err.errors()
            )
            raise ValueError(f"image preprocessing: {problems}") from None


def decode_image(data: bytes, *, name: str = "image") -> npt.NDArray[np.uint8]:
    """Encoded bytes → uint8 pixels ``(height, width, channels)`` as stored (1, 3 or 4 channels).

    Raises
    ------
    NotAnImage, ImageRejected
        Not an image, or a truncated or corrupt one (the message names ``name``).
    """
    with open_image(data, name=name) as image:
        if image.mode in ("L", "RGB", "RGBA"):
            pixels = np.asarray(image, dtype=np.uint8)
        else:
            mode = "RGBA" if "A" in image.getbands() else "RGB"
            pixels = np.asarray(image.convert(mode), dtype=np.uint8)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def _from_pixels(item: npt.NDArray[Any] | Any, name: str) -> Image.Image:
    array = np.asarray(item)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageRejected(
            f"{name}: pixels must be (height, width) or (height, width, 1|3|4), got {array.shape}"
        )
    if array.dtype != np.uint8:
        if not np.isfinite(array).all():
            raise ImageRejected(f"{name}: pixels hold NaN or infinite values")
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))


def preprocess(item: ImageInput, spec: ImagePreprocess, *, name: str = "image") -> ImageArray:
    """One encoded image (or its pixels, 0..255) → float32 ``spec.shape``.

    Parameters
    ----------
    item
        Encoded bytes, or pixels shaped ``(h, w)`` or ``(h, w, c)`` valued 0..255.
    spec
        The preprocessing (see the module docstring for the steps).
    name
        What to call the image in errors (its file name).

    Raises
    ------
    NotAnImage, ImageRejected
        The bytes are no image, a truncated or corrupt one, or the region of interest
        does not fit inside it.
    """
    if isinstance(item, bytes | bytearray | memoryview):
        with open_image(bytes(item), name=name) as image:
            return _prepared(image, spec, name)
    return _prepared(_from_pixels(item, name), spec, name)


def _prepared(image: Image.Image, spec: ImagePreprocess, name: str) -> ImageArray:
    """Colour, crop, resize and normalize a decoded image (steps 2 to 5)."""
    image = image.convert("L" if spec.grayscale else "RGB")
    if spec.roi is not None:
        x, y, w, h = spec.roi
        if x + w > image.width or y + h > image.height:
            raise ImageRejected(
                f"{name}: region of interest (x={x}, y={y}, width={w}, height={h}) "
                f"does not fit in the {image.width}×{image.height} image"
            )
        image = image.crop((x, y, x + w, y + h))
    height, width = spec.size
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return _normalize(pixels, spec.normalize)


def _normalize(pixels: ImageArray, how: Normalize) -> ImageArray:
    if how == "unit":
        return pixels * np.float32(1.0 / 255.0)
    if how == "per_image":
        mean = pixels.mean(dtype=np.float64)
        std = max(float(pixels.std(dtype=np.float64)), 1e-6)
        return ((pixels - np.float32(mean)) / np.float32(std)).astype(np.float32)
    return pixels


def preprocess_batch(
    items: Sequence[ImageInput],
    spec: ImagePreprocess,
    *,
    names: Sequence[str] | None = None,
) -> ImageBatch:
    """Many images → float32 ``(n, *spec.shape)``; an empty list gives ``(0, *spec.shape)``.

    ``names`` (one per image) name the image at fault in errors; by default
    ``image 0``, ``image 1``...
    """
    if names is not None and len(names) != len(items):
        raise ValueError(f"{len(names)} names for {len(items)} images")
    out = np.empty((len(items), *spec.shape), dtype=np.float32)
    for i, item in enumerate(items):
        out[i] = preprocess(item, spec, name=names[i] if names is not None else f"image {i}")
    return out


class Augmentation(BaseModel):
    """Random changes applied to training images (each drawn per image).

    Parameters
    ----------
    flip_horizontal, flip_vertical
        Mirror with probability 1/2.
    quarter_turns
        Rotate by a random multiple of 90° (square images only; for textures with no
        preferred orientation).
    rotation_deg
        Rotate by a uniform angle in ``[-rotation_deg, rotation_deg]`` (edges reflected).
    brightness
        Add a uniform offset in ``[-brightness, brightness]`` times the image's range.
    contrast
        Scale around the image mean by a uniform factor in ``[1 - contrast, 1 + contrast]``.
    noise_std
        Add Gaussian noise of this standard deviation times the image's range.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    flip_horizontal: bool = True
    flip_vertical: bool = True
    quarter_turns: bool = False
    rotation_deg: float = Field(default=0.0, ge=0.0, le=45.0)
    brightness: float = Field(default=0.0, ge=0.0, le=1.0)
    contrast: float = Field(default=0.0, ge=0.0, le=1.0)
    noise_std: float = Field(default=0.0, ge=0.0, le=1.0)


def augment(images: ImageBatch, augmentation: Augmentation, *, seed: int) -> ImageBatch:
    """Randomized copies of preprocessed images; the same seed gives the same copies.

    Parameters
    ----------
    images
        float32 ``(n, height, width, channels)`` (left untouched).
    augmentation
        Which changes, how strong.
    seed
        Seeds a ``numpy.random.Generator``.

    Returns
    -------
    numpy.ndarray
        float32, same shape as ``images``.

    Examples
    --------
    >>> x = np.zeros((2, 8, 8, 1), np.float32)
    >>> augment(x, Augmentation(noise_std=0.1), seed=0).shape
    (2, 8, 8, 1)
    """
    batch = np.asarray(images, dtype=np.float32)
    if batch.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels), got shape {batch.shape}")
    rng = np.random.default_rng(seed)
    out = batch.copy()
    n, height, width, _ = out.shape
    if n == 0:
        return out
    flat = out.reshape(n, -1)
    span = np.maximum(flat.max(axis=1) - flat.min(axis=1), 1e-6)
    for i in range(n):
        image = out[i]
        if augmentation.flip_horizontal and rng.random() < 0.5:
            image = image[:, ::-1]
        if augmentation.flip_vertical and rng.random() < 0.5:
            image = image[::-1]
        if augmentation.quarter_turns and height == width:
            image = np.rot90(image, k=int(rng.integers(4)), axes=(0, 1))
        if augmentation.rotation_deg > 0:
            angle = rng.uniform(-augmentation.rotation_deg, augmentation.rotation_deg)
            image = _rotate(image, angle)
        if augmentation.contrast > 0:
            factor = rng.uniform(1 - augmentation.contrast, 1 + augmentation.contrast)
            mean = image.mean()
            image = (image - mean) * np.float32(factor) + mean
        if augmentation.brightness > 0:
            image = image + np.float32(
                rng.uniform(-augmentation.brightness, augmentation.brightness) * span[i]
            )
        if augmentation.noise_std > 0:
            image = image + (
                rng.standard_normal(image.shape) * augmentation.noise_std * span[i]
            ).astype(np.float32)
        out[i] = image
    return out


def _rotate(image: ImageArray, angle_deg: float) -> ImageArray:
    """Rotate about the centre by ``angle_deg`` (bilinear, edges reflected)."""
    from scipy import ndimage

    if math.isclose(angle_deg, 0.0):
        return image
    rotated = ndimage.rotate(
        image, angle_deg, axes=(1, 0), reshape=False, order=1, mode="reflect", prefilter=False
    )
    return np.asarray(rotated, dtype=np.float32)
