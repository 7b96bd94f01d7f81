"""Which services a platform runs for a project (connectors, pipelines)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shopfloor.config import Project

__all__ = ["project_services"]


def project_services(project: Project) -> list[Callable[[Any], Any]]:
    """Factories of the services the project's configuration asks for."""
    return []
