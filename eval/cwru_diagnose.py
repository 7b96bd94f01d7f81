"""CWRU bearing records through ``shopfloor diagnose FILE ... --json`` (the real command).

Run from the repository root::

    .venv/bin/python eval/cwru_diagnose.py --data ../shared/data/cwru
    .venv/bin/python eval/cwru_diagnose.py --no-write

Protocol (fixed before the records were run; nothing is tuned on them):

* Records: the 36 drive-end fault records (IR, OR@6, B; 0.007-0.021 in; 0-3 hp, 12 kHz)
  and the normal record (48 kHz, 0 hp), channel ``*_DE_time``, shaft speed from
  ``index.csv`` (the value stored in the file), 6205 geometry (9 balls, 0.3126 in,
  pitch 1.537 in, 0°).
* Each record is diagnosed by the CLI entry point with ``--json`` and default settings
  (procedure in ``shopfloor.features.diagnosis``: cepstral prewhitening, kurtogram band
  starting above the highest defect line scored (3 × BPFI + shaft speed) and ending
  below 0.4 × rate, squared envelope spectrum, harmonics 1-3 of BPFO / BPFI / BSF / FTF
  with shaft sidebands for the inner race and cage sidebands for the ball, noise-derived
  line threshold, attribution of shared lines).
* Each miss is explained by a band scan: the same diagnosis with the band fixed in turn
  to each 1 kHz band (500 Hz steps) between the highest line scored and 0.4 × rate. A
  miss whose expected line stays below the threshold in every band has no envelope
  signature of the seeded fault that this method can see; one that is right in some
  bands is a band-selection miss.
* Right when the verdict is ``inner_race`` for IR, ``outer_race`` for OR, ``ball`` for B;
  the normal record must not get a fault verdict. A ``none`` on a fault record is a miss.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # eval/results_md.py

from results_md import write_section  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "cwru"
COMMAND = ".venv/bin/python eval/cwru_diagnose.py --data ../shared/data/cwru"
EXPECTED = {"IR": "inner_race", "OR": "outer_race", "B": "ball", "normal": "none"}
GEOMETRY = [
    "--bearing-elements", "9",
    "--element-diameter-mm", f"{0.3126 * 25.4:.4f}",
    "--pitch-diameter-mm", f"{1.537 * 25.4:.4f}",
    "--contact-angle-deg", "0",
]  # fmt: skip
SECTION_TITLE = "## CWRU through `shopfloor diagnose`"
SCAN_WIDTH_HZ = 1000.0
SCAN_STEP_HZ = 500.0
BEARING = {"n_elements": 9, "element_diameter_mm": 0.3126 * 25.4}
BEARING |= {"pitch_diameter_mm": 1.537 * 25.4, "contact_angle_deg": 0.0}
ABLATION = [
    (
        "Starting point: cepstral prewhitening (CPW) of the whole record, fast kurtogram "
        "band (mean over 1 s windows) at least as wide as the highest line scored and "
        "ending below 0.4 × rate, squared envelope spectrum, harmonics and sidebands, "
        "attribution of shared lines",
        "Smith & Randall (2015), Randall & Antoni (2011)",
        "21/36 (IR 11, OR 8, B 2); normal none",
    ),
    (
        "The band must start at or above the highest line scored (3 × BPFI + shaft "
        "speed). After whitening, the region below the lines (the sensor's high-pass "
        "region lifted to the floor, the shaft harmonics) can look impulsive, and a band "
        "holding the lines demodulates low-frequency content into the scored range; the "
        "kurtogram chose 0-500 to 0-1000 Hz bands on 8 records",
        "an envelope band below the lines is meaningless (signal-processing principle); the "
        "synthetic test of impulsive content below the lines at 12, 25.6 and 48 kHz "
        "(tests/features/test_diagnosis_steps.py) fails without it",
        "22/36 (IR 12, OR 8, B 2); normal none. IR007_3 none → inner_race; B021_2 none → "
        "inner_race (a weak BPFI line); no record lost",
    ),
    (
        "A sample rate below 5 × the highest line is refused (no band fits above the lines "
        "and below 0.4 × rate) instead of demodulating whatever band is left",
        "honest error rather than a meaningless band",
        "no change (12 kHz is 23 × the highest line at 1797 rpm)",
    ),
    (
        "Contrast, not adopted: CPW and the whole band from the highest line to 0.4 × rate, "
        "no kurtogram (Smith & Randall's CPW + SES)",
        "does the band choice limit the figure?",
        "22/36 (IR 12, OR 8, B 2), the same misses (B014_2 and B014_3 give cage instead of "
        "none): the limit is the records, not the band",
    ),
]


def run_cli(args: list[str]) -> tuple[int, str]:
    """Run ``shopfloor ARGS`` in-process through the console entry point's app."""
    from typer.testing import CliRunner

    from shopfloor.cli.main import app

    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout


