"""The reject gate: defective parts' ids written in order, uncertain ones to review, none lost.

The gate reads ``classified`` events (as an image deployment publishes them) from an
in-process bus and writes through a :class:`WritebackService` to a stand-in PLC whose
request register the PLC takes and clears at once, as a reject gate does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from shopfloor.bus.memory import MemoryBus
from shopfloor.config import load_project
from shopfloor.connectors.writes import WriteValue
from shopfloor.errors import ConfigError, WriteNotVerified
from shopfloor.model import NS_PER_S, EventRecord, Provenance, SignalRef, topic_for
from shopfloor.model.deployment import Deployment, image_input
from shopfloor.runtime.config import RejectConfig
from shopfloor.runtime.writeback import (
    WritebackConnectorConfig,
    WritebackService,
    WriteRequest,
    WriteResult,
)
from shopfloor.runtime.writeback.rejects import RejectGate
from tests.runtime.test_deployments import until

CAM = "acme/p1/pack/line1/cell1/camera-1"
T0 = 1_800_000_000 * NS_PER_S
EVENTS = SignalRef(CAM, "qc.events")


class Plc:
    """A request register: each value is taken (and the register cleared) when ``clears``."""

    def __init__(self, clears: bool = False) -> None:
        self.taken: list[WriteValue] = []
        self.clears = clears

    async def write(self, address: str, value: WriteValue) -> object:
        self.taken.append(value)
        if self.clears:  # the PLC took it between the write and the read-back
            raise WriteNotVerified(f"wrote {value!r} but read back 0", read_back=0)
        return value


def classified(
    i: int, outcome: str, label: str, part: str | None, mode: str = "active"
) -> EventRecord:
    source = "deployment:qc" if mode == "active" else "shadow:qc"
    attributes = {"class": label, "outcome": outcome, "confidence": 0.9}
    if part is not None:
        attributes["part_id"] = part
    return EventRecord(
        EVENTS,
        T0 + i * NS_PER_S // 10,
        "classified",
        Provenance(source, "qc@1"),
        "",
        "info",
        attributes,
    )


def gate(plc: Plc, *, queue: bool = True, **reject: Any) -> tuple[MemoryBus, RejectGate]:
    allow = WritebackConnectorConfig.model_validate(
        {
            "connector": "plc",
            "min_interval_s": 0,
            "targets": [{"address": "reject_request", "type": "UInt32", "queue": queue, "rest": 0}],
        }
    )
    bus = MemoryBus()
    writeback = WritebackService([allow], {"plc": plc})
    config = RejectConfig.model_validate(
        {"deployment": "qc", "connector": "plc", "address": "reject_request", **reject}
    )
    return bus, RejectGate([config], bus, writeback, clock=lambda: T0 + 5 * NS_PER_S)


def deployment(mode: str = "active") -> Deployment:
    return Deployment("qc", CAM, "carton", 1, mode, image_input("camera"))  # type: ignore[arg-type]


@pytest.mark.parametrize("clears", [False, True])
async def test_defective_parts_are_rejected_in_order(clears: bool) -> None:
    plc = Plc(clears=clears)
    bus, rejects = gate(plc)
    outcomes: list[WriteResult] = []

    async def seen(result: WriteResult) -> None:
        outcomes.append(result)

    rejects.writeback.listeners.append(seen)
    await bus.start()
    await rejects.start()
    await rejects.watch_deployments([deployment()])
    parts = [
        classified(0, "good", "good", "1"),
        classified(1, "defective", "dented", "000002"),
        classified(2, "defective", "torn_seal", "3"),
        classified(3, "uncertain", "uncertain", "4"),
        classified(4, "defective", "dented", None),
        classified(5, "defective", "dented", "6"),
        classified(5, "defective", "dented", "6"),  # a redelivery
    ]
    for record in parts:
        await bus.publish(topic_for(record.signal), record)
    await until(lambda: len(outcomes) == 3, "three rejects written")
    assert plc.taken == [2, 3, 6]  # in order, each once, as numbers
    assert all(r.verified for r in outcomes)
    counts = rejects.health()["watching"][f"qc on {CAM}"]
    assert counts["rejected"] == 3 and counts["review"] == 1 and counts["no_part_id"] == 1
    assert rejects.health()["state"] == "degraded"  # the part without an id
    await rejects.stop()
    await bus.close()


async def test_uncertain_rejected_when_configured_and_old_parts_skipped() -> None:
    plc = Plc()
    bus, rejects = gate(plc, uncertain="reject", classes=["torn_seal"], max_age_s=3)
    await bus.start()
    await rejects.start()
    await rejects.watch_deployments([deployment()])
    for record in [
        classified(1, "defective", "dented", "1"),  # not a rejected class
        classified(30, "uncertain", "uncertain", "2"),
        classified(31, "defective", "torn_seal", "3"),
        classified(0, "defective", "torn_seal", "4"),  # 5 s old: past the gate
    ]:
        await bus.publish(topic_for(record.signal), record)
    await until(lambda: len(plc.taken) == 2, "two rejects")
    await until(
        lambda: rejects.health()["watching"][f"qc on {CAM}"]["too_late"] == 1, "the late one"
    )
    assert plc.taken == [2, 3]
    await rejects.stop()
    await bus.close()


async def test_shadow_deployments_never_reject() -> None:
    plc = Plc()
    bus, rejects = gate(plc)
    await bus.start()
    await rejects.start()
    await rejects.watch_deployments([deployment("shadow")])
    assert "shadow" in rejects.health()["waiting"]["qc"]
    # even events of the same name marked as a shadow's are skipped by an active watch
    await rejects.watch_deployments([deployment()])
    record = classified(1, "defective", "dented", "7", mode="shadow")
    await bus.publish(topic_for(record.signal), record)
    await asyncio.sleep(0.1)
    assert plc.taken == []
    await rejects.stop()
    await bus.close()


async def test_a_full_queue_gives_up_the_oldest_as_a_failure() -> None:
    allow = WritebackConnectorConfig.model_validate(
        {
            "connector": "plc",
            "min_interval_s": 60,
            "targets": [{"address": "r", "type": "UInt32", "queue": True, "max_queued": 2}],
        }
    )
    plc = Plc()
    results: list[WriteResult] = []

    async def seen(result: WriteResult) -> None:
        results.append(result)

    service = WritebackService([allow], {"plc": plc}, on_result=seen)
    await service.start()
    for value in (1, 2, 3, 4):
        service.request(WriteRequest("reject:qc", None, CAM, "raised", "plc", "r", value, T0))
        await asyncio.sleep(0.01)
    await until(lambda: len(results) >= 2, "the first write and one given up")
    assert plc.taken == [1]
    lost = [r for r in results if not r.verified]
    assert [r.request.value for r in lost] == [2] and "given up" in str(lost[0].error)
    assert service.health()["targets"]["plc r"]["pending"] == 2
    await service.stop()


def test_validate_says_what_is_wrong_with_a_reject(tmp_path: Any) -> None:
    (tmp_path / "factory.yaml").write_text(
        f"""
