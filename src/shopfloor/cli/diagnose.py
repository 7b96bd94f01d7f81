"""``shopfloor diagnose``: which part of a bearing is damaged (see ``docs/diagnose.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, load, with_store
from shopfloor.cli.output import EXIT_CONFIG, console, fail, print_json

if TYPE_CHECKING:
    from shopfloor.features.diagnosis import Diagnosis

__all__ = ["app"]

app = typer.Typer(
    help="Diagnose a bearing: inner race, outer race, ball, cage.",
    add_completion=False,
    context_settings={"allow_interspersed_args": True},
)


def _print(result: Diagnosis) -> None:
    from rich.table import Table

    table = Table(title=f"verdict: {result.verdict} (confidence {result.confidence:.2f})")
    for col in ("candidate", "freq (Hz)", "SNR", "harmonics", "sidebands", "score"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for name, c in result.candidates.items():
        spacing = f" @±{c.sideband_spacing_hz:.1f} Hz" if c.sideband_spacing_hz else ""
        n_sb = sum(line.kind != "harmonic" for line in c.lines)
        table.add_row(
            f"[bold]{name}[/]" if name == result.verdict else name,
            f"{c.frequency_hz:.1f}",
            f"{c.snr:.1f}",
            f"{c.harmonics_found}/{sum(line.kind == 'harmonic' for line in c.lines)}",
            f"{c.sidebands_found}/{n_sb}{spacing}" if n_sb else "-",
            f"{c.score:.2f}",
        )
    console.print(table)
    console.print(
        f"band {result.band_hz[0]:.0f}-{result.band_hz[1]:.0f} Hz (kurtosis "
        f"{result.band_kurtosis:.2f}), shaft {result.shaft_hz:.2f} Hz, "
        f"{result.n_windows} x {result.window_s:g} s windows, line found at SNR >= "
        f"{result.line_snr:.2f}"
    )


def _plot(result: Diagnosis, path: Path) -> None:
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
        for line in c.lines:
            if line.kind == "harmonic":
                ax.axvline(
                    line.expected_hz,
                    color=colours[name],
                    lw=1.0 if line.harmonic == 1 else 0.6,
                    ls="-" if line.harmonic == 1 else ":",
                    label=name if line.harmonic == 1 else None,
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


@app.callback(invoke_without_command=True)
def diagnose(
    file: Annotated[
        Path | None,
        typer.Argument(help="A recording (.mat, .npy, .npz, .wav); omit for stored data."),
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option(
            help="FILE: variable/channel as in 'ingest --map' (e.g. '*_DE_time'). "
            "Stored data: channel index of the signal (0 first)."
        ),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="FILE: sample rate in Hz.")] = None,
    rpm: Annotated[float | None, typer.Option(help="Shaft speed in rpm.")] = None,
    bearing_elements: Annotated[int | None, typer.Option(help="Number of balls/rollers.")] = None,
    element_diameter_mm: Annotated[float | None, typer.Option(help="Ball diameter.")] = None,
    pitch_diameter_mm: Annotated[float | None, typer.Option(help="Pitch diameter.")] = None,
    contact_angle_deg: Annotated[float | None, typer.Option(help="Contact angle.")] = None,
    asset: Annotated[str | None, typer.Option(help="Stored data: asset path.")] = None,
    signal: Annotated[str | None, typer.Option(help="Stored data: waveform signal.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601, now-1h).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="End (ISO 8601, now).")] = None,
    speed_signal: Annotated[
        str | None, typer.Option(help="Stored data: the asset's speed signal (rpm or Hz).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write the envelope spectrum with markers to PNG.")
    ] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Diagnose a rolling-element bearing: inner race, outer race, ball, cage or none.

    From a file: FILE --channel SOURCE --rate HZ --rpm R and the geometry
    (--bearing-elements, --element-diameter-mm, --pitch-diameter-mm, --contact-angle-deg).
    From stored data: --asset A --signal S --from T0 --to T1 (geometry from the asset).
    """
    from shopfloor.services import diagnose as service

    bearing = checked(
        service.bearing_from_options,
        bearing_elements,
        element_diameter_mm,
        pitch_diameter_mm,
        contact_angle_deg,
    )
    if file is not None:
        if signal is not None or asset is not None:
            fail("give either FILE or --asset/--signal, not both", EXIT_CONFIG)
        if channel is None or rpm is None or bearing is None:
            fail(
                "FILE needs --channel, --rpm and the bearing geometry (--bearing-elements, "
                "--element-diameter-mm, --pitch-diameter-mm)",
                EXIT_CONFIG,
            )
        result = checked(
            service.diagnose_file,
            service.FileDiagnoseOptions(
                path=file, channel=channel, rate_hz=rate, rpm=rpm, bearing=bearing
            ),
        )
    else:
        if signal is None:
            fail("give FILE, or --signal (and --asset) for stored data", EXIT_CONFIG)
        index = None
        if channel is not None:
            if not channel.isdigit():
                fail(f"--channel {channel!r}: for stored data, a channel index (0, 1, ...)", 2)
            index = int(channel)
        options = service.StoredDiagnoseOptions(
            asset=asset,
            signal=signal,
            start=from_,
            end=to,
            channel=index,
            rpm=rpm,
            speed_signal=speed_signal,
            bearing=bearing,
        )
        proj = load(project)
        result = with_store(proj, lambda store: service.diagnose_stored(proj, store, options))
    if plot is not None:
        _plot(result, plot)
    if json_:
        print_json(
            {
                "verdict": result.verdict,
                "confidence": result.confidence,
                "candidates": {k: c.to_dict() for k, c in result.candidates.items()},
                "band_hz": [result.band_hz[0], result.band_hz[1]],
            }
        )
        return
    _print(result)
    if plot is not None:
        console.print(f"[green]wrote[/] {plot}")
