"""Materializing the Oracle path against the composed sandbox, and reading back what Oracle holds."""

from __future__ import annotations

from collections import Counter
from typing import Any

import dagster as dg
import httpx
from sqlalchemy import Engine

from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.erp.factory import erp_assets
from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.posting.ledger import ADJUSTMENT, APPLICATION, RECEIPT, REVERSAL, Ledger
from paysync_dagster_tests.conftest import oracle_resource, paytrace_resource

ORACLE_ASSETS = erp_assets("oracle")
UPSTREAM = [paytrace_transactions, paytrace_settlement_batches, ORACLE_ASSETS.customer_accounts, normalized_payments]
ORACLE = [ORACLE_ASSETS.open_invoices, ORACLE_ASSETS.cash_receipts]


def materialize(url: str, warehouse_url: str, day: str, assets: list, **oracle_options: Any) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, partition_key=day, raise_on_error=False, resources={
        "warehouse": WarehouseResource(database_url=warehouse_url), "paytrace": paytrace_resource(url),
        "oracle": oracle_resource(url, **oracle_options)})
    return result


def checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    return {(c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()}


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


def ledger_view(engine: Engine) -> dict[str, Any]:
    """What the ledger says Oracle holds: receipts (number -> id) and active applications per receipt."""
    ledger = Ledger(engine, "oracle")
    entries = [e for e in ledger.entries() if e.posted]
    receipts = {e.reference: e.erp_id for e in entries if e.action == RECEIPT}
    reversed_ = {e.parent_reference for e in entries if e.action == REVERSAL}
    applied: dict[str, dict[str, int]] = {}
    for e in entries:  # in ledger order: an adjustment replaces the amount an application put there
        if e.action in (APPLICATION, ADJUSTMENT) and e.parent_reference not in reversed_:
            per = applied.setdefault(e.parent_reference or "", {})
            per[e.detail["invoice"]] = e.amount_minor
    return {"receipts": receipts, "reversed": reversed_,
            "applied": {r: sorted((i, a) for i, a in per.items() if a) for r, per in applied.items()}}


def assert_ledger_equals_sandbox(engine: Engine, url: str) -> None:
    view, state = ledger_view(engine), oracle_state(url)
    in_oracle = {r["ReceiptNumber"]: str(r["StandardReceiptId"]) for r in state["receipts"]}
    assert view["receipts"] == in_oracle  # every posted receipt is in Oracle under its id, and vice versa
    assert view["reversed"] == {r["ReceiptNumber"] for r in state["receipts"] if r["Status"] == "Reversed"}
    oracle_applied = {r["ReceiptNumber"]: sorted((a["TransactionNumber"], a["amount_minor"]) for a in r["applications"]
                                                 if a["status"] == "APP") for r in state["receipts"]}
    assert {r: a for r, a in view["applied"].items() if a} == {r: a for r, a in oracle_applied.items() if a}
