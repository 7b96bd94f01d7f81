"""Settings of a hot-folder connector."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from shopfloor.connectors.config import ConnectorConfig

__all__ = ["NAME_GROUPS", "HotFolderConfig"]

NAME_GROUPS = ("ts", "part_id", "barcode", "label")
"""Named groups of ``name_pattern`` the connector reads; others are ignored."""


class HotFolderConfig(ConnectorConfig):
    r"""Watch a folder that a camera drops images into.

    Each image signal bound to it (``connector: <name>``) names a glob in ``source``,
    matched against the file's path inside the folder from the right (``*.png`` matches
    in every sub-folder, ``cam1/*.png`` only in ``cam1``). A file is taken once its size
    and modification time have not changed for ``settle_s``, so a file still being
    written (a slow FTP upload) is never read half.

    Example::

        - name: line1-camera
          type: hotfolder
          folder: /srv/ftp/camera1
          settle_s: 1.0
          after: move                     # processed/ ; or delete, or keep
          timestamp: name                 # or mtime
          name_pattern: '(?P<ts>\d{8}T\d{9})_(?P<part_id>\d+)_(?P<barcode>\w+)'
          ts_format: '%Y%m%dT%H%M%S%f'
          labels_from: folder             # good/part-1.png gets the label "good"
    """

    type: Literal["hotfolder"] = "hotfolder"
    folder: str = Field(description="The watched folder (relative to the project).")
    settle_s: Annotated[float, Field(gt=0, description="Unchanged this long = complete.")] = 1.0
    poll_s: Annotated[float, Field(gt=0, description="How often the folder is listed.")] = 0.5
    max_bytes: Annotated[int, Field(gt=0, description="Larger files are rejected.")] = (
        20 * 1024 * 1024
    )
    after: Literal["move", "delete", "keep"] = Field(
        default="move",
        description="What becomes of a stored file: moved to `processed`, deleted, or kept "
        "where it is (the ledger remembers it).",
    )
    processed: str = Field(
        default="processed", description="Folder for stored files (relative to `folder`)."
    )
    rejected: str = Field(
        default="rejected", description="Folder for refused files (relative to `folder`)."
    )
    timestamp: Literal["mtime", "name"] = Field(
        default="mtime",
        description="The image's time: the file's modification time, or the `ts` group of "
        "`name_pattern`.",
    )
    name_pattern: str | None = Field(
        default=None,
        description="Regular expression searched in the file name; its named groups ts, "
        "part_id, barcode and label become the time and attributes of the image.",
    )
    ts_format: str = Field(
        default="iso",
        description="Format of the `ts` group: iso, epoch_s/ms/us/ns or a strptime pattern.",
    )
    timezone: str = Field(default="UTC", description="IANA zone of a `ts` without offset.")
    labels_from: Literal["folder"] | None = Field(
        default=None, description="`folder`: the sub-folder a file is in is its label."
    )
    ledger_keep: Annotated[int, Field(gt=0)] = Field(
        default=100_000, description="Ledger entries kept when it is compacted at start."
    )

    @field_validator("name_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as err:
                raise ValueError(
                    f"name_pattern {value!r} is not a regular expression: {err}"
                ) from err
        return value

    @field_validator("ts_format")
    @classmethod
    def _format(cls, value: str) -> str:
        # imported here: the time parser brings numpy and pyarrow, which listing the
        # connector types (``shopfloor status``) must not load
        from shopfloor.connectors.recordings.timeparse import TIME_FORMATS

        if value not in TIME_FORMATS and "%" not in value:
            raise ValueError(
                f"ts_format {value!r}: use one of {', '.join(TIME_FORMATS)} or a strptime "
                "pattern (with %)"
            )
        return value

    @field_validator("processed", "rejected")
    @classmethod
    def _inside(cls, value: str) -> str:
        if not value or value.startswith(("/", ".")) or "/" in value.strip("/"):
            raise ValueError(f"{value!r} must be the name of a sub-folder of `folder`")
        return value

    @model_validator(mode="after")
    def _ts_group(self) -> HotFolderConfig:
        pattern = self.name_pattern
        if self.timestamp == "name" and (
            pattern is None or "ts" not in re.compile(pattern).groupindex
        ):
            raise ValueError(
                f"timestamp: name needs a name_pattern with a (?P<ts>...) group, got {pattern!r}"
            )
        if self.processed == self.rejected:
            raise ValueError(f"processed and rejected are both {self.processed!r}")
        return self
