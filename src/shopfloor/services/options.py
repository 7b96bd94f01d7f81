"""Options of the services, with the help each one shows on the command line.

:class:`BrowseOptions` (``shopfloor opcua browse``) and :class:`DemoOptions`
(``shopfloor demo``). Apart from the services that take them, which import asyncua and
numpy, so that a command's ``--help`` is built from these fields without them. A field's
``metadata["help"]`` is its option's help; a field without it is no command-line option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BrowseOptions", "DemoOptions", "option"]


def option(default: Any, help_: str) -> Any:
    """A field with a default and the help of its command-line option."""
    return field(default=default, metadata={"help": help_})


@dataclass(frozen=True)
class BrowseOptions:
    """Which server, how to connect, and what to look for.

    Parameters
    ----------
    url
        Endpoint, ``opc.tcp://host:port``.
    search
        Only nodes whose path or description contains this text.
    depth
        Levels below Objects.
    security
        none, sign or encrypt, or None, Sign, SignAndEncrypt (any case).
    username_env, password_env
        Environment variables holding the user name and the password.
    connector
        Connector name: where the client certificate is kept, and in exported signals.
    timeout_s
        Seconds per request.
    project
        Project folder or file (where the client certificate is kept).
    """

    url: str = field(metadata={"help": "Endpoint, e.g. opc.tcp://127.0.0.1:4840."})
    search: str | None = option(None, "Only nodes whose path or description contains this text.")
    depth: int = option(6, "Levels below Objects.")
    security: str = option(
        "none",
        "none, sign or encrypt (Basic256Sha256); None, Sign, SignAndEncrypt too, in any case.",
    )
    username_env: str | None = option(None, "Variable holding the user name.")
    password_env: str | None = option(None, "Variable holding the password.")
    connector: str = option("opcua", "Connector name in the exported signals.")
    timeout_s: float = option(10.0, "Seconds per request.")
    project: Path | None = None


@dataclass(frozen=True)
class DemoOptions:
    """Where and how long the demo runs.

    Parameters
    ----------
    folder
        Where to build the demo project (its state and plot are replaced).
    time_scale
        Machine seconds per wall second.
    baseline_s, watch_s
        Machine seconds of healthy baseline, and to watch for the fault.
    """

    folder: Path = field(
        default=Path("demo-project"), metadata={"help": "Where to build the demo project."}
    )
    time_scale: float = option(8.0, "Machine seconds per second.")
    baseline_s: float = option(200.0, "Machine seconds of healthy baseline.")
    watch_s: float = option(300.0, "Machine seconds to watch for the fault.")
