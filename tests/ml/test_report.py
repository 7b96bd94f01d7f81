"""The report of a training run: JSON and one self-contained HTML page."""

from __future__ import annotations

import doctest
import json
import re

import numpy as np
import pytest

import shopfloor.ml.report as report_module
from shopfloor.errors import ModelError
from shopfloor.ml.report import Spectra, TrainingReport, write_report


def full_report() -> TrainingReport:
    t = np.arange(0.0, 3600.0, 60.0)
    health = 100 - np.linspace(0, 70, t.size)
    health[3] = np.nan
    f = np.linspace(0, 1000, 101)
    return TrainingReport(
        name="spindle <1>",
        model_type="pca",
        metrics={"auroc": 0.97, "lead_time_s": np.float64(1200.0), "missing": float("nan")},
        params={"n_components": 0.95},
        details={"split": ["first third", "rest"]},
        times_s=t,
        health=health,
        thresholds={"warning": 60.0, "alarm": 40.0},
        contributions={"rms": 3.2, "kurtosis": -1.1, "crest_factor": 0.4},
        spectra=Spectra(f, np.ones(101), 1 + np.exp(-((f - 300) ** 2) / 50), unit="g"),
    )


def test_examples_run():
    result = doctest.testmod(report_module)
    assert result.attempted > 0 and result.failed == 0


def test_html_is_self_contained_and_holds_every_plot():
    page = full_report().to_html()
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"https?:|//|ftp:|url\(", text)
    assert "<script" not in page and "<link" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    assert page.count("<img") == 3
    import base64

    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "spindle &lt;1&gt;" in page


def test_json_is_strict_and_complete():
    data = json.loads(full_report().to_json())
    assert data["metrics"] == {"auroc": 0.97, "lead_time_s": 1200.0, "missing": None}
    assert data["series"]["health index"][3] is None
    assert len(data["series"]["times_s"]) == 60
    assert data["spectra"]["unit"] == "g"


def test_a_report_without_series_has_no_image():
    page = TrainingReport(name="m", model_type="robust_zscore", metrics={"a": 1}).to_html()
    assert "<img" not in page and "<table>" in page


def test_write_report(tmp_path):
    json_path, html_path = write_report(full_report(), tmp_path / "out", stem="run1")
    assert json.loads(json_path.read_text())["name"] == "spindle <1>"
    assert html_path.read_text().startswith("<!DOCTYPE html>")


def test_bad_series_are_refused():
    with pytest.raises(ModelError, match="together"):
        TrainingReport(name="m", model_type="pca", times_s=np.arange(3.0))
    with pytest.raises(ModelError, match="shape"):
        TrainingReport(name="m", model_type="pca", times_s=np.arange(3.0), health=np.ones(2))
    with pytest.raises(ModelError, match="spectra"):
        Spectra(np.arange(3.0), np.ones(3), np.ones(4))


def test_an_evaluation_report_says_so():
    report = TrainingReport(name="spindle@2", model_type="pca", kind="evaluation")
    assert "<title>Evaluation report: spindle@2 (pca)</title>" in report.to_html()
    assert json.loads(report.to_json())["kind"] == "evaluation"
