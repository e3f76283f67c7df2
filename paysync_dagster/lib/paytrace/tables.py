"""Pure builders of the PayTrace warehouse tables from landing rows and batch exports."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from paysync_dagster.lib.paytrace.batches import parse_batch, signed_amount
from paysync_dagster.lib.paytrace.contract import CURRENCY, read_amount
from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace.records import parse_record, state_order
from paysync_dagster.lib.scrub import mask_then_cut

# Amount flows for people: what counts as money in, and what goes back out.
_GROSS_TYPES = {"SALE", "CAPTURE", "STR/FWD", "FORCE"}
_LIVE_STATES = {"approved", "captured", "settled"}


STAGE = "paytrace"
UNREADABLE = "unreadable_record"
UNREADABLE_ACTION = (
    "Look the transaction up in the PayTrace portal. When PayTrace shows it in a later state (settled, "
    "voided), the next export pull builds it from PayTrace's own record and this exception clears; "
    "otherwise key the payment by hand and resolve this exception with a note."
)


REFUSED = "unreadable_export_record"
REFUSED_ACTION = (
    "Look the transaction up in the PayTrace portal and key it by hand if PayTrace holds it; the rest of "
    "the date was pulled. Resolve this exception with a note once done; if PayTrace corrects the record, "
    "the next pull lands it and this exception clears."
)


def transaction_rows(landing_rows: Iterable[Mapping[str, Any]], tz_name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(``paytrace_transactions`` rows, exceptions): one row per transaction, from its latest landed
    state that can be read.

    A landing row that cannot be built into a transaction (landed before a check that now refuses
    its values, or read by rules stricter than when it landed) never stops the date: it becomes one
    exception, and the transaction is built from its latest readable state, if any.
    """
    by_transaction: dict[int, list[Mapping[str, Any]]] = {}
    for landed in landing_rows:
        by_transaction.setdefault(landed["transaction_id"], []).append(landed)
    rows: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    for tid in sorted(by_transaction):
        ranked = sorted(by_transaction[tid], key=state_order, reverse=True)
        for landed in ranked:
            try:
                payload = json.loads(landed["payload"])
                row = parse_record(payload, tz_name)
            except (PayTraceDataError, ValueError) as exc:
                exceptions.append(unreadable_exception(landed, _reason(exc)))
                continue
            # A webhook state (e.g. a chargeback) is not visible in the record itself.
            row["state"] = landed["state"]
            row["business_date"] = landed["business_date"]
            row["source"] = landed["source"]
            row["landing_id"] = landed["id"]
            rows.append(row)
            break
    return rows, exceptions


def refused_record_exception(day: date, transaction_id: int, problem: str) -> dict[str, Any]:
    """The exception for a record PayTrace's export sent that could not be landed (dated by the pull)."""
    reason = mask_then_cut(problem, 500)
    return {
        "business_date": day,
        "transaction_id": transaction_id,
        "stage": STAGE,
        "reason_code": REFUSED,
        "reason": f"PayTrace's export for {day} sent a record that cannot be read: {reason}",
        "amount_minor": 0,
        "currency": CURRENCY,
        "details": json.dumps({"problem": reason}, sort_keys=True),
        "suggested_action": REFUSED_ACTION,
    }


def _reason(exc: Exception) -> str:
    if isinstance(exc, PayTraceDataError) and exc.field:
        return f"field {exc.field}: {str(exc).rsplit(': ', 1)[-1]}"
    return str(exc)


def unreadable_exception(landed: Mapping[str, Any], problem: str) -> dict[str, Any]:
    """The exception for a landing row that cannot become a transaction, with its amount when readable.
    ``problem`` may quote a value: it is masked (rows landed before today's scrubbing rules) and cut."""
    reason = mask_then_cut(problem, 500)
    try:
        amount = read_amount(json.loads(landed["payload"]).get("amount"))
    except (ValueError, AttributeError, TypeError):
        amount = 0
    return {
        "business_date": landed["business_date"],
        "transaction_id": landed["transaction_id"],
        "stage": STAGE,
        "reason_code": UNREADABLE,
        "reason": f"the {landed['state']} record of transaction {landed['transaction_id']} cannot be read: {reason}",
        "amount_minor": amount,
        "currency": CURRENCY,
        "details": json.dumps({"landing_id": int(landed["id"]), "state": landed["state"], "source": landed["source"],
                               "problem": reason}, sort_keys=True),
        "suggested_action": UNREADABLE_ACTION,
    }


def transaction_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts and cents a finance user reads: gross approved sales, refunds, net, declines, voids."""
    gross = sum(r["amount_minor"] for r in rows if r["transaction_type"] in _GROSS_TYPES and r["state"] in _LIVE_STATES)
    refunds = sum(r["amount_minor"] for r in rows if r["transaction_type"] == "REFUND" and r["state"] in _LIVE_STATES)
    states = Counter(r["state"] for r in rows)
    return {
        "transactions": len(rows),
        "gross_minor": gross,
        "refunds_minor": refunds,
        "net_minor": gross - refunds,
        "declined": states.get("declined", 0),
        "voided": states.get("voided", 0),
        "settled": states.get("settled", 0),
        "pending": states.get("approved", 0) + states.get("captured", 0) + states.get("authorized", 0),
    }


def batch_rows(
    day: date,
    batches: Iterable[Mapping[str, Any]],
    listed: Mapping[int, Sequence[Mapping[str, Any]]],
    tz_name: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(``paytrace_settlement_batches`` rows, ``paytrace_batch_transactions`` rows) for batches closed on ``day``.

    ``listed`` maps a batch number to the records of its ``transaction_list``.
    """
    summaries: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    for record in batches:
        batch = parse_batch(record, tz_name)
        if batch["business_date"] != day:
            continue
        number = batch["batch_number"]
        txns = [parse_record(r, tz_name) for r in listed.get(number, [])]
        for t in txns:
            members.append({
                "business_date": day,
                "batch_number": number,
                "transaction_id": t["transaction_id"],
                "transaction_type": t["transaction_type"],
                "amount_minor": signed_amount(t),
                "currency": t["currency"],
                "settled_at": t["settled_at"],
                "invoice_id": t["invoice_id"],
            })
        batch["listed_count"] = len(txns)
        batch["listed_net_minor"] = sum(signed_amount(t) for t in txns)
        summaries.append(batch)
    summaries.sort(key=lambda b: b["batch_number"])
    return summaries, members


def batch_discrepancies(summaries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Batches whose own totals disagree with the transactions PayTrace lists for them."""
    problems = []
    for b in summaries:
        if b["net_minor"] != b["listed_net_minor"] or b["transaction_count"] != b["listed_count"]:
            problems.append(
                f"batch {b['batch_number']}: summary {b['transaction_count']} txns / {b['net_minor']} cents, "
                f"listed {b['listed_count']} txns / {b['listed_net_minor']} cents"
            )
    return problems
