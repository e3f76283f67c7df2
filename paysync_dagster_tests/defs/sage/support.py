"""What Sage 300 holds in the composed sandbox, read back over its Web API (faults off), and the
posting ledger compared with it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from sqlalchemy import Engine

from paysync_dagster.lib.posting.ledger import ADJUSTMENT, APPLICATION, RECEIPT, REVERSAL, Ledger
from paysync_dagster.lib.sage.adapter import CASH_TYPES, receipt_id, target_id
from paysync_dagster_tests.lib.sage.sage_support import batches, documents


def _entries(url: str) -> list[tuple[Any, Any]]:
    httpx.post(f"{url}/_sandbox/faults", json={}, timeout=30).raise_for_status()  # read what is there, unfaulted
    return [(b, e) for b in batches(url) for e in b.entries]


def final_state(url: str) -> dict[str, Any]:
    """What Sage holds, without its batch and entry numbers, so two sandboxes can be compared: each
    receipt (type, amount, customer, batch status) with what it applies (its own lines and the
    ApplyDocument entries drawing on it), how many receipts carry each number, and every invoice's
    amount due and FullyPaid."""
    receipts: dict[str, dict[str, Any]] = {}
    numbers: Counter[str] = Counter()
    applied: dict[str, Counter[str]] = {}
    for b, e in _entries(url):
        ref = e.check_receipt_number or ""
        lines = applied.setdefault(ref, Counter())
        if e.transaction_type in ("Receipt", "ApplyDocument"):
            for line in e.applied:
                lines[target_id(line.document_number or "", line.payment_number)] += line.amount_minor or 0
        if e.transaction_type in CASH_TYPES:
            numbers[ref] += 1
            receipts[ref] = {"amount": e.amount_minor, "customer": e.customer_number, "type": e.transaction_type,
                             "status": b.status, "date": str(b.batch_date)}
    for ref, r in receipts.items():
        r["applied"] = sorted((t, a) for t, a in applied.get(ref, Counter()).items() if a)
    return {"receipts": receipts, "receipt_numbers": numbers,
            "invoices": {n: d for n, d in documents(url).items() if d[0] == "Invoice"}}


def assert_ledger_equals_sandbox(engine: Engine, url: str) -> None:
    """Every receipt the ledger posted is in Sage under its id (CA-<batch>-<entry>) and the reverse,
    and each receipt's applications in the ledger are those Sage holds."""
    entries = [e for e in Ledger(engine, "sage").entries() if e.posted]
    receipts = {e.reference: e.erp_id for e in entries if e.action == RECEIPT}
    reversed_ = {e.parent_reference for e in entries if e.action == REVERSAL}
    ledger_applied: dict[str, dict[str, int]] = {}
    for e in entries:  # in ledger order: an adjustment replaces the amount an application put there
        if e.action in (APPLICATION, ADJUSTMENT) and e.parent_reference not in reversed_:
            ledger_applied.setdefault(e.parent_reference or "", {})[e.detail["invoice"]] = e.amount_minor
    in_sage: dict[str, str] = {}
    sage_applied: dict[str, Counter[str]] = {}
    for b, e in _entries(url):
        ref = e.check_receipt_number or ""
        if e.transaction_type in CASH_TYPES:
            in_sage[ref] = receipt_id(b.batch_number, e.entry_number)
        if e.transaction_type in ("Receipt", "ApplyDocument"):
            for line in e.applied:
                sage_applied.setdefault(ref, Counter())[target_id(line.document_number or "", line.payment_number)] \
                    += line.amount_minor or 0
    # A reversed receipt is deleted from its unposted batch; a posted one that refunds paid back in
    # full stays in Sage beside its refunds (nothing is left to reverse).
    live = {r: ref for r, ref in receipts.items() if r not in reversed_}
    assert live == {r: ref for r, ref in in_sage.items() if r not in reversed_}
    assert all(in_sage.get(r) in (None, receipts[r]) for r in reversed_ if r in receipts)
    assert ({r: sorted((i, a) for i, a in per.items() if a) for r, per in ledger_applied.items() if any(per.values())}
            == {r: sorted((i, a) for i, a in per.items() if a) for r, per in sage_applied.items()
                if any(per.values()) and r not in reversed_})
