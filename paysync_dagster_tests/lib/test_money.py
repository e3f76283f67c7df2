from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paysync_dagster.lib.money import MoneyError, format_amount, to_minor, to_wire


@pytest.mark.parametrize(
    ("wire", "cents"),
    [(110, 11000), (12.5, 1250), (0.29, 29), (1.1, 110), ("8.10", 810), ("0.07", 7), ("1,234.56", 123456), (19.99, 1999)],
)
def test_wire_amounts_read_exactly(wire: object, cents: int) -> None:
    assert to_minor(wire) == cents


@pytest.mark.parametrize("bad", ["", "abc", "1.005", float("nan"), float("inf"), None, True, [1]])
def test_inexact_or_non_amounts_are_refused(bad: object) -> None:
    with pytest.raises(MoneyError):
        to_minor(bad)


def test_zero_decimal_and_three_decimal_currencies() -> None:
    assert to_minor("1500", "JPY") == 1500
    assert to_wire(1500, "JPY") == "1500"
    assert to_minor("1.234", "KWD") == 1234
    with pytest.raises(MoneyError):
        to_minor("1.5", "JPY")


@given(st.integers(min_value=-10**13, max_value=10**13))
def test_wire_round_trip_is_exact(cents: int) -> None:
    assert to_minor(to_wire(cents)) == cents
    # A JSON number parsed by Python is a float; its repr round-trips for every cent amount we handle.
    assert to_minor(float(to_wire(cents))) == cents


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2, allow_nan=False, allow_infinity=False))
def test_strings_with_two_decimals_are_exact(amount: Decimal) -> None:
    assert to_minor(str(amount)) == int(amount * 100)


def test_format_for_people() -> None:
    assert format_amount(-123456) == "-1,234.56 USD"
