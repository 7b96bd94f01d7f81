"""FEMTO run-to-failure bearings: how early do anomaly models warn, against a 3σ RMS rule?

Run from the repository root::

    .venv/bin/python eval/femto_anomaly.py            # data in ../shared/data/femto
    .venv/bin/python eval/femto_anomaly.py --data PATH --no-write

Protocol (settings fixed a priori, before any result was seen; nothing is chosen on the
test part, which is everything after the training part):

* Data: the three complete runs (Bearing1_2, Bearing2_2, Bearing3_1), read from their
  ``.tar.xz`` with the product's ``CaptureReader``: one 0.1 s capture (2560 samples at
  25.6 kHz, horizontal and vertical accelerometers, g) every 10 s. End of life = the last
  capture; lead time = end of life − first alarm.
* Training part: the first third of each run's captures (each bearing gets its own
  model: no data of the other runs is used). Of it, the first two thirds fit the model
  and the last third is the held-back healthy slice that calibrates the threshold.
* Features per capture and axis (``shopfloor.features.FeatureSet``): ``rms, kurtosis,
  crest_factor, skewness, spectral_centroid, spectral_spread, spectral_kurtosis`` and the
  power in 0-1, 1-3, 3-6, 6-12.8 kHz: 22 features.
* Models: ``robust_zscore`` (max |z|), ``pca`` (SPE, 95 % variance) and
  ``isolation_forest`` (seed 0), default parameters. Threshold: the largest score of the
  held-back healthy slice (no held-back window alarms).
* Baseline: RMS of the capture (both axes), threshold mean + 3σ over the whole training
  part.
* Persistence, the same for every detector: an alarm when 3 of the last 5 captures
  exceed the threshold; it clears when 5 in a row are below (hysteresis).
* Reported per bearing: first alarm after half of life, lead time, false alarm episodes
  in the first half of life (``shopfloor.ml.evaluation.run_to_failure_metrics``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_md import write_section  # noqa: E402

from recordings import read_femto  # noqa: E402
from shopfloor.features import FeatureSet  # noqa: E402
from shopfloor.ml.base import AnomalyModel, build_model  # noqa: E402
from shopfloor.ml.evaluation import RunToFailureMetrics, run_to_failure_metrics  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "femto"
COMMAND = ".venv/bin/python eval/femto_anomaly.py"
SECTION_TITLE = "## FEMTO run-to-failure: first alarm and lead time"

FS = 25600.0
TRAIN_FRACTION = 1 / 3
FIT_FRACTION = 2 / 3
K_OF_N = (3, 5)
CLEAR_AFTER = 5
MODEL_TYPES = ("robust_zscore", "pca", "isolation_forest")
FEATURES = FeatureSet(
    [
        "rms",
        "kurtosis",
        "crest_factor",
        "skewness",
        "spectral_centroid",
        "spectral_spread",
        "spectral_kurtosis",
        "band_power_hz.*",
    ],
    bands_hz=[(0, 1000), (1000, 3000), (3000, 6000), (6000, 12800)],
)


def persistent_alarm(exceed: np.ndarray, k: int, n: int, clear_after: int) -> np.ndarray:
    """Alarm when ``k`` of the last ``n`` windows exceed; clear after ``clear_after`` quiet."""
    out = np.zeros(exceed.size, dtype=bool)
    on = False
    quiet = 0
    for i in range(exceed.size):
        recent = int(np.count_nonzero(exceed[max(0, i - n + 1) : i + 1]))
        if not on and recent >= k:
            on, quiet = True, 0
        elif on:
            quiet = 0 if exceed[i] else quiet + 1
            if quiet >= clear_after:
                on = False
        out[i] = on
    return out


@dataclass
class Detector:
    name: str
    score: np.ndarray
    threshold: float
    alarm: np.ndarray = field(repr=False)
    metrics: RunToFailureMetrics


@dataclass
class BearingResult:
    bearing: str
    times_s: np.ndarray
    n_train: int
    n_fit: int
    detectors: list[Detector]


def capture_features(data: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``(n_captures, 2560, 2)`` → ``(n_captures, 2 × features)``."""
    windows = np.transpose(data, (0, 2, 1))  # (captures, axes, samples)
    out = FEATURES.compute(windows, FS)
    names = [f"{name}.{axis}" for axis in ("h", "v") for name in FEATURES.feature_names]
    matrix = np.stack(
        [out[name][:, a] for a in range(2) for name in FEATURES.feature_names], axis=-1
    )
    return matrix, names


