"""Format options of a recording, checked one by one with messages that name the option.

Options come from the command line, from a replay connector's YAML or from Python, so they
arrive as text, numbers or lists; :class:`OptionReader` turns them into typed values and
raises :class:`~shopfloor.errors.ConfigError` naming the format, the option, the rule and
the value received.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shopfloor.errors import ConfigError
from shopfloor.model import to_ns

__all__ = ["OptionReader"]


class OptionReader:
    """Typed access to the options of one recording format.

    Parameters
    ----------
    fmt
        Format name, used in messages (``wav``, ``captures``).
    options
        The options as given.
    known
        Every option the format understands; any other name is an error.

    Examples
    --------
    >>> opts = OptionReader("mat", {"rate_hz": "12000"}, ["rate_hz", "block_s"])
    >>> opts.number("rate_hz", positive=True), opts.number("block_s", 1.0)
    (12000.0, 1.0)
    """

    def __init__(self, fmt: str, options: Mapping[str, Any], known: Iterable[str]) -> None:
        self.fmt = fmt
        self.options = dict(options)
        self.known = sorted(set(known))
        unknown = sorted(set(self.options) - set(self.known))
        if unknown:
            raise ConfigError(
                f"unknown option(s) for a {fmt} recording: {', '.join(unknown)} "
                f"(known: {', '.join(self.known)})"
            )

    def _bad(self, name: str, rule: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.fmt} option {name!r} must be {rule}, got {value!r}")

    def given(self, name: str) -> bool:
        """True when ``name`` was given (and is not ``None``)."""
        return self.options.get(name) is not None

    def number(
        self,
        name: str,
        default: float | None = None,
        *,
        positive: bool = False,
        non_negative: bool = False,
        non_zero: bool = False,
    ) -> float | None:
        """A finite number (from a number or its text)."""
        value = self.options.get(name)
        if value is None:
            return default
        rule = (
            "a number > 0"
            if positive
            else "a number >= 0"
            if non_negative
            else "a non-zero number"
            if non_zero
            else "a number"
        )
        if isinstance(value, bool):
            raise self._bad(name, rule, value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self._bad(name, rule, value) from None
        if not math.isfinite(number):
            raise self._bad(name, rule, value)
        if (
            (positive and not number > 0)
            or (non_negative and number < 0)
            or (non_zero and number == 0)
        ):
            raise self._bad(name, rule, value)
        return number

    def integer(self, name: str, *, minimum: int = 0) -> int | None:
        """A whole number >= ``minimum``."""
        value = self.options.get(name)
        if value is None:
            return None
        rule = f"a whole number >= {minimum}"
        if isinstance(value, bool):
            raise self._bad(name, rule, value)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise self._bad(name, rule, value) from None
        if isinstance(value, float) and number != value:
            raise self._bad(name, rule, value)
        if number < minimum:
            raise self._bad(name, rule, value)
        return number

    def text(self, name: str, default: str | None = None) -> str | None:
        """A non-empty string."""
        value = self.options.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise self._bad(name, "a non-empty text", value)
        return value

    def flag(self, name: str, default: bool) -> bool:
        """A boolean (``true``/``false`` as text too)."""
        value = self.options.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise self._bad(name, "true or false", value)

    def time_ns(self, name: str) -> int | None:
        """A point in time: ISO 8601 text (no zone means UTC), a datetime or epoch ns."""
        value = self.options.get(name)
        if value is None:
            return None
        try:
            return to_ns(value)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{self.fmt} option {name!r}: {err}") from err

    def day(self, name: str) -> date | None:
        """A calendar date, ``2011-01-01``."""
        value = self.options.get(name)
        if value is None:
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise self._bad(name, "a date like 2011-01-01", value) from None

    def zone(self, name: str, default: str = "UTC") -> ZoneInfo:
        """An IANA time zone."""
        value = self.text(name, default) or default
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise self._bad(name, "an IANA time zone like Europe/Berlin", value) from None

    def names(self, name: str) -> tuple[str, ...] | None:
        """A list of names: a sequence, or comma-separated text."""
        value = self.options.get(name)
        if value is None:
            return None
        items: list[str]
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",")]
        elif isinstance(value, list | tuple):
            items = [str(v).strip() for v in value]
        else:
            raise self._bad(name, "a list of names or comma-separated text", value)
        if not items or any(not v for v in items):
            raise self._bad(name, "a list of names or comma-separated text", value)
        return tuple(items)

    def units(self, name: str = "unit") -> str | dict[str, str]:
        """One unit for every signal, or signal name (or path) → unit."""
        value = self.options.get(name)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return dict(value)
        raise self._bad(name, "a unit, or a mapping of signal name to unit", value)
