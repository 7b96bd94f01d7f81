"""Labels: time ranges of an asset marked healthy, ignore or fault:<type>, in the store.

Datasets join them to their windows (:func:`shopfloor.ml.dataset.join_labels`).
"""

from __future__ import annotations

from typing import Any

from shopfloor.config import Project
from shopfloor.errors import ConfigError, StoreError
from shopfloor.model import Annotation, now_ns
from shopfloor.services.options import LabelOptions
from shopfloor.services.query import parse_time_range
from shopfloor.services.store import project_store
from shopfloor.store import Store
from shopfloor.store.protocol import AnnotationStore

__all__ = ["add_label", "delete_label", "labels_lines", "list_labels"]


def _labels_of(store: Store) -> AnnotationStore:
    if not isinstance(store, AnnotationStore):
        raise StoreError(f"the store {type(store).__name__} keeps no labels")
    return store


async def add_label(o: LabelOptions, project: Project, *, who: str) -> dict[str, Any]:
    """Keep the labelled range ``o``; return it with its id.

    Raises
    ------
    ConfigError
        When the asset is not in the project, the signal not one of its signals, the
        label not ``healthy``, ``ignore`` or ``fault:<type>``, or the range empty.
    """
    span = parse_time_range(o.from_, o.to)
    assert span.start_ns is not None and span.end_ns is not None  # both required
    try:
        asset = project.config.asset(o.asset)
    except KeyError:
        assets = ", ".join(a.path for a in project.config.assets) or "none"
        raise ConfigError(f"--asset {o.asset!r}: no such asset (assets: {assets})") from None
    if o.signal is not None and o.signal not in {s.name for s in asset.signals}:
        raise ConfigError(f"--signal {o.signal!r}: not a signal of {o.asset!r}")
    try:
        annotation = Annotation(
            asset=o.asset,
            signal=o.signal,
            start_ns=span.start_ns,
            end_ns=span.end_ns,
            label=o.label,
            comment=o.comment,
            created_by=who,
            created_ns=now_ns(),
        )
    except ValueError as err:
        raise ConfigError(str(err)) from err
    async with project_store(project) as store:
        added = await _labels_of(store).add_annotation(annotation)
    return added.as_dict()


async def list_labels(
    project: Project, *, asset: str | None = None, from_: str | None = None, to: str | None = None
) -> list[dict[str, Any]]:
    """Labels of ``asset`` (and below it) overlapping the range, oldest first."""
    span = parse_time_range(from_, to)
    async with project_store(project) as store:
        found = await _labels_of(store).list_annotations(
            asset=asset, start_ns=span.start_ns, end_ns=span.end_ns
        )
    return [a.as_dict() for a in found]


async def delete_label(project: Project, label_id: int) -> dict[str, Any]:
    """Delete label ``label_id``.

    Raises
    ------
    ConfigError
        When there is no label with that id.
    """
    async with project_store(project) as store:
        deleted = await _labels_of(store).delete_annotation(label_id)
    if not deleted:
        raise ConfigError(f"no label with id {label_id}")
    return {"deleted": label_id}


def labels_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Labels in words, one a line."""
    if not rows:
        return ["listed no labels"]
    lines = [f"listed {len(rows)} label(s)"]
    for r in rows:
        where = r["asset"] + (f" / {r['signal']}" if r["signal"] else "")
        comment = f" ({r['comment']})" if r["comment"] else ""
        lines.append(
            f"#{r['id']} {r['label']} {where} {r['from']} .. {r['to']}, by {r['created_by']} "
            f"at {r['created_at']}{comment}"
        )
    return lines
