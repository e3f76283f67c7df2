"""``<erp>_card_refunds``: the ERP's refund records marked for a card refund (Oracle credit memos, Sage 300
refund entries; the mapping file's ``refunds.card_refund``), each refunded through PayTrace exactly once
(a refund of a settled payment, a void of an unsettled one), the result written back on the record
(lib/outbound/refunds.py). A refusal is an exception with PayTrace's words.

On only for the ERPs ``PAYSYNC_ERP_REFUNDS`` names (off unless set; the demo sets it). ``dry_run: true``
lists what would be refunded or voided; nothing is sent, recorded or written back.
"""

# No `from __future__ import annotations` here: Dagster reads the run config's class from the annotation.
import json
from collections import Counter
from datetime import date

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine, select

from paysync_dagster.defs.erp.connectors import ErpConnector, erps_named
from paysync_dagster.defs.erp.posting import API_RETRY, erp_resource
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions import stage_writer
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.outbound.erp_refunds import ErpRefund
from paysync_dagster.lib.outbound.refunds import (DONE_BEFORE, LEDGER_SYSTEM, NO_ORIGINAL, NOT_WRITTEN_BACK, REFUNDED,
                                                  REFUSED, UNREACHABLE, VOIDED, WOULD, RefundOutcome, Refunder,
                                                  card_payments_by_invoice, refund_key)
from paysync_dagster.lib.posting import Ledger
from paysync_dagster.lib.posting.lease import posting_lease
from paysync_dagster.lib.warehouse.tables import card_refunds, normalized_payments, payment_exceptions

ERP_REFUNDS_SETTING = "PAYSYNC_ERP_REFUNDS"
EVERY_DATE = date(2000, 1, 1)  # one refund run per ERP at a time, whatever its date

_EXCEPTIONS = {
    NO_ORIGINAL: ("card_refund_no_original", "put the PayTrace transaction id on the record (Oracle: the credit "
                                             "memo's cross reference; Sage: the refund entry's transaction id), "
                                             "then replay the date"),
    REFUSED: ("card_refund_refused", "correct what PayTrace names (the amount, the original), or refund by hand in "
                                     "PayTrace and write its id on the record"),
    UNREACHABLE: ("paytrace_unreachable", "nothing to do: the next run looks the refund up in PayTrace before "
                                          "sending anything again"),
    NOT_WRITTEN_BACK: ("card_refund_not_written_back", "write the result named here on the ERP record by hand"),
}


def erp_refunds_on(raw: str | None = None) -> list[str]:
    """The ERPs whose refund records marked for a card refund are refunded (``PAYSYNC_ERP_REFUNDS``)."""
    return erps_named(ERP_REFUNDS_SETTING, raw)


class RefundConfig(dg.Config):
    dry_run: bool = Field(False, description="list what would be refunded or voided; send, record and write nothing")


def _originals(engine: Engine, refunds: list[ErpRefund]) -> dict[str, int]:
    """Invoice -> its one card payment in the warehouse, for the invoices the records credit."""
    invoices = sorted({r.invoice_number for r in refunds if r.invoice_number and not r.original_transaction_id})
    if not invoices:
        return {}
    n = normalized_payments
    with engine.connect() as conn:
        rows = conn.execute(select(n.c.invoice_reference, n.c.transaction_id).where(
            n.c.invoice_reference.in_(invoices), n.c.kind.in_(("sale", "capture")),
            n.c.status.notin_(("declined", "voided")))).all()
    return card_payments_by_invoice((str(i), int(t)) for i, t in rows)


def _row(day: date, o: RefundOutcome, dry_run: bool) -> dict:
    r = o.refund
    return {"business_date": day, "erp": r.erp, "record_key": r.key, "document_number": r.document_number,
            "customer_account": r.customer_account, "amount_minor": r.amount_minor, "currency": r.currency,
            "original_transaction_id": o.original_transaction_id, "paytrace_transaction_id": o.paytrace_transaction_id,
            "kind": o.kind, "outcome": o.outcome, "reason": o.reason, "written_back": o.written_back, "dry_run": dry_run}


def _exception(day: date, c: ErpConnector, o: RefundOutcome) -> dict:
    code, action = _EXCEPTIONS[o.outcome]
    r = o.refund
    return {"business_date": day, "transaction_id": refund_key(r),  # one per record (two may name one payment)
            "stage": f"{c.name}_card_refunds", "reason_code": code,
            "reason": f"{c.title} refund {r.document_number} of {format_amount(r.amount_minor, r.currency)} "
                      f"(customer {r.customer_account}): {o.reason or o.outcome}",
            "amount_minor": r.amount_minor, "currency": r.currency,
            "details": json.dumps({"record": r.key, "document": r.document_number, "customer_account": r.customer_account,
                                   "original_transaction_id": o.original_transaction_id, "kind": o.kind}, sort_keys=True),
            "suggested_action": action}


