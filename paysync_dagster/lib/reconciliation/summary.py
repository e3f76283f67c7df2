"""The reconciliation of a range of business dates, in words and figures a finance user reads."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.reconciliation.files import reconciliation_name
from paysync_dagster.lib.reconciliation.kpis import describe, exceptions_by_reason_and_age, summarize
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import (payment_exceptions, reconciliation_batches, reconciliation_kpis,
                                                  reconciliation_transactions)


def _read(conn, table, start: date, end: date) -> pd.DataFrame:  # noqa: ANN001
    result = conn.execute(select(table).where(table.c.business_date.between(start, end)))
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def range_summary(database_url: str, start: date, end: date, reports_dir: str | Path) -> str:
    """Per ERP reconciled: KPIs of the range (sums over its dates), statuses, batches tied out, open
    exceptions, report files."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            kpis = _read(conn, reconciliation_kpis, start, end)
            statuses = _read(conn, reconciliation_transactions, start, end)
            batches = _read(conn, reconciliation_batches, start, end)
            exceptions = _read(conn, payment_exceptions, start, end)
    finally:
        engine.dispose()
    if kpis.empty:
        return "\n".join([f"Reconciliation {start} to {end}", "  no reconciliation report yet for these dates"])
    blocks = []
    for erp in sorted(set(kpis["erp"])):
        stages = {"paytrace", "normalize", erp, reconciliation_name(erp)}
        blocks.append(_erp_summary(erp, start, end, kpis[kpis["erp"] == erp], statuses[statuses["erp"] == erp],
                                   batches[batches["erp"] == erp] if not batches.empty else batches,
                                   exceptions[exceptions["stage"].isin(stages)] if not exceptions.empty else exceptions,
                                   Path(reports_dir)))
    return "\n\n".join(blocks)


def _erp_summary(erp: str, start: date, end: date, kpis: pd.DataFrame, statuses: pd.DataFrame, batches: pd.DataFrame,
                 exceptions: pd.DataFrame, root: Path) -> str:
    lines = [f"Reconciliation {start} to {end}, {erp}"]
    lines += [f"  {line}" for line in describe(summarize(kpis), format_amount)]
    counts = statuses["status"].value_counts()
    lines.append("  statuses: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    per_day = kpis[kpis["kpi"] == "batch_tie_out"].sort_values("business_date")
    lines.append("  batches tied out per day: " + ", ".join(
        f"{d:%m-%d} {int(n)}/{int(t)}" for d, n, t in zip(per_day["business_date"], per_day["numerator"],
                                                          per_day["denominator"])))
    if not batches.empty:
        erp_leg = int(batches["erp_variance_minor"].abs().sum())
        bank = batches["bank_variance_minor"].dropna()
        lines.append(f"  batch variances: ERP leg {format_amount(erp_leg)}"
                     + (f", bank leg {format_amount(int(bank.sum()))}" if len(bank) else ", bank leg not given"))
    ages = exceptions_by_reason_and_age(exceptions, utcnow())
    if not ages.empty:
        lines.append("  open exceptions: " + ", ".join(f"{int(r['count'])} {r['reason_code']}" for _, r in ages.iterrows()))
    stem = reconciliation_name(erp)
    books = [p for d in sorted(set(kpis["business_date"]))
             if (p := root / d.isoformat() / f"{stem}_{d.isoformat()}.xlsx").exists()]
    if not books:
        return "\n".join(lines + [f"  no report files under {root}"])
    lines.append(f"  report files ({len(books)} dates, CSV + XLSX + chart):")
    lines += [f"    {p}" for p in books]
    lines.append(f"    (CSV beside each; e.g. {books[-1].with_suffix('.csv')})")
    return "\n".join(lines)
