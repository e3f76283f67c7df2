"""Reconciliation statuses that need a person, as rows for the exception queue (the ERP's reconciliation stage)."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from paysync_dagster.lib.timeutil import utcnow

#: status -> suggested action; statuses not listed need nobody (matched, declined_not_posted,
#: pending_settlement) or are counted as a KPI instead (unapplied_in_erp: unapplied cash, already
#: raised at posting as no_invoice_match when it needs review)
ACTIONS = {
    "missing_in_erp": "replay the posting of the payment's date (nothing is posted twice); if it fails again, read the "
                      "posting exception of the same payment",
    "missing_in_gateway": "find who entered this receipt in the ERP: PayTrace has no such transaction; reverse it there "
                          "if it is not a real payment",
    "amount_mismatch": "correct the receipt's amount in the ERP to what PayTrace settled, or refund the difference",
    "duplicate_in_erp": "reverse the extra receipt in the ERP (keep the one whose id the posting ledger names)",
    "drift": "the receipt was changed or deleted in the ERP after posting: restore it, or record why in a note and "
             "resolve",
}


def exception_rows(transactions: pd.DataFrame, day: date, stage: str = "reconciliation") -> list[dict]:
    """The statuses that need a person, as exception rows of ``stage`` (the ERP's reconciliation)."""
    if transactions.empty:
        return []
    flagged = transactions[transactions["status"].isin(ACTIONS)]
    now = utcnow()
    rows = []
    for r in flagged.itertuples():
        amount = int(r.gateway_amount_minor) or int(r.erp_amount_minor)
        rows.append({"business_date": day, "transaction_id": int(r.transaction_id), "stage": stage,
                     "reason_code": str(r.status), "reason": str(r.detail), "amount_minor": abs(amount),
                     "currency": str(r.currency or "USD"),
                     "details": json.dumps({"receipt_number": r.receipt_number, "erp_receipt_id": r.erp_receipt_id,
                                            "gateway_amount_minor": int(r.gateway_amount_minor),
                                            "erp_amount_minor": int(r.erp_amount_minor),
                                            "settlement_batch": None if pd.isna(r.settlement_batch) else int(r.settlement_batch)}),
                     "suggested_action": ACTIONS[str(r.status)], "status": "open", "created_at": now})
    return rows
