"""shopfloor: a Smart Factory platform.

Connectivity, one store, composable pipelines and one deployment mechanism for every
model, shared by every use case built on it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
