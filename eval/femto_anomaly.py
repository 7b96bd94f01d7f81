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
* Models: every anomaly model type of the product, built with ``build_model`` and
  default parameters: ``robust_zscore`` (max |z|), ``pca`` (SPE, 95 % variance),
  ``isolation_forest``, ``gmm`` (2 components) and ``river_drift`` (Half-Space Trees),
  seed 0 where there is one.
* Thresholds, states and health index: the product's calibration
  (``shopfloor.ml.calibration``, default settings): ``calibrate`` on the scores of the
  held-back healthy slice (alarm budget 1e-4, warning budget 1e-2, margin 0.25,
  hysteresis 0.1), then ``alert_states`` with k = 3 of n = 5 captures (a capture every
  10 s, so the hop is 10 s), and ``health_index`` for the plot. An alarm is state
  ``alarm``.
* Baseline: RMS of the capture (both axes), threshold mean + 3σ over the whole training
  part, through the same ``alert_states`` (3 of 5, hysteresis 0.1 of the distance from
  the mean to the threshold): the same persistence as the models.
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

from results_md import table_head, write_section  # noqa: E402

from recordings import read_femto  # noqa: E402
from shopfloor.features import FeatureSet  # noqa: E402
from shopfloor.ml.base import AnomalyModel, build_model  # noqa: E402
from shopfloor.ml.calibration import (  # noqa: E402
    Thresholds,
    alert_states,
    calibrate,
    health_index,
)
from shopfloor.ml.evaluation import (  # noqa: E402
    RunToFailureMetrics,
    alarm_episodes,
    run_to_failure_metrics,
)

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "femto"
COMMAND = ".venv/bin/python eval/femto_anomaly.py"
SECTION_TITLE = "## FEMTO run-to-failure: first alarm and lead time"

FS = 25600.0
HOP_NS = 10_000_000_000
"""One capture every 10 s."""
TRAIN_FRACTION = 1 / 3
FIT_FRACTION = 2 / 3
K_OF_N = (3, 5)
MODEL_TYPES = ("robust_zscore", "pca", "isolation_forest", "gmm", "river_drift")
BASELINE = "rms_3sigma"
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


@dataclass
class Detector:
    name: str
    score: np.ndarray
    thresholds: Thresholds
    states: np.ndarray = field(repr=False)
    metrics: RunToFailureMetrics

    @property
    def health(self) -> np.ndarray:
        """The product's health index (0-100) of each capture."""
        return health_index(self.score, self.thresholds)


@dataclass
class BearingResult:
    bearing: str
    times_s: np.ndarray
    n_train: int
    n_fit: int
    detectors: list[Detector]
    peak_g: np.ndarray = field(repr=False)
    """Largest |acceleration| of each capture (both axes)."""

    def detector(self, name: str) -> Detector:
        return next(d for d in self.detectors if d.name == name)


