"""Commands on data: ingest recordings, query signals, list signals and dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from shopfloor.cli.common import (
    EXIT_CONFIG,
    JsonOption,
    ProjectOption,
    console,
    fail,
    load,
    print_json,
    run_async,
)
from shopfloor.config import Project
from shopfloor.connectors.recordings import (
    TIME_FORMATS,
    CsvReader,
    ParquetReader,
    RecordingReader,
    TableLayout,
    ingest_recordings,
)
from shopfloor.connectors.recordings.csv import read_text_sample, sniff_delimiter
from shopfloor.errors import ConfigError
from shopfloor.model import (
    Signal,
    SignalKind,
    SignalRef,
    format_ns,
    now_ns,
    parse_duration_s,
    to_ns,
    validate_asset_path,
)
from shopfloor.node import open_project_store
from shopfloor.store import Store

__all__ = ["dead_letters", "ingest", "query", "signals"]

_TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date_time", "date")


def _parse_time_option(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return to_ns(value)
    except ValueError as err:
        fail(f"{option}: {err}", EXIT_CONFIG)


def _columns_of(
    path: Path, fmt: str, delimiter: str | None, header: bool, skip_rows: int
) -> list[str]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    sample = read_text_sample(path, 65536)
    lines = [line for line in sample.splitlines()[skip_rows:] if line.strip()]
    if not lines:
        raise ConfigError(f"{path}: the file is empty")
    sep = delimiter or sniff_delimiter("\n".join(lines[:50]))
    import csv

    first = next(csv.reader([lines[0]], delimiter=sep))
    return [c.strip() for c in first] if header else [str(i + 1) for i in range(len(first))]


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return "csv"
    raise ConfigError(f"{path}: cannot tell the format from the name; pass --format csv|parquet")


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Recording files.", show_default=False)],
    asset: Annotated[
        str | None, typer.Option(help="ISA-95 path of the asset the data belongs to.")
    ] = None,
    signal: Annotated[str | None, typer.Option(help="Signal to store one value column as.")] = None,
    value_column: Annotated[
        str | None,
        typer.Option(help="Column holding --signal's values (default: the only non-time column)."),
    ] = None,
    map_: Annotated[
        list[str] | None, typer.Option("--map", help="COLUMN=SIGNAL, repeatable, for wide files.")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Timestamp column (default: one named time/timestamp/ts).")
    ] = None,
    time_format: Annotated[
        str, typer.Option(help=f"{', '.join(TIME_FORMATS)} or a strptime pattern.")
    ] = "iso",
    timezone: Annotated[
        str, typer.Option(help="IANA zone of timestamps without an offset.")
    ] = "UTC",
    start: Annotated[
        str | None,
        typer.Option(help="Time of the first row, with --rate, when there is no time column."),
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Rows per second, with --start.")] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="Field separator (default: detected).")
    ] = None,
    header: Annotated[
        bool, typer.Option("--header/--no-header", help="First line names the columns.")
    ] = True,
    skip_rows: Annotated[int, typer.Option(min=0, help="Lines to skip before the header.")] = 0,
    decimal: Annotated[str, typer.Option(help="Decimal separator of the numbers.")] = ".",
    fmt: Annotated[str, typer.Option("--format", help="auto, csv or parquet.")] = "auto",
    create: Annotated[
        bool, typer.Option(help="Register signals the project does not declare.")
    ] = False,
    unit: Annotated[str, typer.Option(help="Unit of signals created with --create.")] = "",
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Load CSV or Parquet recordings into the store, reporting every rejected row.

    Rows that cannot be read go to the dead-letter table with their file, line and reason
    (see `shopfloor dead-letters`); nothing is dropped silently.
    """
    proj = load(project)
    if fmt not in ("auto", "csv", "parquet"):
        fail(f"--format must be auto, csv or parquet, got {fmt!r}", EXIT_CONFIG)
    if (start is None) != (rate is None):
        fail("--start and --rate go together", EXIT_CONFIG)
    if time_format not in TIME_FORMATS and "%" not in time_format:
        fail(
            f"--time-format must be one of {', '.join(TIME_FORMATS)} or a strptime pattern "
            f"like '%d.%m.%Y %H:%M:%S', got {time_format!r}",
            EXIT_CONFIG,
        )
    if asset is None:
        fail("--asset is required (the ISA-95 path of the machine)", EXIT_CONFIG)
    try:
        asset_path = validate_asset_path(asset)
    except ValueError as err:
        fail(f"--asset: {err}", EXIT_CONFIG)
    start_ns = _parse_time_option(start, "--start")
    readers: list[RecordingReader] = []
    wanted: dict[str, str] = {}
    try:
        for path in paths:
            if not path.is_file():
                raise ConfigError(f"{path}: no such file")
            kind = _format_of(path, fmt)
            names = _columns_of(path, kind, delimiter, header, skip_rows)
            tcol = time_column
            if tcol is None and start_ns is None:
                tcol = next((n for n in names if n.strip().lower() in _TIME_NAMES), None)
                if tcol is None:
                    raise ConfigError(
                        f"{path}: no time column found among {', '.join(names[:20])}; pass "
                        "--time-column, or --start and --rate"
                    )
            if tcol is not None and tcol not in names:
                raise ConfigError(f"{path}: no column {tcol!r} (columns: {', '.join(names[:30])})")
            mapping = _mapping(map_, signal, value_column, names, tcol, path)
            wanted.update(mapping)
            layout = TableLayout(
                columns={c: SignalRef(asset_path, s) for c, s in mapping.items()},
                time_column=tcol,
                time_format=time_format,
                timezone=timezone,
                start_ns=start_ns,
                rate_hz=rate,
                delimiter=delimiter,
                header=header,
                skip_rows=skip_rows,
                decimal=decimal,
            )
            reader: RecordingReader = (
                ParquetReader(path, layout) if kind == "parquet" else CsvReader(path, layout)
            )
            readers.append(reader)
    except (ConfigError, ValueError) as err:
        fail(str(err), EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        store = await open_project_store(proj)
        try:
            await _ensure_signals(
                store, proj, asset_path, sorted(set(wanted.values())), create, unit
            )
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                disable=json_,
                transient=False,
            ) as bar:
                tasks = {id(r): bar.add_task(r.path.name, total=r.total) for r in readers}

                def progress(reader: RecordingReader, done: int) -> None:
                    bar.update(tasks[id(reader)], completed=done)

                report = await ingest_recordings(store, readers, progress=progress)
            return report.as_dict()
        finally:
            await store.close()

    summary = run_async(run)
    if json_:
        print_json(summary)
        return
    _print_ingest(summary)


