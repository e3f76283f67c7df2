"""Pure builders of the PayTrace warehouse tables from landing rows and batch exports."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from paysync_dagster.lib.paytrace.batches import parse_batch, signed_amount
from paysync_dagster.lib.paytrace.records import latest_states, parse_record

# Amount flows for people: what counts as money in, and what goes back out.
_GROSS_TYPES = {"SALE", "CAPTURE", "STR/FWD", "FORCE"}
_LIVE_STATES = {"approved", "captured", "settled"}


def transaction_rows(landing_rows: Iterable[Mapping[str, Any]], tz_name: str) -> list[dict[str, Any]]:
    """``paytrace_transactions`` rows: one per transaction, from its latest landed state."""
    rows = []
    for landed in latest_states(landing_rows):
        row = parse_record(json.loads(landed["payload"]), tz_name)
        # A webhook state (e.g. a chargeback) is not visible in the record itself.
        row["state"] = landed["state"]
        row["business_date"] = landed["business_date"]
        row["source"] = landed["source"]
        row["landing_id"] = landed["id"]
        rows.append(row)
    return rows


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
