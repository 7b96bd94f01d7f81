"""`make demo` runs both use cases on one platform; `shopfloor demo --headless` checks them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shopfloor.config import load_project
from shopfloor.model import EventRecord, Provenance, Signal, SignalKind, SignalRef, now_ns
from shopfloor.model.alert import raise_alert
from shopfloor.services.demo import (
    CLASSIFIER,
    DEFECT_RULE,
    LINE_ASSET,
    MODEL,
    PIPELINE,
    RULE,
    Check,
    UseCaseOutcome,
    demo_project_text,
)
from shopfloor.services.demo.common import add_items
from shopfloor.services.demo.groundtruth import reconcile
from shopfloor.services.demo.packaging import PACKAGING_CONFIG
from shopfloor.services.demo.summary import CodeTrace, code_lines, measure_reuse, summary_rows
from shopfloor.sim.packaging.line import HotFolderWriter, PackagingLine, PackagingSimConfig
from shopfloor.store import DuckDBStore

S = 1_000_000_000


@pytest.mark.slow
@pytest.mark.integration
def test_headless_demo_meets_the_checks_of_both_use_cases(tmp_path: Path) -> None:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    if "PYTHONPATH" in os.environ:  # the tree under test, not an installed copy
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    folder = tmp_path / "demo"
    command = [sys.executable, "-m", "shopfloor.cli.main", "demo", "--headless"]
    shorter = ["--line-speed", "10", "--healthy-parts", "100", "--fault-parts", "100"]
    done = subprocess.run(
        [*command, "--folder", str(folder), *shorter],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=env,
    )
    out = done.stdout
    assert done.returncode == 0, out[-6000:] + done.stderr[-3000:]
    assert "FAIL" not in out
    for check in (
        "alarm after the injected fault",
        "no alarm before the fault",
        "alarm written back to the machine",
        "classifier >= 95% on the simulator's parts",
        "rejects reconciled",
        "defect-rate alert after the fault",
        "no defect-rate alert before the fault",
    ):
        assert f": {check}:" in out, check
    assert "time to first trusted alert" in out and "use case 2's own lines" in out
    assert (folder / "health_trend.png").stat().st_size > 10_000
    assert (folder / "ground_truth.json").exists() and (folder / "camera-labels.csv").exists()


def test_the_demo_project_holds_both_use_cases_and_writes_only_what_is_allowed(
    tmp_path: Path,
) -> None:
    (tmp_path / "factory.yaml").write_text(demo_project_text(4840, plc_port=5020), encoding="utf-8")
    config = load_project(tmp_path).config
    rules = {r.name: r for r in config.alert_rules}
    assert (rules[RULE].deployment, rules[RULE].output) == (MODEL, "state")
    assert (rules[DEFECT_RULE].kind, rules[DEFECT_RULE].deployment) == ("defect_rate", CLASSIFIER)
    allowed = {(w.connector, t.address) for w in config.writeback for t in w.targets}
    asked = {(w.connector, w.address) for r in config.alert_rules for w in r.writeback}
    assert asked <= allowed
    (reject,) = config.rejects
    assert (reject.deployment, reject.connector, reject.address) in {
        (CLASSIFIER, c, a) for c, a in allowed
    }
    assert [(m.name, m.pipeline) for m in config.models] == [(MODEL, PIPELINE)]
    connectors = {c.name: c.type for c in config.connectors}
    assert connectors == {"cnc": "opcua", "line1-camera": "hotfolder", "line1-plc": "modbus"}
    (camera,) = [a for a in config.assets if a.path == LINE_ASSET]
    assert {s.name: s.kind for s in camera.signals}["camera"] == SignalKind.IMAGE


def test_without_plc_port_the_project_is_use_case_1_alone(tmp_path: Path) -> None:
    (tmp_path / "factory.yaml").write_text(demo_project_text(4840), encoding="utf-8")
    config = load_project(tmp_path).config
    assert [c.name for c in config.connectors] == ["cnc"]
    assert [r.name for r in config.alert_rules] == [RULE]


def test_line_only_leaves_the_classifier_and_its_rules_out(tmp_path: Path) -> None:
    text = demo_project_text(4840, plc_port=5020, line_only=True)
    (tmp_path / "factory.yaml").write_text(text, encoding="utf-8")
    config = load_project(tmp_path).config
    assert len(config.connectors) == 3 and [r.name for r in config.alert_rules] == [RULE]
    assert [w.connector for w in config.writeback] == ["cnc"] and not config.rejects


def test_items_join_a_flow_list_or_the_head_of_a_block_list() -> None:
    text = "a: []   # none yet\nb:\n  - x\nc: 1\n"
    text = add_items(text, "a", "  - one")
    text = add_items(text, "b", "  - two\n")
    assert text == "a:\n  - one\nb:\n  - two\n  - x\nc: 1\n"
    assert add_items(text, "d", "  - three").endswith("c: 1\n\nd:\n  - three\n")


def test_a_use_case_that_could_not_run_fails_with_its_reason() -> None:
    ran = UseCaseOutcome("one", false_alarms=0, checks=[Check("alarm", True, "3 s")])
    missing = UseCaseOutcome("two", available=False, reason="no image models here")
    assert ran.ok and not missing.ok
    assert missing.failed() == [Check("two ran", False, "no image models here")]
    assert not UseCaseOutcome("empty").ok  # no checks: nothing was shown
    header, *rows = summary_rows([ran, missing])
    assert header == ("", "one", "two")
    table = {row[0]: row[1:] for row in rows}
    assert table["false alarms"] == ("0", "not available")
    assert table["checks"] == ("all met", "FAILED: not available (see below)")
    failing = UseCaseOutcome("three", checks=[Check("accuracy", False, "80 %")])
    assert summary_rows([failing])[-1] == ("checks", "FAILED: accuracy")


def test_the_trace_sees_modules_run_here_and_in_threads_started_while_on() -> None:
    from shopfloor.model import paths

    trace = CodeTrace()
    trace.start()
    try:
        worker = threading.Thread(target=paths.validate_asset_path, args=(LINE_ASSET,))
        worker.start()
        worker.join()
        code_lines("x")
    finally:
        trace.stop()
    ran = trace.modules()
    assert "shopfloor.model.paths" in ran
    assert "shopfloor.services.demo.summary" not in ran  # the demo is not the platform
    assert "shopfloor.model.paths" not in trace.modules(leave_out=["shopfloor.model"])
    kept = trace.modules(leave_out=["shopfloor.model"], keep=["shopfloor.model.paths"])
    assert "shopfloor.model.paths" in kept


def test_reuse_counts_own_lines_against_the_platform_code_that_ran(tmp_path: Path) -> None:
    from shopfloor.model import paths

    code = tmp_path / "usecase.py"
    code.write_text("# a comment\n\nimport os\nprint(os.name)\n", encoding="utf-8")
    trace = CodeTrace()
    trace.start()
    try:
        paths.validate_asset_path(LINE_ASSET)
    finally:
        trace.stop()
    reuse = measure_reuse(
        trace,
        config=PACKAGING_CONFIG,
        code=code,
        images=["shopfloor.model.paths"],
        leave_out=[],
        left_out="nothing left out",
    )
    assert reuse.code_lines == 2
    assert 20 < reuse.config_lines <= len(PACKAGING_CONFIG.splitlines())
    assert "shopfloor.model.paths" in reuse.added
    assert reuse.platform["shopfloor.model.paths"] > 5
    assert "nothing left out" in reuse.lines()[-1]
    ran = UseCaseOutcome("one", checks=[Check("alarm", True, "3 s")])
    table = {row[0]: row[1:] for row in summary_rows([ran, ran], reuse)}
    assert table["own lines vs platform reused"] == (
        "(the platform's first use)",
        f"{reuse.own_lines} ({reuse.config_lines} configuration + 2 code) vs 0 in 0 modules",
    )


async def test_reconcile_joins_classifications_with_the_ground_truth_and_the_gate(
    tmp_path: Path,
) -> None:
    config = PackagingSimConfig(seed=5, size=32, defect_rates={"good": 0.7, "dented": 0.3})
    line = PackagingLine(config, start_ns=now_ns() - 60 * S)  # made a minute ago
    writer = HotFolderWriter(tmp_path / "camera")
    parts = list(line.parts(12))
    try:
        for part in parts:
            await writer.write(part, "png")
    finally:
        writer.close()
    events = SignalRef(LINE_ASSET, f"{CLASSIFIER}.events")
    store = DuckDBStore(tmp_path / "s.duckdb")
    await store.open()
    try:
        await store.register_signals(LINE_ASSET, [Signal(name=events.name, kind=SignalKind.EVENT)])
        said = {p.part_id: p.defect for p in parts}
        said[parts[0].part_id] = "dented" if parts[0].defect == "good" else "good"  # one wrong
        records = []
        for part in parts[:-1]:  # the last part was never classified
            verdict = "good" if said[part.part_id] == "good" else "defective"
            if verdict == "defective":
                line.reject(part.part_id)
            records.append(
                EventRecord(
                    events,
                    part.t_ns,
                    "classified",
                    Provenance(f"deployment:{CLASSIFIER}"),
                    attributes={
                        "part_id": str(part.part_id),
                        "class": said[part.part_id],
                        "outcome": verdict,
                    },
                )
            )
        await store.write(records)
        onset = parts[6]
        for at in (parts[2].t_ns, onset.t_ns + S):
            alert, change = raise_alert(
                None, rule=DEFECT_RULE, asset=LINE_ASSET, severity="alarm", message="m", at_ns=at
            )
            await store.save_alert(alert, [change])
        plc = type("Plc", (), {"unknown_rejects": 0})()
        result = await reconcile(
            store,
            line,
            plc,
            labels=tmp_path / "camera-labels.csv",
            events=events,
            onset_part=onset.part_id,
            start_ns=parts[0].t_ns,
            seen_s={1: 5.0, 2: 9.0},
        )
    finally:
        await store.close()
    assert (result.produced, result.scored, result.correct) == (12, 11, 10)
    assert result.rejected == result.classified_defective
    outcome = result.outcome()
    checks = {c.name: c.ok for c in outcome.checks}
    assert checks == {
        "classifier >= 95% on the simulator's parts": False,
        "rejects reconciled": False,  # one part never classified
        "defect-rate alert after the fault": True,
        "no defect-rate alert before the fault": False,
    }
    assert outcome.first_alert_wall_s == 9.0 and outcome.false_alarms == 1
    assert outcome.detection_delay_s == pytest.approx(1.0)
    assert sum(result.confusion["good"].values()) + sum(result.confusion["dented"].values()) == 12
