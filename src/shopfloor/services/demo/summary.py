"""The demo's summary: both use cases side by side, and what the second one reused.

:func:`summary_rows` gives the table (time to first trusted alert, detection delay,
false alarms, classification accuracy, checks). :class:`CodeTrace` records which
platform modules ran code while use case 2 ran, and :func:`measure_reuse` counts them
against use case 2's own lines: its part of ``factory.yaml`` and its demo module.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import shopfloor
from shopfloor.services.demo.common import UseCaseOutcome

__all__ = ["CodeTrace", "Reuse", "code_lines", "measure_reuse", "summary_rows"]

_NOT_PLATFORM = ("shopfloor.services.demo", "shopfloor.sim", "shopfloor.cli", "shopfloor.testing")
_ROOT = Path(shopfloor.__file__).parent


def code_lines(text: str) -> int:
    """Lines that are neither blank nor only a comment (YAML or Python)."""
    return sum(
        1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def _module(path: Path) -> str:
    parts = path.relative_to(_ROOT).with_suffix("").parts
    return ".".join(("shopfloor", *parts[: -1 if parts[-1] == "__init__" else None]))


class CodeTrace:
    """Which ``shopfloor`` modules run code while the trace is on.

    A trace function sees the first frame of every call (and every resumed coroutine)
    in this thread and in threads started while it is on, records the file and returns
    at once (no line events). Threads started before see nothing: start the trace before
    the work's worker threads, or give the work new ones.
    """

    def __init__(self) -> None:
        self.files: set[str] = set()
        self._active = False
        self._root = str(_ROOT)

    def _trace(self, frame: FrameType, event: str, arg: Any) -> None:
        if self._active:
            name = frame.f_code.co_filename
            if name.startswith(self._root):
                self.files.add(name)
        else:
            sys.settrace(None)  # this thread's last call after stop()

    def start(self) -> None:
        """Record from now on."""
        self._active = True
        threading.settrace(self._trace)
        sys.settrace(self._trace)

    def stop(self) -> None:
        """Stop recording (threads started meanwhile stop at their next call)."""
        self._active = False
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type,unused-ignore]  # None clears it

    def modules(self, leave_out: Sequence[str] = (), keep: Sequence[str] = ()) -> dict[str, Path]:
        """Platform modules that ran, by name, with their files.

        The demo, the simulators, the CLI, the test kit and modules under a
        ``leave_out`` prefix are left out, unless under a ``keep`` prefix.
        """
        found = {_module(Path(f)): Path(f) for f in self.files if f.endswith(".py")}
        return {
            m: p
            for m, p in sorted(found.items())
            if not m.startswith(_NOT_PLATFORM)
            and (m.startswith(tuple(keep)) or not m.startswith(tuple(leave_out)))
        }


@dataclass(frozen=True)
class Reuse:
    """Use case 2's own lines against the platform modules it ran.

    ``platform`` maps the modules that ran code during use case 2 to their code lines;
    ``added`` those of them that exist for images (plug-ins any image use case uses,
    not code of this line). ``left_out`` says which modules were not counted.
    """

    config_lines: int
    code_lines: int
    platform: dict[str, int]
    added: dict[str, int]
    left_out: str

    @property
    def own_lines(self) -> int:
        """Configuration and demo code of use case 2."""
        return self.config_lines + self.code_lines

    def lines(self) -> list[str]:
        """What was reused, in a few lines."""
        platform, added = self.platform, self.added
        groups = sorted({_group(m) for m in platform})
        reused = sum(platform.values()) - sum(added.values())
        return [
            f"use case 2's own lines: {self.config_lines} of configuration (factory.yaml) + "
            f"{self.code_lines} of demo code (services/demo/packaging.py) = {self.own_lines}",
            f"platform code it ran: {len(platform)} modules, {sum(platform.values()):,} "
            f"lines, {len(platform) - len(added)} of them ({reused:,} lines) unchanged from "
            f"use case 1's platform: {', '.join(groups)}",
            f"added for images, for any image use case: {len(added)} modules, "
            f"{sum(added.values()):,} lines ({', '.join(sorted(added)) or 'none'})",
            f"(measured: modules that ran code during use case 2, {self.left_out})",
        ]


def _group(module: str) -> str:
    """``connectors.hotfolder`` of ``shopfloor.connectors.hotfolder.client``."""
    parts = module.split(".")[1:]
    if not parts:
        return "shopfloor"
    package = parts if (_ROOT.joinpath(*parts) / "__init__.py").exists() else parts[:-1]
    return ".".join(package[:2]) or parts[0]


def measure_reuse(
    trace: CodeTrace,
    *,
    config: str,
    code: Path,
    images: Sequence[str],
    leave_out: Sequence[str],
    left_out: str,
) -> Reuse:
    """Count use case 2's configuration and code against the platform code it ran.

    Parameters
    ----------
    trace
        What ran during use case 2.
    config, code
        Use case 2's part of ``factory.yaml``, and its demo module.
    images
        Prefixes of the modules that exist for images (image model types, image
        preprocessing, image deployments): added to the platform for image use cases.
    leave_out, left_out
        Prefixes of modules not counted (use case 1's own plug-ins, which run beside
        use case 2), and how to say so.
    """
    ran = {
        m: code_lines(p.read_text(encoding="utf-8"))
        for m, p in trace.modules(leave_out, keep=images).items()
    }
    return Reuse(
        config_lines=code_lines(config),
        code_lines=code_lines(code.read_text(encoding="utf-8")),
        platform=ran,
        added={m: n for m, n in ran.items() if m.startswith(tuple(images))},
        left_out=left_out,
    )


def _seconds(value: float | None, fmt: str = "{:.0f} s") -> str:
    return "-" if value is None else fmt.format(value)


def summary_rows(
    outcomes: Sequence[UseCaseOutcome], reuse: Reuse | None = None
) -> list[tuple[str, ...]]:
    """The summary table: a header row, then one row per figure, a column per use case.

    With ``reuse`` (of the last use case), a row compares its own lines with the platform
    lines it ran.
    """
    rows: list[tuple[str, ...]] = [("", *(o.title for o in outcomes))]

    def row(label: str, *cells: str) -> None:
        rows.append((label, *cells))

    def each(o: UseCaseOutcome, text: str) -> str:
        return text if o.available else "not available"

    row(
        "time to first trusted alert",
        *(each(o, _seconds(o.first_alert_wall_s, "{:.0f} s from connecting")) for o in outcomes),
    )
    row(
        "detection delay",
        *(each(o, _seconds(o.detection_delay_s, "{:.1f} s after the fault")) for o in outcomes),
    )
    row(
        "false alarms",
        *(each(o, "-" if o.false_alarms is None else str(o.false_alarms)) for o in outcomes),
    )
    row(
        "classification accuracy",
        *(
            each(o, "- (anomaly model)" if o.accuracy is None else f"{o.accuracy:.1%}")
            for o in outcomes
        ),
    )
    if reuse is not None and reuse.platform:
        reused = sum(reuse.platform.values()) - sum(reuse.added.values())
        row(
            "own lines vs platform reused",
            *(["(the platform's first use)"] * (len(outcomes) - 1)),
            f"{reuse.own_lines} ({reuse.config_lines} configuration + {reuse.code_lines} "
            f"code) vs {reused:,} in {len(reuse.platform) - len(reuse.added)} modules",
        )
    row(
        "checks",
        *(
            "all met"
            if o.ok
            else "FAILED: "
            + (
                "not available (see below)"
                if not o.available
                else "; ".join(c.name for c in o.failed())
            )
            for o in outcomes
        ),
    )
    return rows
