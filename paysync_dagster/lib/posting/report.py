"""Outcomes as warehouse rows (``<erp>_cash_receipts``, ``payment_exceptions``) and the figures a
finance user reads on a materialization; the two checks every posting partition must pass."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from paysync_dagster.lib.posting.ledger import RECEIPT, Ledger
from paysync_dagster.lib.posting.poster import POSTED_OUTCOMES, Outcome
from paysync_dagster.lib.timeutil import utcnow


def outcome_row(o: Outcome) -> dict[str, Any]:
    return {
        "business_date": o.business_date, "transaction_id": o.transaction_id, "kind": o.kind, "outcome": o.outcome,
        "amount_minor": o.amount_minor, "currency": o.currency, "reference": o.reference,
        "receipt_number": o.receipt_number, "erp_receipt_id": o.erp_receipt_id, "owns_receipt": o.owns_receipt,
        "invoices": o.invoices, "applied_minor": o.applied_minor, "unapplied_minor": o.unapplied_minor,
        "match_rule": o.match_rule, "match_score": o.match_score, "reason": o.reason,
        "exception_code": o.exception[0] if o.exception else "",
        "customer_account": o.customer_account, "match_tokens": o.match_tokens, "match_rejected": o.match_rejected,
    }


def exception_rows(outcomes: Iterable[Outcome], stage: str) -> list[dict[str, Any]]:
    """One open exception per outcome that needs a person (no card data: ids, amounts, references)."""
    now = utcnow()
    return [{
        "business_date": o.business_date, "transaction_id": o.transaction_id, "stage": stage,
        "reason_code": o.exception[0], "reason": o.exception[1], "amount_minor": o.amount_minor, "currency": o.currency,
        "details": json.dumps({"kind": o.kind, "outcome": o.outcome, "receipt_number": o.receipt_number,
                               "erp_receipt_id": o.erp_receipt_id, "invoices": o.invoices,
                               "match_rule": o.match_rule, "match_score": o.match_score,
                               "customer_account": o.customer_account, "references_read": o.match_tokens,
                               "rejected": o.match_rejected}, sort_keys=True),
        "suggested_action": o.exception[2], "status": "open", "created_at": now,
    } for o in outcomes if o.exception]


def bucket(outcome: str) -> str:
    """posted (done in the ERP), skipped, or exception: the three an asset check adds up."""
    return "posted" if outcome in POSTED_OUTCOMES else outcome


def counts_add_up(payment_ids: Sequence[int], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Every normalized payment has exactly one outcome: posted + skipped + exceptions = normalized."""
    ids = [o.transaction_id for o in outcomes]
    buckets = Counter(bucket(o.outcome) for o in outcomes)
    missing = sorted(set(payment_ids) - set(ids))
    extra = sorted(set(ids) - set(payment_ids))
    duplicates = len(ids) - len(set(ids))
    passed = (not missing and not extra and not duplicates
              and buckets["posted"] + buckets["skipped"] + buckets["exception"] == len(payment_ids))
    return {"passed": passed, "normalized": len(payment_ids), "posted": buckets["posted"],
            "skipped": buckets["skipped"], "exceptions": buckets["exception"], "missing": missing[:20],
            "extra": extra[:20], "duplicates": duplicates}


def ledger_matches(ledger: Ledger, day: Any, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ledger's posted receipts of the date are exactly the receipts the date's rows own
    (``<erp>_cash_receipts`` rows, or ``outcome_row`` dicts)."""
    in_ledger = {e.reference: e.erp_id for e in ledger.entries(business_dates=[day], actions=[RECEIPT]) if e.posted}
    in_rows = {r["receipt_number"]: r["erp_receipt_id"] for r in rows if r["owns_receipt"]}
    only_ledger = sorted(set(in_ledger) - set(in_rows))
    only_rows = sorted(set(in_rows) - set(in_ledger))
    different = sorted(r for r in set(in_ledger) & set(in_rows) if str(in_ledger[r]) != str(in_rows[r]))
    return {"passed": not (only_ledger or only_rows or different), "ledger_receipts": len(in_ledger),
            "row_receipts": len(in_rows), "only_in_ledger": only_ledger[:20], "only_in_rows": only_rows[:20],
            "different_erp_ids": different[:20]}


def by_outcome(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Count and amounts per outcome, from ``<erp>_cash_receipts`` rows (or ``outcome_row`` dicts)."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        o = out.setdefault(r["outcome"], {"outcome": r["outcome"], "count": 0, "amount": 0, "applied": 0, "unapplied": 0,
                                          "currency": r["currency"]})
        o["count"] += 1
        o["amount"] += int(r["amount_minor"])
        o["applied"] += int(r["applied_minor"])
        o["unapplied"] += int(r["unapplied_minor"]) if r["owns_receipt"] and r["outcome"] in POSTED_OUTCOMES else 0
    return sorted(out.values(), key=lambda o: o["outcome"])


def by_match_rule(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Receipts and their amounts per cash-application rule and currency (own receipts only: refunds
    and reversals concern another payment's receipt)."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["owns_receipt"]:
            o = out.setdefault((r["match_rule"], r["currency"]), {"match_rule": r["match_rule"], "count": 0, "amount": 0,
                                                                 "currency": r["currency"]})
            o["count"] += 1
            o["amount"] += int(r["amount_minor"])
    return sorted(out.values(), key=lambda o: (o["match_rule"], o["currency"]))


def by_reason(exceptions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Count and amount per reason, with the next step, from ``payment_exceptions`` rows."""
    out: dict[str, dict[str, Any]] = {}
    for e in exceptions:
        o = out.setdefault(e["reason_code"], {"reason_code": e["reason_code"], "count": 0, "amount": 0,
                                              "currency": e["currency"], "next_step": e["suggested_action"]})
        o["count"] += 1
        o["amount"] += int(e["amount_minor"])
    return sorted(out.values(), key=lambda o: o["reason_code"])
