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

from paysync_dagster.lib.money import MoneyError, to_minor
from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.timeutil import TimeFormatError, business_date, expand_two_digit_year, parse_paytrace_timestamp

TRANSACTION_TYPES = frozenset({"SALE", "AUTHORIZATION", "CAPTURE", "REFUND", "VOID", "STR/FWD", "FORCE"})
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

CURRENCY = "USD"  # PayTrace v1 accounts settle in US dollars; the export carries no currency field.


def _field(record: Mapping[str, Any], path: str, tid: object) -> Any:
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise PayTraceDataError("missing", transaction_id=tid, field=path)
        node = node[part]
    return node


def _optional(record: Mapping[str, Any], path: str) -> Any:
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part, "")
    return "" if node is None else node


def _text(record: Mapping[str, Any], path: str, limit: int = 200) -> str:
    value = _optional(record, path)
    return str(value).strip()[:limit]


def transaction_id_of(record: Mapping[str, Any]) -> int:
    raw = record.get("transaction_id") if isinstance(record, Mapping) else None
    if isinstance(raw, bool) or raw in (None, ""):
        raise PayTraceDataError("missing", transaction_id=None, field="transaction_id", value=raw)
    try:
        tid = int(raw)
    except (TypeError, ValueError):
        raise PayTraceDataError("not an integer", transaction_id=raw, field="transaction_id", value=raw) from None
    if tid <= 0 or str(raw).strip() != str(tid):
        raise PayTraceDataError("not a positive integer", transaction_id=raw, field="transaction_id", value=raw)
    return tid


def transaction_type_of(record: Mapping[str, Any], tid: object) -> str:
    raw = _field(record, "transaction_type", tid)
    kind = str(raw).strip().upper()
    if kind not in TRANSACTION_TYPES:
        raise PayTraceDataError(
            f"unknown transaction_type {raw!r} (known: {', '.join(sorted(TRANSACTION_TYPES))})",
            transaction_id=tid, field="transaction_type", value=raw,
        )
    return kind


def state_of(record: Mapping[str, Any]) -> str:
    tid = transaction_id_of(record)
    kind = transaction_type_of(record, tid)
    if kind == "VOID":
        return "voided"
    if kind in _APPROVABLE and not _text(record, "approval_code"):
        return "declined"
    if _text(record, "settled"):
        return "settled"
    return {"AUTHORIZATION": "authorized", "CAPTURE": "captured"}.get(kind, "approved")


def created_at_of(record: Mapping[str, Any], tz_name: str) -> datetime:
    tid = transaction_id_of(record)
    raw = _field(record, "created.at", tid)
    try:
        return parse_paytrace_timestamp(str(raw), tz_name)
    except TimeFormatError as exc:
        raise PayTraceDataError(str(exc), transaction_id=tid, field="created.at", value=raw) from None


def dedup_key(transaction_id: int, state: str) -> str:
    """The landing table's key: webhook and export rows showing the same state of the same transaction collide."""
    return f"{transaction_id}:{state}"


def parse_record(record: Mapping[str, Any], tz_name: str) -> dict[str, Any]:
    """One export record -> one canonical row (the columns of ``paytrace_transactions`` it determines)."""
    if not isinstance(record, Mapping):
        raise PayTraceDataError(f"a record must be a JSON object, got {type(record).__name__}")
    tid = transaction_id_of(record)
    kind = transaction_type_of(record, tid)
    raw_amount = _field(record, "amount", tid)
    try:
        if isinstance(raw_amount, str) and not raw_amount.strip():
            raise MoneyError("empty amount")
        amount = to_minor(raw_amount, CURRENCY)
    except MoneyError as exc:
        raise PayTraceDataError(str(exc), transaction_id=tid, field="amount", value=raw_amount) from None
    if amount < 0:
        raise PayTraceDataError("negative amount", transaction_id=tid, field="amount", value=raw_amount)
    raw_tax = _optional(record, "tax_amount")
    try:
        tax = 0 if raw_tax in ("", None) else to_minor(raw_tax, CURRENCY)
    except MoneyError as exc:
        raise PayTraceDataError(str(exc), transaction_id=tid, field="tax_amount", value=raw_tax) from None
    created = created_at_of(record, tz_name)
    raw_settled = _text(record, "settled")
    try:
        settled = parse_paytrace_timestamp(raw_settled, tz_name) if raw_settled else None
    except TimeFormatError as exc:
        raise PayTraceDataError(str(exc), transaction_id=tid, field="settled", value=raw_settled) from None
    masked = _text(record, "credit_card.masked_number", 32)
    last_four = "".join(ch for ch in masked if ch.isdigit())[-4:]
    exp_month = _optional(record, "credit_card.expiration_month")
    exp_year = _optional(record, "credit_card.expiration_year")
    try:
        exp_month_i = int(exp_month) if str(exp_month).strip() else None
        exp_year_i = expand_two_digit_year(int(exp_year), created.year) if str(exp_year).strip() else None
    except (TypeError, ValueError):
        raise PayTraceDataError("not a number", transaction_id=tid, field="credit_card.expiration_month/year", value=(exp_month, exp_year)) from None
    if exp_month_i is not None and not 1 <= exp_month_i <= 12:
        raise PayTraceDataError("month out of range", transaction_id=tid, field="credit_card.expiration_month", value=exp_month)
    return {
        "transaction_id": tid,
        "transaction_type": kind,
        "state": state_of(record),
        "amount_minor": amount,
        "tax_minor": tax,
        "currency": CURRENCY,
        "created_at": created,
        "settled_at": settled,
        "business_date": business_date(created, tz_name),
        "invoice_id": _text(record, "invoice_id", 100),
        "customer_id": _text(record, "customer_id", 100),
        "description": _text(record, "description", 1000),
        "masked_card_number": masked,
        "card_last_four": last_four,
        "expiration_month": exp_month_i,
        "expiration_year": exp_year_i,
        "approval_code": _text(record, "approval_code", 20),
        "approval_message": _text(record, "approval_message"),
        "billing_name": _text(record, "billing_address.name"),
        "billing_street": _text(record, "billing_address.street_address"),
        "billing_city": _text(record, "billing_address.city", 100),
        "billing_state": _text(record, "billing_address.state", 50),
        "billing_zip": _text(record, "billing_address.zip", 20),
        "billing_country": _text(record, "billing_address.country", 50),
        "receipt_emailed_to": _text(record, "receipt_emailed_to"),
    }


def latest_states(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """From landing rows (``transaction_id``, ``state``, ``id``), the one row per transaction that shows its latest state."""
    best: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        tid = row["transaction_id"]
        cur = best.get(tid)
        if cur is None or (STATE_RANK.get(row["state"], 0), row["id"]) > (STATE_RANK.get(cur["state"], 0), cur["id"]):
            best[tid] = row
    return [best[t] for t in sorted(best)]


def payload_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True)

