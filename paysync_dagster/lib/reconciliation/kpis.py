"""The KPIs finance teams compare vendors by, each with one definition (published in the README).

Every rate is stored per business date as a numerator and a denominator, so a range's rate is the
sum of numerators over the sum of denominators (never an average of daily rates). Definitions:

- ``payment_auto_match``: receipts PaySync created for the date's payments whose whole amount it
  applied to invoices without a person / receipts it created and did not reverse (payment level:
  one per payment, however many invoices it pays).
- ``invoice_auto_match``: invoice applications PaySync made / (those + payments left on account because
  no open invoice matched their reference) (invoice level: a payment of three invoices counts three).
- ``straight_through``: the date's payments (declines excepted: PayTrace refused them, there is nothing
  to post) that reached their final state with no exception at any stage, ever (a resolved or cleared
  one still counts against it) / the date's payments, declines excepted.
- ``unapplied_cash``: cash on the date's receipts not applied to any invoice (on account, unidentified
  or unapplied in the ERP at posting), in minor units / the receipts' total; per currency.
- ``batch_tie_out``: settlement batches of the date that tie out: every leg present (ERP, and the bank
  when statement files are given) equals the batch net to the cent (within the mapping's batch
  tolerance), or differs only by causes that are not errors (a refund settled in a later batch, a
  chargeback, processor fees, a deposit still in transit) / batches closed that date. A batch with
  anything missing, changed, duplicated or unexplained does not tie out.
- ``reconciled_matched``: transactions of the date's report with status ``matched`` / transactions in it.

Exceptions by reason and age are a snapshot of the open queue (:func:`exceptions_by_reason_and_age`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import pandas as pd

RATES = ("payment_auto_match", "invoice_auto_match", "straight_through", "unapplied_cash", "batch_tie_out",
         "reconciled_matched")
LABELS = {"payment_auto_match": "auto-match rate (payments)", "invoice_auto_match": "auto-match rate (invoices)",
          "straight_through": "straight-through rate", "unapplied_cash": "unapplied cash",
          "batch_tie_out": "batch tie-out rate", "reconciled_matched": "transactions matched"}
AGE_BUCKETS = ("<1d", "1-3d", "3-7d", ">7d")
#: variance causes that are the business, not an error: a batch explained by them alone ties out
EXPLAINED = frozenset({"refund_in_later_batch", "chargeback", "fees", "timing"})
OWN_RECEIPT = ("applied", "on_account", "proposed", "keyed")  # proposed, keyed: an ERP keyed by hand (Sage Pro)


def _row(day: date, kpi: str, numerator: int, denominator: int, currency: str = "") -> dict:
    return {"business_date": day, "kpi": kpi, "numerator": int(numerator), "denominator": int(denominator),
            "currency": currency}


def tied_out(batches: pd.DataFrame, variances: pd.DataFrame) -> pd.Series:
    """Per batch (indexed like ``batches``): tied to the cent, or explained by :data:`EXPLAINED` causes only."""
    if batches.empty:
        return pd.Series([], dtype=bool)
    bad = set(variances.loc[~variances["cause"].isin(EXPLAINED), "batch_number"]) if not variances.empty else set()
    return batches["tied"].astype(bool) | ~batches["batch_number"].isin(bad)


def date_kpis(day: date, outcomes: pd.DataFrame, payments: Iterable[int], declined: Iterable[int],
              with_exceptions: Iterable[int], batches: pd.DataFrame, transactions: pd.DataFrame,
              variances: pd.DataFrame) -> list[dict]:
    """The date's KPI rows. ``outcomes``: the ERP's cash-receipt rows of the date (``<erp>_cash_receipts``);
    ``payments``: every transaction id of the date (normalized or not); ``declined``: the declines among
    them; ``with_exceptions``: ids with an exception row of any stage and status; ``batches``,
    ``transactions`` and ``variances``: the date's reconciliation report."""
    rows = []
    own = outcomes[outcomes["owns_receipt"].astype(bool) & outcomes["outcome"].isin(OWN_RECEIPT)] if not outcomes.empty \
        else outcomes
    # Applied: posted onto invoices, or (keyed by hand) proposed or keyed onto invoices.
    applied = own[(own["outcome"] == "applied") | (own["outcome"].isin(("proposed", "keyed"))
                                                   & (own["invoices"].fillna("") != ""))] if not own.empty else own
    rows.append(_row(day, "payment_auto_match", len(applied), len(own)))
    invoices = int(own["invoices"].fillna("").map(lambda s: len([x for x in str(s).split(",") if x])).sum()) if not own.empty else 0
    unmatched = int((own["exception_code"] == "no_invoice_match").sum()) if not own.empty else 0
    rows.append(_row(day, "invoice_auto_match", invoices, invoices + unmatched))
    counted = set(int(t) for t in payments) - set(int(t) for t in declined)
    rows.append(_row(day, "straight_through", len(counted - set(int(t) for t in with_exceptions)), len(counted)))
    if not own.empty:
        for currency, g in own.groupby("currency"):
            rows.append(_row(day, "unapplied_cash", int(g["unapplied_minor"].sum()), int(g["amount_minor"].sum()), str(currency)))
    rows.append(_row(day, "batch_tie_out", int(tied_out(batches, variances).sum()), len(batches)))
    matched = int((transactions["status"] == "matched").sum()) if not transactions.empty else 0
    rows.append(_row(day, "reconciled_matched", matched, len(transactions)))
    return rows


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """KPI rows of any set of dates -> one row per KPI (and currency): numerator, denominator, rate."""
    if rows.empty:
        return pd.DataFrame(columns=["kpi", "label", "currency", "numerator", "denominator", "rate"])
    out = rows.groupby(["kpi", "currency"], as_index=False)[["numerator", "denominator"]].sum()
    out["rate"] = [n / d if d else None for n, d in zip(out["numerator"], out["denominator"])]
    out["label"] = out["kpi"].map(LABELS).fillna(out["kpi"])
    order = {k: i for i, k in enumerate(RATES)}
    out = out.sort_values(["kpi", "currency"], key=lambda c: c.map(order) if c.name == "kpi" else c)
    return out[["kpi", "label", "currency", "numerator", "denominator", "rate"]].reset_index(drop=True)


