"""Which services a platform runs for a project (alerts, pipelines, connectors)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shopfloor.config import Project, environment
from shopfloor.connectors.base import BoundSignal
from shopfloor.connectors.engine import ConnectorEngine, ConnectorSpec
from shopfloor.connectors.registry import load_connector_class, manifest_for
from shopfloor.model import SignalKind
from shopfloor.node.alerts import alert_service, reject_service
from shopfloor.node.deployments import deployment_service
from shopfloor.node.pipelines import pipeline_service

if TYPE_CHECKING:
    from shopfloor.node.platform import Platform

__all__ = ["connector_specs", "project_services"]


def connector_specs(project: Project) -> list[ConnectorSpec]:
    """The enabled connectors of the project with the signals bound to each."""
    specs = []
    for config in project.config.connectors:
        if not config.enabled:
            continue
        bound = []
        for ref, signal in project.config.iter_signals():
            if signal.connector == config.name and signal.source:
                bound.append(BoundSignal(ref, signal, signal.source, dict(signal.source_options)))
        manifest = manifest_for(config.type)
        cls = load_connector_class(manifest)
        specs.append(ConnectorSpec(config, bound, cls))
    return specs


def _engine(project: Project) -> Callable[[Platform], ConnectorEngine]:
    def build(platform: Platform) -> ConnectorEngine:
        return ConnectorEngine(
            connector_specs(project),
            platform.bus,
            platform.store.write_dead_letters,
            project.state_dir / "connectors",
            signals=dict(project.config.iter_signals()),
            limits=project.config.store.limits,
            publish_timeout_s=project.config.bus.publish_timeout_s,
            env=environment(),
            root=project.root,
            resume=platform.resume,
        )

    return build


def project_services(project: Project, *, pipelines: bool = True) -> list[Callable[[Any], Any]]:
    """Factories of the services the project's configuration asks for.

    The alert engine, the reject gates, pipelines and the deployment runtime start before
    connectors, so their subscriptions see the first records; the deployment runtime after
    the alert engine and the reject gates, which it tells what runs. The runtime runs
    whenever the project has pipelines or image signals (a deployment may be made while
    the platform runs), also with ``pipelines=False``, which leaves out only the
    pipelines' own live services.
    """
    services: list[Callable[[Any], Any]] = []
    if project.config.alert_rules:
        services.append(functools.partial(alert_service, project))
    if project.config.rejects:
        services.append(functools.partial(reject_service, project))
    for config in project.config.pipelines if pipelines else []:
        services.append(functools.partial(pipeline_service, project, config.name))
    images = any(s.kind == SignalKind.IMAGE for _, s in project.config.iter_signals())
    if project.config.pipelines or images or project.config.deployments:
        services.append(functools.partial(deployment_service, project))
    if any(c.enabled for c in project.config.connectors):
        services.append(_engine(project))
    return services
