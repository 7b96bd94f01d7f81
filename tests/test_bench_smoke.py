"""The benchmarks run: each on a tiny load, checking only that it reports figures."""

from __future__ import annotations

import math

import pytest
from bench.bench_runtime import run as run_runtime


@pytest.mark.slow
def test_runtime_bench_reports_every_figure() -> None:
    section = run_runtime(latency_s=2.0, load_s=1.0, repeat=1, gil_windows=2, sim_s=2.0)
    names = [m.name for m in section.measurements]
    for channels in ("1 channel", "10 channels", "50 channels"):
        assert f"latency p99, {channels}" in names
    assert "latency p99 from the CNC simulator, 3 channels over OPC UA" in names
    assert any(n.startswith("channels scored in real time on one CPU") for n in names)
    assert any(n.startswith("2 scoring workers vs 1") for n in names)
    for m in section.measurements:
        assert math.isfinite(m.ours), m.name
        assert m.meets_goal in (True, False, None)


@pytest.mark.slow
def test_images_bench_reports_every_figure() -> None:
    from bench.bench_images import run as run_images

    section = run_images(n_score=12, n_train=36)
    names = [m.name for m in section.measurements]
    assert any(n.startswith("images/s, ") and "200×200" in n for n in names)
    assert any(n.startswith("latency p99 per image") for n in names)
    assert any(n.startswith("training time, classical") for n in names)
    for m in section.measurements:
        assert math.isfinite(m.ours) and m.ours > 0, m.name
        assert m.meets_goal in (True, False, None)
