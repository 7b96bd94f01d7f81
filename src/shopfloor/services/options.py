"""Options of the services, with the help each one shows on the command line.

:class:`BrowseOptions` (``shopfloor opcua browse``), :class:`DemoOptions` (``shopfloor
demo``), :class:`QueryOptions`, :class:`EventOptions`, :class:`DeadLetterOptions` and
:class:`SignalOptions` (``shopfloor query``, ``events``, ``dead-letters``, ``signals``),
:class:`ServeOptions` (``shopfloor serve``, ``run``) and :class:`HistoryOptions`
(``shopfloor pipelines fit``, ``run``), :class:`TrainOptions`, :class:`ScoreOptions`,
:class:`EvaluateOptions` (``shopfloor train``, ``score``, ``evaluate``) and
:class:`LabelOptions` (``shopfloor labels add``), :class:`ScanOptions` (``shopfloor modbus
scan``).
Apart from the services that take them, which import asyncua, numpy and DuckDB, so that a
command's ``--help`` is built from these fields without them. A field's
``metadata["help"]`` is its option's help (a field without it is no command-line option);
``metadata["flags"]`` its spelling and bounds.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

from shopfloor.errors import ConfigError

__all__ = [
    "BrowseOptions",
    "DeadLetterOptions",
    "DemoOptions",
    "EvaluateOptions",
    "EventOptions",
    "HistoryOptions",
    "LabelOptions",
    "QueryOptions",
    "ScanOptions",
    "ScoreOptions",
    "ServeOptions",
    "SignalOptions",
    "TokenOptions",
    "TrainOptions",
    "json_object",
    "option",
]

_FROM = {"param_decls": ("--from",)}
_AT_LEAST_1 = {"min": 1}
_NEWEST = "At most this many (newest first)."


def json_object(text: str, flag: str = "--params") -> dict[str, Any]:
    """An option's JSON object text as a dict; ``ConfigError`` naming ``flag`` otherwise."""
    import json

    try:
        value = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"{flag} {text!r} is not JSON: {err}") from err
    if not isinstance(value, dict):
        raise ConfigError(f"{flag} {text!r}: give a JSON object, e.g. '{{\"k\": 3}}'")
    return value


