"""What a file's name and place tell about its image: time, part id, barcode, label.

Pure functions of the path inside the watched folder (property-tested), so the same
file gives the same record however often it is read: what makes a repeated emission
after a crash a duplicate the store recognizes, not a second image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import pyarrow as pa

from shopfloor.connectors.hotfolder.config import NAME_GROUPS
from shopfloor.connectors.recordings.timeparse import parse_times
from shopfloor.errors import RecordError

__all__ = ["FileNaming", "NameInfo"]


@dataclass(frozen=True)
class NameInfo:
    """The time (``None``: take the file's) and attributes found in a file's path."""

    ts_ns: int | None
    attributes: dict[str, str]


@dataclass(frozen=True)
class FileNaming:
    r"""Reads a file's path inside the watched folder.

    Parameters
    ----------
    pattern
        Searched in the file name; named groups ``ts``, ``part_id``, ``barcode`` and
        ``label`` are read (``None``: nothing is read from the name).
    ts_from_name
        The image's time is the ``ts`` group; a name without it is refused.
    ts_format, timezone
        How the ``ts`` group is written (see
        :func:`~shopfloor.connectors.recordings.timeparse.parse_times`).
    labels_from_folder
        The first folder of the path is the image's label.

    Examples
    --------
    >>> naming = FileNaming(r"(?P<ts>\d{8}T\d{6})_(?P<part_id>\d+)", True, "%Y%m%dT%H%M%S")
    >>> info = naming.read("good/20240501T120000_42.png")
    >>> info.ts_ns, info.attributes["part_id"], info.attributes["source_file"]
    (1714564800000000000, '42', 'good/20240501T120000_42.png')
    """

    pattern: str | None = None
    ts_from_name: bool = False
    ts_format: str = "iso"
    timezone: str = "UTC"
    labels_from_folder: bool = False

    def read(self, relpath: str) -> NameInfo:
        """Time and attributes of the file at ``relpath`` (POSIX, inside the folder).

        Raises
        ------
        RecordError
            The time is to come from the name, and the name does not match the pattern or
            its ``ts`` group is no time in ``ts_format``.
        """
        path = PurePosixPath(relpath)
        attributes = {"source_file": relpath}
        groups: dict[str, str] = {}
        if self.pattern is not None:
            found = re.search(self.pattern, path.name)
            if found is not None:
                groups = {k: v for k, v in found.groupdict().items() if v is not None}
        for key in NAME_GROUPS:
            if key != "ts" and key in groups:
                attributes[key] = groups[key]
        if self.labels_from_folder and len(path.parts) > 1:
            attributes["label"] = path.parts[0]
        if not self.ts_from_name:
            return NameInfo(None, attributes)
        if "ts" not in groups:
            raise RecordError(
                f"{relpath}: the name does not match name_pattern {self.pattern!r}, so it "
                "gives no time"
            )
        problems: dict[int, str] = {}
        values, ok = parse_times(
            pa.array([groups["ts"]]), self.ts_format, timezone=self.timezone, problems=problems
        )
        if not ok[0]:
            why = problems.get(0, f"not a time in the format {self.ts_format!r}")
            raise RecordError(f"{relpath}: time {groups['ts']!r} from the name: {why}")
        return NameInfo(int(values[0]), attributes)
