"""``<erp>_card_charges``: the invoice installments an ERP has due, of customers who pay by card on file,
and the months of the mapping file's recurring contracts, charged through PayTrace exactly once, with the
mapping file's dunning (lib/outbound/charges.py, recurring.py).

On only for the ERPs ``PAYSYNC_CARD_CHARGES`` names (off unless set; the demo sets it). An approved
charge names the invoice in PayTrace's ``invoice_id``, so it comes back through the normal receipt
path (webhook or export, normalization, posting) and is applied to that invoice. A run with
``dry_run: true`` lists what it would charge (it reads the ERP and PayTrace's vault) and sends,
records and writes nothing.
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
from paysync_dagster.lib.outbound.charges import (CHARGE_DESCRIPTION, CHARGED, DUNNING_EXHAUSTED, LEDGER_SYSTEM, NO_VAULT, REFUSED, UNREACHABLE,
                                                  WOULD_CHARGE, ChargeOutcome, ChargeRules, Charger, installment_key,
                                                  vault_links)
from paysync_dagster.lib.outbound.recurring import recurring_installments
from paysync_dagster.lib.posting import Ledger
from paysync_dagster.lib.posting.lease import posting_lease
from paysync_dagster.lib.warehouse.tables import card_charges, normalized_payments, payment_exceptions

CHARGES_SETTING = "PAYSYNC_CARD_CHARGES"
# One charging run per ERP at a time, whatever its date: an installment is due on several dates (its
# retries), so two dates' runs could otherwise try the same installment at once.
EVERY_DATE = date(2000, 1, 1)

# reason code, what happened, what a person does next
_EXCEPTIONS = {
    DUNNING_EXHAUSTED: ("charge_declined", "declined on every try of the dunning schedule; the invoice stays open",
                        "ask the customer for a new card (update the vault profile in PayTrace), then take the payment "
                        "and let the receipt path apply it"),
    NO_VAULT: ("no_vault_profile", "the customer pays by card on file but has no PayTrace vault profile linked",
               "link the customer's vault profile in customers.map (the studio's Suggestions), then replay the date"),
    REFUSED: ("charge_refused", "PayTrace refused the charge",
              "correct what PayTrace names (the vault profile, the amount), then replay the date"),
    UNREACHABLE: ("paytrace_unreachable", "PayTrace could not be reached or gave no certain answer",
                  "nothing to do: the next run looks the charge up in PayTrace before sending anything again"),
}


def charges_on(raw: str | None = None) -> list[str]:
    """The ERPs whose card-on-file invoices are charged (``PAYSYNC_CARD_CHARGES``, a comma list; none by default)."""
    return erps_named(CHARGES_SETTING, raw)


class ChargeConfig(dg.Config):
    dry_run: bool = Field(False, description="list what would be charged; send, record and write nothing")


def _row(day: date, o: ChargeOutcome, dry_run: bool) -> dict:
    i = o.installment
    return {"business_date": day, "erp": i.erp, "invoice_number": i.invoice_number, "installment_id": i.installment_id,
            "customer_account": i.customer_account, "vault_id": o.vault_id, "due_date": i.due_date,
            "amount_minor": i.amount_minor, "currency": i.currency, "attempt": o.attempt, "outcome": o.outcome,
            "paytrace_transaction_id": o.paytrace_transaction_id, "reason": o.reason, "next_attempt": o.next_attempt,
            "dry_run": dry_run}


def _exception(day: date, c: ErpConnector, o: ChargeOutcome) -> dict:
    code, what, action = _EXCEPTIONS[o.outcome]
    i = o.installment
    subject = (f"{c.title} invoice {i.invoice_number} (installment {i.installment_id}" if i.names_invoice else
               f"recurring charge {i.invoice_number} ({c.title}")
    if not i.names_invoice:
        what = what.replace("the invoice stays open", "the month is not paid")
    return {"business_date": day, "transaction_id": o.paytrace_transaction_id or installment_key(i),
            "stage": f"{c.name}_charges", "reason_code": code,
            "reason": f"{subject}, customer {i.customer_account}, due {i.due_date}): {what}"
                      + (f"; PayTrace: {o.reason}" if o.reason else ""),
            "amount_minor": i.amount_minor, "currency": i.currency,
            "details": json.dumps({"invoice": i.invoice_number, "installment": i.installment_id,
                                   "customer_account": i.customer_account, "vault_id": o.vault_id,
                                   "attempts": o.attempt, "paytrace_transaction_id": o.paytrace_transaction_id},
                                  sort_keys=True),
            "suggested_action": action}


def _paid_by_card(engine: Engine, c: ErpConnector, day: date, invoices: set[str]) -> dict[str, int]:
    """Invoice number -> a card payment of the customer's own (not one of PaySync's charges) that names it,
    up to ``day``, whose receipt the ERP has not taken yet: charging that invoice would pay it twice."""
    if not invoices:
        return {}
    n, r = normalized_payments, c.cash_receipts
    with engine.connect() as conn:
        named = conn.execute(select(n.c.invoice_reference, n.c.transaction_id).where(
            n.c.invoice_reference.in_(sorted(invoices)), n.c.business_date <= day, n.c.kind.in_(("sale", "capture")),
            n.c.status.notin_(("declined", "voided")), ~n.c.description.startswith(CHARGE_DESCRIPTION))).all()
        taken = {int(t) for (t,) in conn.execute(select(r.c.transaction_id).where(
            r.c.transaction_id.in_([t for _i, t in named]), r.c.outcome.in_(("posted", "applied", "on_account"))))}
    return {invoice: int(txn) for invoice, txn in named if int(txn) not in taken}


def card_charges_asset(c: ErpConnector) -> dg.AssetsDefinition:
    name = f"{c.name}_card_charges"

    @dg.asset(name=name, partitions_def=daily_partitions, deps=["normalized_payments", f"{c.name}_cash_receipts"], group_name=c.name, kinds={c.name, "paytrace", "sql"},
              pool=c.pool, retry_policy=API_RETRY, required_resource_keys={"warehouse", c.resource_key, "paytrace"},
              description=f"{c.title}'s invoice installments due on or before the date, of customers who pay by card on "
                          "file, charged on their PayTrace vault card exactly once (a ledger entry before each "
                          "call, PayTrace's export read before any resend); declines follow the mapping file's "
                          "dunning days, then become exceptions with PayTrace's reason. The approved charge comes "
                          "back as a receipt through the normal path.")
    def _card_charges(context: dg.AssetExecutionContext, config: ChargeConfig) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        engine = warehouse.engine
        day = date.fromisoformat(context.partition_key)
        erp = erp_resource(context, c)
        with erp.client() as client:
            due = erp.adapter(client, MAPPING).card_on_file_installments(MAPPING.charges.card_on_file[c.name], day)
        rules = ChargeRules(tuple(MAPPING.charges.retry_after_days))
        due += recurring_installments(MAPPING.charges.recurring, c.name, day,
                                      within_days=max(rules.retry_after_days, default=0) + 1)
        with posting_lease(engine, f"chg_{c.name}"[:10], EVERY_DATE) as lease, \
                context.resources.paytrace.client() as paytrace:
            vault = [str(v.get("customer_id") or "") for v in paytrace.export_customers()]
            charger = Charger(Ledger(engine, LEDGER_SYSTEM, lease), paytrace, rules,
                              vault_of=vault_links(MAPPING.customers.map, c.name, vault,
                                                   account_is_vault_id="id" in MAPPING.customers.lookup_fallback),
                              log=context.log.info)
            outcomes = charger.run(due, day, dry_run=config.dry_run,
                                   paid_by_card=_paid_by_card(engine, c, day, {i.invoice_number for i in due}))
        if not config.dry_run:
            with stage_writer(engine, [day], f"{c.name}_charges", {card_charges: card_charges.c.erp == c.name}) as write:
                write(card_charges, [_row(day, o, False) for o in outcomes])
                write(payment_exceptions, [_exception(day, c, o) for o in outcomes if o.is_exception_on(day)])
        counts = Counter(o.outcome for o in outcomes)
        charged: Counter = Counter()
        for o in outcomes:
            if o.outcome in (CHARGED, WOULD_CHARGE):
                charged[o.installment.currency] += o.installment.amount_minor
        preview = [{"invoice": o.installment.invoice_number, "installment": o.installment.installment_id,
                    "customer": o.installment.customer_account, "due": o.installment.due_date.isoformat(),
                    "amount": format_amount(o.installment.amount_minor, o.installment.currency), "outcome": o.outcome,
                    "attempt": o.attempt, "reason": o.reason[:80],
                    "next try": o.next_attempt.isoformat() if o.next_attempt else ""} for o in outcomes[:20]]
        return dg.MaterializeResult(metadata={
            **provenance(), "dry_run": config.dry_run, "installments_due": len(due),
            **{f"outcome_{k}": v for k, v in sorted(counts.items())},
            "charged_amount" if not config.dry_run else "would_charge_amount": dg.MetadataValue.text(
                "; ".join(format_amount(v, k) for k, v in sorted(charged.items())) or
                format_amount(0, MAPPING.currency.base)),
            "exceptions": sum(1 for o in outcomes if o.is_exception_on(day)),
            "preview": dg.MetadataValue.md(md_table(preview, ["invoice", "installment", "customer", "due", "amount",
                                                             "outcome", "attempt", "reason", "next try"]))})

    return _card_charges
