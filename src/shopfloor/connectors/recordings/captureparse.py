"""Parsing one capture file, and the time a capture was taken.

A capture is a short text table of numbers, one row per sample, one column per channel
(plus, for some rigs, columns holding the time of day). Everything here is a pure function
that either returns a value or raises :class:`CaptureError` with a reason naming the line
and column, so a capture reader can turn any bad file into one dead letter.

The table is parsed with :func:`numpy.loadtxt` (fast, C); only when that fails is the file
read again line by line to say which line and field is wrong.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

import numpy as np
import numpy.typing as npt

from shopfloor.model import to_ns

__all__ = [
    "CaptureError",
    "CaptureTable",
    "check_name_time_format",
    "parse_capture",
    "sniff_separator",
    "time_from_columns",
    "time_from_name",
    "time_of_day_ns",
]

_INT64_MAX = 2**63 - 1
_TIME_PARTS = (("hour", 24), ("minute", 60), ("second", 60))


class CaptureError(ValueError):
    """A capture cannot be used.

    Parameters
    ----------
    reason
        Why, naming the line and column where there is one.
    line
        1-based line of the file, when the problem is on one line.
    text
        That line, as read.
    """

    def __init__(self, reason: str, line: int | None = None, text: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.text = text


@dataclass(frozen=True, eq=False)
class CaptureTable:
    """The numbers of one capture.

    Attributes
    ----------
    names
        Column names: from the header, else ``1``, ``2``, ...
    values
        ``(rows, columns)`` float64.
    first_line
        1-based line of the first data row.
    """

    names: list[str]
    values: npt.NDArray[np.float64]
    first_line: int


def sniff_separator(line: str, decimal: str = ".") -> str:
    r"""The field separator of a data line: tab, ``;``, ``,`` or ``" "`` (any whitespace).

    Examples
    --------
    >>> sniff_separator("1.0\t2.0"), sniff_separator("1,0;2,0", ","), sniff_separator("1 2")
    ('\t', ';', ' ')
    """
    for sep in ("\t", ";", ","):
        if sep in line and sep != decimal:
            return sep
    return " "


def _split(line: str, sep: str) -> list[str]:
    return line.split() if sep == " " else line.split(sep)


def parse_capture(
    data: bytes, *, delimiter: str | None = None, header: bool = False, decimal: str = "."
) -> CaptureTable:
    r"""Parse a capture file's bytes into a table of numbers.

    Parameters
    ----------
    data
        The file's content.
    delimiter
        Field separator; ``None`` detects tab, ``;``, ``,`` or whitespace (``" "``).
    header
        The first non-blank line names the columns.
    decimal
        Decimal separator of the numbers.

    Raises
    ------
    CaptureError
        Empty or binary content, a line with the wrong number of fields, a field that is
        not a number; the reason names the line and column.

    Examples
    --------
    >>> table = parse_capture(b"1,0.5\n2,0.25\n")
    >>> table.names, table.values.shape
    (['1', '2'], (2, 2))
    """
    if b"\0" in data:
        raise CaptureError("binary data, not a text table")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    if not numbered:
        raise CaptureError("the file is empty")
    head: tuple[int, str] | None = None
    if header:
        head, numbered = numbered[0], numbered[1:]
        if not numbered:
            raise CaptureError(f"line {head[0]}: a header and no data rows", head[0], head[1])
    first_line, first = numbered[0]
    sep = delimiter or sniff_separator(first, decimal)
    trailing = sep != " " and first.rstrip().endswith(sep)
    texts = [line for _, line in numbered]
    if trailing:
        texts = [t.rstrip() for t in texts]
        texts = [t[: -len(sep)] if t.endswith(sep) else t for t in texts]
    n_columns = len(_split(texts[0], sep))
    if head is not None:
        head_text = head[1].rstrip()
        if trailing and head_text.endswith(sep):
            head_text = head_text[: -len(sep)]
        names = [name.strip().strip('"') for name in _split(head_text, sep)]
        if len(names) != n_columns:
            raise CaptureError(
                f"line {head[0]}: the header names {len(names)} columns, the data has {n_columns}",
                head[0],
                head[1],
            )
        if len(set(names)) != len(names):
            raise CaptureError(f"line {head[0]}: column names repeat", head[0], head[1])
    else:
        names = [str(i + 1) for i in range(n_columns)]
    parsed = texts if decimal == "." else [t.replace(decimal, ".") for t in texts]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the shape check says
            values = np.loadtxt(
                parsed,
                delimiter=None if sep == " " else sep,
                comments=None,
                dtype=np.float64,
                ndmin=2,
            )
    except ValueError as err:
        raise _diagnose(numbered, parsed, sep, names) from err
    if values.shape != (len(texts), n_columns):
        raise _diagnose(numbered, parsed, sep, names)
    return CaptureTable(names, values, first_line)


def _diagnose(
    numbered: Sequence[tuple[int, str]], parsed: Sequence[str], sep: str, names: Sequence[str]
) -> CaptureError:
    """Find the first bad line of a table numpy refused."""
    expected = len(names)
    for (line_no, original), text in zip(numbered, parsed, strict=True):
        fields = _split(text, sep)
        if len(fields) != expected:
            return CaptureError(
                f"line {line_no} has {len(fields)} fields, expected {expected}",
                line_no,
                original,
            )
        for name, field in zip(names, fields, strict=True):
            try:
                float(field)
            except ValueError:
                shown = field.strip()
                what = "is empty" if not shown else f"{shown[:40]!r} is not a number"
                return CaptureError(f"line {line_no}, column {name}: {what}", line_no, original)
    return CaptureError("the table cannot be read as numbers")


def check_name_time_format(fmt: str) -> None:
    """Raise ``ValueError`` unless ``fmt`` is a usable strptime pattern."""
    if "%" not in fmt:
        raise ValueError(f"{fmt!r} has no % directive (e.g. '%Y.%m.%d.%H.%M.%S')")
    sample = datetime(2004, 2, 12, 10, 32, 39)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except (ValueError, re.error) as err:
        raise ValueError(f"{fmt!r} is not a strptime pattern: {err}") from err


def _local(wall: datetime, zone: tzinfo) -> datetime:
    """``wall`` (naive) as a time in ``zone``.

    Raises
    ------
    ValueError
        When a DST change makes it nonexistent (in the gap) or ambiguous (twice).
    """
    early, late = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    utc = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    what = "does not exist" if utc != wall else "happens twice"
    raise ValueError(f"local time {wall.isoformat()} {what} in {zone} (a DST change)")


def _checked_ns(moment: datetime) -> int:
    ns = to_ns(moment)
    if not -_INT64_MAX <= ns <= _INT64_MAX:
        raise ValueError(f"time {moment.isoformat()} is out of range")
    return ns


def time_from_name(name: str, fmt: str, zone: tzinfo) -> int:
    """The time in a file name, in UTC ns.

    The pattern must match the whole name, or the name without its last one or two
    suffixes (``.csv``, ``.csv.gz``). A time without an offset is in ``zone``.

    Raises
    ------
    ValueError
        The name does not match.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> time_from_name("2004.02.12.10.32.39", "%Y.%m.%d.%H.%M.%S", ZoneInfo("UTC"))
    1076581959000000000
    """
    candidates = [name]
    stem = name
    for _ in range(2):
        stem, dot, _suffix = stem.rpartition(".")
        if not dot or not stem:
            break
        candidates.append(stem)
    for candidate in candidates:
        try:
            parsed = datetime.strptime(candidate, fmt)
        except ValueError:
            continue
        except re.error as err:  # a pattern check_name_time_format would have refused
            raise ValueError(f"{fmt!r} is not a strptime pattern: {err}") from err
        if parsed.tzinfo is None:
            parsed = _local(parsed, zone)
        return _checked_ns(parsed)
    raise ValueError(f"file name {name!r} does not match the time pattern {fmt!r}")


def time_of_day_ns(values: Sequence[float], names: Sequence[str]) -> int:
    """Nanoseconds since midnight from hour, minute, second and optional microsecond.

    Raises
    ------
    ValueError
        A value is not a whole hour/minute/second in range, or not a microsecond.

    Examples
    --------
    >>> time_of_day_ns([9, 10, 39, 1.1879e05], ["1", "2", "3", "4"])
    33039118790000
    """
    if len(values) < 3:
        raise ValueError("give the hour, minute and second columns")
    whole = []
    for value, name, (what, limit) in zip(values[:3], names, _TIME_PARTS, strict=False):
        if not (math.isfinite(value) and 0 <= value < limit and value == round(value)):
            raise ValueError(f"column {name}: {value!r} is not a {what} (0 to {limit - 1})")
        whole.append(int(value))
    hour, minute, second = whole
    ns = ((hour * 60 + minute) * 60 + second) * 1_000_000_000
    if len(values) > 3:
        micro = values[3]
        if not (math.isfinite(micro) and 0 <= micro < 1_000_000):
            raise ValueError(f"column {names[3]}: {micro!r} is not a microsecond (0 to 999999)")
        ns += round(micro * 1000)
    return ns


def time_from_columns(day: date, time_of_day: int, zone: tzinfo) -> int:
    """UTC ns of ``time_of_day`` (ns since midnight, wall-clock time in ``zone``) on ``day``.

    Examples
    --------
    >>> from datetime import date
    >>> from zoneinfo import ZoneInfo
    >>> time_from_columns(date(2011, 1, 1), 33039118790000, ZoneInfo("UTC"))
    1293873039118790000
    """
    seconds, sub = divmod(time_of_day, 1_000_000_000)
    hour, rest = divmod(seconds, 3600)
    minute, second = divmod(rest, 60)
    wall = _local(datetime(day.year, day.month, day.day, hour, minute, second), zone)
    return _checked_ns(wall) + sub
