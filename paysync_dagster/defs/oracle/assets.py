"""Oracle Fusion: the open invoices cash is applied to, and the cash receipts PayTrace payments become."""


import json
from collections import Counter
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy import delete, func, select

from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.normalize.rules import MAPPING, MAPPING_FINGERPRINT
from paysync_dagster.defs.oracle.resources import OracleFusionResource
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.shared.live import is_live
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions import stage_writer
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.oracle.adapter import FetchedInvoice
from paysync_dagster.lib.posting import Ledger, Poster, ReferenceRules, Rules
from paysync_dagster.lib.posting.lease import posting_lease
from paysync_dagster.lib.posting.report import (bucket, by_match_rule, by_outcome, by_reason, counts_add_up,
                                                exception_rows, ledger_matches, outcome_row)
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse import progress
from paysync_dagster.lib.warehouse.io import read_partition, read_where, records, rewrite
from paysync_dagster.lib.warehouse.tables import (
    erp_customers,
    normalized_payments as normalized_payments_table,
    oracle_cash_receipts as oracle_cash_receipts_table,
    oracle_open_invoices as oracle_open_invoices_table,
    payment_exceptions,
)

ERP = "oracle"
UPSTREAM = "normalize"
API_RETRY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
# Every asset that calls Oracle: the day, the group, the API's pool (one run at a time talks to the
# pod, so a near-real-time run and a backfill never post the same date at once) and step retries
# (whole-step failures; single requests are retried by the client, uncertain writes by the ledger).
ORACLE_ASSET: dict[str, Any] = dict(partitions_def=daily_partitions, group_name="oracle", kinds={"oracle", "sql"},
                                    pool="oracle_fusion_api", retry_policy=API_RETRY)
PAYMENT_COLUMNS = ("business_date", "transaction_id", "kind", "status", "paytrace_state", "amount_minor", "currency",
                   "invoice_reference_raw", "invoice_reference", "description", "oracle_customer_account")


def _retryable(engine, day: date) -> set[int]:  # noqa: ANN001
    """Payments of the date whose posting ended in an exception: each run tries them again (the
    ledger sends nothing twice), so a payment the ERP refused while it was down goes through later."""
    t = oracle_cash_receipts_table
    with engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(select(t.c.transaction_id).where(t.c.business_date == day, t.c.outcome == "exception"))}


def rules() -> Rules:
    refs = MAPPING.invoice_reference
    return Rules(receipt_prefix=MAPPING.receipts.receipt_number_prefix,
                 references=ReferenceRules(refs.prefix, refs.digits, refs.split))


def _invoice_row(day: date, f: FetchedInvoice) -> dict[str, Any]:
    inv = f.invoice
    return {"business_date": day, "invoice_number": inv.number, "erp_invoice_id": inv.erp_id,
            "customer_account": inv.customer_account, "customer_name": f.customer_name,
            "transaction_date": f.transaction_date, "due_date": inv.due_date, "currency": inv.currency,
            "original_minor": f.original_minor, "balance_minor": inv.balance_minor,
            "installments": json.dumps([[t.erp_id, t.balance_minor, t.due_date] for t in inv.targets])}


@dg.asset(**ORACLE_ASSET)
def oracle_customer_accounts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                             oracle: OracleFusionResource) -> dg.MaterializeResult:
    """Oracle's customer accounts (number and name) into ``erp_customers``, so normalization finds a
    payment's account by the payer's name from the first run of an installation on. A master, not
    dated: the daily run reads it afresh; a near-real-time run keeps the list the warehouse holds and
    reads Oracle only when it holds none."""
    engine = warehouse.engine
    with engine.connect() as conn:
        held = conn.execute(select(func.count()).select_from(erp_customers).where(erp_customers.c.erp == ERP)).scalar_one()
    if is_live(context) and held:
        return dg.MaterializeResult(metadata={"customer_accounts": held, "read_from_oracle": False})
    with oracle.client() as client:
        customers = oracle.adapter(client, MAPPING).customer_accounts()
    with begin_write(engine) as conn:  # the accounts as Oracle has them now
        conn.execute(delete(erp_customers).where(erp_customers.c.erp == ERP))
        if customers:
            conn.execute(erp_customers.insert(), [{"erp": ERP, "account_number": c["account_number"], "name": c["name"],
                                                   "email": ""} for c in customers])
    return dg.MaterializeResult(metadata={
        "customer_accounts": len(customers), "read_from_oracle": True,
        "preview": dg.MetadataValue.md(md_table(customers[:20], ["account_number", "name"]))})


