"""The contract of a PayTrace export record: one model checks a record and publishes its JSON Schema.

Both ways in, the export poller and the webhook receiver, check every record with ``ExportRecord``;
``paysync webhooks schema`` publishes the schema pydantic generates from the same model, so the
receiver accepts nothing that schema forbids. A value the pipeline could not store or process later
(an amount past a billion dollars, a transaction id past int64, a year 9999, a lone UTF-16
surrogate, a NUL character) is refused here, with the field named, instead of failing a business
date's run afterwards. (The export path reads ordinary records with ``plain_read.read_plain``, which
runs this model's own field readers without building the model, and hands anything else to it.)

Limits, and why:

- ``transaction_id``: 1 to 999,999,999,999. PayTrace's ids are nine-digit integers today; twelve digits
  leave a thousandfold headroom, fit every integer column, and can never hold a card number (13+).
- amounts (``amount``, ``tax_amount``): 0 to 999,999,999.99 USD, at most two decimals (the currency's
  exponent), as a JSON number or as text of ASCII digits with a decimal point; commas only between
  thousands ("1,230.00"). A decimal comma ("12,30"), an exponent in text ("1e3") or non-ASCII digits
  are refused.
- timestamps (``created.at``, ``settled``): PayTrace's ``M/D/YYYY h:mm:ss AM|PM``, a real date, year
  2000 to 2099.
- ``credit_card.masked_number``: masked, at most the first six and the last four digits.
- ``credit_card.expiration_month`` 1-12; ``expiration_year`` two digits or 2000-2099.
- text fields: a string (a number is read as its text, null as empty); every string anywhere in the
  record, keys included, must be valid Unicode (no lone surrogate) without NUL characters; every
  number must be finite and every integer within int64.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from paysync_dagster.lib.money import MoneyError, exponent, to_minor
from paysync_dagster.lib.scrub import mask_then_cut
from paysync_dagster.lib.timeutil import TimeFormatError, parse_paytrace_local

CURRENCY = "USD"  # PayTrace v1 accounts settle in US dollars; the export carries no currency field.
TRANSACTION_TYPES = frozenset({"SALE", "AUTHORIZATION", "CAPTURE", "REFUND", "VOID", "STR/FWD", "FORCE"})
TRANSACTION_ID_MAX = 999_999_999_999
AMOUNT_MAX_MINOR = 99_999_999_999
EARLIEST_YEAR, LATEST_YEAR = 2000, 2099
INT64_MAX = 2**63 - 1

_DECIMALS = exponent(CURRENCY)
_SCALE = 10**_DECIMALS
_AMOUNT_MAX = Decimal(AMOUNT_MAX_MINOR).scaleb(-_DECIMALS)
# The text an amount may be written as: what money.to_minor reads, narrowed to the limits above.
# Written for JSON Schema (ECMA 262) as well as Python: no inline flags, ASCII classes only.
AMOUNT_PATTERN = rf"^\s*([0-9]{{1,9}}|[0-9]{{1,3}}(,[0-9]{{3}}){{1,2}})(\.[0-9]{{0,{_DECIMALS}}}0*)?\s*$"
TIMESTAMP_PATTERN = r"^\s*[0-9]{1,2}/[0-9]{1,2}/20[0-9]{2}\s+[0-9]{1,2}:[0-9]{2}:[0-9]{2}\s*[AaPp][Mm]\s*$"
_AMOUNT_TEXT = re.compile(AMOUNT_PATTERN, re.ASCII)
_ID_TEXT = re.compile(r"^\s*[1-9][0-9]{0,11}\s*$", re.ASCII)


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


TRANSACTION_TYPE_PATTERN = r"^\s*(" + "|".join(_any_case(t) for t in sorted(TRANSACTION_TYPES)) + r")\s*$"


# -- reading one value: each raises ValueError with the reason a sender reads --------------------------


def read_transaction_id(value: Any) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("missing: a positive integer is required")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ID_TEXT.match(value):
        number = int(value)
    else:
        raise ValueError(f"not a positive integer of at most 12 digits: {_quoted(value)}")
    if not 1 <= number <= TRANSACTION_ID_MAX:
        raise ValueError(f"out of range (1 to {TRANSACTION_ID_MAX:,})")
    return number


def read_transaction_type(value: Any) -> str:
    kind = value.strip().upper() if isinstance(value, str) else None
    if kind not in TRANSACTION_TYPES:
        raise ValueError(f"unknown transaction_type {_quoted(value)} (known: {', '.join(sorted(TRANSACTION_TYPES))})")
    return kind


def read_amount(value: Any) -> int:
    """A record amount -> integer cents within the limits, exactly."""
    kind = type(value)
    if (kind is float or kind is int) and 0 <= value < 1_000_000_000:
        # The usual case, without Decimal: an int, or a float whose shortest repr (what ``to_minor``
        # reads) is plain digits with at most the currency's decimals; anything else, the long way.
        if kind is int:
            return value * _SCALE
        # A float's shortest repr (what ``to_minor`` reads) has at most the currency's decimals exactly
        # when the float is the double nearest to a whole number of cents, ``minor``: then that number
        # written with two decimals round-trips, and no longer repr is the shortest. ``value * _SCALE``
        # is within a rounding error of ``minor`` (below 10^11), so ``round`` finds it, and the
        # division, correctly rounded, gives ``value`` back exactly when ``value`` is that double.
        minor = round(value * _SCALE)
        if minor / _SCALE == value:
            return minor
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"not an amount: {_quoted(value)}")
    if isinstance(value, str) and not _AMOUNT_TEXT.match(value):
        raise ValueError(f"not an amount (digits with at most {_DECIMALS} decimals, a point as decimal separator, "
                         f"commas only between thousands): {_quoted(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite amount")
    if isinstance(value, (int, float)) and not 0 <= value < 10**15:  # a cheap bound first; the exact one below
        raise ValueError(f"out of range (0 to {_AMOUNT_MAX:,} {CURRENCY})")
    try:
        minor = to_minor(value, CURRENCY)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if not 0 <= minor <= AMOUNT_MAX_MINOR:
        raise ValueError(f"out of range (0 to {_AMOUNT_MAX:,} {CURRENCY})")
    return minor


def read_optional_amount(value: Any) -> int:
    return 0 if value is None or (isinstance(value, str) and not value.strip()) else read_amount(value)


def read_timestamp(value: Any) -> datetime:
    """PayTrace's ``M/D/YYYY h:mm:ss AM|PM`` -> the naive local time it names (the zone is the merchant's)."""
    try:
        local = parse_paytrace_local(value if isinstance(value, str) else "")
    except TimeFormatError:
        raise ValueError(f"not a real PayTrace timestamp (M/D/YYYY h:mm:ss AM|PM): {_quoted(value)}") from None
    if not EARLIEST_YEAR <= local.year <= LATEST_YEAR:
        raise ValueError(f"year out of range ({EARLIEST_YEAR} to {LATEST_YEAR}): {_quoted(value)}")
    return local


def read_optional_timestamp(value: Any) -> datetime | None:
    return None if value is None or (isinstance(value, str) and not value.strip()) else read_timestamp(value)


def _small_int(value: Any, what: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a {what}: {_quoted(value)}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 4:
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"not a {what}: {_quoted(value)}")
    return value


def read_expiration_month(value: Any) -> int | None:
    month = _small_int(value, "month (1-12)")
    if month is not None and not 1 <= month <= 12:
        raise ValueError("month out of range (1-12)")
    return month


def read_expiration_year(value: Any) -> int | None:
    """Two digits as PayTrace sends them (``20``), or four."""
    year = _small_int(value, "year (two digits, or four)")
    if year is not None and not (0 <= year <= 99 or EARLIEST_YEAR <= year <= LATEST_YEAR):
        raise ValueError(f"year out of range (two digits, or {EARLIEST_YEAR}-{LATEST_YEAR})")
    return year


_MASKED = re.compile(r"[0-9]{0,6}[*xX]*[0-9]{0,4}", re.ASCII)


def read_masked_number(value: Any) -> str:
    """A masked card number as PayTrace writes it (``************5454``, ``xxxxxxxxxxxx5439``, with
    ``include_bin`` ``401200******5439``), tolerating spaces, dashes and ``•``/``#`` as masks; returned
    in the stored form (masks as ``*`` or ``x``, no separators). More than the first six and the last
    four digits is refused: that is not a masked number."""
    text = read_text(value).strip()
    compact = re.sub(r"[\s-]", "", text).replace("•", "*").replace("#", "*")
    if not _MASKED.fullmatch(compact):
        raise ValueError("not a masked card number (at most the first six and the last four digits, the rest masked)")
    return compact


def read_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be text")
    return value if isinstance(value, str) else str(value)


def _quoted(value: Any, limit: int = 40) -> str:
    # A message is not a place for a payload: short, and masked before it is cut (a value read from a
    # row landed under older scrubbing rules may still hold a card number).
    return mask_then_cut(repr(value), limit)


# -- every value of a document ----------------------------------------------------------------------


def problem_in_values(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first (dotted path, reason) of a value the warehouse could not store, anywhere in a parsed
    JSON document: a string or key with a lone surrogate or a NUL, a non-finite number, an integer
    outside int64. None when every value is fine."""
    if isinstance(value, str):
        return _text_problem(value, path)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if -INT64_MAX - 1 <= value <= INT64_MAX else (path, "integer out of range (64-bit)")
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, "number out of range")
    if isinstance(value, Mapping):
        for key, item in value.items():
            # The path is shown to the sender and logged: a bad key is written escaped.
            name = str(key).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
            child = f"{path}.{name}" if path else name
            found = _text_problem(str(key), child) or problem_in_values(item, child)
            if found:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = problem_in_values(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def _text_problem(text: str, path: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return path, "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return path, "is not valid Unicode text (a lone surrogate)"
    return None


# -- the model ----------------------------------------------------------------------------------------

_TEXT_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]}
Text = Annotated[str, PlainValidator(read_text), WithJsonSchema(_TEXT_SCHEMA)]
_AMOUNT_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0, "maximum": float(_AMOUNT_MAX)},
                            {"type": "string", "pattern": AMOUNT_PATTERN}]}
