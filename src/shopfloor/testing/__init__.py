"""Contract checks shipped with the package, as scikit-learn ships its estimator checks.

A new store backend passes :func:`check_store`; a new bus passes :func:`check_bus`; a new
connector type passes :func:`check_connector` against a live source on loopback, every
pipeline step kind passes :func:`check_step`, and every model type passes
:func:`check_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopfloor.exports import lazy_exports

if TYPE_CHECKING:
    from shopfloor.testing.bus_checks import BUS_CHECKS, check_bus
    from shopfloor.testing.connector_checks import (
        CONNECTOR_CHECKS,
        ConnectorFixture,
        DuplicateRecords,
        LostRecords,
        Source,
        WriteTarget,
        check_connector,
    )
    from shopfloor.testing.model_checks import MODEL_CHECKS, check_model
    from shopfloor.testing.step_checks import STEP_CHECKS, STEP_EXAMPLES, check_step
    from shopfloor.testing.store_checks import STORE_CHECKS, check_store
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "shopfloor.testing.bus_checks": ("BUS_CHECKS", "check_bus"),
            "shopfloor.testing.connector_checks": (
                "CONNECTOR_CHECKS",
                "ConnectorFixture",
                "DuplicateRecords",
                "LostRecords",
                "Source",
                "WriteTarget",
                "check_connector",
            ),
            "shopfloor.testing.model_checks": ("MODEL_CHECKS", "check_model"),
            "shopfloor.testing.step_checks": ("STEP_CHECKS", "STEP_EXAMPLES", "check_step"),
            "shopfloor.testing.store_checks": ("STORE_CHECKS", "check_store"),
        },
    )

__all__ = [
    "BUS_CHECKS",
    "CONNECTOR_CHECKS",
    "MODEL_CHECKS",
    "STEP_CHECKS",
    "STEP_EXAMPLES",
    "STORE_CHECKS",
    "ConnectorFixture",
    "DuplicateRecords",
    "LostRecords",
    "Source",
    "WriteTarget",
    "check_bus",
    "check_connector",
    "check_model",
    "check_step",
    "check_store",
]
