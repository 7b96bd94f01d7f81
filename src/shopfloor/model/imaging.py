"""Encoded images checked by decoding them: their format and pixel shape, or why not.

Every path by which an image enters (a hot folder, an HTTP upload, later MQTT) calls
:func:`inspect_image`, so a truncated PNG or a text file named ``.png`` is refused the same
way, by its content and never by its name or a header. Pillow decodes; the image is loaded
in full, because a truncated file often opens fine and fails only at its missing end.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from shopfloor.errors import ImageRejected, ImageTooLarge, NotAnImage, RecordError
from shopfloor.model.records import DeadLetter
from shopfloor.model.signal import SignalRef

__all__ = [
    "ACCEPTED_FORMATS",
    "LETTER_PAYLOAD_BYTES",
    "ImageInfo",
    "image_letter",
    "inspect_image",
    "open_image",
]

LETTER_PAYLOAD_BYTES = 1024 * 1024
"""A refused image up to this size is kept whole in its dead letter; a larger one is not."""

ACCEPTED_FORMATS = frozenset({"png", "jpeg", "bmp", "tiff"})
"""Image formats accepted (Pillow's names, lower case)."""


@dataclass(frozen=True)
class ImageInfo:
    """What decoding an image found: its format and ``(height, width, channels)``."""

    format: str
    shape: tuple[int, int, int]


def inspect_image(data: bytes, *, name: str, max_bytes: int | None = None) -> ImageInfo:
    """Decode ``data`` in full and return its format and shape.

    Parameters
    ----------
    data
        The encoded image.
    name
        What to call it in errors: a file name, an upload.
    max_bytes
        Refuse larger images without decoding them (``None``: no limit here).

    Raises
    ------
    ImageTooLarge
        ``data`` is longer than ``max_bytes``.
    NotAnImage
        ``data`` is no image, or one of a format not in :data:`ACCEPTED_FORMATS`.
    ImageRejected
        The image is truncated or corrupt, or would decode to more pixels than Pillow's
        decompression-bomb limit.

    Examples
    --------
    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (4, 2)).save(buffer, format="PNG")
    >>> inspect_image(buffer.getvalue(), name="part-1.png")
    ImageInfo(format='png', shape=(2, 4, 3))
    >>> inspect_image(b"hello", name="notes.png")
    Traceback (most recent call last):
    ...
    shopfloor.errors.NotAnImage: notes.png: not an image (5 bytes, starting b'hello')
    """
    with open_image(data, name=name, max_bytes=max_bytes) as image:
        fmt = (image.format or "").lower()
        width, height = image.size
        channels = len(image.getbands())
    return ImageInfo(fmt, (height, width, channels))


@contextmanager
def open_image(data: bytes, *, name: str, max_bytes: int | None = None) -> Iterator[Image.Image]:
    """The decoded Pillow image of ``data``, loaded in full and checked (closed on exit).

    The one decoder behind :func:`inspect_image` and image preprocessing
    (:mod:`shopfloor.features.images`): the same bytes are accepted or refused the same
    way wherever they are decoded. Raises as :func:`inspect_image`.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageTooLarge(
            f"{name}: image of {len(data)} bytes exceeds the limit of {max_bytes} bytes"
        )
    if not data:
        raise NotAnImage(f"{name}: empty, not an image")
    fmt = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            try:
                fmt = (image.format or "").lower()
                if fmt not in ACCEPTED_FORMATS:
                    raise NotAnImage(
                        f"{name}: {fmt or 'unknown'} images are not accepted (accepted: "
                        f"{', '.join(sorted(ACCEPTED_FORMATS))})"
                    )
                image.load()
                if fmt == "png":  # the pixels can be whole with the end missing: check it too
                    with Image.open(io.BytesIO(data)) as again:
                        again.verify()
            except BaseException:
                image.close()
                raise
    except UnidentifiedImageError as err:
        raise NotAnImage(
            f"{name}: not an image ({len(data)} bytes, starting {data[:8]!r})"
        ) from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageRejected(f"{name}: {err}") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        # Pillow reports a truncated or corrupt stream as OSError (or SyntaxError for a
        # broken header): the image cannot be decoded to its end
        raise ImageRejected(
            f"{name}: truncated or corrupt {fmt or 'image'} ({len(data)} bytes): {err}"
        ) from err
    with image:
        yield image


def image_letter(
    error: RecordError,
    *,
    source: str,
    location: str,
    signal: SignalRef,
    name: str,
    size: int,
    data: bytes = b"",
    **detail: Any,
) -> DeadLetter:
    """The dead letter of a refused image, whichever way it came.

    Parameters
    ----------
    error
        Why it was refused (an :class:`~shopfloor.errors.ImageRejected` names its category;
        another record error is filed as ``bad_name``).
    source, location
        Who received it (a connector, ``api``) and where (a file path, a URL).
    signal
        The image signal it was meant for.
    name
        Its file name.
    size
        Its size in bytes.
    data
        Its bytes, kept when at most :data:`LETTER_PAYLOAD_BYTES` long.
    **detail
        More to keep beside it (where the file was moved, who uploaded it).
    """
    category = error.category if isinstance(error, ImageRejected) else "bad_name"
    return DeadLetter(
        source=source,
        location=location,
        reason=str(error),
        payload=data if len(data) <= LETTER_PAYLOAD_BYTES else b"",
        detail={"category": category, "signal": signal.path, "file": name, "bytes": size, **detail},
    )
