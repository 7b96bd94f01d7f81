"""What a project declares, counted: the summary ``shopfloor validate`` prints."""

from __future__ import annotations

from typing import Any

from shopfloor.config import Project

__all__ = ["project_summary"]


def project_summary(project: Project) -> dict[str, Any]:
    """The project's file and name, and how many of each item it declares, JSON-ready.

    Parameters
    ----------
    project : Project
        A loaded (hence valid) project.

    Returns
    -------
    dict
        ``valid`` (always true), ``file``, ``project`` (its name), then one count per
        kind of item: ``assets``, ``signals``, ``connectors``, ``pipelines``, ``models``,
        ``deployments``, ``alert_rules``.
    """
    config = project.config
    return {
        "valid": True,
        "file": str(project.file),
        "project": config.project.name,
        "assets": len(config.assets),
        "signals": sum(len(a.signals) for a in config.assets),
        "connectors": len(config.connectors),
        "pipelines": len(config.pipelines),
        "models": len(config.models),
        "deployments": len(config.deployments),
        "alert_rules": len(config.alert_rules),
    }
