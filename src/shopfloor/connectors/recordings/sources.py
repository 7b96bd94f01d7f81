r"""Which columns, variables or channels of a recording feed which signal, in which order.

A recording's *sources* are what it names: the columns of a capture file (``1``, ``2``, ...
without a header), the variables of a ``.mat`` or ``.npz`` file, the channels of a WAV
file (``1``, ``2``, ...). The ``columns`` mapping handed to
:func:`~shopfloor.connectors.recordings.open_recording` maps source → signal; several
sources mapped to one signal become its channels, in the order of the mapping. A source
may be

- an exact name: ``X097_DE_time``, ``5``;
- a glob: ``*_DE_time`` (``*``, ``?`` and ``[...]`` as in file names);
- a regular expression after ``re:``, matched against the whole name: ``re:X\d+_DE_time``;
- several of the above separated by commas (``5,6``), for a multi-channel signal in one
  entry (the form a replay connector's ``source`` takes); a ``re:`` entry is never split.

A pattern contributes every name it matches, in the recording's own order.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shopfloor.errors import ConfigError
from shopfloor.model import SignalRef

__all__ = ["SourceMap", "SourceSpec"]

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class SourceSpec:
    """One source as written: an exact name, a glob or a ``re:`` regular expression."""

    text: str

    @property
    def is_pattern(self) -> bool:
        """True for a glob or a regular expression."""
        return self.text.startswith("re:") or bool(_GLOB_CHARS & set(self.text))

    def matches(self, name: str) -> bool:
        """True when ``name`` is this source."""
        if self.text.startswith("re:"):
            return _compiled(self.text[3:]).fullmatch(name) is not None
        if _GLOB_CHARS & set(self.text):
            return fnmatch.fnmatchcase(name, self.text)
        return name == self.text


def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _split(key: str) -> list[str]:
    key = key.strip()
    if key.startswith("re:"):
        return [key]
    return [part.strip() for part in key.split(",")]


class SourceMap:
    """The mapping of sources to signals of one recording.

    Parameters
    ----------
    columns
        Source (name, glob, ``re:`` expression, or a comma-separated list of them) → signal.

    Examples
    --------
    >>> ref = SignalRef("acme/p1/a/l1/c1/rig", "bearing_acc")
    >>> SourceMap({"5,6": ref}).resolve(["1", "2", "3", "4", "5", "6"])
    ({SignalRef('acme/p1/a/l1/c1/rig', 'bearing_acc'): ['5', '6']}, [])
    """

    def __init__(self, columns: Mapping[str, SignalRef]) -> None:
        if not columns:
            raise ConfigError("map at least one column, variable or channel to a signal")
        self.targets: dict[SignalRef, list[SourceSpec]] = {}
        for key, ref in columns.items():
            for part in _split(str(key)):
                if not part or part == "re:":
                    raise ConfigError(f"source {key!r} of signal {ref.path!r} is empty")
                if part.startswith("re:"):
                    try:
                        _compiled(part[3:])
                    except re.error as err:
                        raise ConfigError(
                            f"source {part!r} of signal {ref.path!r} is not a regular "
                            f"expression: {err}"
                        ) from err
                self.targets.setdefault(ref, []).append(SourceSpec(part))

    @property
    def signals(self) -> list[SignalRef]:
        """The signals, in the order they were first mapped."""
        return list(self.targets)

    def resolve(
        self, names: Sequence[str], *, what: str = "column", exclude: Sequence[str] = ()
    ) -> tuple[dict[SignalRef, list[str]], list[str]]:
        """Match the sources against the names a recording has.

        Parameters
        ----------
        names
            The recording's source names, in its own order.
        what
            What a source is called in messages (``column``, ``variable``, ``channel``).
        exclude
            Names patterns do not match (time columns); exact names still do.

        Returns
        -------
        tuple
            Signal → matched names in channel order (no repeats), and one message per
            source that matched nothing.
        """
        out: dict[SignalRef, list[str]] = {}
        problems: list[str] = []
        excluded = set(exclude)
        for ref, specs in self.targets.items():
            matched: list[str] = []
            for spec in specs:
                found = [
                    n for n in names if spec.matches(n) and not (spec.is_pattern and n in excluded)
                ]
                if not found:
                    shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
                    problems.append(
                        f"no {what} matches {spec.text!r} for signal {ref.name!r} "
                        f"({what}s: {shown or 'none'})"
                    )
                matched.extend(n for n in found if n not in matched)
            out[ref] = matched
        return out, problems