def _mapping(
    map_: list[str] | None,
    signal: str | None,
    value_column: str | None,
    names: list[str],
    time_column: str | None,
    path: Path,
) -> dict[str, str]:
    if map_:
        if signal is not None:
            raise ConfigError("give --signal or --map, not both")
        out: dict[str, str] = {}
        for item in map_:
            column, sep, name = item.partition("=")
            if not sep or not column or not name:
                raise ConfigError(f"--map {item!r}: write COLUMN=SIGNAL")
            out[column.strip()] = name.strip()
        return out
    if signal is None:
        raise ConfigError("give --signal (one value column) or --map COLUMN=SIGNAL")
    if value_column is None:
        others = [n for n in names if n != time_column]
        if len(others) != 1:
            raise ConfigError(
                f"{path}: {len(others)} value columns ({', '.join(others[:20])}); pick one with "
                "--value-column or map several with --map"
            )
        value_column = others[0]
    return {value_column: signal}


async def _ensure_signals(
    store: Store, proj: Project, asset: str, names: list[str], create: bool, unit: str
) -> None:
    known = {i.ref: i for i in await store.signals()}
    missing = [n for n in names if SignalRef(asset, n) not in known]
    for name in names:
        info = known.get(SignalRef(asset, name))
        if info is not None and info.kind != SignalKind.SCALAR:
            raise ConfigError(
                f"signal {name!r} of {asset!r} is {info.kind}; tabular files load scalar signals"
            )
    if not missing:
        return
    if not create:
        declared = sorted(i.ref.name for i in known.values() if i.ref.asset == asset)
        raise ConfigError(
            f"{asset!r} has no signal {', '.join(map(repr, missing))} (declared: "
            f"{', '.join(declared) or 'none'}); declare it in {proj.file.name} or pass --create "
            "[--unit U]"
        )
    try:
        await store.register_signals(asset, [Signal(name=n, unit=unit) for n in missing])
    except ValueError as err:
        raise ConfigError(f"--create: {err}") from err


