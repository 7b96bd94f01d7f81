"""Bearing diagnosis of stored data or of a recording file (``shopfloor diagnose``).

Two entry points, one computation (:func:`shopfloor.features.diagnosis.diagnose_bearing`):

- :func:`diagnose_file`: a recording (``.mat``, ``.npy``/``.npz``, ``.wav``) read by the
  same readers as ``shopfloor ingest``; ``channel`` names the variable or channel as in
  ``ingest --map`` (an exact name, a glob such as ``*_DE_time``, or ``re:...``).
- :func:`diagnose_stored`: the waveform blocks of an asset's signal in a time range, with
  the asset's bearing geometry and a shaft speed from ``--rpm``, a speed signal of the
  asset (its mean over the range, in rpm or Hz) or the asset's nominal speed.

Problems with the input (no geometry, unknown signal, no data in range, a channel that is
not in the file) are :class:`~shopfloor.errors.ConfigError` naming what was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ConfigError
from shopfloor.model import BearingGeometry, SignalRef, WaveformBlock
from shopfloor.services.listing import Listing
from shopfloor.services.options import option

if TYPE_CHECKING:
    from shopfloor.config import Project
    from shopfloor.features.diagnosis import Diagnosis
    from shopfloor.store import Store

__all__ = [
    "DiagnoseOptions",
    "FileDiagnoseOptions",
    "StoredDiagnoseOptions",
    "bearing_from_options",
    "diagnose_file",
    "diagnose_stored",
    "diagnosis_json",
    "diagnosis_listing",
    "plot_diagnosis",
]

_FILE_REF = SignalRef("diagnose/file/recording/l1/c1/bearing", "vibration")
"""Placeholder identity for the samples of a file (nothing is stored)."""


def bearing_from_options(
    n_elements: int | None,
    element_diameter_mm: float | None,
    pitch_diameter_mm: float | None,
    contact_angle_deg: float | None,
) -> BearingGeometry | None:
    """The geometry given on the command line; None when none of it was given.

    Raises
    ------
    ConfigError
        When only part of it is given, or a value is out of range.
    """
    given = {
        "--bearing-elements": n_elements,
        "--element-diameter-mm": element_diameter_mm,
        "--pitch-diameter-mm": pitch_diameter_mm,
    }
    if all(v is None for v in given.values()) and contact_angle_deg is None:
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise ConfigError(f"bearing geometry: give {', '.join(missing)} as well")
    try:
        return BearingGeometry(
            n_elements=n_elements,
            element_diameter_mm=element_diameter_mm,
            pitch_diameter_mm=pitch_diameter_mm,
            contact_angle_deg=contact_angle_deg or 0.0,
        )
    except ValueError as err:
        raise ConfigError(f"bearing geometry: {err}") from err


def _check_rpm(rpm: float | None, name: str = "--rpm") -> None:
    if rpm is not None and not (math.isfinite(rpm) and rpm > 0):
        raise ConfigError(f"{name} must be a positive speed in rpm, got {rpm!r}")


@dataclass(frozen=True)
class FileDiagnoseOptions:
    """What ``shopfloor diagnose FILE`` needs.

    Attributes
    ----------
    path
        The recording.
    channel
        Variable, column or channel of the file (name, glob or ``re:``), as in ``--map``.
    rate_hz
        Sample rate (WAV: from its header unless given).
    rpm
        Shaft speed.
    bearing
        Geometry of the bearing under diagnosis.
    fmt
        Format, or ``auto`` from the file name.
    window_s, line_snr
        Passed to :func:`~shopfloor.features.diagnosis.diagnose_bearing` (None: default).
    """

    path: Path
    channel: str
    rate_hz: float | None
    rpm: float
    bearing: BearingGeometry
    fmt: str = "auto"
    window_s: float | None = None
    line_snr: float | None = None


@dataclass(frozen=True)
class StoredDiagnoseOptions:
    """What ``shopfloor diagnose --asset A --signal S`` needs.

    Attributes
    ----------
    asset, signal
        The waveform signal (``signal`` may be a full path when ``asset`` is None).
    start, end
        Time range as ``shopfloor query`` takes it (ISO 8601 or ``now-1h``).
    channel
        Channel index of a multi-channel signal (0 first).
    rpm
        Shaft speed; else ``speed_signal``; else the asset's nominal speed.
    speed_signal
        A scalar signal of the asset holding the shaft speed (rpm or Hz).
    bearing
        Geometry; default the asset's.
    """

    asset: str | None
    signal: str
    start: str | None = None
    end: str | None = None
    channel: int | None = None
    rpm: float | None = None
    speed_signal: str | None = None
    bearing: BearingGeometry | None = None
    window_s: float | None = None
    line_snr: float | None = None


def _run(
    x: npt.NDArray[np.float64],
    rate_hz: float,
    rpm: float,
    bearing: BearingGeometry,
    window_s: float | None,
    line_snr: float | None,
    what: str,
) -> Diagnosis:
    from shopfloor.features.diagnosis import diagnose_bearing

    try:
        return diagnose_bearing(
            x, rate_hz, rpm / 60.0, bearing, window_s=window_s, line_snr=line_snr
        )
    except ValueError as err:
        raise ConfigError(f"{what}: {err}") from err


def read_file_channel(
    path: Path, channel: str, rate_hz: float | None, fmt: str = "auto"
) -> tuple[npt.NDArray[np.float64], float]:
    """The samples of one channel of a recording and its rate, through the ingest readers."""
    from shopfloor.connectors.recordings import open_recording

    # nothing is stored, so the start time is arbitrary; the readers require one
    options: dict[str, object] = {"block_s": 0, "start": "1970-01-01T00:00:00Z"}
    if rate_hz is not None:
        options["rate_hz"] = rate_hz
    reader = open_recording(path, fmt=fmt, columns={channel: _FILE_REF}, options=options)
    blocks: list[WaveformBlock] = []
    for chunk in reader.chunks():
        if chunk.rejected:
            raise ConfigError(f"{path}: {chunk.rejected[0].reason}")
        if chunk.scalars:
            raise ConfigError(
                f"{path}: a table of values; diagnose reads waveform recordings "
                "(.mat, .npy, .npz, .wav)"
            )
        blocks.extend(r for r in chunk.records if isinstance(r, WaveformBlock))
    if not blocks:
        raise ConfigError(f"{path}: no samples for channel {channel!r}")
    data = np.concatenate([np.asarray(b.data, dtype=np.float64) for b in blocks], axis=0)
    if data.ndim == 2 and data.shape[1] > 1:
        raise ConfigError(f"{path}: channel {channel!r} matches {data.shape[1]} channels; name one")
    return data.reshape(-1), float(blocks[0].sample_rate_hz)


def diagnose_file(options: FileDiagnoseOptions) -> Diagnosis:
    """Diagnose the bearing from a recording file (blocking).

    Raises
    ------
    ConfigError
        No such file, a format it cannot read, a channel not in the file, bad values.
    """
    _check_rpm(options.rpm)
    if options.rate_hz is not None and not (math.isfinite(options.rate_hz) and options.rate_hz > 0):
        raise ConfigError(f"--rate must be a positive sample rate in Hz, got {options.rate_hz!r}")
    x, rate_hz = read_file_channel(options.path, options.channel, options.rate_hz, options.fmt)
    return _run(
        x,
        rate_hz,
        options.rpm,
        options.bearing,
        options.window_s,
        options.line_snr,
        f"{options.path}#{options.channel}",
    )


async def _speed_rpm(
    store: Store, ref: SignalRef, unit: str, start_ns: int, end_ns: int
) -> float | None:
    table = await store.read_scalars(ref, start_ns, end_ns)
    if table.num_rows == 0:
        return None
    mean = float(np.nanmean(table.column("value").to_numpy(zero_copy_only=False)))
    factor = {"rpm": 1.0, "1/min": 1.0, "hz": 60.0, "1/s": 60.0}.get(unit.lower())
    if factor is None:
        raise ConfigError(f"speed signal {ref}: unit {unit!r} is not rpm or Hz")
    return mean * factor


async def diagnose_stored(
    project: Project, store: Store, options: StoredDiagnoseOptions
) -> Diagnosis:
    """Diagnose the bearing of an asset from its stored waveforms.

    Raises
    ------
    ConfigError
        Unknown asset or signal, no bearing geometry, no speed, no data in the range.
    """
    import asyncio

    from shopfloor.model import SignalKind
    from shopfloor.services.query import parse_time_range, signal_ref

    _check_rpm(options.rpm)
    ref = signal_ref(options.asset, options.signal)
    try:
        asset = project.config.asset(ref.asset)
        signal = asset.signal(ref.name)
    except KeyError as err:
        raise ConfigError(f"--asset/--signal: {err.args[0]}") from err
    if signal.kind is not SignalKind.WAVEFORM:
        raise ConfigError(f"signal {ref} is a {signal.kind.value} signal, not a waveform")
    bearing = options.bearing or asset.bearing
    if bearing is None:
        raise ConfigError(
            f"asset {asset.path!r} has no bearing geometry: add 'bearing:' to the asset in "
            "the project or give --bearing-elements, --element-diameter-mm, "
            "--pitch-diameter-mm"
        )
    span = parse_time_range(options.start, options.end)
    start_ns = span.start_ns if span.start_ns is not None else 0
    end_ns = span.end_ns if span.end_ns is not None else 2**63 - 1
    blocks = await store.read_waveforms(ref, start_ns, end_ns)
    if not blocks:
        raise ConfigError(f"no data for {ref} in the range {options.start!r} to {options.end!r}")
    rates = {b.sample_rate_hz for b in blocks}
    if len(rates) > 1:
        raise ConfigError(f"{ref}: the blocks in range differ in sample rate ({sorted(rates)})")
    channel = options.channel or 0
    parts = []
    for block in blocks:
        data = np.asarray(block.data, dtype=np.float64)
        data = data[:, None] if data.ndim == 1 else data
        if not 0 <= channel < data.shape[1]:
            raise ConfigError(
                f"{ref} has {data.shape[1]} channel(s); --channel {channel} is not one"
            )
        parts.append(data[:, channel])
    x = np.concatenate(parts)
    rpm = options.rpm
    if rpm is None and options.speed_signal is not None:
        try:
            speed = asset.signal(options.speed_signal)
        except KeyError as err:
            raise ConfigError(f"--speed-signal: {err.args[0]}") from err
        speed_ref = SignalRef(asset.path, speed.name)
        first = blocks[0].t0_ns
        last = blocks[-1].t0_ns + round(blocks[-1].n_samples / blocks[-1].sample_rate_hz * 1e9)
        rpm = await _speed_rpm(store, speed_ref, speed.unit or "rpm", first, last + 1)
        if rpm is None:
            raise ConfigError(f"speed signal {speed_ref} has no data in the range")
    if rpm is None:
        rpm = asset.nominal_speed_rpm
    if rpm is None:
        raise ConfigError(
            f"no shaft speed for {asset.path!r}: give --rpm or --speed-signal, or set the "
            "asset's nominal_speed_rpm"
        )
    _check_rpm(rpm, "shaft speed")
    rate = rates.pop()
    return await asyncio.to_thread(
        _run, x, rate, rpm, bearing, options.window_s, options.line_snr, str(ref)
    )


@dataclass(frozen=True)
class DiagnoseOptions:
    """What ``shopfloor diagnose`` is given, before it is known whether FILE is."""

    channel: str | None = option(
        None,
        "FILE: variable/channel as in 'ingest --map' (e.g. '*_DE_time'). Stored data: "
        "channel index of the signal (0 first).",
    )
    rate: float | None = option(None, "FILE: sample rate in Hz.")
    rpm: float | None = option(None, "Shaft speed in rpm.")
    bearing_elements: int | None = option(None, "Number of balls/rollers.")
    element_diameter_mm: float | None = option(None, "Ball diameter.")
    pitch_diameter_mm: float | None = option(None, "Pitch diameter.")
    contact_angle_deg: float | None = option(None, "Contact angle.")
    asset: str | None = option(None, "Stored data: asset path.")
    signal: str | None = option(None, "Stored data: waveform signal.")
    start: str | None = option(None, "Start (ISO 8601, now-1h).", param_decls=("--from",))
    end: str | None = option(None, "End (ISO 8601, now).", param_decls=("--to",))
    speed_signal: str | None = option(None, "Stored data: the asset's speed signal (rpm or Hz).")

    def plan(self, file: Path | None) -> FileDiagnoseOptions | StoredDiagnoseOptions:
        """The file or the stored-data diagnosis these options ask for.

        Raises
        ------
        ConfigError
            Both or neither of FILE and --signal, what FILE needs missing, a channel that
            is no index for stored data, part of a geometry.
        """
        bearing = bearing_from_options(
            self.bearing_elements,
            self.element_diameter_mm,
            self.pitch_diameter_mm,
            self.contact_angle_deg,
        )
        if file is not None:
            if self.signal is not None or self.asset is not None:
                raise ConfigError("give either FILE or --asset/--signal, not both")
            if self.channel is None or self.rpm is None or bearing is None:
                raise ConfigError(
                    "FILE needs --channel, --rpm and the bearing geometry (--bearing-elements, "
                    "--element-diameter-mm, --pitch-diameter-mm)"
                )
            return FileDiagnoseOptions(file, self.channel, self.rate, self.rpm, bearing)
        if self.signal is None:
            raise ConfigError("give FILE, or --signal (and --asset) for stored data")
        if self.channel is not None and not self.channel.isdigit():
            raise ConfigError(
                f"--channel {self.channel!r}: for stored data, a channel index (0, 1, ...)"
            )
        return StoredDiagnoseOptions(
            asset=self.asset,
            signal=self.signal,
            start=self.start,
            end=self.end,
            channel=None if self.channel is None else int(self.channel),
            rpm=self.rpm,
            speed_signal=self.speed_signal,
            bearing=bearing,
        )


def diagnosis_json(result: Diagnosis) -> dict[str, object]:
    """What ``--json`` prints: verdict, confidence, candidates, band."""
    summary = result.to_dict()
    return {k: summary[k] for k in ("verdict", "confidence", "candidates", "band_hz")}


def diagnosis_listing(result: Diagnosis) -> tuple[Listing, str]:
    """The evidence per candidate as a table, and a line on how it was found."""
    rows = []
    for name, c in result.candidates.items():
        spacing = f" @±{c.sideband_spacing_hz:.1f} Hz" if c.sideband_spacing_hz else ""
        n_sidebands = sum(line.kind != "harmonic" for line in c.lines)
        n_harmonics = len(c.lines) - n_sidebands
        rows.append(
            (
                f"{name} (verdict)" if name == result.verdict else name,
                f"{c.frequency_hz:.1f}",
                f"{c.snr:.1f}",
                f"{c.harmonics_found}/{n_harmonics}",
                f"{c.sidebands_found}/{n_sidebands}{spacing}" if n_sidebands else "-",
                f"{c.score:.2f}",
            )
        )
    columns = ("candidate", "freq (Hz)", "SNR", "harmonics", "sidebands", "score")
    title = f"verdict: {result.verdict} (confidence {result.confidence:.2f})"
    footer = (
        f"band {result.band_hz[0]:.0f}-{result.band_hz[1]:.0f} Hz (kurtosis "
        f"{result.band_kurtosis:.2f}), shaft {result.shaft_hz:.2f} Hz, {result.n_windows} x "
        f"{result.window_s:g} s windows, line found at SNR >= {result.line_snr:.2f}"
    )
    return Listing(title, columns, rows, numbers=columns[1:], whole=("candidate",)), footer


def plot_diagnosis(result: Diagnosis, path: Path) -> None:
    """The envelope spectrum with each candidate's harmonics marked, as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"outer_race": "tab:red", "inner_race": "tab:blue", "ball": "tab:green"}
    colours["cage"] = "tab:purple"
    top = 3.5 * max(c.frequency_hz for c in result.candidates.values())
    keep = result.freqs_hz <= top
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(result.freqs_hz[keep], result.spectrum[keep], color="black", lw=0.7)
    for name, c in result.candidates.items():
        for line in (line for line in c.lines if line.kind == "harmonic"):
            first = line.harmonic == 1
            ax.axvline(
                line.expected_hz,
                color=colours[name],
                lw=1.0 if first else 0.6,
                ls="-" if first else ":",
                label=name if first else None,
            )
    ax.set_title(
        f"verdict {result.verdict} ({result.confidence:.2f}), band "
        f"{result.band_hz[0]:.0f}-{result.band_hz[1]:.0f} Hz",
        fontsize=9,
    )
    ax.set_xlabel("envelope frequency (Hz); harmonics 2-3 dotted", fontsize=8)
    ax.set_ylabel("squared envelope spectrum", fontsize=8)
    ax.legend(fontsize=7, ncol=4, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