def age_bucket(hours: float) -> str:
    return "<1d" if hours < 24 else "1-3d" if hours < 72 else "3-7d" if hours < 168 else ">7d"


def exceptions_by_reason_and_age(exceptions: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Open exceptions (rows of ``payment_exceptions``) counted and summed by reason code and age bucket."""
    columns = ["reason_code", "currency", *AGE_BUCKETS, "count", "amount_minor"]
    if exceptions.empty:
        return pd.DataFrame(columns=columns)
    x = exceptions[exceptions["status"] == "open"]
    if x.empty:
        return pd.DataFrame(columns=columns)
    hours = (pd.Timestamp(now) - pd.to_datetime(x["created_at"])).dt.total_seconds() / 3600
    x = x.assign(bucket=hours.map(age_bucket))
    counts = x.pivot_table(index=["reason_code", "currency"], columns="bucket", values="transaction_id", aggfunc="count",
                           fill_value=0)
    for b in AGE_BUCKETS:
        if b not in counts.columns:
            counts[b] = 0
    counts = counts[list(AGE_BUCKETS)]
    totals = x.groupby(["reason_code", "currency"]).agg(count=("transaction_id", "count"), amount_minor=("amount_minor", "sum"))
    out = counts.join(totals).reset_index().sort_values(["count", "reason_code"], ascending=[False, True])
    return out[columns].reset_index(drop=True)


def describe(summary: pd.DataFrame, money_format) -> list[str]:  # noqa: ANN001
    """One line per KPI for a person: "auto-match rate (payments): 91.4% (1,712 of 1,874)". A rate of
    0 of 0 is "n/a" (the summary's None, which pandas holds as NaN beside other rates)."""
    lines = []
    for r in summary.itertuples():
        if r.kpi == "unapplied_cash":
            share = f" ({r.rate:.1%} of {money_format(int(r.denominator), r.currency)})" if pd.notna(r.rate) else ""
            lines.append(f"{r.label}: {money_format(int(r.numerator), r.currency)}{share}")
        else:
            rate = f"{r.rate:.1%}" if pd.notna(r.rate) else "n/a"
            lines.append(f"{r.label}: {rate} ({int(r.numerator):,} of {int(r.denominator):,})")
    return lines
