"""What the posting ledger says an ERP holds, for comparing with what the ERP's sandbox holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from paysync_dagster.lib.posting.ledger import ADJUSTMENT, APPLICATION, RECEIPT, REVERSAL, Ledger


def ledger_view(engine: Engine, erp: str) -> dict[str, Any]:
    """Receipts (number -> ERP id), the receipts reversed, and each receipt's active applications
    (invoice -> amount, sorted, zero amounts left out)."""
    entries = [e for e in Ledger(engine, erp).entries() if e.posted]
    receipts = {e.reference: e.erp_id for e in entries if e.action == RECEIPT}
    reversed_ = {e.parent_reference for e in entries if e.action == REVERSAL}
    applied: dict[str, dict[str, int]] = {}
    for e in entries:  # in ledger order: an adjustment replaces the amount an application put there
        if e.action in (APPLICATION, ADJUSTMENT) and e.parent_reference not in reversed_:
            per = applied.setdefault(e.parent_reference or "", {})
            per[e.detail["invoice"]] = e.amount_minor
    return {"receipts": receipts, "reversed": reversed_,
            "applied": {r: sorted((i, a) for i, a in per.items() if a) for r, per in applied.items()}}
