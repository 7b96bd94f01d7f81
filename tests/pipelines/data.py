"""Machine data for pipeline tests, from the simulator's physical model (offline)."""

from __future__ import annotations

import numpy as np

from shopfloor.model import (
    Asset,
    BearingGeometry,
    Provenance,
    ScalarBatch,
    Signal,
    SignalRef,
    WaveformBlock,
    to_ns,
)
from shopfloor.sim.cnc import CncMachineModel, CncSimConfig

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"
START = to_ns("2024-05-06T06:00:00Z")


def asset(bearing: BearingGeometry | None = None) -> Asset:
    model = CncMachineModel(CncSimConfig(), start_ns=START)
    return Asset(
        path=ASSET,
        bearing=bearing or model.config.bearing,
        signals=[
            Signal(
                name="spindle_accel",
                kind="waveform",
                unit="g",
                sample_rate_hz=25600,
                channels=["x", "y", "z"],
            ),
            Signal(name="spindle_speed", unit="rpm"),
            Signal(name="program_state", unit=""),
            Signal(name="spindle_temperature", unit="degC"),
        ],
    )


def machine_data(
    seconds: float, *, fault: str = "none", onset_s: float = 0.0, start_ns: int = START
) -> tuple[list[WaveformBlock], list[ScalarBatch]]:
    """Blocks of the accelerometer and 10 Hz speed/state samples, in 100 ms batches."""
    config = CncSimConfig.model_validate(
        {"fault": {"type": fault, "onset": onset_s, "growth_s": 30.0}}
    )
    model = CncMachineModel(config, start_ns=start_ns)
    blocks = []
    for block in model.blocks(start_ns, seconds):
        blocks.append(
            WaveformBlock(
                SignalRef(ASSET, "spindle_accel"),
                block.t0_ns,
                block.sample_rate_hz,
                block.data,
                "g",
                Provenance("sim"),
            )
        )
    ts = start_ns + np.arange(int(seconds * 10), dtype=np.int64) * 100_000_000
    state = model.state_at(ts)
    scalars = []
    for i in range(0, ts.shape[0], 1):
        part = slice(i, i + 1)
        scalars.append(
            ScalarBatch.of(
                SignalRef(ASSET, "spindle_speed"),
                ts[part],
                state.speed_rpm[part],
                Provenance("sim"),
            )
        )
        scalars.append(
            ScalarBatch.of(
                SignalRef(ASSET, "program_state"),
                ts[part],
                state.state[part].astype(float),
                Provenance("sim"),
            )
        )
    return blocks, scalars


def arrival_order(blocks: list[WaveformBlock], scalars: list[ScalarBatch]) -> list[object]:
    """Records in the order a live platform sees them: a block when it is complete (at its
    end), scalars 100 ms after they were sampled (the connector's flush interval)."""
    events: list[tuple[int, int, object]] = []
    for b in blocks:
        events.append((b.end_ns, 0, b))
    for s in scalars:
        events.append((int(s.ts_ns[-1]) + 100_000_000, 1, s))
    events.sort(key=lambda e: (e[0], e[1]))
    return [e[2] for e in events]
