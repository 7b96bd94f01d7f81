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
  queue_bytes: 64MiB               # ... and bytes of them, whichever comes first

api:
  host: 127.0.0.1
  port: 8000

# Assets are named by their ISA-95 path: enterprise/site/area/line/cell/asset.
assets:
  - path: acme/plant1/machining/line1/cell1/cnc-01
    type: cnc_machining_centre
    nominal_speed_rpm: 12000
    bearing:                       # spindle bearing: defect frequencies follow from it
      n_elements: 17
      element_diameter_mm: 11.1
      pitch_diameter_mm: 89.0
      contact_angle_deg: 15
    attributes:
      machine_class: II            # ISO 10816-1 class, for velocity severity zones
    signals:
      - name: spindle_speed
        unit: rpm
        valid_range: [0, 30000]    # values outside are rejected to the dead letters
        connector: cnc             # which connector reads it, and its address there
        source: ns=2;s=CNC01.Spindle.Speed
      - name: spindle_load
        unit: percent
        connector: cnc
        source: ns=2;s=CNC01.Spindle.Load
      - name: spindle_temperature
        unit: degC
        retention_days: 365        # delete older data
        connector: cnc
        source: ns=2;s=CNC01.Spindle.Temperature
      - name: program_state        # 0 idle, 1 tool change, 2 roughing, 3 finishing
        connector: cnc
        source: ns=2;s=CNC01.Program.StateCode
      - name: tool_number
        connector: cnc
        source: ns=2;s=CNC01.Tool.Number
      - name: program
        kind: event                # discrete happenings: every change is an event
        connector: cnc
        source: ns=2;s=CNC01.Program.State
      - name: spindle_accel
        kind: waveform             # blocks of samples at a fixed rate
        unit: g
        sample_rate_hz: 25600
        channels: [x, y, z]
        connector: cnc
        source: CNC01.Vibration
        source_options:            # one OPC UA array node per channel
          channel_nodes:
            - ns=2;s=CNC01.Vibration.AccelX
            - ns=2;s=CNC01.Vibration.AccelY
            - ns=2;s=CNC01.Vibration.AccelZ

# Connectors read machines or replay recordings. This one reaches the simulated machine
# of `shopfloor sim cnc`; point it at your machine's OPC UA server instead.
connectors:
  - name: cnc
    type: opcua
    endpoint: opc.tcp://127.0.0.1:4840
    security_mode: None            # None, Sign or SignAndEncrypt (Basic256Sha256)
    # username_env: CNC_OPCUA_USER # credentials come from the environment, never from here
    # password_env: CNC_OPCUA_PASSWORD
    publishing_interval_ms: 100

# Pipelines: windows of the sources, taken only in a given operating state, turned into
# features, scaled per regime against a healthy baseline (`shopfloor pipelines fit`),
# scored, stored and alerted on. The same pipeline runs on history and on live data.
pipelines:
  - name: spindle-health
    asset: acme/plant1/machining/line1/cell1/cnc-01
    sources: [spindle_accel]
    context: [spindle_speed, program_state]
    window: {length_s: 1.0}
    when: {signal: spindle_speed, between: [6000, 14000]}   # while cutting
    regime: {signal: spindle_speed, edges: [6000, 10000, 14000]}
    steps:
      - features:
          features: [rms, kurtosis, crest_factor, velocity_rms, envelope.bpfo.snr,
                     envelope.bpfi.snr, envelope.bsf.snr]
          speed: spindle_speed
          # the envelope band must be wider than ~3x the highest defect frequency
          # (BPFI at 12000 rpm is 1.9 kHz)
          envelope_min_bandwidth_hz: 6000
      - scaler: {method: robust, by_regime: true}
      - model: {type: zscore}
    outputs:
      - store: {prefix: "health."}
      - alert: {column: anomaly_score, above: 10, hysteresis: 5, for_s: 5, severity: alarm,
                name: spindle-bearing}

models: []
deployments: []

# Alert rules watch any scalar signal, also a pipeline's outputs (health.anomaly_score):
# kind threshold (above/below, hysteresis), rate_of_change (per second over window_s) or
# stale (no value for stale_s); for_s is the persistence. Alerts are listed, acknowledged
# and resolved with `shopfloor alerts`, and sent to the notifiers (all, or those in notify).
#   - {name: spindle-hot, signal: acme/plant1/machining/line1/cell1/cnc-01/spindle_temperature,
#      threshold: 70, hysteresis: 5, for_s: 30, severity: alarm, notify: [maintenance]}
alert_rules: []
#   - {name: maintenance, type: webhook, url: "https://example.invalid/hook"}
notifiers: []

# Write-back: what alert rules may write to machines (an alarm node). Nothing is written
# unless the target is listed here and a rule asks for it, e.g. in the rule above:
#   writeback: {connector: cnc, address: "ns=2;s=CNC01.Alarm.Active", value: true, reset: false}
# The value is converted to the node's data type (the server's), written and read back.
#   - connector: cnc
#     min_interval_s: 1.0            # per target; writes in between coalesce to the latest
#     targets: [{address: "ns=2;s=CNC01.Alarm.Active", type: Boolean}]
writeback: []
"""


def write_example_project(folder: Path, *, force: bool = False) -> Path:
    """Write ``factory.yaml`` into ``folder`` (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PROJECT_FILE
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; pass --force to overwrite it")
    target.write_text(EXAMPLE_PROJECT, encoding="utf-8")
    return target
