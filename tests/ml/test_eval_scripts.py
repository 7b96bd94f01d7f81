"""The ``eval/`` scripts on small subsets of the public recordings (protocol smoke tests).

The full runs and their figures are in docs/results.md; here each script runs its
protocol on a few records and the outputs are checked for shape and sense.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EVAL = Path(__file__).resolve().parents[2] / "eval"


def load_script(name: str):
    sys.path.insert(0, str(EVAL))
    spec = importlib.util.spec_from_file_location(f"eval_{name}", EVAL / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cwru_anomaly_on_a_subset(shared_data):
    cwru = load_script("cwru_anomaly")
    files = [
        "normal_0_97.mat",
        "12k_Drive_End_IR007_0_105.mat",
        "12k_Drive_End_OR007@6_0_130.mat",
        "12k_Drive_End_B007_0_118.mat",
        "12k_Drive_End_IR021_0_209.mat",
        "12k_Drive_End_OR021@6_0_234.mat",
        "12k_Drive_End_B021_0_222.mat",
    ]
    records = cwru.load(shared_data / "cwru", files)
    normal = next(r for r in records if r.meta.fault == "normal")
    assert normal.signal.size == 243938 // 4 + 1  # resampled 48 → 12 kHz
    detections = cwru.detect(records)
    assert {d.model_type for d in detections} == set(cwru.ANOMALY_TYPES)
    assert all(d.overall.auroc > 0.9 for d in detections)
    transfers, random_split = cwru.transfer(records)
    assert [(t.train, t.test) for t in transfers] == [("0.007", "0.021"), ("0.021", "0.007")]
    assert all(t.metrics.accuracy >= 0.9 for t in transfers)
    assert all(d.alarm_share["IR"] > 0.9 for d in detections)
    assert cwru.leave_one_size_out(records) == []  # two sizes only
    table = cwru.evidence(records)
    assert table[("IR", 0.007)]["bpfi"] > 3  # a clear inner-race line
    text = cwru.section_text(
        detections,
        transfers,
        random_split,
        {"across_sizes": 0.5, "random_split": 1.0},
        [],
        table,
    )
    assert text.startswith(cwru.SECTION_TITLE)


@pytest.mark.slow
def test_femto_on_the_shortest_run(shared_data):
    femto = load_script("femto_anomaly")
    (result,) = femto.evaluate(shared_data / "femto", ["Bearing3_1"])
    assert result.times_s.size == 515 and result.n_train == 172
    names = [d.name for d in result.detectors]
    assert names == [*femto.MODEL_TYPES, "rms_3sigma"]
    assert set(femto.MODEL_TYPES) == {
        "robust_zscore",
        "pca",
        "isolation_forest",
        "gmm",
        "river_drift",
    }
    for d in result.detectors:
        assert d.metrics.failure_s == 5140.0
        assert d.metrics.first_alarm_s is not None  # this run ends in a clear RMS rise
    text = femto.section_text([result], "img/x.png")
    assert "Bearing3_1" in text


def test_femto_detectors_use_the_product_states():
    femto = load_script("femto_anomaly")
    import numpy as np

    from shopfloor.ml.calibration import Thresholds

    times = np.arange(13) * 10.0
    score = np.array([5, 0, 5, 0, 5, 5, 0, 0, 0, 0, 0, 0, 5], dtype=float)
    d = femto.detector("x", score, Thresholds(0.0, 1.0, 1.0), times)
    # 3 of 5 raise at the 5th capture; a score of 0 is below the clear level
    assert d.states.tolist()[:6] == ["normal"] * 4 + ["alarm", "alarm"]
    assert d.states[6] == "normal"
    assert d.health[0] == 0.0 and d.health[1] == 100.0
    base = femto.rms_baseline(np.r_[np.tile([1.0, 2.0], 5), 9.0], 10)
    assert (base.baseline, base.warning, base.alarm) == (1.5, 3.0, 3.0)


def test_cnc_mill_on_four_experiments(shared_data):
    cnc = load_script("cnc_mill")
    experiments, names = cnc.load(shared_data / "cnc_mill", [1, 2, 6, 8])
    assert [e.label for e in experiments] == ["unworn", "unworn", "worn", "worn"]
    assert all(e.x.shape[1] == len(names) for e in experiments)
    assert all(e.stages.shape == (6, len(cnc.STAGE_FEATURES)) for e in experiments)
    assert [(u.number, w.number) for u, w in cnc.matched_pairs(experiments)] == [(1, 6), (2, 8)]
    for feature_set in cnc.FEATURE_SETS:
        result = cnc.evaluate(experiments, feature_set, "gradient_boosting")
        assert len(result.per_experiment) == 4
        rows = sum(e.rows(feature_set).shape[0] for e in experiments)
        assert sum(map(sum, result.rows.confusion)) == rows
    text = cnc.section_text(experiments, [result])
    assert text.startswith(cnc.SECTION_TITLE) and "1/6, 2/8" in text


@pytest.mark.slow
def test_neu_classify_on_a_subset(shared_data, tmp_path):
    import csv
    import shutil

    neu = load_script("neu_classify")
    rows = list(csv.DictReader((shared_data / "neu" / "labels.csv").read_text().splitlines()))
    subset = tmp_path / "neu"
    kept = []
    for cls in sorted({r["class"] for r in rows}):
        for r in [r for r in rows if r["class"] == cls][:10]:
            (subset / r["file"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared_data / "neu" / r["file"], subset / r["file"])
            kept.append(f"{r['file']},{cls}")
    (subset / "labels.csv").write_text("file,class\n" + "\n".join(kept) + "\n")
    results = tmp_path / "results.md"
    assert neu.main(["--data", str(subset), "--model", "classical", "--results", str(results)]) == 0
    text = results.read_text()
    assert neu.SECTION_TITLE in text and "| `classical` |" in text
    assert (tmp_path / "img" / "neu_confusion_classical.png").stat().st_size > 1000


@pytest.mark.slow
def test_packaging_classify_on_a_small_batch(tmp_path):
    packaging = load_script("packaging_classify")
    results = tmp_path / "results.md"
    assert packaging.main(["--parts", "60", "--results", str(results)]) == 0
    text = results.read_text()
    assert packaging.SECTION_TITLE in text
    assert "| classical, spatial + logistic |" in text and "| good_only, spatial |" in text
    assert (tmp_path / "img" / "packaging_confusion_2.png").exists()
