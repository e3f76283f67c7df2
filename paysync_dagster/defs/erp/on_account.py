"""One ERP's cash posted on account, applied once the invoice it pays appears: built for any ERP."""

from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg
from pydantic import Field
from sqlalchemy import Connection, delete, select, update

from paysync_dagster.defs.erp.connectors import ErpConnector
from paysync_dagster.defs.erp.posting import asset_options, erp_resource, finish_run, posting_rules
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions.audit import record
from paysync_dagster.lib.exceptions.queue import CLEARED, OPEN, SYSTEM_ACTOR, state, subject
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.posting import Ledger, Outcome, Poster
from paysync_dagster.lib.posting.late import WINDOW_DAYS, LateApplication, LateApplier
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import payment_exceptions

NO_INVOICE_MATCH = "no_invoice_match"


class OnAccountApplicationsConfig(dg.Config):
    window_days: int = Field(default=WINDOW_DAYS, ge=1,
                             description="receipts posted this many days back (the run's date included) are looked at")


def on_account_applications_asset(c: ErpConnector, open_invoices: dg.AssetsDefinition,
                                  cash_receipts: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.asset(name=f"{c.name}_on_account_applications", **asset_options(c), deps=[open_invoices, cash_receipts],
              description=f"Receipts of the last 30 days that still hold cash on account in {c.title} (no invoice "
                          "matched when they were posted, or an overpayment), matched again with the posting rules "
                          "against the invoices open now, and applied exactly once where their invoice has appeared. "
                          f"The application is made on the run's date; the payment's row in {c.cash_receipts.name} "
                          "then reads applied, and its open no_invoice_match exception is cleared (audit log: "
                          "exception.cleared). Reversed or refunded cash, unidentified receipts and cash a person "
                          "already applied in the ERP are left alone.")
    def _on_account_applications(context: dg.AssetExecutionContext, config: OnAccountApplicationsConfig) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        day = date.fromisoformat(context.partition_key)
        engine = warehouse.engine
        erp = erp_resource(context, c)
        with erp.client() as client:
            adapter = erp.adapter(client, MAPPING)

            def open_invoices_now() -> dict:
                fetched, _ = adapter.open_invoices(day)
                return {f.invoice.number: f.invoice for f in fetched}

            applier = LateApplier(Poster(adapter, Ledger(engine, c.name), posting_rules(), open_invoices_now,
                                         log=context.log.info), window_days=config.window_days)
            run = applier.run(day)  # under each receipt date's posting lease
            finish_run(context, c, adapter, day)  # applications made today go in today's batch (Sage)
            applied = applier.applied_on(day)
            outcomes = applier.outcomes(dict.fromkeys([*(a.receipt_number for a in applied), *run.receipts]))
        for txn, (code, reason, _next) in sorted(run.errors.items()):
            context.log.warning(f"PayTrace {txn}: not applied this time ({code}: {reason}); the next run tries again")
        with begin_write(engine) as conn:
            conn.execute(delete(c.late_applications).where(c.late_applications.c.business_date == day))
            if applied:
                conn.execute(c.late_applications.insert(), [_row(day, a) for a in applied])
            for o in outcomes:
                _update_receipt_row(conn, c, o)
            cleared = _clear_exceptions(conn, c, [o for o in outcomes if not o.exception])
        total = sum(a.amount_minor for a in applied)
        base = MAPPING.currency.base
        return dg.MaterializeResult(metadata={
            **provenance(),
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

    return _on_account_applications


def _row(day: date, a: LateApplication) -> dict[str, Any]:
    return {"business_date": day, "transaction_id": a.transaction_id, "receipt_number": a.receipt_number,
            "invoice_number": a.invoice_number, "target_id": a.target_id, "amount_minor": a.amount_minor,
            "currency": a.currency, "match_rule": a.match_rule, "match_score": a.match_score,
            "applied_at": a.applied_at}


def _update_receipt_row(conn: Connection, c: ErpConnector, o: Outcome) -> None:
    """The payment's row as a re-run of its own date would now write it."""
    t = c.cash_receipts
    conn.execute(update(t).where(t.c.transaction_id == o.transaction_id, t.c.reference == o.reference).values(
        outcome=o.outcome, invoices=o.invoices, applied_minor=o.applied_minor, unapplied_minor=o.unapplied_minor,
        match_rule=o.match_rule, match_score=o.match_score, reason=o.reason,
        exception_code=o.exception[0] if o.exception else ""))


def _clear_exceptions(conn: Connection, c: ErpConnector, outcomes: Sequence[Outcome]) -> int:
    """Close the open "no invoice matched" exception of each payment that is applied now, with its audit entry."""
    x = payment_exceptions
    cleared = 0
    for o in outcomes:
        rows = conn.execute(select(x.c.id, x.c.reason_code, x.c.reason).where(
            x.c.transaction_id == o.transaction_id, x.c.stage == c.name, x.c.reason_code == NO_INVOICE_MATCH,
            x.c.status == OPEN)).all()
        for row in rows:
            conn.execute(update(x).where(x.c.id == row.id, x.c.status == OPEN).values(status=CLEARED))
            record(conn, SYSTEM_ACTOR, "exception.cleared", subject(row.id), state(OPEN, row.reason_code, row.reason),
                   state(CLEARED, row.reason_code, row.reason), o.reason)
            cleared += 1
    return cleared