def _print_ingest(s: dict[str, Any]) -> None:
    console.print(
        f"[bold green]ingested[/] {s['values_written']:,} values from {s['rows']:,} rows of "
        f"{len(s['files'])} file(s) in {s['seconds']:.1f} s"
        + (f" ({s['rows_per_s']:,} rows/s)" if s["rows_per_s"] else "")
    )
    if s["duplicates"]:
        console.print(f"  {s['duplicates']:,} values were already stored (duplicates, kept once)")
    if s["blank_lines"]:
        console.print(f"  {s['blank_lines']:,} blank lines skipped")
    rejected = s["rows_rejected"] + s["values_rejected"]
    if rejected:
        console.print(f"[yellow]  {rejected:,} rejected[/] and kept in the dead letters:")
        for reason, count in sorted(s["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
            console.print(f"    {count:>10,}  {reason}")
        for example in s["examples"][:5]:
            console.print(f"    e.g. {example['location']}: {example['reason']}", highlight=False)
        console.print("  see them all with: shopfloor dead-letters")


def _ref_from(asset: str | None, signal: str) -> SignalRef:
    try:
        if asset is None:
            return SignalRef.parse(signal)
        return SignalRef.checked(asset, signal)
    except ValueError as err:
        fail(f"--asset/--signal: {err}", EXIT_CONFIG)


def query(
    signal: Annotated[str, typer.Option(help="Signal name (or full asset/.../signal path).")],
    asset: Annotated[str | None, typer.Option(help="ISA-95 path of the asset.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start (ISO 8601 or now-1h); default: first value.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(help="End, exclusive (ISO 8601 or now); default: after the last value."),
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="Downsample to min/max/mean per bucket, e.g. 1s, 5min.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Read a signal's values (scalars, or waveform blocks and events as summaries)."""
    proj = load(project)
    ref = _ref_from(asset, signal)
    start_opt = _parse_time_option(from_, "--from")
    end_opt = _parse_time_option(to, "--to")
    every_ns = None
    if every is not None:
        try:
            every_ns = int(parse_duration_s(every) * 1e9)
        except ValueError as err:
            fail(f"--every: {err}", EXIT_CONFIG)
        if every_ns <= 0:
            fail("--every must be longer than 0", EXIT_CONFIG)

    async def run() -> dict[str, Any]:
        store = await open_project_store(proj)
        try:
            infos = {i.ref: i for i in await store.signals()}
            info = infos.get(ref)
            if info is None:
                same = sorted(r.name for r in infos if r.asset == ref.asset)
                raise ConfigError(
                    f"no signal {ref.path!r} in the store (signals of that asset: "
                    f"{', '.join(same) or 'none'})"
                )
            span = await store.time_range(ref)
            start = start_opt if start_opt is not None else (span[0] if span else 0)
            end = end_opt if end_opt is not None else (span[1] + 1 if span else now_ns())
            out: dict[str, Any] = {
                "signal": ref.path,
                "kind": str(info.kind),
                "unit": info.definition.unit,
                "from": format_ns(start),
                "to": format_ns(end),
            }
            if info.kind == SignalKind.SCALAR:
                if every_ns is not None:
                    table = await store.read_scalars_downsampled(ref, start, end, every_ns)
                    if limit is not None:
                        table = table.slice(0, limit)
                    out["every"] = every
                    cols = ["min", "max", "mean", "count"]
                else:
                    table = await store.read_scalars(ref, start, end, limit=limit)
                    cols = ["value", "quality"]
                import pyarrow as pa

                ts = table.column("ts").cast(pa.int64()).to_pylist()
                out["rows"] = [
                    {"ts": format_ns(t), **{c: table.column(c)[i].as_py() for c in cols}}
                    for i, t in enumerate(ts)
                ]
            elif info.kind == SignalKind.WAVEFORM:
                import numpy as np

                blocks = await store.read_waveforms(ref, start, end, limit=limit or 1000)
                out["rows"] = [
                    {
                        "ts": format_ns(b.t0_ns),
                        "sample_rate_hz": b.sample_rate_hz,
                        "n_samples": b.n_samples,
                        "n_channels": b.n_channels,
                        "rms": np.sqrt(np.mean(np.square(b.data.astype(float)), axis=0))
                        .round(6)
                        .tolist(),
                    }
                    for b in blocks
                ]
            elif info.kind == SignalKind.EVENT:
                events = await store.read_events(start, end, ref=ref, limit=limit or 1000)
                out["rows"] = [
                    {
                        "ts": format_ns(e.ts_ns),
                        "kind": e.kind,
                        "severity": e.severity,
                        "message": e.message,
                        "attributes": dict(e.attributes),
                    }
                    for e in events
                ]
            else:
                images = await store.read_images(ref, start, end, limit=limit or 1000)
                out["rows"] = [
                    {
                        "ts": format_ns(r.ts_ns),
                        "format": r.format,
                        "shape": list(r.shape),
                        "bytes": len(r.data),
                    }
                    for r in images
                ]
            return out
        finally:
            await store.close()

    result = run_async(run)
    if json_:
        print_json(result)
        return
    rows = result["rows"]
    table = Table(title=f"{result['signal']} [{result['unit'] or '-'}] ({len(rows):,} rows)")
    if rows:
        for key in rows[0]:
            table.add_column(key, justify="right" if key != "ts" else "left")
        shown = rows if len(rows) <= 40 else [*rows[:20], None, *rows[-20:]]
        for row in shown:
            if row is None:
                table.add_row(*(["…"] * len(rows[0])))
            else:
                table.add_row(*(_cell(v) for v in row.values()))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def signals(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the signals the store knows, with how much data each has."""
    proj = load(project)

    async def run() -> list[dict[str, Any]]:
        store = await open_project_store(proj)
        try:
            out = []
            for info in await store.signals():
                span = await store.time_range(info.ref)
                out.append(
                    {
                        "signal": info.ref.path,
                        "kind": str(info.kind),
                        "unit": info.definition.unit,
                        "count": await store.count(info.ref),
                        "first": format_ns(span[0]) if span else None,
                        "last": format_ns(span[1]) if span else None,
                    }
                )
            return out
        finally:
            await store.close()

    rows = run_async(run)
    if json_:
        print_json(rows)
        return
    table = Table(title=f"signals of {proj.config.project.name}")
    for column in ("signal", "kind", "unit", "count", "first", "last"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for row in rows:
        table.add_row(
            row["signal"],
            row["kind"],
            row["unit"] or "-",
            f"{row['count']:,}",
            row["first"] or "-",
            row["last"] or "-",
        )
    console.print(table)


def dead_letters(
    since: Annotated[
        str | None, typer.Option(help="Only those received since (ISO 8601 or now-1h).")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Only from this source (ingest, a connector).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Show rejected input with the reason it was rejected."""
    proj = load(project)
    since_ns = _parse_time_option(since, "--since")

    async def run() -> dict[str, Any]:
        store = await open_project_store(proj)
        try:
            total = await store.count_dead_letters(since_ns=since_ns, source=source)
            letters = await store.read_dead_letters(since_ns=since_ns, source=source, limit=limit)
            return {
                "total": total,
                "shown": len(letters),
                "dead_letters": [
                    {
                        "received": format_ns(d.received_ns),
                        "source": d.source,
                        "location": d.location,
                        "reason": d.reason,
                        "payload": d.payload.decode("utf-8", "replace")
                        if isinstance(d.payload, bytes)
                        else d.payload,
                    }
                    for d in letters
                ],
            }
        finally:
            await store.close()

    result = run_async(run)
    if json_:
        print_json(result)
        return
    table = Table(title=f"dead letters: {result['shown']:,} of {result['total']:,}")
    for column in ("received", "source", "location", "reason", "payload"):
        table.add_column(column, overflow="fold")
    for d in result["dead_letters"]:
        payload = d["payload"]
        table.add_row(
            d["received"],
            d["source"],
            d["location"],
            d["reason"],
            payload if len(payload) < 80 else payload[:77] + "…",
        )
    console.print(table)
