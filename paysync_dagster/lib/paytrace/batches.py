"""PayTrace settlement-batch records (field names: ``batch_fields.py``) read into canonical values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paysync_dagster.lib.money import MoneyError, to_minor
from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace.records import CURRENCY
from paysync_dagster.lib.timeutil import TimeFormatError, business_date, parse_paytrace_timestamp


def _batch_error(number: object, field: str, message: str, value: object = None) -> PayTraceDataError:
    err = PayTraceDataError(message, transaction_id=None, field=field, value=value)
    err.args = (f"batch {number}, field {field!r}: {message}",)
    return err


def parse_batch(record: Mapping[str, Any], tz_name: str) -> dict[str, Any]:
    """One batch summary -> a ``paytrace_settlement_batches`` row (without the listed totals)."""
    if not isinstance(record, Mapping):
        raise PayTraceDataError(f"a batch must be a JSON object, got {type(record).__name__}")
    number = record.get("number")
    try:
        batch_number = int(number)  # type: ignore[arg-type]
        if batch_number <= 0 or isinstance(number, bool):
            raise ValueError
    except (TypeError, ValueError):
        raise _batch_error(number, "number", "missing or not a positive integer", number) from None
    out: dict[str, Any] = {"batch_number": batch_number, "currency": CURRENCY}
    try:
        closed = parse_paytrace_timestamp(str(record.get("created", "")), tz_name)
    except TimeFormatError as exc:
        raise _batch_error(number, "created", str(exc), record.get("created")) from None
    out["closed_at"] = closed
    out["business_date"] = business_date(closed, tz_name)
    for field in ("transaction_count", "sales_count", "refund_count"):
        raw = record.get(field)
        if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).strip().isdigit():
            raise _batch_error(number, field, "missing or not a count", raw)
        out[field] = int(raw)
    for field, column in (("sales_amount", "sales_minor"), ("refund_amount", "refund_minor"), ("net_amount", "net_minor")):
        raw = record.get(field)
        try:
            out[column] = to_minor(raw, CURRENCY)
        except MoneyError as exc:
            raise _batch_error(number, field, str(exc), raw) from None
    # Refunds are reported as a positive total; some accounts may sign them.
    out["refund_minor"] = abs(out["refund_minor"])
    return out


def signed_amount(row: Mapping[str, Any]) -> int:
    """A settled transaction's effect on the batch net: refunds subtract."""
    return -row["amount_minor"] if row["transaction_type"] == "REFUND" else row["amount_minor"]
