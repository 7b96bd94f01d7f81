"""Built-in model types; importing this package registers each of them."""

from shopfloor.ml.models import bearing_defect

__all__ = ["bearing_defect"]