_TIMESTAMP_SCHEMA = {"type": "string", "pattern": TIMESTAMP_PATTERN}

MaskedNumber = Annotated[str, PlainValidator(read_masked_number), WithJsonSchema({
    "anyOf": [{"type": "string", "pattern": r"^[\s0-9*xX•#-]*$"}, {"type": "null"}],
    "description": "masked: at most the first six and the last four digits, e.g. ************5454",
})]
TransactionId = Annotated[int, PlainValidator(read_transaction_id), WithJsonSchema({
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": TRANSACTION_ID_MAX}, {"type": "string", "pattern": _ID_TEXT.pattern}],
    "description": "PayTrace transaction id, 1 to 999,999,999,999", "examples": [1143],
})]
TransactionType = Annotated[str, PlainValidator(read_transaction_type), WithJsonSchema({
    "type": "string", "pattern": TRANSACTION_TYPE_PATTERN,
    "description": f"one of {', '.join(sorted(TRANSACTION_TYPES))}, in any case", "examples": ["SALE"],
})]
Amount = Annotated[int, PlainValidator(read_amount), WithJsonSchema({
    **_AMOUNT_SCHEMA, "description": f"{CURRENCY}, 0 to {_AMOUNT_MAX:,}, at most {_DECIMALS} decimals; PayTrace sends a JSON number",
    "examples": [110, "12.30"],
})]
OptionalAmount = Annotated[int, PlainValidator(read_optional_amount), WithJsonSchema({
    "anyOf": [*_AMOUNT_SCHEMA["anyOf"], {"type": "string", "pattern": r"^\s*$"}, {"type": "null"}],
    "description": f"as amount; empty or null is zero. PayTrace sends a string, e.g. \"8.10\"",
})]
Timestamp = Annotated[datetime, PlainValidator(read_timestamp), WithJsonSchema({
    **_TIMESTAMP_SCHEMA, "description": "M/D/YYYY h:mm:ss AM|PM in the merchant's time zone, year 2000-2099",
    "examples": ["4/10/2015 4:06:30 PM"],
})]
OptionalTimestamp = Annotated[datetime | None, PlainValidator(read_optional_timestamp), WithJsonSchema({
    "anyOf": [_TIMESTAMP_SCHEMA, {"type": "string", "pattern": r"^\s*$"}, {"type": "null"}],
    "description": "M/D/YYYY h:mm:ss AM|PM when settled; empty before",
})]
ExpirationMonth = Annotated[int | None, PlainValidator(read_expiration_month), WithJsonSchema({
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": 12}, {"type": "string", "pattern": r"^\s*([0-9]{1,4})?\s*$"}, {"type": "null"}],
    "description": "1-12",
})]
ExpirationYear = Annotated[int | None, PlainValidator(read_expiration_year), WithJsonSchema({
    "anyOf": [{"type": "integer", "minimum": 0, "maximum": LATEST_YEAR}, {"type": "string", "pattern": r"^\s*([0-9]{1,4})?\s*$"},
              {"type": "null"}],
    "description": f"two digits as PayTrace sends them (20), or {EARLIEST_YEAR}-{LATEST_YEAR}",
})]


