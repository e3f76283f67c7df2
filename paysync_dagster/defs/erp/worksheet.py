"""``<erp>_cash_receipts`` for an ERP keyed by hand (Sage Pro): the date's payments matched to its open
invoices and proposed on a keying worksheet (CSV and XLSX under PAYSYNC_REPORTS_DIR/<date>/, and a
preview in the UI) for a clerk to key; Sage Pro's cash receipts read back, so a proposal a clerk keyed
reads ``keyed`` and reconciliation finds it (lib/sagepro/). PaySync writes nothing in Sage Pro.

A receipt Sage Pro shows keyed is recorded in the posting ledger as held by the ERP (action
``receipt``, the keyed amount), so that a later change to it in Sage Pro is drift to reconciliation,
as for the ERPs PaySync posts to.
"""

# No `from __future__ import annotations` here: Dagster reads the context annotation.

import json
from collections import Counter
from datetime import date
from pathlib import Path

import dagster as dg

from paysync_dagster.defs.erp.connectors import ErpConnector
from paysync_dagster.defs.erp.posting import asset_options, erp_resource, posting_rules
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions import stage_writer
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.posting.ledger import RECEIPT, Entry, Ledger
from paysync_dagster.lib.sagepro.adapter import receipt_id
from paysync_dagster.lib.sagepro.proposals import (EXCEPTION, KEYED, Proposal, keyed_by_reference, propose,
                                                   with_keyed)
from paysync_dagster.lib.sagepro.worksheet import totals, write_worksheet
from paysync_dagster.lib.settings import reports_dir
from paysync_dagster.lib.warehouse.customer_accounts import with_customer_accounts
from paysync_dagster.lib.warehouse.io import read_partition, records
from paysync_dagster.lib.warehouse.tables import normalized_payments, payment_exceptions


def worksheet_stem(c: ErpConnector, day: date) -> str:
    return f"{c.name}_keying_{day.isoformat()}"


def _row(p: Proposal, prefix: str) -> dict:
    ref = f"{prefix}{p.transaction_id}" if p.lines else ""
    return {"business_date": p.business_date, "transaction_id": p.transaction_id, "kind": p.kind, "outcome": p.outcome,
            "amount_minor": p.amount_minor, "currency": p.currency, "reference": ref, "receipt_number": ref,
            "erp_receipt_id": receipt_id(str(p.transaction_id)) if p.outcome == KEYED else "",
            "owns_receipt": bool(p.lines), "invoices": ",".join(p.invoices), "applied_minor": p.applied_minor,
            "unapplied_minor": p.on_account_minor, "match_rule": p.rule, "match_score": p.score, "reason": p.reason,
            "exception_code": p.exception[0] if p.exception else "", "customer_account": p.customer_account,
            "match_tokens": ", ".join(p.tokens), "match_rejected": "; ".join(f"{w}: {y}" for w, y in p.rejected)}


def _exception(p: Proposal, stage: str) -> dict:
    assert p.exception is not None
    code, reason, action = p.exception
    return {"business_date": p.business_date, "transaction_id": p.transaction_id, "stage": stage, "reason_code": code,
            "reason": reason, "amount_minor": p.amount_minor, "currency": p.currency,
            "details": json.dumps({"kind": p.kind, "customer_account": p.customer_account, "match_rule": p.rule,
                                   "references_read": ", ".join(p.tokens)}, sort_keys=True),
            "suggested_action": action}


def _record_keyed(ledger: Ledger, proposals: list[Proposal], prefix: str) -> int:
    """Each receipt Sage Pro shows keyed, in the ledger as held by the ERP (once)."""
    keyed = [p for p in proposals if p.outcome == KEYED]
    refs = {f"{prefix}{p.transaction_id}": p for p in keyed}
    held = ledger.get_many(refs)
    new = [Entry(ledger.erp, ref, p.transaction_id, RECEIPT, p.business_date, p.keyed_minor, p.currency,
                 detail={"customer_account": p.customer_account, "keyed_by_hand": True,
                         "invoices": list(p.invoices), "rule": p.rule, "score": p.score})
           for ref, p in refs.items() if ref not in held]
    if new:
        ledger.record_intents(new)
        ledger.posted({e.reference: receipt_id(str(e.transaction_id)) for e in new})
    return len(new)


