"""Money as integer minor units plus an ISO 4217 code.

Floats never hold money in PaySync. Conversion from and to the wire format happens only here, at the
API edges: PayTrace sends ``amount`` as a JSON number and ``tax_amount`` as a string, Oracle accepts
either, Sage wants a decimal number.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Minor-unit exponents for the currencies a PayTrace merchant can settle in or an ERP can book in.
# ISO 4217; currencies not listed default to 2.
_EXPONENTS: dict[str, int] = {
    "BHD": 3, "CLP": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "LYD": 3,
    "OMR": 3, "PYG": 0, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}


# ASCII digits, an optional sign and decimal point; commas only as thousands separators in groups of
# three. "12,30" (a decimal comma) is refused rather than read as 1,230; exponents ("1e3") and
# non-ASCII digits, which Decimal would take, are refused too: nobody writes money that way.
_WIRE_TEXT = re.compile(r"[+-]?(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]*)?", re.ASCII)


class MoneyError(ValueError):
    """A value cannot be read as an exact amount in the given currency."""


def exponent(currency: str) -> int:
    code = (currency or "").upper()
    if len(code) != 3 or not code.isalpha():
        raise MoneyError(f"not an ISO 4217 currency code: {currency!r}")
    return _EXPONENTS.get(code, 2)


def to_minor(value: object, currency: str = "USD") -> int:
    """Read a wire amount (``"12.30"``, ``12.3``, ``12``) as integer minor units, exactly.

    A JSON number arrives as a Python float; its shortest repr is the decimal the sender wrote, so it
    is read through ``repr`` and never through binary arithmetic. More decimals than the currency has
    (``"1.005"`` in USD) are refused rather than rounded: a rounding here would hide a cent.
    """
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"not an amount: {value!r}")
    if isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, float):
        dec = Decimal(repr(value))
    elif isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise MoneyError("empty amount")
        if _WIRE_TEXT.fullmatch(text) is None:
            raise MoneyError(f"not an amount (digits and a decimal point; commas only between thousands): {value!r}")
        try:
            dec = Decimal(text.replace(",", ""))
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {value!r}") from exc
    else:
        raise MoneyError(f"not an amount: {value!r}")
    if not dec.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    scaled = dec.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{value!r} has more decimals than {currency.upper()} allows")
    return int(scaled)


def to_decimal(minor: int, currency: str = "USD") -> Decimal:
    return Decimal(int(minor)).scaleb(-exponent(currency))


def to_wire(minor: int, currency: str = "USD") -> str:
    """Integer minor units as the fixed-point string the APIs take, e.g. ``1230 -> "12.30"``."""
    exp = exponent(currency)
    return f"{to_decimal(minor, currency):.{exp}f}"


def format_amount(minor: int, currency: str = "USD") -> str:
    """For people: ``-123456 -> "-1,234.56 USD"``."""
    exp = exponent(currency)
    return f"{to_decimal(minor, currency):,.{exp}f} {currency.upper()}"
