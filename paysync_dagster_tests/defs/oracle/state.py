"""What Oracle Fusion holds in the composed sandbox (its control API), and the posting ledger compared with it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from sqlalchemy import Engine

from paysync_dagster_tests.defs.erp.ledger_view import ledger_view


def oracle_state(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/_sandbox/oracle/state", timeout=60).json()


def final_state(url: str) -> dict[str, Any]:
    """What Oracle holds, without its surrogate ids, so two sandboxes can be compared."""
    state = oracle_state(url)
    receipts = {}
    for r in state["receipts"]:
        receipts[r["ReceiptNumber"]] = {
            "amount": r["amount_minor"], "date": r["ReceiptDate"], "customer": r["CustomerAccountNumber"],
            "status": r["Status"], "unapplied": r["unapplied_minor"],
            "reversal": (r["reversal"] or {}).get("reason"),
            "refunds": sorted((m["ReferenceNumber"], m["ReferenceAmount"]) for m in r["remittanceReferences"]),
            "applied": sorted((a["TransactionNumber"], a["amount_minor"]) for a in r["applications"] if a["status"] == "APP"),
        }
    return {"receipts": receipts,
            "receipt_numbers": Counter(r["ReceiptNumber"] for r in state["receipts"]),
            "balances": {i["TransactionNumber"]: i["balance_minor"] for i in state["invoices"]}}


def assert_ledger_equals_sandbox(engine: Engine, url: str) -> None:
    view, state = ledger_view(engine, "oracle"), oracle_state(url)
    in_oracle = {r["ReceiptNumber"]: str(r["StandardReceiptId"]) for r in state["receipts"]}
    assert view["receipts"] == in_oracle  # every posted receipt is in Oracle under its id, and vice versa
    assert view["reversed"] == {r["ReceiptNumber"] for r in state["receipts"] if r["Status"] == "Reversed"}
    oracle_applied = {r["ReceiptNumber"]: sorted((a["TransactionNumber"], a["amount_minor"]) for a in r["applications"]
                                                 if a["status"] == "APP") for r in state["receipts"]}
    assert {r: a for r, a in view["applied"].items() if a} == {r: a for r, a in oracle_applied.items() if a}
