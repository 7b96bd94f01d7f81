"""The project file and the root settings.

With ``cli``, the only layer that reads the environment.
"""

from shopfloor.config.environment import environment
from shopfloor.config.project import (
    PROJECT_FILE,
    FactoryConfig,
    Project,
    ProjectInfo,
    find_project,
    load_project,
)
from shopfloor.config.source import YamlSource, format_path, load_yaml

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