def detector(name: str, score: np.ndarray, threshold: float, times: np.ndarray) -> Detector:
    exceed = np.nan_to_num(score, nan=np.inf) > threshold
    alarm = persistent_alarm(exceed, *K_OF_N, CLEAR_AFTER)
    return Detector(name, score, threshold, alarm, run_to_failure_metrics(times, alarm))


def evaluate_bearing(name: str, times: np.ndarray, data: np.ndarray) -> BearingResult:
    n = times.size
    n_train = round(n * TRAIN_FRACTION)
    n_fit = round(n_train * FIT_FRACTION)
    x, names = capture_features(data)
    detectors = []
    for model_type in MODEL_TYPES:
        model = build_model(model_type)
        assert isinstance(model, AnomalyModel)
        model.fit(x[:n_fit], feature_names=names)
        score = model.score(x, feature_names=names)
        threshold = float(np.nanmax(score[n_fit:n_train]))
        detectors.append(detector(model_type, score, threshold, times))
    rms = np.sqrt(np.mean(data**2, axis=(1, 2)))
    base = rms[:n_train]
    detectors.append(detector("rms_3sigma", rms, float(base.mean() + 3 * base.std()), times))
    return BearingResult(name, times, n_train, n_fit, detectors)


def read_index(data: Path) -> list[dict[str, str]]:
    with open(data / "index.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def evaluate(
    data: Path, bearings: list[str] | None = None, max_captures: int | None = None
) -> list[BearingResult]:
    results = []
    for row in read_index(data):
        if bearings is not None and row["bearing"] not in bearings:
            continue
        times, captures = read_femto(data / row["archive"])
        if max_captures is not None:
            times, captures = times[:max_captures], captures[:max_captures]
        results.append(evaluate_bearing(row["bearing"], times, captures))
    return results


def _fmt_time(value: float | None) -> str:
    if value is None:
        return "none"
    return f"{value / 60:.1f} min"


