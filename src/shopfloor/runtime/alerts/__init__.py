"""Alert rules on live values: evaluation (:mod:`.rules`) and the engine (:mod:`.engine`)."""

from shopfloor.runtime.alerts.engine import AlertEngine
from shopfloor.runtime.alerts.rules import Firing, RuleState

__all__ = ["AlertEngine", "Firing", "RuleState"]