@dg.asset(**ORACLE_ASSET)
def oracle_open_invoices(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         oracle: OracleFusionResource) -> dg.MaterializeResult:
    """Oracle's open receivables invoices dated on or before the business date, with their open
    balances and installments, as Oracle holds them when read."""
    day = date.fromisoformat(context.partition_key)
    with oracle.client() as client:
        fetched, customers = oracle.adapter(client, MAPPING).open_invoices(day)
    rows = [_invoice_row(day, f) for f in fetched]
    rewrite(warehouse.engine, [day], {oracle_open_invoices_table: (None, rows)})
    total = sum(r["balance_minor"] for r in rows)
    base = MAPPING.currency.base
    by_customer: dict[str, dict[str, Any]] = {}
    for r in rows:
        c = by_customer.setdefault(r["customer_account"], {"customer_account": r["customer_account"],
                                                           "customer_name": r["customer_name"], "invoices": 0,
                                                           "balance_minor": 0, "currency": r["currency"]})
        c["invoices"] += 1
        c["balance_minor"] += r["balance_minor"]
    top = sorted(by_customer.values(), key=lambda c: -c["balance_minor"])
    return dg.MaterializeResult(metadata={
        "business_date": str(day),
        "open_invoices": len(rows),
        "customers": len(customers),
        "customers_with_open_invoices": len(by_customer),
        "open_balance_minor": total,
        "open_balance": dg.MetadataValue.text(format_amount(total, base)),
        "by_customer": dg.MetadataValue.md(md_table(top, ["customer_account", "customer_name", "invoices", "balance_minor"],
                                                    money=["balance_minor"])),
        "preview": dg.MetadataValue.md(md_table(rows, ["invoice_number", "customer_account", "transaction_date",
                                                       "due_date", "original_minor", "balance_minor"],
                                                money=["original_minor", "balance_minor"])),
    })