def table_lines(results: list[BearingResult]) -> list[str]:
    head = (
        "| bearing | life | detector | threshold | first alarm (episode starting after "
        "half life) | lead time | "
        "lead vs RMS 3σ | false alarm episodes in 1st half |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        base = next(d for d in r.detectors if d.name == "rms_3sigma").metrics.lead_time_s
        for d in r.detectors:
            m = d.metrics
            ratio = (
                "-"
                if d.name == "rms_3sigma"
                else (
                    f"{m.lead_time_s / base:.1f}×"
                    if base > 0
                    else ("∞" if m.lead_time_s > 0 else "-")
                )
            )
            label = "RMS mean+3σ (baseline)" if d.name == "rms_3sigma" else f"`{d.name}`"
            lines.append(
                f"| {r.bearing} | {_fmt_time(m.life_s)} | {label} | {d.threshold:.3g} | "
                f"{_fmt_time(m.first_alarm_s)} | {_fmt_time(m.lead_time_s)} | {ratio} | "
                f"{m.false_alarm_episodes} |"
            )
    return lines


def goal_lines(results: list[BearingResult]) -> list[str]:
    lines = []
    for model_type in MODEL_TYPES:
        wins = 0
        clean = 0
        for r in results:
            base = next(d for d in r.detectors if d.name == "rms_3sigma").metrics.lead_time_s
            m = next(d for d in r.detectors if d.name == model_type).metrics
            wins += m.lead_time_s >= 2 * base and m.lead_time_s > 0
            clean += m.false_alarm_episodes == 0
        lines.append(
            f"* `{model_type}`: at least 2× the baseline's lead on {wins}/{len(results)} "
            f"bearings; no alarm in the first half of life on {clean}/{len(results)}."
        )
    return lines


def plot(results: list[BearingResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(7.5, 2.4 * len(results)), squeeze=False)
    colours = {
        "robust_zscore": "tab:blue",
        "pca": "tab:green",
        "isolation_forest": "tab:purple",
        "rms_3sigma": "black",
    }
    for ax, r in zip(axes[:, 0], results, strict=True):
        minutes = r.times_s / 60
        for d in r.detectors:
            ratio = np.clip(np.nan_to_num(d.score / d.threshold, nan=1e-3), 1e-3, None)
            ax.plot(minutes, ratio, lw=0.8, color=colours[d.name], label=d.name)
            if d.metrics.first_alarm_s is not None:
                ax.axvline(d.metrics.first_alarm_s / 60, color=colours[d.name], ls=":", lw=0.8)
        ax.axhline(1.0, color="red", lw=0.8, label="threshold")
        ax.axvspan(0, minutes[r.n_fit - 1], color="0.9", lw=0)
        ax.axvspan(minutes[r.n_fit - 1], minutes[r.n_train - 1], color="0.8", lw=0)
        ax.axvline(minutes[-1] / 2, color="0.5", ls="--", lw=0.8)
        ax.set_yscale("log")
        ax.set_title(
            f"{r.bearing}: score / threshold (fit light grey, calibration dark grey, "
            "half life dashed, first alarm dotted)",
            fontsize=7,
        )
        ax.set_ylabel("score / threshold", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, ncol=5, loc="upper left")
    axes[-1, 0].set_xlabel("time since first capture (min)", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def section_text(results: list[BearingResult], image: str) -> str:
    protocol = __doc__.split("which is everything after the training part):")[1].strip()
    lines = [
        SECTION_TITLE,
        "",
        "Anomaly models fitted on the start of each FEMTO run-to-failure bearing: when do "
        "they first alarm, and how long before the end of life, next to a plain "
        "mean + 3σ RMS threshold computed by the same script?",
        "",
        f"Command (from the repository root): `{COMMAND}` (data: `../shared/data/femto`).",
        "",
        "Protocol, fixed a priori:",
        "",
        protocol,
        "",
        *table_lines(results),
        "",
        "Goal: at least twice the baseline's lead on most bearings, no alarm in the first "
        "half of life.",
        "",
        *goal_lines(results),
        "",
        "Reading the table: a first alarm of *none* with false alarm episodes means the "
        "detector went into alarm in the first half of life and never started a new "
        "episode after it (an episode that began early is a false alarm, never the "
        "warning). Bearing1_2's training part holds isolated captures above 20 g (the "
        "first at `acc_00128`, see the data README): they raise the thresholds of the "
        "kurtosis- and crest-driven `robust_zscore` and `pca` (largest held-back score) "
        "until almost nothing passes; its failure comes fast (RMS alarms 6.7 min before "
        "the end). Only `isolation_forest` meets the goal.",
        "",
        f"![Score over threshold per bearing]({image})",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FEMTO folder")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "docs" / "results.md")
    parser.add_argument(
        "--image", type=Path, default=REPO_ROOT / "docs" / "img" / "femto_health.png"
    )
    args = parser.parse_args(argv)
    if not (args.data / "index.csv").exists():
        print(f"no FEMTO data in {args.data} (index.csv missing)", file=sys.stderr)
        return 2
    results = evaluate(args.data)
    rel = (
        args.image.relative_to(args.results.parent)
        if args.image.is_relative_to(args.results.parent)
        else args.image
    )
    text = section_text(results, str(rel))
    print(text)
    if not args.no_write:
        plot(results, args.image)
        write_section(args.results, SECTION_TITLE, text)
        print(f"\nwrote {args.results} and {args.image}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