class RecordPart(BaseModel):
    model_config = ConfigDict(extra="allow")


class CreditCard(RecordPart):
    """Masked card data only; a full ``number`` or ``csc`` sent here is dropped before storage."""

    masked_number: MaskedNumber = Field("", json_schema_extra={"examples": ["************5454"]})
    expiration_month: ExpirationMonth = None
    expiration_year: ExpirationYear = None


class Created(RecordPart):
    at: Timestamp
    through: Text = ""
    by: Text = ""
    from_ip: Text = ""


class Address(RecordPart):
    name: Text = ""
    street_address: Text = ""
    street_address2: Text = ""
    city: Text = ""
    county: Text = ""
    state: Text = ""
    zip: Text = ""
    country: Text = ""


class PayTraceExportRecord(RecordPart):
    """One record as ``transactions/export/by_date_range`` returns it (spec §3.4). Other keys are kept,
    card fields dropped."""

    transaction_id: TransactionId
    transaction_type: TransactionType
    amount: Amount
    created: Created
    settled: OptionalTimestamp = None
    approval_code: Text = Field("", description="empty on a declined sale or authorization")
    tax_amount: OptionalAmount = 0
    credit_card: CreditCard | None = None
    description: Text = ""
    invoice_id: Text = ""
    customer_id: Text = ""
    customer_reference_id: Text = ""
    receipt_emailed_to: Text = ""
    approval_message: Text = ""
    avs_response: Text = ""
    csc_response: Text = ""
    status_code: Text = ""
    status_message: Text = ""
    billing_address: Address | None = None
    shipping_address: Address | None = None
