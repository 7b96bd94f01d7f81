"""Deployments: models scoring live windows, swapped atomically, resumed after a restart.

- :mod:`.catalog`: resolve ``M@V`` and check the model fits the asset (hash, pipeline,
  input schema);
- :mod:`.states`: calibrated states (k-of-n persistence, hysteresis) window by window;
- :mod:`.scorer`: one deployment's windows → score, health index, state, events;
- :mod:`.service`: the platform service following the store's desired state;
- :mod:`.desired`: deploy, roll back and stop (the desired state, audited).

The desired state itself (:class:`~shopfloor.model.deployment.Deployment`) and its audit
log live in the project store (:class:`~shopfloor.store.DeploymentStore`).
"""

from shopfloor.runtime.deployments.catalog import DeploymentCatalog, Runnable
from shopfloor.runtime.deployments.desired import (
    default_name,
    deploy_model,
    find_deployment,
    rollback_asset,
    stop_deployment,
)
from shopfloor.runtime.deployments.scorer import OUTPUTS, Scorer, deployment_signals
from shopfloor.runtime.deployments.service import DeploymentService, read_output
from shopfloor.runtime.deployments.states import (
    STATE_CODES,
    ScoreStates,
    state_code,
    state_from_code,
)

__all__ = [
    "OUTPUTS",
    "STATE_CODES",
    "DeploymentCatalog",
    "DeploymentService",
    "Runnable",
    "ScoreStates",
    "Scorer",
    "default_name",
    "deploy_model",
    "deployment_signals",
    "find_deployment",
    "read_output",
    "rollback_asset",
    "state_code",
    "state_from_code",
    "stop_deployment",
]
