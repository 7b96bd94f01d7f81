"""Units answered without pint are units pint accepts."""

from __future__ import annotations

import pytest

from shopfloor.model.units import KNOWN_UNITS, _pint_spelling, registry, validate_unit


@pytest.mark.parametrize("unit", sorted(KNOWN_UNITS))
def test_every_known_unit_is_one_pint_accepts(unit: str) -> None:
    registry().Unit(_pint_spelling(unit))
    assert validate_unit(f" {unit} ") == unit.strip()


def test_an_unknown_unit_still_goes_through_pint() -> None:
    assert validate_unit("N/mm**2") == "N/mm**2"
    with pytest.raises(ValueError, match="unknown unit 'furlongs/fortnight-ish'"):
        validate_unit("furlongs/fortnight-ish")
