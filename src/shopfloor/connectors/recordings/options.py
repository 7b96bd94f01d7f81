"""Format options of a recording, as one pydantic model per kind of format.

Options come from the command line, from a replay connector's YAML or from Python, so they
arrive as text, numbers or lists; the models turn them into typed values. :data:`FORMAT_OPTIONS`
names the model of each format, so ``shopfloor validate`` checks a replay connector's
``options`` with file and line, and :func:`read_options` raises
:class:`~shopfloor.errors.ConfigError` naming the format, the option, the rule and the value
received. A ``None`` value counts as not given.

Examples
--------
>>> opts = read_options("mat", {"rate_hz": "12000", "start": 0})
>>> opts.rate_hz, opts.block_s
(12000.0, 1.0)
>>> read_options("mat", {"rate_hz": -1})
Traceback (most recent call last):
...
shopfloor.errors.ConfigError: mat option 'rate_hz' must be a number > 0, got -1
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from shopfloor.errors import ConfigError
from shopfloor.model import to_ns

__all__ = [
    "FORMAT_OPTIONS",
    "BlockOptions",
    "CaptureOptions",
    "TableOptions",
    "read_options",
]


def _bad(rule: str, value: Any) -> ValueError:
    return ValueError(f"must be {rule}, got {value!r}")


def _number(rule: str, test: Callable[[float], bool]) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise _bad(rule, value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _bad(rule, value) from None
        if not math.isfinite(number) or not test(number):
            raise _bad(rule, value)
        return number

    return parse


def _integer(minimum: int) -> Callable[[Any], int]:
    rule = f"a whole number >= {minimum}"

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise _bad(rule, value)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise _bad(rule, value) from None
        if (isinstance(value, float) and number != value) or number < minimum:
            raise _bad(rule, value)
        return number

    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _bad("a non-empty text", value)
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise _bad("true or false", value)


def _time_ns(value: Any) -> int:
    try:
        return to_ns(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"must be a time (ISO 8601, a datetime or epoch ns): {err}") from err


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise _bad("a date like 2011-01-01", value) from None


def _zone(value: Any) -> str:
    try:
        ZoneInfo(_text(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("an IANA time zone like Europe/Berlin", value) from None
    return str(value)


def _names(value: Any) -> tuple[str, ...]:
    items: list[str]
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple):
        items = [str(v).strip() for v in value]
    else:
        raise _bad("a list of names or comma-separated text", value)
    if not items or any(not v for v in items):
        raise _bad("a list of names or comma-separated text", value)
    return tuple(items)


def _units(value: Any) -> str | dict[str, str]:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    raise _bad("a unit, or a mapping of signal name to unit", value)


Number = Annotated[float, BeforeValidator(_number("a number", lambda x: True))]
PositiveNumber = Annotated[float, BeforeValidator(_number("a number > 0", lambda x: x > 0))]
NonNegativeNumber = Annotated[float, BeforeValidator(_number("a number >= 0", lambda x: x >= 0))]
NonZeroNumber = Annotated[float, BeforeValidator(_number("a non-zero number", lambda x: x != 0))]
Count = Annotated[int, BeforeValidator(_integer(1))]
Index = Annotated[int, BeforeValidator(_integer(0))]
Text = Annotated[str, BeforeValidator(_text)]
Flag = Annotated[bool, BeforeValidator(_flag)]
TimeNs = Annotated[int, BeforeValidator(_time_ns)]
Day = Annotated[date, BeforeValidator(_day)]
Zone = Annotated[str, BeforeValidator(_zone)]
Names = Annotated[tuple[str, ...], BeforeValidator(_names)]
Units = Annotated[str | dict[str, str], BeforeValidator(_units)]


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _none_is_not_given(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: v for k, v in value.items() if v is not None}
        return value


class TableOptions(_Options):
    """Options of a table (``csv``, ``parquet``): see :class:`~.layout.TableLayout`."""

    time_column: Text | None = None
    time_format: Text = "iso"
    timezone: Zone = "UTC"
    ambiguous: Literal["raise", "earliest", "latest"] = "raise"
    nonexistent: Literal["raise", "earliest", "latest"] = "raise"
    start: TimeNs | None = None
    rate_hz: PositiveNumber | None = None
    delimiter: Text | None = None
    header: Flag = True
    skip_rows: Index = 0
    decimal: Text = "."
    encoding: Text = "utf-8"


class BlockOptions(_Options):
    """Options of a long recording cut into blocks (``wav``, ``mat``, ``npy``).

    ``start`` is the time of the first sample, ``rate_hz`` the sample rate (WAV: from its
    header unless given), ``block_s`` the seconds per block (0: one block per file),
    ``scale`` a factor on every value and ``unit`` one unit, or signal name → unit.
    """

    start: TimeNs | None = None
    rate_hz: PositiveNumber | None = None
    block_s: NonNegativeNumber = 1.0
    scale: NonZeroNumber = 1.0
    unit: Units = ""


class CaptureOptions(_Options):
    """Options of a folder or archive of captures: see :class:`~.captures.CaptureLayout`."""

    rate_hz: PositiveNumber | None = None
    start: TimeNs | None = None
    interval_s: PositiveNumber | None = None
    name_time_format: Text | None = None
    time_columns: Names | None = None
    date: Day | None = None
    timezone: Zone = "UTC"
    files: Text = "*"
    delimiter: Text | None = None
    header: Flag = False
    decimal: Text = "."
    rows: Count | None = None
    scale: NonZeroNumber = 1.0
    unit: Units = ""


FORMAT_OPTIONS: dict[str, type[BaseModel]] = {
    "csv": TableOptions,
    "parquet": TableOptions,
    "wav": BlockOptions,
    "mat": BlockOptions,
    "npy": BlockOptions,
    "captures": CaptureOptions,
}
"""Recording format → the model of its options."""

OptionsT = TypeVar("OptionsT", bound=BaseModel)


def read_options(
    fmt: str, options: Mapping[str, Any], model: type[OptionsT] | None = None
) -> OptionsT:
    """The options of a ``fmt`` recording, checked by its model (default: the format's).

    Raises
    ------
    ConfigError
        Naming the format, every unknown option (with the closest known name) and every
        invalid one with its rule and value.
    """
    cls: type[Any] = model if model is not None else FORMAT_OPTIONS[fmt]
    try:
        result: OptionsT = cls.model_validate(dict(options))
    except ValidationError as err:
        known = sorted(cls.model_fields)
        unknown: list[str] = []
        problems: list[str] = []
        for problem in err.errors(include_url=False):
            name = str(problem["loc"][0]) if problem["loc"] else ""
            if problem["type"] == "extra_forbidden":
                close = difflib.get_close_matches(name, known, n=1)
                unknown.append(name + (f" (did you mean {close[0]!r}?)" if close else ""))
                continue
            message = str(problem["msg"]).removeprefix("Value error, ")
            problems.append(f"{fmt} option {name!r} {message}")
        if unknown:
            problems.insert(
                0,
                f"unknown option(s) for a {fmt} recording: {', '.join(unknown)} "
                f"(known: {', '.join(known)})",
            )
        raise ConfigError("; ".join(problems)) from err
    return result
