"""Plain-text summaries of the warehouse for people (the demo, the CLI)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import case, func, select

from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import paytrace_settlement_batches, paytrace_transactions

_LIVE = ("approved", "captured", "settled")
_GROSS_TYPES = ("SALE", "CAPTURE", "STR/FWD", "FORCE")


def week_summary(database_url: str, start: date, end: date) -> str:
    """One line per business date: PayTrace activity, and what settled in that day's batches."""
    engine = make_engine(database_url)
    t, b = paytrace_transactions, paytrace_settlement_batches
    live = t.c.state.in_(_LIVE)
    txn_q = (
        select(
            t.c.business_date,
            func.count().label("n"),
            func.sum(case((live & t.c.transaction_type.in_(_GROSS_TYPES), t.c.amount_minor), else_=0)).label("gross"),
            func.sum(case((live & (t.c.transaction_type == "REFUND"), t.c.amount_minor), else_=0)).label("refunds"),
            func.sum(case((t.c.state == "declined", 1), else_=0)).label("declined"),
            func.sum(case((t.c.state == "voided", 1), else_=0)).label("voided"),
        )
        .where(t.c.business_date.between(start, end))
        .group_by(t.c.business_date)
    )
    batch_q = (
        select(b.c.business_date, func.count().label("batches"), func.sum(b.c.net_minor).label("net"),
               func.sum(case((b.c.net_minor == b.c.listed_net_minor, 1), else_=0)).label("tied"))
        .where(b.c.business_date.between(start, end))
        .group_by(b.c.business_date)
    )
    with engine.connect() as conn:
        txns = {r.business_date: r for r in conn.execute(txn_q)}
        batches = {r.business_date: r for r in conn.execute(batch_q)}
    engine.dispose()
    header = ("business date", "transactions", "gross sales", "refunds", "net", "declined", "voided", "batches", "settled net", "batches tied")
    rows = []
    totals = [0, 0, 0, 0, 0, 0, 0, 0]
    day = start
    while day <= end:
        tx, bt = txns.get(day), batches.get(day)
        n, gross, refunds = (tx.n, int(tx.gross or 0), int(tx.refunds or 0)) if tx else (0, 0, 0)
        declined, voided = (int(tx.declined or 0), int(tx.voided or 0)) if tx else (0, 0)
        nb, net_b, tied = (bt.batches, int(bt.net or 0), int(bt.tied or 0)) if bt else (0, 0, 0)
        rows.append((str(day), f"{n:,}", format_amount(gross), format_amount(refunds), format_amount(gross - refunds),
                     str(declined), str(voided), str(nb), format_amount(net_b), f"{tied}/{nb}"))
        for i, v in enumerate((n, gross, refunds, declined, voided, nb, net_b, tied)):
            totals[i] += v
        day = date.fromordinal(day.toordinal() + 1)
    n, gross, refunds, declined, voided, nb, net_b, tied = totals
    rows.append(("total", f"{n:,}", format_amount(gross), format_amount(refunds), format_amount(gross - refunds),
                 str(declined), str(voided), str(nb), format_amount(net_b), f"{tied}/{nb}"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["PayTrace activity by business date (gross = approved sales and captures; net = gross - refunds)"]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)
