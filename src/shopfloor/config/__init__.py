"""The project file and the root settings.

With ``cli``, the only layer that reads the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# Imported eagerly: the name is also the submodule's, which a lazy export would shadow.
from shopfloor.config.environment import environment
from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.config.project import (
        PROJECT_FILE,
        FactoryConfig,
        Project,
        ProjectInfo,
        find_project,
        load_project,
    )
    from shopfloor.config.source import YamlSource, format_path, load_yaml
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.config.project": (
                "PROJECT_FILE",
                "FactoryConfig",
                "Project",
                "ProjectInfo",
                "find_project",
                "load_project",
            ),
            "shopfloor.config.source": ("YamlSource", "format_path", "load_yaml"),
        },
    )

__all__ = [
    "PROJECT_FILE",
    "FactoryConfig",
    "Project",
    "ProjectInfo",
    "YamlSource",
    "environment",
    "find_project",
    "format_path",
    "load_project",
    "load_yaml",
]
