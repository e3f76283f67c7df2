"""What Sage 300 holds in the composed sandbox, read back over its Web API (faults off), and the
posting ledger compared with it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from sqlalchemy import Engine

from paysync_dagster.lib.sage.adapter import CASH_TYPES, receipt_id, target_id
from paysync_dagster_tests.defs.erp.ledger_view import ledger_view
from paysync_dagster_tests.lib.sage.sage_support import batches, documents


def _held(url: str) -> dict[str, Any]:
    """Every PaySync receipt entry Sage holds (read unfaulted), by number: how many entries carry it,
    the last one's id and fields, and what it applies (its own lines and the ApplyDocument entries
    drawing on it, by target, zero amounts left out)."""
    httpx.post(f"{url}/_sandbox/faults", json={}, timeout=30).raise_for_status()
    count: Counter[str] = Counter()
    receipts: dict[str, dict[str, Any]] = {}
    applied: dict[str, Counter[str]] = {}
    for b in batches(url):
        for e in b.entries:
            ref = e.check_receipt_number or ""
            if e.transaction_type in ("Receipt", "ApplyDocument"):
                for line in e.applied:
                    applied.setdefault(ref, Counter())[target_id(line.document_number or "", line.payment_number)] \
                        += line.amount_minor or 0
            if e.transaction_type in CASH_TYPES:
                count[ref] += 1
                receipts[ref] = {"id": receipt_id(b.batch_number, e.entry_number), "amount": e.amount_minor,
                                 "customer": e.customer_number, "type": e.transaction_type, "status": b.status,
                                 "date": str(b.batch_date)}
    return {"count": count, "receipts": receipts,
            "applied": {r: sorted((t, a) for t, a in per.items() if a) for r, per in applied.items()}}


def final_state(url: str) -> dict[str, Any]:
    """What Sage holds, without its batch and entry numbers, so two sandboxes can be compared: each
    receipt (type, amount, customer, batch status) with what it applies (its own lines and the
    ApplyDocument entries drawing on it), how many receipts carry each number, and every invoice's
    amount due and FullyPaid."""
    held = _held(url)
    receipts = {ref: {**{k: v for k, v in r.items() if k != "id"}, "applied": held["applied"].get(ref, [])}
                for ref, r in held["receipts"].items()}
    return {"receipts": receipts, "receipt_numbers": held["count"],
            "invoices": {n: d for n, d in documents(url).items() if d[0] == "Invoice"}}


def assert_ledger_equals_sandbox(engine: Engine, url: str) -> None:
    """Every receipt the ledger posted is in Sage under its id (CA-<batch>-<entry>) and the reverse,
    and each receipt's applications in the ledger are those Sage holds."""
    view, held = ledger_view(engine, "sage"), _held(url)
    receipts, reversed_ = view["receipts"], view["reversed"]
    in_sage = {ref: r["id"] for ref, r in held["receipts"].items()}
    # A reversed receipt is deleted from its unposted batch; a posted one that refunds paid back in
    # full stays in Sage beside its refunds (nothing is left to reverse).
    live = {r: ref for r, ref in receipts.items() if r not in reversed_}
    assert live == {r: ref for r, ref in in_sage.items() if r not in reversed_}
    assert all(in_sage.get(r) in (None, receipts[r]) for r in reversed_ if r in receipts)
    assert ({r: a for r, a in view["applied"].items() if a}
            == {r: a for r, a in held["applied"].items() if a and r not in reversed_})