def _reported_before(engine: Engine, c: ErpConnector, day: date) -> set[tuple[str, str]]:
    """(record, outcome) an earlier date's run already wrote: a record that stays unsendable for the same
    reason is one exception, on the first date, not one a date."""
    t = card_refunds
    with engine.connect() as conn:
        return {(k, o) for k, o in conn.execute(select(t.c.record_key, t.c.outcome).where(
            t.c.erp == c.name, t.c.business_date < day, t.c.dry_run.is_(False)))}


def _reported(o: RefundOutcome, day: date) -> bool:
    """Whether the date's table shows the record: all but the ones done on an earlier date."""
    return o.outcome != DONE_BEFORE or o.done_on == day


def card_refunds_asset(c: ErpConnector) -> dg.AssetsDefinition:
    name = f"{c.name}_card_refunds"

    @dg.asset(name=name, partitions_def=daily_partitions, deps=["normalized_payments"], group_name=c.name,
              kinds={c.name, "paytrace", "sql"}, pool=c.pool, retry_policy=API_RETRY,
              required_resource_keys={"warehouse", c.resource_key, "paytrace"},
              description=f"{c.title}'s refund records marked for a card refund, refunded through PayTrace exactly "
                          "once (a refund of a settled payment, a void of an unsettled one; a ledger entry before "
                          "each call, PayTrace read before any resend), the result written back on the record; "
                          "a refusal is an exception with PayTrace's reason.")
    def _card_refunds(context: dg.AssetExecutionContext, config: RefundConfig) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        engine = warehouse.engine
        day = date.fromisoformat(context.partition_key)
        erp = erp_resource(context, c)
        with erp.client() as client, posting_lease(engine, f"rfd_{c.name}"[:10], EVERY_DATE) as lease, \
                context.resources.paytrace.client() as paytrace:
            adapter = erp.adapter(client, MAPPING)
            marked = [r for r in adapter.card_refunds(MAPPING.refunds.card_refund[c.name])
                      if r.document_date is None or r.document_date <= day]
            originals = _originals(engine, marked)
            refunder = Refunder(Ledger(engine, LEDGER_SYSTEM, lease), Ledger(engine, c.name, lease), paytrace,
                                original_of=lambda r: originals.get(r.invoice_number),
                                write_back=adapter.write_back_refund, log=context.log.info)
            outcomes = [o for o in refunder.run(marked, day, dry_run=config.dry_run) if _reported(o, day)]
        seen = _reported_before(engine, c, day)
        exceptions = [_exception(day, c, o) for o in outcomes
                      if o.is_exception_on(day) and (o.refund.key, o.outcome) not in seen]
        if not config.dry_run:
            clear = {card_refunds: card_refunds.c.erp == c.name}
            with stage_writer(engine, [day], f"{c.name}_card_refunds", clear) as write:
                write(card_refunds, [_row(day, o, False) for o in outcomes])
                write(payment_exceptions, exceptions)
        counts = Counter(o.outcome for o in outcomes)
        sent: Counter = Counter()
        for o in outcomes:
            if o.outcome in (REFUNDED, VOIDED) or o.outcome.startswith(WOULD):
                sent[o.refund.currency] += o.refund.amount_minor
        preview = [{"record": o.refund.document_number, "customer": o.refund.customer_account,
                    "amount": format_amount(o.refund.amount_minor, o.refund.currency),
                    "original": o.original_transaction_id or "",
                    "outcome": o.outcome, "PayTrace id": o.paytrace_transaction_id or "",
                    "written back": "yes" if o.written_back else "", "reason": o.reason[:80]} for o in outcomes[:20]]
        return dg.MaterializeResult(metadata={
            **provenance(), "dry_run": config.dry_run, "records_marked": len(marked),
            **{f"outcome_{k}": v for k, v in sorted(counts.items())},
            "refunded_amount" if not config.dry_run else "would_refund_amount": dg.MetadataValue.text(
                "; ".join(format_amount(v, k) for k, v in sorted(sent.items())) or format_amount(0, MAPPING.currency.base)),
            "exceptions": len(exceptions),
            "preview": dg.MetadataValue.md(md_table(preview, ["record", "customer", "amount", "original", "outcome",
                                                             "PayTrace id", "written back", "reason"]))})

    return _card_refunds
