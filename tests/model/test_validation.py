"""Record validation, the one function every input path calls."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import shopfloor.model
from shopfloor.model import (
    EventRecord,
    Provenance,
    RecordValidator,
    ScalarBatch,
    Signal,
    SignalRef,
    validate_records,
)
from shopfloor.model.validation import ValidationLimits

REF = SignalRef("a/b/c/d/e/f", "speed")
EVENTS = SignalRef("a/b/c/d/e/f", "program")
T0 = 1_700_000_000 * 10**9
PROV = Provenance("ingest", "data.csv#value")


def validator() -> RecordValidator:
    signals = {
        REF: Signal(name="speed", valid_range=(0.0, 100.0)),
        EVENTS: Signal(name="program", kind="event"),
    }
    return RecordValidator(signals.get, ValidationLimits(), clock=lambda: T0)


def test_rejections_and_repeats_name_their_line() -> None:
    ts = [T0, T0 + 1, T0 + 1, T0 + 1, T0 + 2]
    values = [1.0, 200.0, 2.0, 3.0, 2.0]
    batch = ScalarBatch.of(REF, ts, values, PROV)
    lines = np.array([10, 11, 12, 13, 14])
    checked = validate_records(
        [batch], validator(), locate=lambda index, row: f"data.csv:{lines[row]}"
    )
    report = checked.report
    assert report.offered == 5 and report.rejected == 2 and report.conflicts == 1
    assert report.reasons == {"out_of_range": 1, "conflict": 1}
    by_category = {d.detail["category"]: d.location for d in checked.letters}
    assert by_category == {"out_of_range": "data.csv:11", "conflict": "data.csv:13"}
    (accepted,) = checked.accepted
    assert isinstance(accepted, ScalarBatch)
    assert accepted.values.tolist() == [1.0, 2.0, 2.0]
    assert checked.rejected_by_signal == {REF: 2}


def test_identical_repeat_is_a_duplicate_different_is_a_conflict() -> None:
    one = EventRecord(EVENTS, T0, "change", PROV, "P1")
    same = EventRecord(EVENTS, T0, "change", PROV, "P1")
    other = EventRecord(EVENTS, T0, "change", PROV, "P2")
    checked = validate_records([one, same, other], validator())
    assert checked.accepted == [one]
    assert checked.report.duplicates == 1 and checked.report.conflicts == 1
    assert checked.report.offered == 3 and len(checked.letters) == 1
    kept = validate_records([one, same, other], validator(), keep_repeats=True)
    assert kept.accepted == [one, same, other] and not kept.letters


def test_unknown_and_wrong_kind_by_category() -> None:
    unknown = ScalarBatch.of(SignalRef("a/b/c/d/e/f", "nope"), [T0], [1.0], PROV)
    wrong = ScalarBatch.of(EVENTS, [T0], [1.0], PROV)
    checked = validate_records([unknown, wrong], validator())
    assert checked.report.reasons == {"unknown_signal": 1, "wrong_kind": 1}


def test_signal_does_not_import_asset() -> None:
    """model/signal.py and model/asset.py do not import each other both ways."""
    folder = Path(shopfloor.model.__file__).parent
    tree = ast.parse((folder / "signal.py").read_text())
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert "shopfloor.model.asset" not in imported
