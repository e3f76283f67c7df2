"""PayTrace export records read into canonical values.

An export record (``transactions/export/*``, ``batches/transaction_list``) carries its quirks: a
JSON-number ``amount``, a string ``tax_amount``, ``M/D/YYYY h:mm:ss AM|PM`` timestamps with no zone,
a two-digit expiration year, asterisk-masked numbers and empty strings for missing values. This
module turns one into integer cents, UTC timestamps and the merchant's business date, or raises a
``PayTraceDataError`` naming the transaction and the field.

The state a record shows is derived, since v1 exports carry no status field (spec §7):
``transaction_type`` VOID -> voided; an empty ``approval_code`` on a sale or authorization ->
declined; a ``settled`` timestamp -> settled; else authorized / captured / approved by type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from paysync_dagster.lib.paytrace.contract import (
    CURRENCY,
    TRANSACTION_TYPES,
    PayTraceExportRecord,
    problem_in_values,
    read_timestamp,
    read_transaction_id,
    read_transaction_type,
)
from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.timeutil import TimeFormatError, business_date, expand_two_digit_year, local_to_utc

__all__ = ["CURRENCY", "TRANSACTION_TYPES", "STATE_RANK", "parse_record", "state_of", "created_at_of", "dedup_key",
           "latest_states", "state_order", "payload_json", "transaction_id_of", "checked_record"]

# Types whose approval is the payment itself; an empty approval code on them is a decline.
_APPROVABLE = frozenset({"SALE", "AUTHORIZATION", "STR/FWD", "FORCE"})

# Later states supersede earlier ones when the same transaction landed more than once.
STATE_RANK: dict[str, int] = {
    "authorized": 1,
    "approved": 2,
    "captured": 2,
    "declined": 2,
    "settled": 3,
    "voided": 3,
    "chargeback_opened": 4,
    "chargeback_resolved": 5,
}


def transaction_id_of(record: Mapping[str, Any]) -> int:
    raw = record.get("transaction_id") if isinstance(record, Mapping) else None
    try:
        return read_transaction_id(raw)
    except ValueError as exc:
        raise PayTraceDataError(str(exc), transaction_id=None, field="transaction_id") from None


def _field_of(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(record)"


def checked_record(record: Mapping[str, Any]) -> PayTraceExportRecord:
    """The record checked against the contract (``contract.PayTraceExportRecord``), or a
    ``PayTraceDataError`` naming the transaction (when its id is readable) and the first field at fault."""
    if not isinstance(record, Mapping):
        raise PayTraceDataError(f"a record must be a JSON object, got {type(record).__name__}")
    try:
        tid: object = read_transaction_id(record.get("transaction_id"))
    except ValueError:
        tid = None
    problem = problem_in_values(record)
    if problem is not None:
        raise PayTraceDataError(problem[1], transaction_id=tid, field=problem[0])
    try:
        return PayTraceExportRecord.model_validate(record)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "missing"
        raise PayTraceDataError(message, transaction_id=tid, field=_field_of(first["loc"])) from None


def _state(kind: str, approval_code: str, settled: datetime | None) -> str:
    if kind == "VOID":
        return "voided"
    if kind in _APPROVABLE and not approval_code.strip():
        return "declined"
    if settled is not None:
        return "settled"
    return {"AUTHORIZATION": "authorized", "CAPTURE": "captured"}.get(kind, "approved")


def state_of(record: Mapping[str, Any]) -> str:
    """The state a record shows by itself (no webhook event to say otherwise)."""
    checked = checked_record(record)
    return _state(checked.transaction_type, checked.approval_code, checked.settled)


def created_at_of(record: Mapping[str, Any], tz_name: str) -> datetime:
    tid = transaction_id_of(record)
    created = record.get("created")
    raw = created.get("at") if isinstance(created, Mapping) else None
    try:
        return local_to_utc(read_timestamp(raw), tz_name)
    except (ValueError, TimeFormatError) as exc:
        raise PayTraceDataError(str(exc), transaction_id=tid, field="created.at") from None


def dedup_key(transaction_id: int, state: str) -> str:
    """The landing table's key: webhook and export rows showing the same state of the same transaction collide."""
    return f"{transaction_id}:{state}"


def _cut(text: str, limit: int = 200) -> str:
    return text.strip()[:limit]


def parse_record(record: Mapping[str, Any], tz_name: str) -> dict[str, Any]:
    """One export record -> one canonical row (the columns of ``paytrace_transactions`` it determines).

    Card data must have been scrubbed from ``record`` first: text is cut to its column here.
    """
    r = checked_record(record)
    created = local_to_utc(r.created.at, tz_name)
    settled = local_to_utc(r.settled, tz_name) if r.settled is not None else None
    card = r.credit_card
    masked = _cut(card.masked_number, 32) if card else ""
    billing = r.billing_address
    return {
        "transaction_id": r.transaction_id,
        "transaction_type": r.transaction_type,
        "state": _state(r.transaction_type, r.approval_code, r.settled),
        "amount_minor": r.amount,
        "tax_minor": r.tax_amount,
        "currency": CURRENCY,
        "created_at": created,
        "settled_at": settled,
        "business_date": business_date(created, tz_name),
        "invoice_id": _cut(r.invoice_id, 100),
        "customer_id": _cut(r.customer_id, 100),
        "description": _cut(r.description, 1000),
        "masked_card_number": masked,
        "card_last_four": "".join(ch for ch in masked if ch.isascii() and ch.isdigit())[-4:],
        "expiration_month": card.expiration_month if card else None,
        "expiration_year": expand_two_digit_year(card.expiration_year, created.year) if card and card.expiration_year is not None else None,
        "approval_code": _cut(r.approval_code, 20),
        "approval_message": _cut(r.approval_message),
        "billing_name": _cut(billing.name) if billing else "",
        "billing_street": _cut(billing.street_address) if billing else "",
        "billing_city": _cut(billing.city, 100) if billing else "",
        "billing_state": _cut(billing.state, 50) if billing else "",
        "billing_zip": _cut(billing.zip, 20) if billing else "",
        "billing_country": _cut(billing.country, 50) if billing else "",
        "receipt_emailed_to": _cut(r.receipt_emailed_to),
    }


def state_order(row: Mapping[str, Any]) -> tuple[int, int]:
    """How landing rows of one transaction rank: the later state, then the later landing, wins."""
    return STATE_RANK.get(row["state"], 0), row["id"]


def latest_states(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """From landing rows (``transaction_id``, ``state``, ``id``), the one row per transaction that shows its latest state."""
    best: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        tid = row["transaction_id"]
        cur = best.get(tid)
        if cur is None or state_order(row) > state_order(cur):
            best[tid] = row
    return [best[t] for t in sorted(best)]


def payload_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True)

