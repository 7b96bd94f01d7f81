"""Engineering units, validated with pint.

One registry for the whole process (pint registries are expensive to build and units from
different registries do not mix). Unit strings are kept as the user wrote them when pint
understands them, so ``mm/s`` stays ``mm/s`` in the store and the UI.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["conversion_factor", "is_dimensionless", "registry", "validate_unit"]

# Units common on the shop floor that pint spells differently or lacks.
_ALIASES = {
    "rpm": "1 / minute",  # shaft turns per minute: rpm / 60 is Hz, not rad/s
    "RPM": "1 / minute",
    "g": "standard_gravity",
    "%": "percent",
    "degC": "degree_Celsius",
    "°C": "degree_Celsius",
    "": "dimensionless",
    "1": "dimensionless",
}

# Spellings pint accepts (a test checks each against pint), answered without building the
# registry: importing pint and building it takes ~0.3 s, and a project file that uses
# only these units loads without it (``shopfloor status`` starts fast).
KNOWN_UNITS = frozenset(
    {
        *_ALIASES,
        *("percent", "dimensionless", "degree_Celsius", "K", "kelvin", "standard_gravity"),
        *("m/s", "mm/s", "m/s**2", "m/s^2", "mm/s**2", "in/s", "um", "µm", "mm", "m"),
        *("Hz", "kHz", "1/s", "1/min", "s", "ms", "min", "h"),
        *("bar", "mbar", "Pa", "kPa", "MPa", "psi"),
        *("V", "mV", "A", "mA", "W", "kW", "kWh", "VA", "kVA"),
        *("N", "kN", "N*m", "Nm", "kg", "g/s", "kg/h", "l/min", "L/min", "m**3/h"),
    }
)


@lru_cache(maxsize=1)
def registry() -> Any:
    """Return the process-wide pint unit registry (built on first use)."""
    import pint

    reg: Any = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    return reg


def _pint_spelling(unit: str) -> str:
    return _ALIASES.get(unit.strip(), unit.strip())


@lru_cache(maxsize=1024)
def validate_unit(unit: str) -> str:
    """Return ``unit`` unchanged when pint understands it, else raise ``ValueError``.

    Note that ``g`` means standard gravity (acceleration), as on accelerometer data
    sheets, not gram.

    Examples
    --------
    >>> validate_unit("mm/s")
    'mm/s'
    >>> validate_unit("rpm")
    'rpm'
    """
    if unit.strip() in KNOWN_UNITS:
        return unit.strip()
    import pint

    try:
        registry().Unit(_pint_spelling(unit))
    except (
        pint.errors.UndefinedUnitError,
        pint.errors.DefinitionSyntaxError,
        AttributeError,
        TypeError,
        ValueError,
        AssertionError,
    ) as err:
        raise ValueError(f"unknown unit {unit!r}: {err}") from err
    return unit.strip()


def is_dimensionless(unit: str) -> bool:
    """Tell whether ``unit`` has no physical dimension (counts, ratios, '')."""
    return bool(registry().Unit(_pint_spelling(unit)).dimensionless)


@lru_cache(maxsize=1024)
def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Return the factor that converts values in ``from_unit`` to ``to_unit``.

    Only multiplicative units (no offset such as degrees Celsius to kelvin).

    Examples
    --------
    >>> conversion_factor("g", "m/s**2")
    9.80665
    """
    reg = registry()
    quantity = reg.Quantity(1.0, _pint_spelling(from_unit))
    try:
        return float(quantity.to(_pint_spelling(to_unit)).magnitude)
    except Exception as err:  # pint raises DimensionalityError and OffsetUnitCalculusError
        raise ValueError(f"cannot convert {from_unit!r} to {to_unit!r}: {err}") from err