def diagnose(path: Path, fs: float, rpm: float, plot: Path | None = None) -> dict[str, Any]:
    args = ["diagnose", str(path), "--channel", "*_DE_time", "--rate", f"{fs:g}"]
    args += ["--rpm", f"{rpm:g}", *GEOMETRY, "--json"]
    if plot is not None:
        args += ["--plot", str(plot)]
    code, out = run_cli(args)
    if code != 0:
        raise RuntimeError(f"{path.name}: exit {code}: {out}")
    result: dict[str, Any] = json.loads(out)
    return result


def band_scan(path: Path, fs: float, rpm: float, expected: str) -> dict[str, Any]:
    """The diagnosis with the band fixed to each 1 kHz band above the highest line."""
    from shopfloor.features.diagnosis import diagnose_bearing
    from shopfloor.model import BearingGeometry
    from shopfloor.services.diagnose import read_file_channel

    x, rate = read_file_channel(path, "*_DE_time", fs)
    bearing = BearingGeometry(**BEARING)
    shaft = rpm / 60.0
    highest = 3 * bearing.bpfi_order * shaft + shaft
    low = SCAN_STEP_HZ * -(-highest // SCAN_STEP_HZ)
    bands = []
    while low + SCAN_WIDTH_HZ <= 0.4 * rate + 1e-9:
        bands.append((low, low + SCAN_WIDTH_HZ))
        low += SCAN_STEP_HZ
    best_snr, right, line_snr = 0.0, 0, float("nan")
    for band in bands:
        d = diagnose_bearing(x, rate, shaft, bearing, band_hz=band)
        line_snr = d.line_snr
        lines = d.candidates[expected].lines
        best_snr = max(best_snr, *(line.snr for line in lines))
        right += d.verdict == expected
    return {
        "bands": len(bands),
        "from_hz": bands[0][0] if bands else float("nan"),
        "to_hz": bands[-1][1] if bands else float("nan"),
        "best_snr": best_snr,
        "right": right,
        "line_snr": line_snr,
    }


def fault_class(label: str) -> str:
    return "OR" if label.startswith("OR") else label


def evaluate(data: Path) -> list[dict[str, Any]]:
    rows = list(csv.DictReader((data / "index.csv").open(newline="")))
    out = []
    for row in rows:
        cls = fault_class(row["fault"])
        fs, rpm = float(row["fs_hz"]), float(row["rpm"])
        res = diagnose(data / row["file"], fs, rpm)
        out.append({"file": row["file"], "class": cls, "load": row["load_hp"], **res})
        if cls != "normal" and res["verdict"] != EXPECTED[cls]:
            out[-1]["scan"] = band_scan(data / row["file"], fs, rpm, EXPECTED[cls])
        print(f"{row['file']:36s} {cls:6s} -> {res['verdict']}", file=sys.stderr)
    return out


def _evidence(r: dict[str, Any], name: str) -> str:
    c = r["candidates"][name]
    sb = f", {c['sidebands_found']} sb" if c["sideband_spacing_hz"] else ""
    return f"{name} SNR {c['snr']:.1f}, {c['harmonics_found']}/3 h{sb}, score {c['score']:.2f}"


def table_lines(results: list[dict[str, Any]]) -> list[str]:
    names = ("outer_race", "inner_race", "ball", "cage")
    lines = [
        "| record | class | band (Hz) | "
        + " | ".join(f"{n} SNR / h / sb / score" for n in names)
        + " | verdict | conf. | right |",
        "|---|---|---|" + "---|" * len(names) + "---|---|---|",
    ]
    for r in results:
        cells = []
        for n in names:
            c = r["candidates"][n]
            sb = str(c["sidebands_found"]) if c["sideband_spacing_hz"] else "-"
            cells.append(f"{c['snr']:.1f} / {c['harmonics_found']} / {sb} / {c['score']:.2f}")
        ok = r["verdict"] == EXPECTED[r["class"]]
        lines.append(
            f"| `{r['file']}` | {r['class']} | {r['band_hz'][0]:.0f}-{r['band_hz'][1]:.0f} | "
            + " | ".join(cells)
            + f" | {r['verdict']} | {r['confidence']:.2f} | {'yes' if ok else 'no'} |"
        )
    return lines


def summary_lines(results: list[dict[str, Any]]) -> list[str]:
    lines = ["| class | right | verdicts |", "|---|---|---|"]
    for cls in ("IR", "OR", "B", "normal"):
        sel = [r for r in results if r["class"] == cls]
        ok = sum(r["verdict"] == EXPECTED[cls] for r in sel)
        counts: dict[str, int] = {}
        for r in sel:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        lines.append(f"| {cls} (expected {EXPECTED[cls]}) | {ok}/{len(sel)} | {shown} |")
    faults = [r for r in results if r["class"] != "normal"]
    ok = sum(r["verdict"] == EXPECTED[r["class"]] for r in faults)
    lines.append(f"| **fault records** | **{ok}/{len(faults)}** | |")
    return lines


def miss_lines(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in results:
        expected = EXPECTED[r["class"]]
        if r["verdict"] == expected:
            continue
        why = (
            "no line of any candidate reached the threshold"
            if r["verdict"] == "none"
            else f"{_evidence(r, r['verdict'])} outweighs the expected"
        )
        exp = _evidence(r, expected) if expected != "none" else ""
        lines.append(
            f"* `{r['file'].removesuffix('.mat')}` ({r['class']}, {r['load']} hp): verdict "
            f"{r['verdict']}; {why}"
            + (f" ({exp})" if exp else "")
            + f"; band {r['band_hz'][0]:.0f}-{r['band_hz'][1]:.0f} Hz."
            + (f" {_scan_text(r['scan'], expected)}" if "scan" in r else "")
        )
    return lines or ["* none"]


def _scan_text(scan: dict[str, Any], expected: str) -> str:
    where = (
        f"In the {scan['bands']} bands of 1 kHz from {scan['from_hz']:.0f} to "
        f"{scan['to_hz']:.0f} Hz the strongest {expected} line reaches SNR "
        f"{scan['best_snr']:.1f} (threshold {scan['line_snr']:.2f})"
    )
    if scan["right"] == 0:
        if scan["best_snr"] < scan["line_snr"]:
            return where + ": no band shows the seeded fault's line."
        return where + ", yet no band gives the expected verdict."
    return (
        where + f"; the expected verdict comes out in {scan['right']} of them: a band-selection "
        "miss (weak when only one band of several does, which noise alone can give)."
    )


def standing_lines(results: list[dict[str, Any]]) -> list[str]:
    misses = [r for r in results if "scan" in r]
    blind = [r for r in misses if r["scan"]["right"] == 0]
    unseen = [r for r in blind if r["scan"]["best_snr"] < r["scan"]["line_snr"]]
    faults = [r for r in results if r["class"] != "normal"]
    right = sum(r["verdict"] == EXPECTED[r["class"]] for r in faults)
    ceiling = right + len(misses) - len(blind)
    return [
        f"Of the {len(misses)} misses: {len(unseen)} show no line of the seeded fault above "
        f"the threshold in any band of the scan; {len(blind) - len(unseen)} show such a line "
        f"in some band but get another verdict in every band; {len(misses) - len(blind)} "
        "would be right with another band (each in one band of several). A better band "
        f"choice cannot lift the figure past {ceiling}/{len(faults)} with this envelope "
        "method: the remaining misses have no envelope signature at the expected "
        "frequencies, and the product answers them with an honest `none` (or a weak other "
        "line) rather than a guess. The goal of 27/36 is not reached.",
    ]


def ablation_lines() -> list[str]:
    lines = ["| method change | why | CWRU figure |", "|---|---|---|"]
    lines += [f"| {change} | {why} | {figure} |" for change, why, figure in ABLATION]
    return lines


def section_text(results: list[dict[str, Any]], image: str) -> str:
    protocol = (__doc__ or "").split("nothing is tuned on them):")[1].strip()
    normal = [r for r in results if r["class"] == "normal"]
    return "\n".join(
        [
            SECTION_TITLE,
            "",
            "Bearing diagnosis as a product feature: each record goes through "
            "`shopfloor diagnose FILE --channel '*_DE_time' --rate HZ --rpm R <geometry> "
            "--json`.",
            "",
            f"Command (from the repository root): `{COMMAND}`.",
            "",
            "Protocol, fixed before the records were run:",
            "",
            protocol,
            "",
            *summary_lines(results),
            "",
            "Normal record: "
            + ", ".join(
                f"`{r['file']}` verdict **{r['verdict']}** (confidence {r['confidence']:.2f})"
                for r in normal
            )
            + ".",
            "",
            *standing_lines(results),
            "",
            "Method changes, in the order they were made, each checked on synthetic signals "
            "(tests/features/test_diagnosis*.py), with the figure each gave (an ablation, "
            "not a search: nothing was tuned per record):",
            "",
            *ablation_lines(),
            "",
            "Misses (evidence: fundamental SNR, harmonics found, sidebands found, score; then "
            "the band scan):",
            "",
            *miss_lines(results),
            "",
            f"![Envelope spectrum of an inner-race record with defect markers]({image})",
            "",
            "<details><summary>Per record (SNR of the fundamental / harmonics found / "
            "sidebands found / score)</summary>",
            "",
            *table_lines(results),
            "",
            "</details>",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CWRU folder")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "docs" / "results.md")
    parser.add_argument(
        "--image", type=Path, default=REPO_ROOT / "docs" / "img" / "cwru_diagnose_ir007.png"
    )
    args = parser.parse_args(argv)
    if not (args.data / "index.csv").exists():
        print(f"no CWRU data in {args.data} (index.csv missing)", file=sys.stderr)
        return 2
    results = evaluate(args.data)
    print("\n".join(summary_lines(results)))
    print("\n".join(miss_lines(results)))
    if not args.no_write:
        # Fixed in advance: the 0.007 in, 0 hp inner-race record.
        args.image.parent.mkdir(parents=True, exist_ok=True)
        diagnose(args.data / "12k_Drive_End_IR007_0_105.mat", 12000, 1797, plot=args.image)
        rel = args.image.relative_to(args.results.parent)
        write_section(args.results, SECTION_TITLE, section_text(results, str(rel)))
        print(f"wrote {args.results} and {args.image}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
