"""The commented example project written by ``shopfloor init``."""

from __future__ import annotations

from pathlib import Path

from shopfloor.config.project import PROJECT_FILE
from shopfloor.errors import ConfigError

__all__ = ["EXAMPLE_PROJECT", "write_example_project"]

EXAMPLE_PROJECT = """\
# shopfloor project file: one plant (or part of one), its machines, how to reach them,
# what to compute and what to do about it. Validate with `shopfloor validate`.
version: 1

project:
  name: example-plant
  description: CNC machining centre with a spindle accelerometer
  timezone: Europe/Berlin          # for reports and shift calendars; data is stored in UTC

store:
  backend: duckdb                  # embedded, no server
  path: .shopfloor/store.duckdb    # relative to this file

bus:
  backend: memory                  # in-process; an MQTT broker comes with scale-out
  queue_size: 1024                 # records a slow consumer may lag before producers wait

api:
  host: 127.0.0.1
  port: 8000

# Assets are named by their ISA-95 path: enterprise/site/area/line/cell/asset.
assets:
  - path: acme/plant1/machining/line1/cell1/cnc-01
    type: cnc_machining_centre
    nominal_speed_rpm: 12000
    bearing:                       # spindle bearing: defect frequencies follow from it
      n_elements: 18
      element_diameter_mm: 7.14
      pitch_diameter_mm: 46.0
      contact_angle_deg: 15
    attributes:
      machine_class: II            # ISO 10816-1 class, for velocity severity zones
    signals:
      - name: spindle_speed
        kind: scalar
        unit: rpm
        valid_range: [0, 30000]    # values outside are rejected to the dead letters
        # connector: cnc           # which connector reads it, and its address there
        # source: ns=2;s=CNC01.Spindle.Speed
      - name: spindle_load
        kind: scalar
        unit: percent
      - name: spindle_temperature
        kind: scalar
        unit: degC
        retention_days: 365        # delete older data
      - name: spindle_accel
        kind: waveform             # blocks of samples at a fixed rate
        unit: g
        sample_rate_hz: 25600
        channels: [x, y, z]
      - name: program
        kind: event

# Connectors read machines (OPC UA, Modbus, MQTT) or replay recordings; see docs/.
connectors: []

# Pipelines window signals, compute features and feed models; see docs/pipelines.md.
pipelines: []

models: []
deployments: []
alert_rules: []
"""


def write_example_project(folder: Path, *, force: bool = False) -> Path:
    """Write ``factory.yaml`` into ``folder`` (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PROJECT_FILE
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to overwrite it")
    target.write_text(EXAMPLE_PROJECT, encoding="utf-8")
    return target