project: {{name: rejects}}
assets:
  - path: {CAM}
    signals: [{{name: camera, kind: image}}]
connectors:
  - {{name: plc, type: modbus, host: 127.0.0.1, port: 5020}}
writeback:
  - connector: plc
    targets:
      - {{address: "holding:10", type: UInt32}}
      - {{address: "coil:3", type: Boolean, queue: true}}
deployments:
  - {{name: qc, model: carton, mode: active, assets: [{CAM}]}}
rejects:
  - {{deployment: qc, connector: plc, address: "holding:10"}}
  - {{deployment: qc, connector: plc, address: "coil:3"}}
  - {{deployment: qx, connector: plc, address: "holding:11"}}
"""
    )
    with pytest.raises(ConfigError) as err:
        load_project(tmp_path)
    text = "\n".join(err.value.issues)
    assert "factory.yaml:16: rejects[0].address: 'holding:10' of connector 'plc' keeps only" in text
    assert "factory.yaml:17: rejects[1].address: it cannot take a part id" in text
    assert "rejects[2].address: 'holding:11' is not in the writeback allow-list" in text
    assert "rejects[2].deployment: no deployment 'qx'" in text


def test_the_documented_packaging_line_validates(tmp_path: Any) -> None:
    """docs/packaging-line.md's project file is a valid project with one reject gate."""
    doc = (Path(__file__).parents[2] / "docs" / "packaging-line.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "factory.yaml").write_text(block)
    project = load_project(tmp_path)
    (reject,) = project.config.rejects
    assert reject.deployment == "carton-qc" and reject.uncertain == "review"
    (rule,) = project.config.alert_rules
    assert rule.kind == "defect_rate" and rule.output == "state"