def capture_features(data: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``(n_captures, 2560, 2)`` → ``(n_captures, 2 × features)``."""
    windows = np.transpose(data, (0, 2, 1))  # (captures, axes, samples)
    out = FEATURES.compute(windows, FS)
    names = [f"{name}.{axis}" for axis in ("h", "v") for name in FEATURES.feature_names]
    matrix = np.stack(
        [out[name][:, a] for a in range(2) for name in FEATURES.feature_names], axis=-1
    )
    return matrix, names


def detector(name: str, score: np.ndarray, thresholds: Thresholds, times: np.ndarray) -> Detector:
    """States with the product's persistence and hysteresis, and the run's metrics."""
    t0_ns = np.round(times * 1e9).astype(np.int64)
    states = alert_states(score, t0_ns, HOP_NS, thresholds, k=K_OF_N[0], n=K_OF_N[1])
    return Detector(
        name, score, thresholds, states, run_to_failure_metrics(times, states == "alarm")
    )


def rms_baseline(rms: np.ndarray, n_train: int) -> Thresholds:
    """Mean + 3σ of the training part's RMS as warning and alarm threshold."""
    base = rms[:n_train]
    mean, limit = float(base.mean()), float(base.mean() + 3 * base.std())
    return Thresholds(baseline=mean, warning=limit, alarm=limit)


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
        detectors.append(detector(model_type, score, calibrate(score[n_fit:n_train]), times))
    rms = np.sqrt(np.mean(data**2, axis=(1, 2)))
    detectors.append(detector(BASELINE, rms, rms_baseline(rms, n_train), times))
    peak = np.abs(data).max(axis=(1, 2))
    return BearingResult(name, times, n_train, n_fit, detectors, peak)


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


def _ratio(lead_s: float, base_s: float) -> str:
    if base_s > 0:
        return f"{lead_s / base_s:.1f}×"
    return "∞" if lead_s > 0 else "-"


def _label(name: str) -> str:
    return "RMS mean+3σ (baseline)" if name == BASELINE else f"`{name}`"


def table_lines(results: list[BearingResult]) -> list[str]:
    head = (
        "| bearing | life | detector | alarm threshold | first alarm (episode starting "
        "after half life) | lead time | lead vs RMS 3σ | false alarm episodes in 1st half "
        "| first alarm of any kind |"
    )
    lines = table_head(head)
    for r in results:
        base = r.detector(BASELINE).metrics.lead_time_s
        for d in r.detectors:
            m = d.metrics
            ratio = "-" if d.name == BASELINE else _ratio(m.lead_time_s, base)
            lines.append(
                f"| {r.bearing} | {_fmt_time(m.life_s)} | {_label(d.name)} | "
                f"{d.thresholds.alarm:.3g} | {_fmt_time(m.first_alarm_s)} | "
                f"{_fmt_time(m.lead_time_s)} | {ratio} | {m.false_alarm_episodes} | "
                f"{_fmt_time(m.first_any_alarm_s)} |"
            )
    return lines


def goal_counts(results: list[BearingResult], name: str) -> tuple[int, int, int]:
    """Bearings with ≥ 2× the baseline's lead, with no early alarm, and with both."""
    wins = clean = both = 0
    for r in results:
        base = r.detector(BASELINE).metrics.lead_time_s
        m = r.detector(name).metrics
        win = m.lead_time_s > 0 and m.lead_time_s >= 2 * base
        ok = m.false_alarm_episodes == 0
        wins, clean, both = wins + win, clean + ok, both + (win and ok)
    return wins, clean, both


def goal_lines(results: list[BearingResult]) -> list[str]:
    lines = []
    n = len(results)
    for model_type in MODEL_TYPES:
        wins, clean, both = goal_counts(results, model_type)
        lines.append(
            f"* `{model_type}`: at least 2× the baseline's lead on {wins}/{n} bearings; "
            f"no alarm in the first half of life on {clean}/{n}; both on {both}/{n}."
        )
    return lines


def spike_lines(results: list[BearingResult]) -> list[str]:
    lines = []
    for r in results:
        held = r.peak_g[r.n_fit : r.n_train]
        fit = r.peak_g[: r.n_fit]
        lines.append(
            f"* {r.bearing}: captures above 20 g in the fit slice {int((fit > 20).sum())}/"
            f"{fit.size}, in the held-back slice {int((held > 20).sum())}/{held.size}."
        )
    return lines


def trimmed_alarms(result: BearingResult, name: str) -> tuple[int, int]:
    """Held-back scores beyond Q3 + 3 IQR, and alarm episodes in the training part when
    those are dropped before ``calibrate``: training part only, no test capture."""
    d = result.detector(name)
    held = d.score[result.n_fit : result.n_train]
    q1, q3 = np.nanquantile(held, [0.25, 0.75])
    keep = held <= q3 + 3 * (q3 - q1)
    trimmed = detector(
        name, d.score[: result.n_train], calibrate(held[keep]), result.times_s[: result.n_train]
    )
    return int((~keep).sum()), int(alarm_episodes(trimmed.states == "alarm").size)


def trimmed_lines(results: list[BearingResult]) -> list[str]:
    lines = []
    for r in results:
        if not (r.peak_g[r.n_fit : r.n_train] > 20).any():
            continue
        parts = []
        for model_type in MODEL_TYPES:
            dropped, alarmed = trimmed_alarms(r, model_type)
            parts.append(f"`{model_type}` drops {dropped}, {alarmed} alarm episode(s)")
        lines.append(
            f"* {r.bearing} (of {r.n_train - r.n_fit} held-back captures): "
            + "; ".join(parts)
            + "."
        )
    return lines


READING = [
    "Bearing1_2: the captures above 20 g are not a few outliers in a healthy baseline but "
    "a tenth of it, and they come in clusters (3 in 5 captures at times), so they are "
    "part of what this bearing's healthy state looks like to kurtosis, crest factor and "
    "the high bands; the product's calibration rightly puts the thresholds above them "
    "and, with 3-of-5 persistence, raises no false alarm. Dropping the extreme held-back "
    "scores before calibrating (a Tukey far-out fence, Q3 + 3 IQR, checked on the "
    "training part only, above) is not a principled fix: for `robust_zscore` nothing lies "
    "beyond the fence (its held-back scores are broadly spread, not a few outliers), and "
    "for `pca` the trimmed thresholds raise an alarm on the healthy training part itself, "
    "against a budget of one alarm in 10,000 captures. The product's calibration was "
    "left as it is. The failure then comes abruptly: no score leaves the healthy range before "
    "about 137 min, so no detector can give twice the RMS rule's 6.7 min.",
    "",
    "Bearing2_2: every feature-based detector and the RMS rule see a slow change that "
    "starts in the held-back slice (about 35 min), peaks near 80 min and recedes before "
    "the final rise. The calibration slice is thus not stationary; the protocol counts "
    "alarms on this change as false (first half of life), whatever its cause "
    "(running-in, temperature, an early defect). `isolation_forest` stays quiet through "
    "it and alarms with the RMS rule near the end; `river_drift`, whose score saturates "
    "once a capture leaves the baseline's half-spaces, never reaches its calibrated alarm "
    "level on this bearing nor on Bearing1_2.",
    "",
    "Bearing3_1: `pca` warns 2.8× earlier than the RMS rule with no early alarm; `gmm` "
    "rises just before half life (12× the lead, but its first episode starts 1 min "
    "before half life); `robust_zscore` alarms once at 4 min, on a transient inside the "
    "fit slice itself.",
    "",
    "Where it falls short: no model type meets the goal on most bearings. `pca` meets it "
    "on one of three (Bearing3_1); `gmm` gives at least twice the RMS rule's lead on two "
    "(Bearing2_2, Bearing3_1) but alarms in the first half of life on both. Three "
    "bearings are few, and each one falls short for its own, data-given reason above; "
    "nothing here was tuned after the figures were seen.",
]

COLOURS = {
    "robust_zscore": "tab:blue",
    "pca": "tab:green",
    "isolation_forest": "tab:purple",
    "gmm": "tab:orange",
    "river_drift": "tab:brown",
    BASELINE: "black",
}


def plot(results: list[BearingResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(7.5, 2.6 * len(results)), squeeze=False)
    for ax, r in zip(axes[:, 0], results, strict=True):
        minutes = r.times_s / 60
        for d in r.detectors:
            ax.plot(minutes, d.health, lw=0.7, color=COLOURS[d.name], label=d.name)
            if d.metrics.first_alarm_s is not None:
                ax.axvline(d.metrics.first_alarm_s / 60, color=COLOURS[d.name], ls=":", lw=0.8)
        ax.axhline(50.0, color="red", lw=0.8, label="alarm threshold")
        ax.axvspan(0, minutes[r.n_fit - 1], color="0.9", lw=0)
        ax.axvspan(minutes[r.n_fit - 1], minutes[r.n_train - 1], color="0.8", lw=0)
        ax.axvline(minutes[-1] / 2, color="0.5", ls="--", lw=0.8)
        ax.set_ylim(-2, 102)
        ax.set_title(
            f"{r.bearing}: health index (fit light grey, calibration dark grey, "
            "half life dashed, first alarm dotted)",
            fontsize=7,
        )
        ax.set_ylabel("health index", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, ncol=4, loc="lower left")
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
        "mean + 3σ RMS threshold computed by the same script? Every model type, its "
        "thresholds, states and health index are the product's own code "
        "(`build_model`, `shopfloor.ml.calibration`).",
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
        "warning); the last column says when that was.",
        "",
        "Captures with a peak above 20 g in the training part (the challenge's failure "
        "level, see the data README):",
        "",
        *spike_lines(results),
        "",
        "Outlier-trimmed calibration, training part only (held-back scores beyond "
        "Q3 + 3 IQR dropped before `calibrate`; alarm episodes the resulting thresholds "
        "raise on the training part, all of it healthy by the protocol):",
        "",
        *trimmed_lines(results),
        "",
        *READING,
        "",
        f"![Health index per bearing]({image})",
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
