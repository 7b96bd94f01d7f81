"""Windows aligned to the capture: short captures taken now and then get their windows."""

from __future__ import annotations

import numpy as np

from shopfloor.pipelines import Pipeline

from .test_pipeline import ASSET, T0, S, block, cfg, frames, tone

# 0.1 s captures every 10 s, starting 0.37 s after a whole second (off the 0.1 s grid)
CAPTURES = [block(T0 + 370_000_000 + i * 10 * S, tone(100, f=50.0)) for i in range(5)]


def test_epoch_aligned_windows_miss_captures_as_long_as_the_window() -> None:
    p = Pipeline(cfg(window={"length_s": 0.1}), ASSET)
    assert len(frames(p, list(CAPTURES), one_by_one=True)) == 0


def test_capture_aligned_windows_start_at_each_capture() -> None:
    p = Pipeline(cfg(window={"length_s": 0.1, "align": "capture"}), ASSET)
    f = frames(p, list(CAPTURES), one_by_one=True)
    assert list(f.t0_ns) == [b.t0_ns for b in CAPTURES]
    assert np.allclose(f.columns["rms"], 1 / np.sqrt(2), rtol=1e-2)
    same = frames(p, list(CAPTURES), one_by_one=False)
    np.testing.assert_array_equal(same.t0_ns, f.t0_ns)
    np.testing.assert_array_equal(same.columns["rms"], f.columns["rms"])


def test_capture_alignment_with_a_hop_and_in_the_hash() -> None:
    long_captures = [block(T0 + 370_000_000 + i * 10 * S, tone(1000)) for i in range(2)]
    p = Pipeline(cfg(window={"length_s": 0.4, "hop_s": 0.3, "align": "capture"}), ASSET)
    f = frames(p, long_captures, one_by_one=True)
    starts = [T0 + 370_000_000 + k * 300_000_000 for k in range(3)]
    assert list(f.t0_ns) == [*starts, *(t + 10 * S for t in starts)]
    epoch = Pipeline(cfg(window={"length_s": 0.4, "hop_s": 0.3}), ASSET)
    assert p.spec_hash != epoch.spec_hash
    assert "align" not in epoch.spec()  # fitted states of epoch-aligned pipelines stay valid
