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

import functools
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

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
from paysync_dagster.lib.paytrace.plain_read import read_plain
from paysync_dagster.lib.timeutil import TimeFormatError, business_date, expand_two_digit_year, local_to_utc, zone

__all__ = ["CURRENCY", "TRANSACTION_TYPES", "STATE_RANK", "parse_record", "state_of", "created_at_of", "dedup_key",
           "latest_states", "state_order", "payload_json", "transaction_id_of", "checked_record",
           "parse_checked_values", "landing_fields", "landing_values"]

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
    if type(record) is dict and problem_in_values(record) is None:
        return parse_checked_values(record, tz_name)
    return _row(_plain_of(checked_record(record)), tz_name)


def parse_checked_values(record: Mapping[str, Any], tz_name: str) -> dict[str, Any]:
    """``parse_record`` for a record whose values ``contract.problem_in_values`` has passed already
    (the landing path checks them in the same pass as it looks for card data): the same row, or the
    same ``PayTraceDataError``."""
    plain = read_plain(record)
    if plain is None:  # the model refuses it (and says why), or the record is not a plain dict
        plain = _plain_of(checked_record(record))
    return _row(plain, tz_name)


def landing_fields(record: Mapping[str, Any], tz_name: str) -> tuple[int, str, date, datetime]:
    """What the landing table needs of a record whose values ``contract.problem_in_values`` has passed
    already: (transaction id, state, business date, settled or else created time in UTC). The record
    is checked exactly as ``parse_record`` checks it (the same ``PayTraceDataError``), without
    building the canonical row."""
    plain = read_plain(record)
    if plain is None:  # the model refuses it (and says why), or the record is not a plain dict
        row = parse_checked_values(record, tz_name)
        return row["transaction_id"], row["state"], row["business_date"], row["settled_at"] or row["created_at"]
    return landing_values(plain["transaction_id"], plain["transaction_type"], plain["approval_code"], plain["created"]["at"],
                          plain["settled"], tz_name)


def landing_values(transaction_id: int, kind: str, approval_code: str, created_local: datetime, settled_local: datetime | None,
                   tz_name: str) -> tuple[int, str, date, datetime]:
    """``landing_fields`` from a record's values as the contract reads them (``read_plain``)."""
    created, day = _utc_and_day(created_local, tz_name)
    settled = _utc_and_day(settled_local, tz_name)[0] if settled_local is not None else None
    return transaction_id, _state(kind, approval_code, settled_local), day, settled or created


def _plain_of(model: BaseModel) -> dict[str, Any]:
    """A checked record's field values as ``contract.read_plain`` gives them."""
    return {name: _plain_of(value) if isinstance(value, BaseModel) else value
            for name in type(model).model_fields for value in (getattr(model, name),)}


def _utc_and_day(local: datetime, tz_name: str) -> tuple[datetime, date]:
    """The UTC instant of a local time and its business date. In a wall-clock hour with one offset
    whichever ``fold`` (nearly every hour), the instant is ``local`` minus that offset and the date is
    ``local``'s own: the hour's offset is remembered (a day's export has a hundred thousand distinct
    times in a few dozen hours). Otherwise each time is converted and remembered (timestamps repeat:
    a batch's close; ``fold`` is part of the key: equal naive times may name two instants)."""
    offset = _steady_offset(local.toordinal(), local.hour, tz_name)
    if offset is not None:
        try:
            return local - offset, local.date()
        except OverflowError:
            pass
    return _utc_and_day_of(local, local.fold, tz_name)


_LAST_MOMENT_OF_AN_HOUR = timedelta(minutes=59, seconds=59, microseconds=999_999)


@functools.lru_cache(maxsize=1024)
def _steady_offset(day_ordinal: int, hour: int, tz_name: str) -> timedelta | None:
    """The UTC offset of every wall-clock time of that day's hour, or None when its first and last
    moments, each taken with either ``fold``, do not all have the same offset (the hour holds or
    touches a change of offset; a zone's offset never changes twice within an hour)."""
    tz = zone(tz_name)
    first = datetime.fromordinal(day_ordinal).replace(hour=hour)
    try:
        last = first + _LAST_MOMENT_OF_AN_HOUR
    except OverflowError:
        return None
    offsets = {tz.utcoffset(moment.replace(tzinfo=tz, fold=fold)) for moment in (first, last) for fold in (0, 1)}
    return offsets.pop() if len(offsets) == 1 else None


@functools.lru_cache(maxsize=8192)
def _utc_and_day_of(local: datetime, _fold: int, tz_name: str) -> tuple[datetime, date]:
    # A wall-clock time that is neither skipped nor repeated (its offset the same whichever ``fold``)
    # names one instant, ``local`` minus that offset, whose wall-clock date is its own: what the two
    # conversions below give, at half the cost. In a skipped or repeated hour, the conversions.
    tz = zone(tz_name)
    offset = tz.utcoffset(local.replace(tzinfo=tz, fold=0))
    if offset is not None and offset == tz.utcoffset(local.replace(tzinfo=tz, fold=1)):
        try:
            return local - offset, local.date()
        except OverflowError:
            pass
    utc = local_to_utc(local, tz_name)
    return utc, business_date(utc, tz_name)


@functools.lru_cache(maxsize=8192)
def _last_four(masked: str) -> str:
    return "".join(ch for ch in masked if ch.isascii() and ch.isdigit())[-4:]


def _row(r: dict[str, Any], tz_name: str) -> dict[str, Any]:
    created, day = _utc_and_day(r["created"]["at"], tz_name)
    settled_local = r["settled"]
    settled = _utc_and_day(settled_local, tz_name)[0] if settled_local is not None else None
    card = r["credit_card"]
    masked = _cut(card["masked_number"], 32) if card else ""
    billing = r["billing_address"]
    kind, approval_code = r["transaction_type"], r["approval_code"]
    return {
        "transaction_id": r["transaction_id"],
        "transaction_type": kind,
        "state": _state(kind, approval_code, settled_local),
        "amount_minor": r["amount"],
        "tax_minor": r["tax_amount"],
        "currency": CURRENCY,
        "created_at": created,
        "settled_at": settled,
        "business_date": day,
        "invoice_id": _cut(r["invoice_id"], 100),
        "customer_id": _cut(r["customer_id"], 100),
        "description": _cut(r["description"], 1000),
        "masked_card_number": masked,
        "card_last_four": _last_four(masked),
        "expiration_month": card["expiration_month"] if card else None,
        "expiration_year": expand_two_digit_year(card["expiration_year"], created.year) if card and card["expiration_year"] is not None else None,
        "approval_code": _cut(approval_code, 20),
        "approval_message": _cut(r["approval_message"]),
        "billing_name": _cut(billing["name"]) if billing else "",
        "billing_street": _cut(billing["street_address"]) if billing else "",
        "billing_city": _cut(billing["city"], 100) if billing else "",
        "billing_state": _cut(billing["state"], 50) if billing else "",
        "billing_zip": _cut(billing["zip"], 20) if billing else "",
        "billing_country": _cut(billing["country"], 50) if billing else "",
        "receipt_emailed_to": _cut(r["receipt_emailed_to"]),
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


_PAYLOAD_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)  # built once, not per call


def payload_json(record: Mapping[str, Any]) -> str:
    """``json.dumps(record, separators=(",", ":"), sort_keys=True)``."""
    return _PAYLOAD_ENCODER.encode(record)

