"""Storing one uploaded image: checked by its content, refused with a dead letter.

What the API's upload route (``POST /api/v1/images/{asset}/{signal}``) does once it has
the bytes; the same for any other caller that receives an image whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shopfloor.errors import ImageRejected, RecordError, UnknownSignal
from shopfloor.model import ImageRecord, Provenance, SignalKind, SignalRef, format_ns, now_ns
from shopfloor.model.imaging import image_letter, inspect_image
from shopfloor.model.validation import check_image_attributes
from shopfloor.store import Store, WriteReport

__all__ = ["StoredImage", "refuse_image", "store_image"]


@dataclass(frozen=True)
class StoredImage:
    """An image written to the store: what it became and what the store did with it."""

    record: ImageRecord
    report: WriteReport
    attributes: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary (no bytes)."""
        record = self.record
        return {
            "signal": record.signal.path,
            "ts_ns": record.ts_ns,
            "time": format_ns(record.ts_ns),
            "format": record.format,
            "shape": list(record.shape),
            "bytes": len(record.data),
            "attributes": dict(record.attributes),
            "written": self.report.written,
            "duplicates": self.report.duplicates,
        }


async def refuse_image(
    store: Store,
    error: RecordError,
    *,
    ref: SignalRef,
    name: str,
    size: int,
    data: bytes = b"",
    source: str,
    location: str,
    **detail: Any,
) -> None:
    """Keep a refused image's dead letter in the store (then the caller raises ``error``)."""
    letter = image_letter(
        error,
        source=source,
        location=location,
        signal=ref,
        name=name,
        size=size,
        data=data,
        **detail,
    )
    await store.write_dead_letters([letter])


async def _check_signal(store: Store, ref: SignalRef) -> None:
    info = next((i for i in await store.signals() if i.ref == ref), None)
    if info is None:
        raise UnknownSignal(f"unknown signal {ref.path!r} (not declared)")
    if info.definition.kind != SignalKind.IMAGE:
        raise RecordError(
            f"signal {ref.path!r} is a {info.definition.kind} signal; images go to image signals"
        )


async def store_image(
    store: Store,
    ref: SignalRef,
    data: bytes,
    *,
    name: str,
    max_bytes: int,
    attributes: Mapping[str, str] | None = None,
    ts_ns: int | None = None,
    source: str = "api",
    location: str = "",
    who: str | None = None,
) -> StoredImage:
    """Decode ``data``, and write it as an image of ``ref`` taken at ``ts_ns`` (default now).

    Parameters
    ----------
    store
        Where it goes.
    ref
        An image signal of the store.
    data
        The encoded image, as received.
    name
        Its file name (in errors and its ``source_file`` attribute).
    max_bytes
        Larger images are refused.
    attributes
        Part id, barcode, label: text metadata kept with the image.
    ts_ns
        When it was taken (UTC ns); ``None`` for now.
    source, location, who
        Who received it, where, and on whose behalf (kept in dead letters).

    Raises
    ------
    UnknownSignal
        ``ref`` is not a signal of the store.
    RecordError
        ``ref`` is not an image signal, or the attributes are not text.
    ImageRejected
        Not an image (:class:`~shopfloor.errors.NotAnImage`), larger than ``max_bytes``
        (:class:`~shopfloor.errors.ImageTooLarge`), truncated or corrupt; its dead letter
        is in the store.
    """
    await _check_signal(store, ref)
    tags = {"source_file": name, **(attributes or {})}
    category, reason = check_image_attributes(tags)
    if category:
        raise RecordError(f"{name}: {reason}")
    try:
        info = await asyncio.to_thread(inspect_image, data, name=name, max_bytes=max_bytes)
    except ImageRejected as err:
        extra = {} if who is None else {"who": who}
        await refuse_image(
            store,
            err,
            ref=ref,
            name=name,
            size=len(data),
            data=data,
            source=source,
            location=location or ref.path,
            **extra,
        )
        raise
    record = ImageRecord(
        ref,
        now_ns() if ts_ns is None else ts_ns,
        data,
        info.format,
        info.shape,
        Provenance(source, "upload"),
        attributes=tags,
    )
    report = await store.write([record])
    return StoredImage(record, report, tags)
