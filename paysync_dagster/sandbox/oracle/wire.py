"""Reading and writing attribute values the way the Fusion REST resources do (spec §6).

Amounts are kept as integer minor units inside the sandbox and printed as JSON numbers (an int when
whole, else the shortest float, whose repr is the exact decimal for any realistic amount). Dates are
``YYYY-MM-DD`` text. Every refusal is an :class:`~.state.ApiError` 400 with Oracle's wording where the
spec gives it (FND_CMN_REQ_ATTRIB_API_SERV) and a plain sentence otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from paysync_dagster.lib.money import MoneyError, exponent, to_minor

from .state import ApiError, required_attribute


def number(value: Decimal) -> int | float:
    """A decimal as a JSON number: int when whole, else float (exact for amounts of 15 digits or fewer)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def money(minor: int, currency: str) -> int | float:
    return number(Decimal(minor).scaleb(-exponent(currency)))


def decimal_of(value: Any, attribute: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ApiError(400, f"The value of the attribute {attribute} isn't a valid number.")
    try:
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ApiError(400, f"The value of the attribute {attribute} isn't a valid number.") from None
    if not result.is_finite():
        raise ApiError(400, f"The value of the attribute {attribute} isn't a valid number.")
    return result


def amount_of(value: Any, currency: str, attribute: str, *, allow_zero: bool = True) -> int:
    """A wire amount (string or number) as minor units; more decimals than the currency has is refused."""
    decimal_of(value, attribute)  # uniform message for non-numbers
    try:
        minor = to_minor(value, currency)
    except MoneyError:
        raise ApiError(400, f"The value of the attribute {attribute} has more decimal places than the "
                            f"currency {currency} allows.") from None
    if minor < 0 or (minor == 0 and not allow_zero):
        raise ApiError(400, f"The value of the attribute {attribute} must be greater than zero.")
    return minor


def round_minor(value: Decimal, currency: str) -> int:
    """Quantity x price to minor units, half up (how AR rounds line amounts to the currency)."""
    return int((value.scaleb(exponent(currency))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def date_of(value: Any, attribute: str) -> str:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ApiError(400, f"The value of the attribute {attribute} isn't a valid date. Use the format YYYY-MM-DD.")


def missing(payload: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    return [n for n in names if payload.get(n) in (None, "")]


def require(payload: Mapping[str, Any], names: Iterable[str]) -> None:
    """FND_CMN_REQ_ATTRIB_API_SERV for every missing attribute, all in one answer."""
    absent = missing(payload, names)
    if absent:
        raise ApiError.many(400, [required_attribute(n) for n in absent])


def check_attributes(payload: Mapping[str, Any], resource: str, writable: Iterable[str], read_only: Iterable[str],
                     children: Iterable[str] = ()) -> None:
    """Unknown and read-only attributes are refused (the ADF framework does not ignore them)."""
    allowed, ro, kids = set(writable), set(read_only), set(children)
    for name in payload:
        if name in kids:
            if not isinstance(payload[name], list):
                raise ApiError(400, f"The child {name} of the resource {resource} must be an array.")
            continue
        if name in ro:
            raise ApiError(400, f"The attribute {name} of the resource {resource} is read-only.")
        if name not in allowed:
            raise ApiError(400, f"The attribute {name} isn't valid for the resource {resource}.")


def text_of(payload: Mapping[str, Any], name: str, max_length: int | None = None) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ApiError(400, f"The value of the attribute {name} must be text.")
    text = str(value)
    if max_length is not None and len(text) > max_length:
        raise ApiError(400, f"The value of the attribute {name} is longer than {max_length} characters.")
    return text
