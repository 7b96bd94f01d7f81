"""Settings of a replay connector."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from shopfloor.connectors.config import ConnectorConfig

__all__ = ["ReplayConfig"]


class ReplayConfig(ConnectorConfig):
    """Stream a recording as if it were live.

    The signals bound to it (``connector: <name>``) name their column, variable or
    channel in ``source``.

    Example::

        - name: mill-replay
          type: replay
          path: ../shared/data/cnc_mill/experiment_01.csv.gz
          speed: 10          # ten times real time; "max" for as fast as possible
          retime: true       # shift timestamps so the recording starts now
          options: {start: "2024-01-01T00:00:00Z", rate_hz: 10}
    """

    type: Literal["replay"] = "replay"
    path: str = Field(description="Recording file or folder (relative to the project).")
    format: str = Field(default="auto", description="Recording format (default: from the name).")
    speed: float | Literal["max"] = Field(default=1.0, description="Times real time, or 'max'.")
    retime: bool = Field(default=True, description="Shift timestamps so replay starts now.")
    loop: bool = Field(default=False, description="Start again at the end.")
    options: dict[str, Any] = Field(default_factory=dict, description="Format options.")
    step_s: float = Field(default=0.1, gt=0, description="Wall-clock granularity of emission.")

    def option_models(self) -> dict[str, builtins.type[BaseModel]]:
        """``options`` are checked by the model of the recording's format, when it is known."""
        from shopfloor.connectors.recordings.formats import detect_format
        from shopfloor.connectors.recordings.options import FORMAT_OPTIONS
        from shopfloor.errors import ConfigError

        fmt = self.format
        if fmt == "auto":
            try:
                fmt = detect_format(Path(self.path))
            except ConfigError:
                return {}  # the connector says so when it starts
        model = FORMAT_OPTIONS.get(fmt)
        return {} if model is None else {"options": model}
