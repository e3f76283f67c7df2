"""The checks that hold the books together, over a reconciliation's frames."""

from __future__ import annotations

from typing import Any

import pandas as pd


#: what happened to a batch's receipts after they were posted right: not a posting error
AFTERWARDS = ("refund_in_later_batch", "chargeback")


def batch_checks(batches: pd.DataFrame, variances: pd.DataFrame, tolerance_minor: int) -> dict[str, dict[str, Any]]:
    """``totals``: each batch's own total equals the sum of its listed settled transactions;
    ``erp``: the ERP's receipts for each batch, as posted (before refunds settled in later batches and
    chargebacks took from them, which the variance items show), equal its net within ``tolerance_minor``."""
    if batches.empty:
        return {"totals": {"passed": True, "failing": []}, "erp": {"passed": True, "failing": []}}
    off = batches[batches["net_minor"] != batches["listed_net_minor"]]
    later = variances[(variances["leg"] == "erp") & variances["cause"].isin(AFTERWARDS)] if not variances.empty else variances
    taken = later.groupby("batch_number")["amount_minor"].sum() if not later.empty else pd.Series(dtype="int64")
    as_posted = batches["erp_variance_minor"] - batches["batch_number"].map(taken).fillna(0).astype("int64")
    erp = batches[as_posted.abs() > tolerance_minor]
    return {
        "totals": {"passed": off.empty, "failing": [
            {"batch": int(r.batch_number), "total": int(r.net_minor), "transactions": int(r.listed_net_minor)}
            for r in off.itertuples()]},
        "erp": {"passed": erp.empty, "failing": [
            {"batch": int(r.batch_number), "net": int(r.net_minor), "erp": int(r.erp_net_minor),
             "variance": int(r.erp_variance_minor)} for r in erp.itertuples()]},
    }


def unaccounted(gateway: pd.DataFrame, erp_receipts: pd.DataFrame, transactions: pd.DataFrame, prefix: str) -> list[dict]:
    """Transactions or ERP receipts without exactly one row in the report (empty: all accounted for)."""
    counts = transactions["transaction_id"].value_counts() if not transactions.empty else pd.Series(dtype="int64")
    problems = [{"transaction_id": int(t), "rows": int(n)} for t, n in counts[counts != 1].items()]
    seen = set(int(t) for t in counts.index)
    ids = set(int(t) for t in gateway["transaction_id"]) if not gateway.empty else set()
    if not erp_receipts.empty:
        numbers = erp_receipts["reference"].astype(str)
        digits = numbers[numbers.str.startswith(prefix)].str.slice(len(prefix))
        ids |= {int(d) for d in digits if d.isdigit()}
    problems += [{"transaction_id": t, "rows": 0} for t in sorted(ids - seen)]
    return problems

