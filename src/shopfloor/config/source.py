"""YAML with line numbers: every value of a project file remembers where it was written.

PyYAML's safe loader forgets positions and silently keeps the last of two equal keys;
here the composed node tree is walked once, building plain Python values and a map from
each value's path (``("assets", 0, "signals", 2, "unit")``) to its line. A repeated key
is a problem, kept in :attr:`YamlSource.problems` so that every one of them is reported
with the other problems of the file, not only the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shopfloor.errors import ConfigError

__all__ = ["Located", "YamlSource", "format_path", "load_yaml"]

Loc = tuple[int | str, ...]


@dataclass
class YamlSource:
    """A parsed YAML file: its data and the line of every path in it."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line_of(self, loc: Sequence[int | str]) -> int | None:
        """The line of ``loc``, or of its nearest ancestor that has one."""
        key = tuple(loc)
        while True:
            if key in self.lines:
                return self.lines[key]
            if not key:
                return None
            key = key[:-1]

    def where(self, loc: Sequence[int | str]) -> str:
        """``file:line`` of ``loc``."""
        line = self.line_of(loc)
        return f"{self.path}:{line}" if line is not None else str(self.path)

    def issue(self, loc: Sequence[int | str], message: str) -> str:
        """One line naming the file, line and field path of a problem."""
        path = format_path(loc)
        return f"{self.where(loc)}: {path + ': ' if path else ''}{message}"


@dataclass(frozen=True)
class Located:
    """A problem found at a path of a YAML source."""

    loc: Loc
    message: str


def format_path(loc: Sequence[int | str]) -> str:
    """``assets[0].signals[2].unit`` from ``("assets", 0, "signals", 2, "unit")``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# libyaml's parser when PyYAML has it (ten times faster on a project file); its problems
# are worded by the pure-Python parser, run again on a file that does not parse.
_FAST_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
    return yaml.compose(text, Loader=yaml.SafeLoader)


class _Builder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.problems: list[str] = []
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        # a key's line wins over its value's (a block list starts on the next line)
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    raise ConfigError(
                        f"{self.path}:{key_node.start_mark.line + 1}: keys must be plain "
                        f"values, got {type(key).__name__}"
                    )
                if key in out:
                    self.problems.append(
                        f"{self.path}:{key_node.start_mark.line + 1}: "
                        f"{format_path((*loc, str(key)))}: key {key!r} is given twice "
                        f"(first on line {self.lines[(*loc, str(key))]})"
                    )
                    continue  # the first one counts; the repeat is reported, not used
                self.lines[(*loc, str(key))] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, (*loc, str(key)))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)


def load_yaml(path: Path, text: str | None = None) -> YamlSource:
    """Parse a YAML file, keeping the line of every value.

    Raises
    ------
    ConfigError
        When the file cannot be read or is not valid YAML (with the line of the problem).
    """
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: cannot read: {err}") from err
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {err.problem or err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if node is None:
        return YamlSource(path, {}, {(): 1})
    builder = _Builder(path)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: {err.problem or err}") from err
    return YamlSource(path, data, builder.lines, builder.problems)
