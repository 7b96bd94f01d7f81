"""Image preprocessing and augmentation: shapes, values, errors naming the image, seeds."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from shopfloor.errors import ImageRejected, NotAnImage
from shopfloor.features.images import (
    Augmentation,
    ImagePreprocess,
    augment,
    decode_image,
    preprocess,
    preprocess_batch,
)


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def gradient(h: int = 30, w: int = 40) -> np.ndarray:
    x = np.linspace(0, 255, w)[None, :].repeat(h, axis=0)
    return np.stack([x, 255 - x, np.full_like(x, 128)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF"])
def test_decode_every_accepted_format(fmt: str) -> None:
    pixels = decode_image(encode(gradient(), fmt), name=f"part.{fmt.lower()}")
    assert pixels.shape == (30, 40, 3) and pixels.dtype == np.uint8


def test_grayscale_colour_and_size() -> None:
    data = encode(gradient())
    gray = preprocess(data, ImagePreprocess(size=(10, 20)), name="a.png")
    colour = preprocess(data, ImagePreprocess(size=(10, 20), grayscale=False), name="a.png")
    assert gray.shape == (10, 20, 1) and colour.shape == (10, 20, 3)
    assert gray.dtype == colour.dtype == np.float32
    assert gray.min() >= 0.0 and gray.max() <= 1.0
    # red rises to the right, green falls: the colours stay in their channels
    assert colour[:, -1, 0].mean() > colour[:, 0, 0].mean()
    assert colour[:, -1, 1].mean() < colour[:, 0, 1].mean()


def test_bytes_and_pixels_give_the_same_input() -> None:
    pixels = gradient()
    spec = ImagePreprocess(size=(15, 20), grayscale=False, normalize="none")
    np.testing.assert_array_equal(preprocess(encode(pixels), spec), preprocess(pixels, spec))
    gray = pixels[:, :, 0]
    assert preprocess(gray, ImagePreprocess(size=(30, 40), normalize="none")).max() == 255


def test_region_of_interest_is_cropped_before_resizing() -> None:
    pixels = np.zeros((40, 40), np.uint8)
    pixels[10:20, 5:25] = 255
    spec = ImagePreprocess(size=(10, 20), roi=(5, 10, 20, 10), normalize="none")
    np.testing.assert_array_equal(preprocess(pixels, spec), np.full((10, 20, 1), 255.0))
    with pytest.raises(ImageRejected, match=r"small\.png: region of interest .* 8×8 image"):
        preprocess(np.zeros((8, 8), np.uint8), spec, name="small.png")


def test_per_image_normalization_removes_brightness() -> None:
    rng = np.random.default_rng(0)
    texture = rng.integers(50, 150, (20, 20)).astype(np.uint8)
    spec = ImagePreprocess(size=(20, 20), normalize="per_image")
    a = preprocess(texture, spec)
    b = preprocess(texture + 60, spec)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert abs(float(a.mean())) < 1e-5 and abs(float(a.std()) - 1) < 1e-4
    flat = preprocess(np.full((20, 20), 7, np.uint8), spec)
    assert np.isfinite(flat).all() and (flat == 0).all()


def test_bad_images_are_named() -> None:
    spec = ImagePreprocess(size=(8, 8))
    with pytest.raises(NotAnImage, match=r"notes\.jpg"):
        preprocess(b"not an image at all", spec, name="notes.jpg")
    jpeg = encode(gradient(), "JPEG")
    with pytest.raises(ImageRejected, match=r"cut\.jpg: truncated or corrupt"):
        preprocess(jpeg[: len(jpeg) // 2], spec, name="cut.jpg")
    with pytest.raises(ImageRejected, match="img-3: pixels hold NaN"):
        preprocess(np.full((4, 4), np.nan), spec, name="img-3")
    with pytest.raises(ImageRejected, match="pixels must be"):
        preprocess(np.zeros((4, 4, 2)), spec)
    with pytest.raises(ImageRejected, match="image 1"):
        preprocess_batch([encode(gradient()), b"xx"], spec)


def test_batch_shapes_and_names() -> None:
    spec = ImagePreprocess(size=(6, 7), grayscale=False)
    batch = preprocess_batch([gradient(), encode(gradient())], spec, names=["a", "b"])
    assert batch.shape == (2, 6, 7, 3)
    assert preprocess_batch([], spec).shape == (0, 6, 7, 3)
    with pytest.raises(ValueError, match="1 names for 2 images"):
        preprocess_batch([gradient(), gradient()], spec, names=["a"])


def test_spec_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="size"):
        ImagePreprocess(size=(0, 10))
    with pytest.raises(ValueError, match="roi"):
        ImagePreprocess(roi=(0, 0, 0, 5))
    with pytest.raises(ValueError, match="normalize"):
        ImagePreprocess.from_params({"normalize": "zscore"})
    spec = ImagePreprocess(size=(3, 4), roi=(1, 2, 3, 4))
    assert ImagePreprocess.from_params(spec.as_params()) == spec
    assert spec.as_params()["roi"] == [1, 2, 3, 4]


def test_augmentation_is_seeded_and_leaves_the_input() -> None:
    rng = np.random.default_rng(1)
    images = rng.random((6, 12, 12, 1)).astype(np.float32)
    before = images.copy()
    aug = Augmentation(
        quarter_turns=True, rotation_deg=10, brightness=0.1, contrast=0.2, noise_std=0.05
    )
    a = augment(images, aug, seed=5)
    np.testing.assert_array_equal(images, before)
    np.testing.assert_array_equal(a, augment(images, aug, seed=5))
    assert not np.array_equal(a, augment(images, aug, seed=6))
    assert a.shape == images.shape and a.dtype == np.float32
    assert augment(images[:0], aug, seed=0).shape == (0, 12, 12, 1)
    with pytest.raises(ValueError, match="n, height, width, channels"):
        augment(images[0], aug, seed=0)


def test_flips_alone_keep_the_pixels() -> None:
    images = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1)
    out = augment(images, Augmentation(), seed=3)
    for i in range(2):
        assert sorted(out[i].ravel()) == sorted(images[i].ravel())


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    out_h=st.integers(1, 16),
    out_w=st.integers(1, 16),
    grayscale=st.booleans(),
    fmt=st.sampled_from(["PNG", "BMP", "TIFF"]),
    seed=st.integers(0, 2**16),
)
def test_any_image_preprocesses_to_the_spec_shape(
    h: int, w: int, out_h: int, out_w: int, grayscale: bool, fmt: str, seed: int
) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    spec = ImagePreprocess(size=(out_h, out_w), grayscale=grayscale)
    x = preprocess(encode(pixels, fmt), spec)
    assert x.shape == spec.shape and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_are_refused_never_crash(data: bytes) -> None:
    with pytest.raises(ImageRejected, match=r"^blob: "):
        preprocess(data, ImagePreprocess(size=(4, 4)), name="blob")
