"""The project's deployments, run by the platform's deployment runtime.

The runtime follows the desired state in the store (:mod:`shopfloor.runtime.deployments`);
this module wires it to the platform (store, bus, the alert engine that watches active
deployments) and applies the project file's ``deployments`` once: one that the store does
not hold yet is deployed at start, audited as made by ``factory.yaml``. A deployment of
the file that cannot run (a model not trained yet, a pipeline changed) is logged and
shown in the runtime's health; the platform runs on without it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from shopfloor.config import Project
from shopfloor.errors import ShopfloorError
from shopfloor.ml.registry import ModelRegistry
from shopfloor.model.deployment import Deployment
from shopfloor.node.pending import PendingService
from shopfloor.runtime.alerts import AlertEngine
from shopfloor.runtime.deployments import DeploymentCatalog, DeploymentService, deploy_model
from shopfloor.runtime.writeback.rejects import RejectGate
from shopfloor.store.protocol import DeploymentStore

if TYPE_CHECKING:
    from shopfloor.node.platform import Platform

__all__ = ["PendingDeployments", "ProjectDeployments", "deployment_service", "project_registry"]

log = logging.getLogger(__name__)

FILE_AUTHOR = "factory.yaml"
"""Who the audit log names for deployments the project file made."""


def project_registry(project: Project) -> ModelRegistry:
    """The project's model registry, in its state folder beside the pipelines' fitted states."""
    return ModelRegistry(project.state_dir / "models")


def project_catalog(project: Project) -> DeploymentCatalog:
    """Resolves and checks deployments against the project's registry and pipelines."""
    return DeploymentCatalog(
        project_registry(project), project.config.pipelines, project.config.assets
    )


class PendingDeployments(PendingService):
    """The deployment runtime when it cannot run (the store keeps no deployments)."""

    def __init__(self, reason: str) -> None:
        super().__init__("deployments", reason)


class ProjectDeployments:
    """The deployment runtime, after applying the project file's new deployments."""

    name = "deployments"

    def __init__(self, project: Project, runtime: DeploymentService) -> None:
        self.project = project
        self.runtime = runtime
        self.file_refused: dict[str, str] = {}

    async def start(self) -> None:
        """Deploy what the file adds, then run what the store holds."""
        store = self.runtime.store
        assert isinstance(store, DeploymentStore)  # checked by deployment_service
        for config in self.project.config.deployments:
            known = await store.list_deployments(name=config.name)
            assets = [a for a in config.assets if a not in {d.asset for d in known}]
            if known and not assets:
                continue
            try:
                await deploy_model(
                    store,
                    self.runtime.catalog,
                    f"{config.model}@{config.version}",
                    assets=assets,
                    mode=config.mode,
                    name=config.name,
                    who=FILE_AUTHOR,
                    reason=f"deployments of {self.project.file.name}",
                )
            except ShopfloorError as err:
                self.file_refused[config.name] = str(err)
                log.error("deployments.file_refused name=%s error=%s", config.name, err)
        await self.runtime.start()

    async def stop(self) -> None:
        """Stop the runtime."""
        await self.runtime.stop()

    def health(self) -> dict[str, Any]:
        """The runtime's health, with the file's deployments that could not be applied."""
        health = self.runtime.health()
        if self.file_refused:
            health["state"] = "degraded"
            health["file_refused"] = dict(self.file_refused)
        return health


def deployment_service(project: Project, platform: Platform) -> Any:
    """The deployment runtime over the platform's store and bus.

    It tells the alert engine and the reject gates what runs.
    """
    store = platform.store
    if not isinstance(store, DeploymentStore):
        return PendingDeployments(f"the store ({type(store).__name__}) keeps no deployments")
    watchers = [s for s in platform.services if isinstance(s, AlertEngine | RejectGate)]

    async def tell(running: list[Deployment]) -> None:
        for watcher in watchers:
            await watcher.watch_deployments(running)

    settings = project.config.runtime
    runtime = DeploymentService(
        store,
        platform.bus,
        project_catalog(project),
        workers=settings.scoring_workers,
        reconcile_s=settings.reconcile_s,
        on_change=tell if watchers else None,
    )
    return ProjectDeployments(project, runtime)
