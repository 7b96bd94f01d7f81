"""A small path language that picks a value out of a JSON document.

Grammar: ``$`` (the whole document), or keys separated by dots with list indexes in
brackets: ``data.values[0].v``, ``readings[-1]``. A key that holds a dot, a bracket or
starts with a digit is quoted in brackets: ``["temp.C"]``, ``['1st']``. A leading ``$.``
is allowed (``$.data.v`` is ``data.v``).

Examples
--------
>>> path = JsonPath.parse("data.values[0].v")
>>> path.get({"data": {"values": [{"v": 21.5}]}})
21.5
>>> path.text
'data.values[0].v'
>>> JsonPath.parse("data.values[1].v").get({"data": {"values": [{"v": 21.5}]}})
Traceback (most recent call last):
...
shopfloor.connectors.mqtt.jsonpath.PathNotFound: data.values[1]: list has 1 item
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["JsonPath", "PathNotFound", "format_steps", "json_type"]

Step = str | int

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_QUOTED = re.compile(r"""\[\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\]""")


class PathNotFound(LookupError):
    """The document has nothing at the path (a key or index missing, a wrong container)."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed path: its steps (keys and indexes) and its text."""

    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        """Parse ``text``; ``ValueError`` names the position of what is wrong."""
        source = text.strip()
        if source in ("", "$"):
            return cls(())
        if source.startswith("$."):
            position = 2
        elif source.startswith("$["):
            position = 1
        else:
            position = 0
        steps: list[Step] = []
        expect_key = position != 1
        while position < len(source):
            if source[position] == "[":
                index = _INDEX.match(source, position)
                quoted = _QUOTED.match(source, position)
                if index is not None:
                    steps.append(int(index.group(1)))
                    position = index.end()
                elif quoted is not None:
                    steps.append(_unquote(quoted.group(1)))
                    position = quoted.end()
                else:
                    raise ValueError(
                        f"path {text!r}: at {position + 1}, expected [number] or ['key']"
                    )
                expect_key = False
                continue
            if not expect_key:
                if source[position] != ".":
                    raise ValueError(f"path {text!r}: at {position + 1}, expected '.' or '['")
                position += 1
            key = _KEY.match(source, position)
            if key is None:
                raise ValueError(
                    f"path {text!r}: at {position + 1}, expected a key (letters, digits, "
                    "'_', '-'; quote others as ['key'])"
                )
            steps.append(key.group(0))
            position = key.end()
            expect_key = False
        return cls(tuple(steps))

    @property
    def text(self) -> str:
        """The path written out again (``$`` for the whole document)."""
        return format_steps(self.steps)

    def get(self, document: Any) -> Any:
        """The value at this path in ``document`` (parsed JSON).

        Raises
        ------
        PathNotFound
            A key is missing, an index is out of range, or a step meets a value that is
            not an object or a list; the message names the path up to there.
        """
        value = document
        for depth, step in enumerate(self.steps):
            if isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    value = value[step]
                    continue
            elif isinstance(value, dict) and step in value:
                value = value[step]
                continue
            raise PathNotFound(self._missing(depth, value))
        return value

    def _missing(self, depth: int, value: Any) -> str:
        """Why step ``depth`` finds nothing in ``value``, naming the path up to there."""
        step = self.steps[depth]
        where = format_steps(self.steps[: depth + 1])
        if isinstance(step, int):
            if not isinstance(value, list):
                return f"{where}: {_kind(value)} is not a list"
            items = "item" if len(value) == 1 else "items"
            return f"{where}: list has {len(value)} {items}"
        if not isinstance(value, dict):
            return f"{where}: {_kind(value)} is not an object"
        return f"{where}: no key {step!r}"


def format_steps(steps: tuple[Step, ...]) -> str:
    """The text of a path of ``steps`` (what :meth:`JsonPath.parse` reads back)."""
    if not steps:
        return "$"
    out: list[str] = []
    for step in steps:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif _KEY.fullmatch(step):
            out.append(f".{step}" if out else step)
        else:
            out.append(f"[{json.dumps(step)}]")
    return "".join(out)


def _unquote(quoted: str) -> str:
    body = quoted[1:-1]
    if quoted[0] == "'":
        body = body.replace("\\'", "'").replace('"', '\\"')
    return str(json.loads(f'"{body}"'))


def json_type(value: Any) -> str:
    """The JSON type of a parsed value: null, boolean, number, text, list or object.

    >>> [json_type(v) for v in (None, True, 2.5, "x", [1], {})]
    ['null', 'boolean', 'number', 'text', 'list', 'object']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "list" if isinstance(value, list) else "object"


def _kind(value: Any) -> str:
    kind = json_type(value)
    return kind if kind == "null" else f"{'an' if kind == 'object' else 'a'} {kind}"
