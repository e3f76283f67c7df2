"""Oracle Fusion: cash posted on account, applied once the invoice it pays appears."""

from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg
from pydantic import Field
from sqlalchemy import Connection, delete, select, update

from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.oracle.assets import ERP, ORACLE_ASSET, oracle_cash_receipts, oracle_open_invoices, rules
from paysync_dagster.defs.oracle.resources import OracleFusionResource
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions.audit import record
from paysync_dagster.lib.exceptions.queue import CLEARED, OPEN, SYSTEM_ACTOR, state, subject
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.posting import Ledger, Outcome, Poster
from paysync_dagster.lib.posting.late import WINDOW_DAYS, LateApplication, LateApplier
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import oracle_cash_receipts as receipts_table
from paysync_dagster.lib.warehouse.tables import oracle_late_applications, payment_exceptions

NO_INVOICE_MATCH = "no_invoice_match"


class OnAccountApplicationsConfig(dg.Config):
    window_days: int = Field(default=WINDOW_DAYS, ge=1,
                             description="receipts posted this many days back (the run's date included) are looked at")


@dg.asset(**ORACLE_ASSET, deps=[oracle_open_invoices, oracle_cash_receipts])
def oracle_on_account_applications(context: dg.AssetExecutionContext, config: OnAccountApplicationsConfig,
                                   warehouse: WarehouseResource, oracle: OracleFusionResource) -> dg.MaterializeResult:
    """Receipts of the last 30 days that still hold cash on account (no invoice matched when they were
    posted, or an overpayment), matched again with the posting rules against the invoices Oracle holds
    open now, and applied exactly once where their invoice has appeared. The application is made on
    the run's date; the payment's row in oracle_cash_receipts then reads applied, and its open
    no_invoice_match exception is cleared (audit log: exception.cleared). Reversed or refunded cash,
    unidentified receipts and cash a person already applied in Oracle are left alone.
    """
    day = date.fromisoformat(context.partition_key)
    engine = warehouse.engine
    with oracle.client() as client:
        adapter = oracle.adapter(client, MAPPING)

        def open_invoices() -> dict:
            fetched, _ = adapter.open_invoices(day)
            return {f.invoice.number: f.invoice for f in fetched}

        applier = LateApplier(Poster(adapter, Ledger(engine, ERP), rules(), open_invoices, log=context.log.info),
                              window_days=config.window_days)
        run = applier.run(day)  # under each receipt date's posting lease
        applied = applier.applied_on(day)
        outcomes = applier.outcomes(dict.fromkeys([*(a.receipt_number for a in applied), *run.receipts]))
    for txn, (code, reason, _next) in sorted(run.errors.items()):
        context.log.warning(f"PayTrace {txn}: not applied this time ({code}: {reason}); the next run tries again")
    with begin_write(engine) as conn:
        conn.execute(delete(oracle_late_applications).where(oracle_late_applications.c.business_date == day))
        if applied:
            conn.execute(oracle_late_applications.insert(), [_row(day, a) for a in applied])
        for o in outcomes:
            _update_receipt_row(conn, o)
        cleared = _clear_exceptions(conn, [o for o in outcomes if not o.exception])
    total = sum(a.amount_minor for a in applied)
    base = MAPPING.currency.base
    return dg.MaterializeResult(metadata={
        "business_date": str(day),
        "window_days": config.window_days,
        "receipts_on_account": run.candidates,
        "applications": len(applied),
        "receipts_applied": len({a.receipt_number for a in applied}),
        "applied_minor": total,
        "applied": dg.MetadataValue.text(format_amount(total, base)),
        "still_on_account_minor": sum(o.unapplied_minor for o in outcomes),
        "exceptions_cleared": cleared,
        "not_applied_errors": len(run.errors),
        "left_alone": dg.MetadataValue.json(dict(sorted(run.skipped.items()))),
        "preview": dg.MetadataValue.md(md_table([_row(day, a) for a in applied], [
            "transaction_id", "receipt_number", "invoice_number", "amount_minor", "match_rule", "match_score"],
            money=["amount_minor"])),
    })


def _row(day: date, a: LateApplication) -> dict[str, Any]:
    return {"business_date": day, "transaction_id": a.transaction_id, "receipt_number": a.receipt_number,
            "invoice_number": a.invoice_number, "target_id": a.target_id, "amount_minor": a.amount_minor,
            "currency": a.currency, "match_rule": a.match_rule, "match_score": a.match_score,
            "applied_at": a.applied_at}


def _update_receipt_row(conn: Connection, o: Outcome) -> None:
    """The payment's row as a re-run of its own date would now write it."""
    t = receipts_table
    conn.execute(update(t).where(t.c.transaction_id == o.transaction_id, t.c.reference == o.reference).values(
        outcome=o.outcome, invoices=o.invoices, applied_minor=o.applied_minor, unapplied_minor=o.unapplied_minor,
        match_rule=o.match_rule, match_score=o.match_score, reason=o.reason,
        exception_code=o.exception[0] if o.exception else ""))


def _clear_exceptions(conn: Connection, outcomes: Sequence[Outcome]) -> int:
    """Close the open "no invoice matched" exception of each payment that is applied now, with its audit entry."""
    x = payment_exceptions
    cleared = 0
    for o in outcomes:
        rows = conn.execute(select(x.c.id, x.c.reason_code, x.c.reason).where(
            x.c.transaction_id == o.transaction_id, x.c.stage == ERP, x.c.reason_code == NO_INVOICE_MATCH,
            x.c.status == OPEN)).all()
        for row in rows:
            conn.execute(update(x).where(x.c.id == row.id, x.c.status == OPEN).values(status=CLEARED))
            record(conn, SYSTEM_ACTOR, "exception.cleared", subject(row.id), state(OPEN, row.reason_code, row.reason),
                   state(CLEARED, row.reason_code, row.reason), o.reason)
            cleared += 1
    return cleared
