"""``shopfloor demo``: the main job on the embedded default (DuckDB, in-process bus)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from shopfloor.cli.common import console, load, run_async
from shopfloor.config.template import write_example_project
from shopfloor.connectors.recordings import CsvReader, TableLayout, ingest_recordings
from shopfloor.model import (
    Provenance,
    ScalarBatch,
    SignalRef,
    format_ns,
    now_ns,
    to_ns,
    topic_for,
)
from shopfloor.node import Platform, open_project_store

__all__ = ["demo"]

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


def _write_recording(path: Path, rows: int, corrupt: int) -> None:
    """A shift of spindle temperature at 10 Hz, warming with load, with a few bad rows."""
    rng = np.random.default_rng(42)
    t = np.arange(rows) / 10.0
    temp = 30 + 8 * (1 - np.exp(-t / 3600)) + 0.5 * np.sin(2 * np.pi * t / 900)
    temp += rng.normal(0, 0.05, rows)
    start = np.datetime64("2024-05-06T06:00:00", "ms")
    stamps = (start + (t * 1000).astype("timedelta64[ms]")).astype(str)
    values = np.char.mod("%.3f", temp).astype("<U16")
    bad = rng.choice(rows, corrupt, replace=False)
    values[bad[: corrupt // 2]] = "#VALUE!"
    stamps[bad[corrupt // 2 :]] = "--:--"
    with path.open("w") as f:
        f.write("timestamp,spindle_temp_C\n")
        f.write("\n".join(np.char.add(np.char.add(stamps, "Z,"), values)) + "\n")


def demo(
    folder: Annotated[Path, typer.Option(help="Where to build the demo project.")] = Path(
        "demo-project"
    ),
    live_s: Annotated[float, typer.Option(min=1, help="Seconds of live data.")] = 5.0,
) -> None:
    """Run the main job end to end on the embedded store and bus, and say what it did."""
    started = time.perf_counter()
    if folder.exists():
        shutil.rmtree(folder)
    write_example_project(folder)
    project = load(folder)
    console.rule("[bold]shopfloor demo")
    console.print(
        f"1. project [bold]{project.config.project.name}[/] in {folder}/ "
        f"({sum(len(a.signals) for a in project.config.assets)} signals)"
    )
    recording = folder / "spindle_temperature_shift.csv"
    _write_recording(recording, rows=8 * 3600 * 10, corrupt=25)
    console.print(
        f"2. a recorded shift: {recording.name} ({recording.stat().st_size / 1e6:.1f} "
        "MB, 288,000 rows at 10 Hz, 25 of them corrupt)"
    )

    async def run() -> dict[str, Any]:
        store = await open_project_store(project)
        try:
            layout = TableLayout(
                columns={"spindle_temp_C": SignalRef(ASSET, "spindle_temperature")},
                time_column="timestamp",
            )
            report = await ingest_recordings(store, [CsvReader(recording, layout)])
            hourly = await store.read_scalars_downsampled(
                SignalRef(ASSET, "spindle_temperature"),
                to_ns("2024-05-06T06:00:00Z"),
                to_ns("2024-05-06T14:00:00Z"),
                3600 * 10**9,
            )
            letters = await store.read_dead_letters(limit=3)
        finally:
            await store.close()
        platform = Platform(project, api_port=0)
        await platform.start()
        ref = SignalRef(ASSET, "spindle_speed")
        rng = np.random.default_rng(1)
        try:
            end = time.monotonic() + live_s
            sent = 0
            while time.monotonic() < end:
                t0 = now_ns()
                ts = t0 + np.arange(10, dtype=np.int64) * 10_000_000
                speed = 12000 + rng.normal(0, 5, 10)
                await platform.bus.publish(
                    topic_for(ref),
                    ScalarBatch.of(ref, ts, speed, Provenance("demo", "simulated spindle encoder")),
                )
                sent += 10
                await asyncio.sleep(0.1)
            api = platform.api_url
        finally:
            status = await platform.status()
            await platform.stop()
        return {
            "report": report,
            "hourly": hourly,
            "letters": letters,
            "sent": sent,
            "status": status,
            "api": api,
        }

    result = run_async(run)
    report = result["report"]
    console.print(
        f"3. ingested {report.store.written:,} values in {report.seconds:.2f} s; "
        f"{report.rows_rejected} corrupt rows kept as dead letters, e.g.:"
    )
    for letter in result["letters"]:
        console.print(f"     {letter.location.split('/')[-1]}: {letter.reason}", highlight=False)
    console.print("4. hourly spindle temperature (min / mean / max, degC):")
    hourly = result["hourly"]
    for i in range(hourly.num_rows):
        ts = format_ns(hourly.column("ts")[i].value)
        console.print(
            f"     {ts}  {hourly.column('min')[i].as_py():6.2f} "
            f"{hourly.column('mean')[i].as_py():6.2f} {hourly.column('max')[i].as_py():6.2f}"
        )
    sink = result["status"]["store_sink"]
    console.print(
        f"5. platform ran {live_s:g} s with its API on {result['api']}: "
        f"{result['sent']} live spindle-speed samples published on the bus, "
        f"{sink['written']} written to the store"
    )
    console.print(
        f"[green]done[/] in {time.perf_counter() - started:.1f} s. Look around: "
        f"shopfloor signals -p {folder}; shopfloor query -p {folder} --asset {ASSET} "
        "--signal spindle_temperature --every 30min"
    )
