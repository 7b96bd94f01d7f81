"""Whether a project file is valid, and what it declares, counted (``shopfloor validate``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopfloor.config import Project, find_project, load_project
from shopfloor.errors import ConfigError

__all__ = ["Validation", "project_summary", "validate_project"]


@dataclass(frozen=True)
class Validation:
    """A project checked: loaded, or the :class:`ConfigError` with every problem."""

    project: Project | None
    error: ConfigError | None = None

    def as_dict(self) -> dict[str, Any]:
        """:func:`project_summary`, or ``valid`` false with the ``error`` and its ``issues``."""
        if self.project is not None:
            return project_summary(self.project)
        assert self.error is not None
        return {
            "valid": False,
            "error": str(self.error).splitlines()[0],
            "issues": self.error.issues,
        }

    def __str__(self) -> str:
        """``valid FILE: 2 assets, 7 signals, ...``, or every problem with file and line."""
        if self.project is None:
            return str(self.error)
        counts = self.as_dict()
        return f"valid {self.project.file}: " + ", ".join(
            f"{v} {k}" for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)
        )


def validate_project(path: Path | None) -> Validation:
    """Find and load the project at ``path`` (a folder or file; ``None``: search upwards)."""
    try:
        return Validation(load_project(find_project(path)))
    except ConfigError as err:
        return Validation(None, err)


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
