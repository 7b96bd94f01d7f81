"""Contract checks shipped with the package, as scikit-learn ships its estimator checks.

A new store backend passes :func:`check_store`; a new bus passes :func:`check_bus`.
"""

from shopfloor.testing.bus_checks import BUS_CHECKS, check_bus
from shopfloor.testing.store_checks import STORE_CHECKS, check_store

__all__ = ["BUS_CHECKS", "STORE_CHECKS", "check_bus", "check_store"]
