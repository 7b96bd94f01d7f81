"""Images are checked by decoding them: format and shape, or a refusal naming why."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from shopfloor.errors import HTTP_STATUS, ImageRejected, ImageTooLarge, NotAnImage, http_status
from shopfloor.model import SignalRef
from shopfloor.model.imaging import LETTER_PAYLOAD_BYTES, image_letter, inspect_image


def _encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (20, 10)) -> bytes:
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    pixels = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze(), mode=None).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "shape"),
    [("PNG", "RGB", (10, 20, 3)), ("PNG", "RGBA", (10, 20, 4)), ("JPEG", "L", (10, 20, 1)),
     ("BMP", "RGB", (10, 20, 3)), ("TIFF", "RGB", (10, 20, 3))],
)  # fmt: skip
def test_format_and_shape_come_from_the_content(
    fmt: str, mode: str, shape: tuple[int, ...]
) -> None:
    info = inspect_image(_encoded(fmt, mode), name="x")
    assert info.format == fmt.lower() and info.shape == shape


def test_truncated_not_images_and_too_large_are_told_apart() -> None:
    data = _encoded("PNG", size=(64, 64))
    with pytest.raises(ImageRejected, match="truncated") as truncated:
        inspect_image(data[: len(data) // 2], name="half.png")
    assert type(truncated.value) is ImageRejected
    with pytest.raises(NotAnImage, match=r"notes\.png"):
        inspect_image(b"shift report\n", name="notes.png")
    buffer = io.BytesIO()
    Image.new("P", (2, 2)).save(buffer, format="GIF")
    with pytest.raises(NotAnImage, match="gif"):
        inspect_image(buffer.getvalue(), name="a.gif")
    with pytest.raises(ImageTooLarge, match="limit of 100 bytes"):
        inspect_image(data, name="big.png", max_bytes=100)
    assert [http_status(e) for e in (ImageRejected(""), NotAnImage(""), ImageTooLarge(""))] == [
        422,
        415,
        413,
    ]
    assert NotAnImage in HTTP_STATUS


@given(st.binary(max_size=400))
@settings(max_examples=200, deadline=None)
def test_any_bytes_are_an_image_or_a_refusal_never_a_crash(data: bytes) -> None:
    try:
        info = inspect_image(data, name="fuzz")
    except ImageRejected:
        return
    assert len(info.shape) == 3


@given(cut=st.integers(5, 200))
@settings(max_examples=60, deadline=None)
def test_every_truncation_of_a_png_is_refused(cut: int) -> None:
    """Down to the end chunk (only its 4-byte checksum may go: nothing else is missing)."""
    data = _encoded("PNG", size=(16, 16))
    with pytest.raises(ImageRejected):
        inspect_image(data[: len(data) - cut], name="cut.png")


def test_the_dead_letter_names_file_reason_and_keeps_small_payloads() -> None:
    ref = SignalRef("a/b/c/d/e/f", "camera")
    small = image_letter(
        NotAnImage("n.png: not an image"), source="cam", location="/in/n.png", signal=ref,
        name="n.png", size=3, data=b"abc", moved_to="rejected/n.png",
    )  # fmt: skip
    assert small.payload == b"abc" and small.detail["category"] == "not_an_image"
    assert small.detail["moved_to"] == "rejected/n.png" and small.detail["signal"] == ref.path
    big = image_letter(
        ImageRejected("b.png: truncated"), source="cam", location="b.png", signal=ref,
        name="b.png", size=LETTER_PAYLOAD_BYTES + 1, data=b"\0" * (LETTER_PAYLOAD_BYTES + 1),
    )  # fmt: skip
    assert big.payload == b"" and big.detail["category"] == "bad_image"