@dg.asset(
    **ORACLE_ASSET,
    deps=[normalized_payments, oracle_open_invoices],
    check_specs=[
        dg.AssetCheckSpec("one_outcome_per_payment", asset="oracle_cash_receipts", blocking=True,
                          description="every normalized payment of the date has exactly one outcome: "
                                      "posted + skipped + exceptions = normalized"),
        dg.AssetCheckSpec("ledger_matches_receipts", asset="oracle_cash_receipts", blocking=True,
                          description="the posting ledger's receipts of the date are exactly the rows' receipts"),
    ],
)
def oracle_cash_receipts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         oracle: OracleFusionResource) -> dg.MaterializeResult:
    """Each PayTrace payment of the business date as Oracle cash: a standard receipt numbered from the
    PayTrace id, for the payer, applied only to the payer's invoices that its references name
    (lib/posting/matching.py; rule, score, references read and candidates rejected on every row);
    overpayments and unmatched payments on account; a payer nobody can identify as an unidentified
    receipt, moved to its customer once identified; voids after posting and chargebacks reversed;
    refunds recorded on the original receipt. Exactly once through the posting ledger, whatever is retried or redelivered; what needs a
    person lands in payment_exceptions (stage "oracle") with a next step.
    """
    day = date.fromisoformat(context.partition_key)
    engine = warehouse.engine
    upstream = progress.progress_of(engine, day, UPSTREAM)
    # A near-real-time run posts the payments normalized since this stage last ran and those still
    # waiting on an exception it can retry; others the whole date. Posted payments cost no ERP call
    # either way: the ledger knows them.
    scope = (sorted(set(progress.behind(engine, day, ERP, UPSTREAM)) | _retryable(engine, day))
             if is_live(context) and progress.stage_watermark(engine, day, ERP) is not None else None)
    frame = (read_partition(engine, normalized_payments_table, [day]) if scope is None
             else read_where(engine, normalized_payments_table, "transaction_id", scope))
    payments = [{k: r[k] for k in PAYMENT_COLUMNS} for r in records(frame)] if not frame.empty else []
    # One run posts a date at a time (the sensor's run and a backfill may overlap).
    with posting_lease(engine, ERP, day) as lease, oracle.client() as client:
        ledger = Ledger(engine, ERP, lease)
        adapter = oracle.adapter(client, MAPPING)

        def open_invoices() -> dict:
            fetched, _ = adapter.open_invoices(day)
            return {f.invoice.number: f.invoice for f in fetched}

        outcomes = Poster(adapter, ledger, rules(), open_invoices, log=context.log.info).post_all(payments)
    with stage_writer(engine, [day], ERP, {oracle_cash_receipts_table: None}, transactions=scope) as write:
        write(oracle_cash_receipts_table, [outcome_row(o) for o in outcomes])
        write(payment_exceptions, exception_rows(outcomes, ERP))
        built = upstream if scope is None else {t: upstream[t] for t in scope if t in upstream}
        progress.record(write.conn, day, ERP, built, progress.stage_watermark(write.conn, day, UPSTREAM) or 0,
                        whole_date=scope is None)
    counts = counts_add_up([int(p["transaction_id"]) for p in payments], outcomes)
    # The figures and the ledger check cover the whole date, whatever this run posted.
    date_rows = records(read_partition(engine, oracle_cash_receipts_table, [day]))
    open_exceptions = records(read_partition(engine, payment_exceptions, [day], (payment_exceptions.c.stage == ERP)
                                             & (payment_exceptions.c.status == "open")))
    matched = ledger_matches(ledger, day, date_rows)
    base = MAPPING.currency.base
    buckets = Counter(bucket(r["outcome"]) for r in date_rows)
    applied = sum(int(r["applied_minor"]) for r in date_rows if r["owns_receipt"])
    unapplied = sum(int(r["unapplied_minor"]) for r in date_rows if r["owns_receipt"] and r["outcome"] in ("applied", "on_account"))
    return dg.MaterializeResult(
        metadata={
            "business_date": str(day),
            "mapping_version": MAPPING.version,
            "mapping_fingerprint": MAPPING_FINGERPRINT,
            "built_this_run": counts["normalized"],
            "scope": "the whole date" if scope is None else "payments normalized since the last run, and retries",
            "normalized": len(date_rows),
            "posted": buckets["posted"],
            "skipped": buckets["skipped"],
            "exceptions": buckets["exception"],
            "receipts_in_oracle": matched["ledger_receipts"],
            "applied_minor": applied,
            "applied": dg.MetadataValue.text(format_amount(applied, base)),
            "on_account_minor": unapplied,
            "on_account": dg.MetadataValue.text(format_amount(unapplied, base)),
            "by_outcome": dg.MetadataValue.md(md_table(by_outcome(date_rows), ["outcome", "count", "amount", "applied",
                                                                              "unapplied"],
                                                       money=["amount", "applied", "unapplied"])),
            "exceptions_by_reason": dg.MetadataValue.md(md_table(by_reason(open_exceptions),
                                                                 ["reason_code", "count", "amount", "next_step"],
                                                                 money=["amount"])),
            "by_match_rule": dg.MetadataValue.md(md_table(by_match_rule(date_rows), ["match_rule", "count", "amount"],
                                                          money=["amount"])),
            "preview": dg.MetadataValue.md(md_table(date_rows, [
                "transaction_id", "kind", "outcome", "customer_account", "receipt_number", "invoices", "amount_minor",
                "applied_minor", "unapplied_minor", "match_rule", "match_score", "match_tokens", "match_rejected"],
                money=["amount_minor", "applied_minor", "unapplied_minor"])),
        },
        check_results=[
            dg.AssetCheckResult(check_name="one_outcome_per_payment", passed=counts.pop("passed"),
                                metadata={k: dg.MetadataValue.json(v) if isinstance(v, list) else v
                                          for k, v in counts.items()}),
            dg.AssetCheckResult(check_name="ledger_matches_receipts", passed=matched.pop("passed"),
                                metadata={k: dg.MetadataValue.json(v) if isinstance(v, list) else v
                                          for k, v in matched.items()}),
        ],
    )
