"""The demo: both use cases, end to end, on the embedded default (DuckDB, in-process bus).

- :mod:`.cnc`: use case 1, condition monitoring of a CNC spindle over OPC UA (baseline,
  train, deploy, bearing fault, alarm, write-back);
- :mod:`.packaging`: use case 2, defect classification on a packaging line (hot folder
  and Modbus; labelled batch, train, deploy, rejects through the gate, defect-rate
  alert): configuration plus calls to the same services;
- :mod:`.runner`: both simulators, one platform, the use cases in turn;
- :mod:`.summary`: the figures side by side, and what the second use case reused;
- :mod:`.common`: the reporter, a use case's outcome and checks, the project file.

``shopfloor demo`` (:mod:`shopfloor.cli.demo`) prints it; ``--headless`` exits 0 only
when both use cases met their checks.
"""

from shopfloor.services.demo.cnc import ASSET, MODEL, PIPELINE, RULE, CncResult, baseline_training
from shopfloor.services.demo.common import Check, DemoReporter, UseCaseOutcome
from shopfloor.services.demo.packaging import CLASSIFIER, DEFECT_RULE, LINE_ASSET, PackagingResult
from shopfloor.services.demo.runner import (
    DemoResult,
    DemoSetup,
    demo_project_text,
    prepare_demo,
    run_demo,
)
from shopfloor.services.options import DemoOptions

__all__ = [
    "ASSET",
    "CLASSIFIER",
    "DEFECT_RULE",
    "LINE_ASSET",
    "MODEL",
    "PIPELINE",
    "RULE",
    "Check",
    "CncResult",
    "DemoOptions",
    "DemoReporter",
    "DemoResult",
    "DemoSetup",
    "PackagingResult",
    "UseCaseOutcome",
    "baseline_training",
    "demo_project_text",
    "prepare_demo",
    "run_demo",
]
