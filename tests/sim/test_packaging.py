"""The packaging-line simulator: reproducible images, visible defects, counts, hot folder."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shopfloor.sim.packaging.images import DEFECTS, RenderParams, render_part
from shopfloor.sim.packaging.line import (
    HotFolderWriter,
    PackagingLine,
    PackagingSimConfig,
)
from shopfloor.sim.packaging.runner import run_line

STILL = RenderParams(
    position_jitter=0.0, rotation_deg=0.0, gain=(1.0, 1.0), gradient=0.0, noise=0.0
)


def still(defect: str, seed: int = 0) -> np.ndarray:
    return render_part(np.random.default_rng(seed), defect, size=128, params=STILL).astype(float)


def test_same_seed_same_images() -> None:
    a = [render_part(np.random.default_rng(7), d) for d in DEFECTS]
    b = [render_part(np.random.default_rng(7), d) for d in DEFECTS]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("defect", [d for d in DEFECTS if d != "good"])
def test_every_defect_changes_the_carton(defect: str) -> None:
    """With position, lighting and noise held still, a defect changes pixels a good part has."""
    good = still("good")
    changed = np.abs(still(defect) - good).max(axis=2) > 40
    assert changed.sum() > 30, f"{defect} changed {changed.sum()} pixels"


def test_torn_seal_darkens_the_seal_and_contamination_adds_dark_spots() -> None:
    good, torn = still("good"), still("torn_seal")
    seal = (slice(int(128 * (0.5 - 0.36)) + 1, int(128 * (0.5 - 0.30))), slice(32, 96))
    assert torn[seal].min() < good[seal].min() - 60
    dirty = still("contamination")
    carton = slice(30, 98)
    assert (dirty[carton, carton].mean(axis=2) < 80).sum() > (
        good[carton, carton].mean(axis=2) < 80
    ).sum()


def test_bad_arguments_name_themselves() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="defect must be one of"):
        render_part(rng, "crumpled")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size must be at least 32"):
        render_part(rng, "good", size=8)
    with pytest.raises(ValueError, match="unknown class"):
        PackagingSimConfig(defect_rates={"good": 1.0, "crumpled": 0.1})


def test_the_class_mix_follows_the_rates() -> None:
    config = PackagingSimConfig(seed=2, size=32, defect_rates={"good": 0.8, "dented": 0.2})
    line = PackagingLine(config)
    classes = [p.defect for p in line.parts(1000)]
    assert set(classes) == {"good", "dented"}
    assert 150 < classes.count("dented") < 250
    assert line.counts.by_class["dented"] == classes.count("dented")


def test_a_process_change_shifts_the_class_mix_from_the_next_part() -> None:
    line = PackagingLine(PackagingSimConfig(seed=2, size=32, defect_rates={"good": 1.0}))
    before = [p.defect for p in line.parts(50)]
    line.change_rates({"good": 0.5, "torn_seal": 0.5})
    after = [p.defect for p in line.parts(400)]
    assert set(before) == {"good"} and set(after) == {"good", "torn_seal"}
    assert 150 < after.count("torn_seal") < 250
    assert line.counts.by_class["torn_seal"] == after.count("torn_seal")
    with pytest.raises(ValueError, match="unknown class"):
        line.change_rates({"crumpled": 1.0})


def test_the_reject_gate_counts_right_and_wrong_rejects_once() -> None:
    line = PackagingLine(PackagingSimConfig(seed=4, size=32))
    parts = list(line.parts(200))
    bad = next(p for p in parts if p.defect != "good")
    good = next(p for p in parts if p.defect == "good")
    assert line.reject(bad.part_id) and line.reject(bad.part_id)  # twice: counted once
    assert not line.reject(good.part_id)
    counts = line.counts.as_dict()
    assert counts["rejected"] == 2 and counts["rejected_good"] == 1
    assert counts["escaped"] == counts["defective"] - 1
    with pytest.raises(KeyError):
        line.reject(10_000)


async def test_hot_folder_gets_whole_images_and_the_ground_truth(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    line = await run_line(PackagingSimConfig(seed=5, size=48, speed_parts_s=50), folder, parts=25)
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"part-{i:06d}.png" for i in range(1, 26)]
    for f in files:
        with Image.open(f) as image:
            assert image.size == (48, 48)
    with (tmp_path / "camera-labels.csv").open() as log:
        rows = list(csv.DictReader(log))
    assert [r["file"] for r in rows] == [f.name for f in files]
    assert sum(r["class"] != "good" for r in rows) == line.counts.defective


async def test_partial_writes_leave_a_half_file_for_a_moment(tmp_path: Path) -> None:
    writer = HotFolderWriter(tmp_path / "cam", partial=True, partial_pause_s=0.2)
    part = PackagingLine(PackagingSimConfig(seed=1, size=64)).next_part()
    task = asyncio.create_task(writer.write(part, "png"))
    await asyncio.sleep(0.1)
    target = tmp_path / "cam" / "part-000001.png"
    half = target.stat().st_size
    path = await task
    writer.close()
    assert 0 < half < path.stat().st_size
    with Image.open(path) as image:
        image.verify()


def test_command_runs_and_refuses_bad_options(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "shopfloor.sim.packaging", "--folder", str(tmp_path / "c")]
    done = subprocess.run(
        [*run, "--parts", "3", "--speed", "50"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"produced": 3' in done.stdout
    bad = subprocess.run(
        [*run, "--rates", "good=lots"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "--rates" in bad.stderr


@pytest.mark.integration
async def test_the_plc_serves_counts_and_fires_the_reject_gate(tmp_path: Path) -> None:
    """A Modbus client reads the counts and rejects a defective part through holding:10."""
    from pymodbus.client import AsyncModbusTcpClient

    from shopfloor.sim.packaging.plc import PackagingPlc

    config = PackagingSimConfig(seed=4, size=32, speed_parts_s=50)
    line = PackagingLine(config)
    parts = list(line.parts(30))
    bad = next(p for p in parts if p.defect != "good")
    async with PackagingPlc(line) as plc:
        await plc.sync(parts[-1].part_id)
        client = AsyncModbusTcpClient("127.0.0.1", port=plc.port)
        await client.connect()
        try:
            counts = (await client.read_input_registers(0, count=8)).registers
            assert counts[1] == 30 and counts[7] == parts[-1].part_id
            assert (await client.read_holding_registers(0, count=1)).registers == [3000]
            await client.write_registers(10, [0, 9_999])  # a part that was never made
            await plc.sync(parts[-1].part_id)
            await client.write_registers(10, [bad.part_id >> 16, bad.part_id & 0xFFFF])
            await plc.sync(parts[-1].part_id)
            counts = (await client.read_input_registers(0, count=8)).registers
            assert (await client.read_holding_registers(10, count=2)).registers == [0, 0]
        finally:
            client.close()
    assert counts[3] == 1 and counts[5] == 0  # one reject, of a defective part
    assert plc.unknown_rejects == 1 and line.counts.rejected_defective == 1
