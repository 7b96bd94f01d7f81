"""Topic patterns: MQTT filters whose wildcards may be named, to capture topic levels.

``+`` matches one level and ``#`` the rest of the topic (the last level only), as in MQTT;
``+line`` and ``#rest`` do the same and keep what they matched under a name. The pattern
``acme/+line/+machine/+signal`` subscribes to ``acme/+/+/+`` and, for the topic
``acme/l1/filler/temp``, captures ``{"line": "l1", "machine": "filler", "signal": "temp"}``;
templates such as ``acme/plant1/packaging/{line}/{machine}`` turn captures into the asset
path and the signal name.

Examples
--------
>>> p = TopicPattern.parse("acme/+line/+machine/#rest")
>>> p.filter
'acme/+/+/#'
>>> p.match("acme/l1/filler/temp/avg")
{'line': 'l1', 'machine': 'filler', 'rest': 'temp/avg'}
>>> p.match("other/l1/filler") is None
True
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "TopicPattern",
    "fill_template",
    "filter_covers",
    "subscription_filters",
    "template_fields",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class TopicPattern:
    """A parsed pattern: each level is a literal, ``+``/``+name`` or a final ``#``/``#name``."""

    text: str
    levels: tuple[tuple[str, str | None], ...]
    """``(kind, name or literal)``: kind is ``"="`` (literal), ``"+"`` or ``"#"``."""

    @classmethod
    def parse(cls, text: str) -> TopicPattern:
        """Parse ``text``; ``ValueError`` says which level is wrong."""
        if not text:
            raise ValueError("topic pattern is empty")
        if "\0" in text:
            raise ValueError(f"topic pattern {text!r} holds a NUL character")
        parts = text.split("/")
        levels: list[tuple[str, str | None]] = []
        names: set[str] = set()
        for i, part in enumerate(parts):
            kind = part[:1]
            if kind in ("+", "#"):
                name = part[1:] or None
                if name is not None and not _NAME.fullmatch(name):
                    raise ValueError(
                        f"topic pattern {text!r}: level {i + 1} {part!r}: a wildcard's name "
                        "is letters, digits and '_'"
                    )
                if kind == "#" and i != len(parts) - 1:
                    raise ValueError(f"topic pattern {text!r}: '#' must be the last level")
                if name is not None:
                    if name in names:
                        raise ValueError(f"topic pattern {text!r}: {name!r} is captured twice")
                    names.add(name)
                levels.append((kind, name))
            else:
                if "+" in part or "#" in part:
                    raise ValueError(
                        f"topic pattern {text!r}: level {i + 1} {part!r} mixes a wildcard "
                        "with text (a wildcard is a whole level)"
                    )
                levels.append(("=", part))
        return cls(text, tuple(levels))

    @property
    def filter(self) -> str:
        """The MQTT subscription filter (names dropped)."""
        return "/".join(kind if kind != "=" else str(value) for kind, value in self.levels)

    @property
    def names(self) -> tuple[str, ...]:
        """The names captured, in order."""
        return tuple(str(v) for kind, v in self.levels if kind != "=" and v is not None)

    @property
    def is_literal(self) -> bool:
        """Whether the pattern is a plain topic (no wildcard)."""
        return all(kind == "=" for kind, _ in self.levels)

    def match(self, topic: str) -> dict[str, str] | None:
        """The captures of ``topic``, or ``None`` when it does not match."""
        parts = topic.split("/")
        captures: dict[str, str] = {}
        for i, (kind, value) in enumerate(self.levels):
            if kind == "#":
                # '#' also matches the parent level itself (MQTT: "a/#" matches "a")
                if i > len(parts):
                    return None
                if value is not None:
                    captures[value] = "/".join(parts[i:])
                return captures
            if i >= len(parts):
                return None
            if kind == "+":
                if value is not None:
                    captures[value] = parts[i]
            elif parts[i] != value:
                return None
        if len(parts) != len(self.levels):
            return None
        return captures


def template_fields(template: str) -> set[str]:
    """The ``{name}`` fields of a template; ``ValueError`` for a malformed one."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"template {template!r}: {err}") from err
    fields: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _NAME.fullmatch(name) or spec or conversion:
            raise ValueError(f"template {template!r}: {{{name}}} must be a plain {{name}}")
        fields.add(name)
    return fields


def fill_template(template: str, captures: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by its capture."""
    return template.format_map(captures)


def filter_covers(wide: str, narrow: str) -> bool:
    """Whether every topic that MQTT filter ``narrow`` matches also matches ``wide``.

    >>> filter_covers("a/#", "a/+/c"), filter_covers("a/+/c", "a/b/c"), filter_covers("a/b", "a/+")
    (True, True, False)
    """
    w, n = wide.split("/"), narrow.split("/")
    for i, level in enumerate(w):
        if level == "#":
            return True
        if i >= len(n) or n[i] == "#":
            return False
        if level != "+" and (n[i] == "+" or n[i] != level):
            return False
    return len(w) == len(n)


def subscription_filters(filters: list[str]) -> list[str]:
    """``filters`` without those another one covers, in their order.

    A broker delivers a message once per matching subscription (mosquitto does), so a
    filter inside another would bring its messages twice.

    >>> subscription_filters(["a/b/c", "a/+/c", "x/#", "x/y", "a/+/c"])
    ['a/+/c', 'x/#']
    """
    unique = list(dict.fromkeys(filters))
    return [f for f in unique if not any(g != f and filter_covers(g, f) for g in unique)]