def keying_worksheet_asset(c: ErpConnector, open_invoices: dg.AssetsDefinition) -> dg.AssetsDefinition:
    name = f"{c.name}_cash_receipts"

    @dg.asset(name=name, **asset_options(c), deps=[dg.AssetKey("normalized_payments"), open_invoices],
              description=f"Each PayTrace payment of the business date matched to {c.title}'s open invoices (invoice "
                          "number, then sales order, then PO number, then a one-character typo, with rule and score; "
                          "the rest on account) and proposed on the date's keying worksheet (CSV and XLSX under "
                          f"PAYSYNC_REPORTS_DIR) for a clerk to key: {c.title} takes no writes from PaySync. Its cash "
                          "receipts are read back: a proposal keyed under its reference (the PayTrace transaction "
                          "id) and amount reads keyed; the worksheet lists what is still to key.")
    def _cash_receipts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        engine = warehouse.engine
        day = date.fromisoformat(context.partition_key)
        prefix = MAPPING.receipts.receipt_number_prefix
        frame = with_customer_accounts(engine, read_partition(engine, normalized_payments, [day]), [c.name])
        payments = records(frame) if not frame.empty else []
        erp = erp_resource(context, c)
        ours = {str(p["transaction_id"]) for p in payments}
        with erp.client() as client:
            adapter = erp.adapter(client, MAPPING)
            cash = [r for r in client.cash_receipts() if r.refno.strip() in ours]
            keyed = keyed_by_reference((r.refno, r.invno, r.paidamt_minor) for r in cash)
            # The date proposed again after its receipts were keyed: its invoices as they were before them.
            back: Counter = Counter()
            for r in cash:
                if r.invno.strip():
                    back[r.invno.strip()] += r.paidamt_minor
            fetched, _ = adapter.open_invoices(day, add_back=back)
        invoices = {f.invoice.number: f.invoice for f in fetched}
        proposals = with_keyed(propose(payments, invoices, posting_rules().references, day, c.customer_account_column),
                               keyed)
        to_key = [line for p in proposals if p.outcome != KEYED for line in p.lines]
        folder = Path(reports_dir()) / day.isoformat()
        csv_path, xlsx_path = write_worksheet(folder, worksheet_stem(c, day), to_key)
        recorded = _record_keyed(Ledger(engine, c.name), proposals, prefix)
        with stage_writer(engine, [day], c.name, {c.cash_receipts: None}) as write:
            write(c.cash_receipts, [_row(p, prefix) for p in proposals])
            write(payment_exceptions, [_exception(p, c.name) for p in proposals if p.exception])
        counts = Counter(p.outcome for p in proposals)
        money = totals(to_key)
        preview = [{"customer": line.customer_number, "invoice": line.invoice_number or "(on account)",
                    "amount": format_amount(line.amount_minor, line.currency), "reference": line.reference}
                   for line in to_key[:25]]
        return dg.MaterializeResult(metadata={
            **provenance(), "business_date": str(day), "payments": len(proposals),
            **{f"outcome_{k}": v for k, v in sorted(counts.items())},
            "lines_to_key": len(to_key),
            "amount_to_key": dg.MetadataValue.text("; ".join(format_amount(v, k) for k, v in sorted(money.items()))
                                                   or format_amount(0, MAPPING.currency.base)),
            "keyed_in_erp": counts.get(KEYED, 0), "newly_seen_keyed": recorded,
            "exceptions": counts.get(EXCEPTION, 0),
            "worksheet_csv": dg.MetadataValue.path(str(csv_path)), "worksheet_xlsx": dg.MetadataValue.path(str(xlsx_path)),
            "worksheet": dg.MetadataValue.md(md_table(preview, ["customer", "invoice", "amount", "reference"])),
        })

    return _cash_receipts