def option(default: Any, help_: str, **flags: Any) -> Any:
    """A field with a default (``MISSING``: required), its option's help and ``flags``."""
    return field(default=default, metadata={"help": help_, "flags": flags})


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
    export, include_writable
        Where to write the variables found as signal config, and whether writable ones too.
    project
        Project folder or file (where the client certificate is kept).
    """

    url: str = field(metadata={"help": "Endpoint, e.g. opc.tcp://127.0.0.1:4840."})
    search: str | None = option(None, "Only nodes whose path or description contains this text.")
    depth: int = option(6, "Levels below Objects.", min=1, max=20)
    security: str = option(
        "none",
        "none, sign or encrypt (Basic256Sha256); None, Sign, SignAndEncrypt too, in any case.",
    )
    username_env: str | None = option(None, "Variable holding the user name.")
    password_env: str | None = option(None, "Variable holding the password.")
    connector: str = option("opcua", "Connector name in the exported signals.")
    timeout_s: float = option(10.0, "Seconds per request.", param_decls=("--timeout",), min=0.1)
    export: Path | None = field(
        default=None,
        metadata={
            "help": "Write the variables as signal config: .yaml (signals list) or .csv "
            "(all nodes)."
        },
    )
    include_writable: bool = option(
        True, "Export writable variables too (bound read-only: the connector only reads)."
    )
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
    time_scale: float = option(8.0, "Machine seconds per second.", min=1, max=20)
    baseline_s: float = option(200.0, "Machine seconds of healthy baseline.", min=60)
    watch_s: float = option(300.0, "Machine seconds to watch for the fault.", min=60)


@dataclass(frozen=True)
class QueryOptions:
    """Which values of which signal (``shopfloor query``).

    Parameters
    ----------
    signal, asset
        The signal's name (or full path) and the ISA-95 path of its asset.
    from_, to
        Start and exclusive end (ISO 8601 or ``now-1h``); default: all values.
    every
        Downsample to min/max/mean per bucket of this duration (``1s``, ``5min``).
    limit
        At most this many rows.
    """

    signal: str = option(MISSING, "Signal name (or full asset/.../signal path).")
    asset: str | None = option(None, "ISA-95 path of the asset.")
    from_: str | None = option(None, "Start (ISO 8601 or now-1h); default: first value.", **_FROM)
    to: str | None = option(
        None, "End, exclusive (ISO 8601 or now); default: after the last value."
    )
    every: str | None = option(
        None,
        "Downsample to min/max/mean per bucket, e.g. 1s, 5min (waveforms: of the blocks' RMS).",
    )
    limit: int | None = option(None, "At most this many rows.", **_AT_LEAST_1)


_ASSET = "Only this asset and the assets below it."
_SIGNAL = "Only this signal (name)."


@dataclass(frozen=True)
class SignalOptions:
    """Which signals (``shopfloor signals``): under an asset, by name."""

    asset: str | None = option(None, _ASSET)
    signal: str | None = option(None, _SIGNAL)


@dataclass(frozen=True)
class EventOptions:
    """Which events (``shopfloor events``): filters, time range, how many, newest first."""

    asset: str | None = option(None, _ASSET)
    signal: str | None = option(None, _SIGNAL)
    kind: str | None = option(None, "Only this kind (gap, program_change, alert_raised, ...).")
    from_: str | None = option(None, "Start (ISO 8601 or now-1h).", **_FROM)
    to: str | None = option(None, "End, exclusive (ISO 8601 or now).")
    limit: int = option(100, _NEWEST, **_AT_LEAST_1)


@dataclass(frozen=True)
class DeadLetterOptions:
    """Which rejected input (``shopfloor dead-letters``): since when, from where, how many."""

    since: str | None = option(None, "Only those received since (ISO 8601 or now-1h).")
    source: str | None = option(None, "Only from this source (ingest, a connector).")
    asset: str | None = option(None, _ASSET)
    signal: str | None = option(None, _SIGNAL)
    limit: int = option(50, _NEWEST, **_AT_LEAST_1)


@dataclass(frozen=True)
class ServeOptions:
    """How long and on which port the platform serves (``shopfloor serve``, ``run``)."""

    api_port: int | None = option(
        None,
        "Override api.port (0: any free port).",
        param_decls=("--api-port", "--port"),
        min=0,
        max=65535,
    )
    duration: str | None = option(
        None, "Stop by itself after this long: 30 (seconds), 30s, 5min, 1h.", show_default=False
    )

    @property
    def duration_s(self) -> float | None:
        """``duration`` in seconds (``None``: until stopped).

        Raises
        ------
        ConfigError
            When ``duration`` is not a duration.
        """
        from shopfloor.model import parse_duration_s  # not at import: --help stays light

        try:
            return None if self.duration is None else parse_duration_s(self.duration)
        except ValueError as err:
            raise ConfigError(f"--duration: {err}") from err


@dataclass(frozen=True)
class HistoryOptions:
    """Which pipeline over which stored history (``shopfloor pipelines fit``, ``run``)."""

    name: str = option(MISSING, "Pipeline name.")
    from_: str = option(MISSING, "Start (ISO 8601 or now-1h).", **_FROM)
    to: str = option("now", "End, exclusive (ISO 8601 or now).")


ROLES = "viewer, operator, engineer or admin"


@dataclass(frozen=True)
class TokenOptions:
    """The API token to create (``shopfloor tokens create``): its role and name."""

    role: str = option(MISSING, f"What the token may do: {ROLES}.")
    name: str | None = option(None, "A name for the token (default: ROLE-xxxxxx).")


_RANGES = (
    "More time ranges, START/END in ISO 8601 (repeatable; e.g. one per recording, for "
    "--split group:range)."
)
_LABELS = "Labels to join: store (the project's time-range labels) or none."


@dataclass(frozen=True)
class TrainOptions:
    """What to train on what (``shopfloor train``).

    ``pipeline``, ``model``, ``params`` and the range default to the project's
    ``models:`` entry of the same ``name``, when there is one.
    """

    name: str = option(MISSING, "Model name: a new version of it is registered.")
    pipeline: str | None = option(None, "Pipeline whose features the model takes.")
    from_: str | None = option(None, "Start of the training history (ISO 8601 or now-7d).", **_FROM)
    to: str | None = option(None, "End, exclusive (ISO 8601 or now); default now.")
    ranges: tuple[str, ...] = option((), _RANGES, param_decls=("--range",))
    model: str | None = option(
        None, "Model type (robust_zscore, pca, isolation_forest, ...); default robust_zscore."
    )
    params: str | None = option(None, "Model parameters as a JSON object, e.g. '{\"k\": 3}'.")
    labels: str = option(
        "store",
        _LABELS + " With --images: a CSV of file,class rows (default: the class sub-folders).",
    )
    split: str | None = option(
        None,
        "How windows are split (never at random): train,calibration,test fractions in time "
        "order; cut times T1[,T2]; or group:COLUMN (range, context.<signal>). Default "
        "0.7,0.15,0.15. With --images: fractions of a seeded stratified split, default "
        "0.6,0.2,0.2.",
    )
    images: Path | None = field(
        default=None,
        metadata={
            "help": "Train an image model on this folder (DIR/<class>/<image>, or --labels "
            "CSV) instead of stored history; --model classical (default), good-only or cnn."
        },
    )
    seed: int = option(0, "Seed of the --images split.", min=0)
    false_alarm_budget: str | None = option(
        None,
        "False alarms healthy operation may raise, which sets the alarm threshold: per day "
        "(2/day, converted with the pipeline's hop) or per N windows (1/10000). Default: the "
        "models: entry's false_alarm_budget_per_day, else 1 in 10,000 windows with a margin.",
    )


@dataclass(frozen=True)
class ScoreOptions:
    """Which model over which stored history (``shopfloor score``)."""

    model: str = option(MISSING, "Model: NAME, NAME@VERSION or NAME@STAGE (e.g. @production).")
    from_: str | None = option(
        None, "Start (ISO 8601 or now-1h); needed unless --images is given.", **_FROM
    )
    to: str = option("now", "End, exclusive (ISO 8601 or now).")
    images: Path | None = field(
        default=None,
        metadata={
            "help": "Classify every image of this folder (an image model) instead of stored "
            "history."
        },
    )


@dataclass(frozen=True)
class EvaluateOptions:
    """Which model against which labelled history (``shopfloor evaluate``)."""

    model: str = option(MISSING, "Model: NAME, NAME@VERSION or NAME@STAGE.")
    from_: str = option(MISSING, "Start (ISO 8601 or now-1h).", **_FROM)
    to: str = option("now", "End, exclusive (ISO 8601 or now).")
    labels: str = option("store", _LABELS)
    report: Path | None = field(
        default=None,
        metadata={"help": "Also write report.json and a self-contained report.html here."},
    )


@dataclass(frozen=True)
class LabelOptions:
    """A labelled time range (``shopfloor labels add``)."""

    asset: str = option(MISSING, "ISA-95 path of the asset.")
    label: str = option(MISSING, "healthy, ignore or fault:<type> (e.g. fault:outer_race).")
    from_: str = option(MISSING, "Start (ISO 8601).", **_FROM)
    to: str = option(MISSING, "End, exclusive (ISO 8601).")
    signal: str | None = option(None, "Only this signal of the asset (default: all of them).")
    comment: str = option("", "Why: what was seen, the work order.")


@dataclass(frozen=True)
class ScanOptions:
    """Which Modbus device and which addresses to read (``shopfloor modbus scan``)."""

    target: str = field(metadata={"help": "The device: HOST or HOST:PORT (port 502 if none)."})
    unit: int = option(1, "Unit id (slave id) to ask.", min=0, max=255)
    table: str = option("holding", "holding, input, coils or discrete.")
    start: int = option(0, "First address (counted from 0).", min=0, max=65535)
    count: int = option(100, "How many addresses from start.", min=1, max=65536)
    timeout_s: float = option(3.0, "Seconds per request.", param_decls=("--timeout",), min=0.1)
    export: Path | None = field(
        default=None,
        metadata={"help": "Write what answers as signal config (.yaml) to this file."},
    )
    connector: str = option("modbus", "Connector name in the exported signals.")
