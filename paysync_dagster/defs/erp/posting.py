"""One ERP's posting assets, built for any ERP: its customer accounts, its open invoices, and the cash
receipts PayTrace payments become.

No ``from __future__ import annotations`` here: Dagster reads the asset functions' annotations.
"""

import json
from collections import Counter
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy import Engine, delete, func, select

from paysync_dagster.defs.erp.connectors import ErpConnector, ErpResource
from paysync_dagster.defs.normalize.rules import MAPPING, MAPPING_FINGERPRINT
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.shared.live import is_live
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions import stage_writer
from paysync_dagster.lib.mapping import check_gl_accounts
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.posting import Ledger, Poster, ReferenceRules, Rules
from paysync_dagster.lib.posting.erp import (AfterRun, ChartOfAccounts, FetchedInvoice, OutcomeUnknown, RejectedError,
                                             UnavailableError)
from paysync_dagster.lib.posting.lease import posting_lease
from paysync_dagster.lib.posting.report import (bucket, by_match_rule, by_outcome, by_reason, counts_add_up,
                                                exception_rows, ledger_matches, outcome_row)
from paysync_dagster.lib.warehouse import progress
from paysync_dagster.lib.warehouse.customer_accounts import with_customer_accounts
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.io import read_partition, read_where, records, rewrite
from paysync_dagster.lib.warehouse.tables import erp_customers, normalized_payments, payment_exceptions

UPSTREAM = "normalize"
API_RETRY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
#: the live job runs every asset that carries this tag (those of the ERPs that are on)
POSTING_PATH_TAG = "paysync/posting_path"
PAYMENT_COLUMNS = ("business_date", "transaction_id", "kind", "status", "paytrace_state", "amount_minor", "currency",
                   "invoice_reference_raw", "invoice_reference", "description", "customer_name", "card_brand",
                   "card_last_four", "approval_code")


def asset_options(c: ErpConnector) -> dict[str, Any]:
    """Every asset that calls an ERP: the day, the ERP's group, its API's pool (one run at a time talks
    to it, so a near-real-time run and a backfill never post the same date at once) and step retries
    (whole-step failures; single requests are retried by the client, uncertain writes by the ledger)."""
    return dict(partitions_def=daily_partitions, group_name=c.name, kinds={c.name, "sql"}, pool=c.pool,
                retry_policy=API_RETRY, required_resource_keys={"warehouse", c.resource_key})


def erp_resource(context: dg.AssetExecutionContext, c: ErpConnector) -> ErpResource:
    return getattr(context.resources, c.resource_key)


def posting_rules() -> Rules:
    refs = MAPPING.invoice_reference
    return Rules(receipt_prefix=MAPPING.receipts.receipt_number_prefix,
                 references=ReferenceRules(refs.prefix, refs.digits, refs.split))


def finish_run(context: dg.AssetExecutionContext, c: ErpConnector, adapter: Any, day: date) -> None:
    """What an ERP needs once a run has sent a date's effects (Sage: post PaySync's batches of the date
    and create their GL batch, when the mapping says so). A failure here fails nothing: the effects are
    in the ERP, what is left is repeatable, and the next run does it."""
    if not isinstance(adapter, AfterRun):
        return
    try:
        finished = adapter.after_run(day)
    except (UnavailableError, OutcomeUnknown, RejectedError) as exc:
        context.log.warning(f"{c.title}: the batches of {day} are not posted yet: {exc}")
        return
    if finished:
        context.log.info(f"{c.title}: posted batches {finished} of {day}")


def _retryable(engine: Engine, c: ErpConnector, day: date) -> set[int]:
    """Payments of the date whose posting ended in an exception: each run tries them again (the
    ledger sends nothing twice), so a payment the ERP refused while it was down goes through later."""
    t = c.cash_receipts
    with engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(select(t.c.transaction_id).where(t.c.business_date == day,
                                                                                  t.c.outcome == "exception"))}


def _invoice_row(day: date, f: FetchedInvoice) -> dict[str, Any]:
    inv = f.invoice
    return {"business_date": day, "invoice_number": inv.number, "erp_invoice_id": inv.erp_id,
            "customer_account": inv.customer_account, "customer_name": f.customer_name,
            "transaction_date": f.transaction_date, "due_date": inv.due_date, "currency": inv.currency,
            "original_minor": f.original_minor, "balance_minor": inv.balance_minor,
            "installments": json.dumps([[t.erp_id, t.balance_minor, t.due_date] for t in inv.targets])}


def customer_accounts_asset(c: ErpConnector) -> dg.AssetsDefinition:
    @dg.asset(name=f"{c.name}_customer_accounts", **asset_options(c), tags={POSTING_PATH_TAG: "yes"},
              description=f"{c.title}'s customer accounts (number and name) into erp_customers, so normalization "
                          "finds a payment's account by the payer's name from the first run of an installation on. "
                          "A master, not dated: the daily run reads it afresh; a near-real-time run keeps the list "
                          "the warehouse holds and reads the ERP only when it holds none.")
    def _customer_accounts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        engine = warehouse.engine
        with engine.connect() as conn:
            held = conn.execute(select(func.count()).select_from(erp_customers)
                                .where(erp_customers.c.erp == c.name)).scalar_one()
        if is_live(context) and held:
            return dg.MaterializeResult(metadata={**provenance(), "customer_accounts": held, "read_from_erp": False})
        erp = erp_resource(context, c)
        with erp.client() as client:
            customers = erp.adapter(client, MAPPING).customer_accounts()
        with begin_write(engine) as conn:  # the accounts as the ERP has them now
            conn.execute(delete(erp_customers).where(erp_customers.c.erp == c.name))
            if customers:
                conn.execute(erp_customers.insert(), [{"erp": c.name, "account_number": a["account_number"],
                                                       "name": a["name"], "email": a.get("email") or ""}
                                                      for a in customers])
        return dg.MaterializeResult(metadata={
            **provenance(),
            "customer_accounts": len(customers), "read_from_erp": True,
            "preview": dg.MetadataValue.md(md_table(customers[:20], ["account_number", "name"]))})

    return _customer_accounts


def open_invoices_asset(c: ErpConnector) -> dg.AssetsDefinition:
    name = f"{c.name}_open_invoices"

    @dg.asset(name=name, **asset_options(c),
              check_specs=[dg.AssetCheckSpec(
                  "mapping_gl_accounts_in_erp", asset=name, blocking=False,
                  description=f"every GL account of the mapping file is one {c.title} holds (its chart of accounts, "
                              "where the ERP offers it) and fits its account format; each miss names the account, "
                              "the file, the line and the key")],
              description=f"{c.title}'s open receivables invoices dated on or before the business date, with their "
                          "open balances and installments, as the ERP holds them when read.")
    def _open_invoices(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        day = date.fromisoformat(context.partition_key)
        erp = erp_resource(context, c)
        with erp.client() as client:
            adapter = erp.adapter(client, MAPPING)
            fetched, customers = adapter.open_invoices(day)
            chart = adapter.gl_accounts() if isinstance(adapter, ChartOfAccounts) else None
        accounts_check = _gl_accounts_check(c, chart)
        rows = [_invoice_row(day, f) for f in fetched]
        rewrite(warehouse.engine, [day], {c.open_invoices: (None, rows)})
        total = sum(r["balance_minor"] for r in rows)
        by_customer: dict[str, dict[str, Any]] = {}
        for r in rows:
            row = by_customer.setdefault(r["customer_account"], {"customer_account": r["customer_account"],
                                                                 "customer_name": r["customer_name"], "invoices": 0,
                                                                 "balance_minor": 0, "currency": r["currency"]})
            row["invoices"] += 1
            row["balance_minor"] += r["balance_minor"]
        top = sorted(by_customer.values(), key=lambda r: -r["balance_minor"])
        return dg.MaterializeResult(metadata={
            **provenance(),
            "business_date": str(day),
            "open_invoices": len(rows),
            "customers": len(customers),
            "customers_with_open_invoices": len(by_customer),
            "open_balance_minor": total,
            "open_balance": dg.MetadataValue.text(format_amount(total, MAPPING.currency.base)),
            "by_customer": dg.MetadataValue.md(md_table(top, ["customer_account", "customer_name", "invoices",
                                                              "balance_minor"], money=["balance_minor"])),
            "preview": dg.MetadataValue.md(md_table(rows, ["invoice_number", "customer_account", "transaction_date",
                                                           "due_date", "original_minor", "balance_minor"],
                                                    money=["original_minor", "balance_minor"])),
        }, check_results=[accounts_check])

    return _open_invoices


def _gl_accounts_check(c: ErpConnector, chart: set[str] | None) -> dg.AssetCheckResult:
    """The mapping's GL accounts against the ERP's chart (when it offers one) and its account format."""
    problems = check_gl_accounts(MAPPING, c.name, chart)
    metadata: dict[str, Any] = {
        "checked_against": "the chart of accounts read from the ERP, and the account format" if chart is not None
        else f"the mapping's account format for {c.name} ({c.title} does not offer its chart of accounts)",
        "problems": len(problems)}
    if chart is not None:
        metadata["accounts_in_erp"] = len(chart)
    if problems:
        metadata["accounts_to_fix"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in problems))
    return dg.AssetCheckResult(check_name="mapping_gl_accounts_in_erp", passed=not problems, metadata=metadata)


def cash_receipts_asset(c: ErpConnector, open_invoices: dg.AssetsDefinition) -> dg.AssetsDefinition:
    name = f"{c.name}_cash_receipts"

    @dg.asset(
        name=name, **asset_options(c), tags={POSTING_PATH_TAG: "yes"},
        deps=[dg.AssetKey("normalized_payments"), open_invoices],
        check_specs=[
            dg.AssetCheckSpec("one_outcome_per_payment", asset=name, blocking=True,
                              description="every normalized payment of the date has exactly one outcome: "
                                          "posted + skipped + exceptions = normalized"),
            dg.AssetCheckSpec("ledger_matches_receipts", asset=name, blocking=True,
                              description="the posting ledger's receipts of the date are exactly the rows' receipts"),
        ],
        description=f"Each PayTrace payment of the business date as {c.title} cash: a receipt numbered from the "
                    "PayTrace id, for the payer, applied only to the payer's invoices that its references name "
                    "(rule, score, references read and candidates rejected on every row); overpayments and unmatched "
                    "payments on account; a payer nobody can identify as an unidentified receipt, moved to its "
                    "customer once identified; voids after posting and chargebacks reversed; refunds recorded on the "
                    "original receipt. Exactly once through the posting ledger, whatever is retried or redelivered; "
                    f"what needs a person lands in payment_exceptions (stage \"{c.name}\") with a next step.",
    )
    def _cash_receipts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        day = date.fromisoformat(context.partition_key)
        engine = warehouse.engine
        upstream = progress.progress_of(engine, day, UPSTREAM)
        # A near-real-time run posts the payments normalized since this stage last ran and those still
        # waiting on an exception it can retry; others the whole date. Posted payments cost no ERP call
        # either way: the ledger knows them.
        scope = (sorted(set(progress.behind(engine, day, c.name, UPSTREAM)) | _retryable(engine, c, day))
                 if is_live(context) and progress.stage_watermark(engine, day, c.name) is not None else None)
        frame = (read_partition(engine, normalized_payments, [day]) if scope is None
                 else read_where(engine, normalized_payments, "transaction_id", scope))
        frame = with_customer_accounts(engine, frame, [c.name])
        columns = (*PAYMENT_COLUMNS, c.customer_account_column)
        payments = [{k: r[k] for k in columns} for r in records(frame)] if not frame.empty else []
        erp = erp_resource(context, c)
        # One run posts a date at a time (the sensor's run and a backfill may overlap).
        with posting_lease(engine, c.name, day) as lease, erp.client() as client:
            ledger = Ledger(engine, c.name, lease)
            adapter = erp.adapter(client, MAPPING)

            def open_invoices_now() -> dict:
                fetched, _ = adapter.open_invoices(day)
                return {f.invoice.number: f.invoice for f in fetched}

            outcomes = Poster(adapter, ledger, posting_rules(), open_invoices_now, log=context.log.info).post_all(payments)
            finish_run(context, c, adapter, day)
        with stage_writer(engine, [day], c.name, {c.cash_receipts: None}, transactions=scope) as write:
            write(c.cash_receipts, [outcome_row(o) for o in outcomes])
            write(payment_exceptions, exception_rows(outcomes, c.name))
            built = upstream if scope is None else {t: upstream[t] for t in scope if t in upstream}
            progress.record(write.conn, day, c.name, built, progress.stage_watermark(write.conn, day, UPSTREAM) or 0,
                            whole_date=scope is None)
        counts = counts_add_up([int(p["transaction_id"]) for p in payments], outcomes)
        # The figures and the ledger check cover the whole date, whatever this run posted.
        date_rows = records(read_partition(engine, c.cash_receipts, [day]))
        open_exceptions = records(read_partition(engine, payment_exceptions, [day],
                                                 (payment_exceptions.c.stage == c.name)
                                                 & (payment_exceptions.c.status == "open")))
        matched = ledger_matches(ledger, day, date_rows)
        base = MAPPING.currency.base
        buckets = Counter(bucket(r["outcome"]) for r in date_rows)
        applied = sum(int(r["applied_minor"]) for r in date_rows if r["owns_receipt"])
        unapplied = sum(int(r["unapplied_minor"]) for r in date_rows
                        if r["owns_receipt"] and r["outcome"] in ("applied", "on_account"))
        return dg.MaterializeResult(
            metadata={
                **provenance(),
                "business_date": str(day),
                "mapping_version": MAPPING.version,
                "mapping_fingerprint": MAPPING_FINGERPRINT,
                "built_this_run": counts["normalized"],
                "scope": "the whole date" if scope is None else "payments normalized since the last run, and retries",
                "normalized": len(date_rows),
                "posted": buckets["posted"],
                "skipped": buckets["skipped"],
                "exceptions": buckets["exception"],
                f"receipts_in_{c.name}": matched["ledger_receipts"],
                "applied_minor": applied,
                "applied": dg.MetadataValue.text(format_amount(applied, base)),
                "on_account_minor": unapplied,
                "on_account": dg.MetadataValue.text(format_amount(unapplied, base)),
                "by_outcome": dg.MetadataValue.md(md_table(by_outcome(date_rows), ["outcome", "count", "amount",
                                                                                  "applied", "unapplied"],
                                                           money=["amount", "applied", "unapplied"])),
                "by_match_rule": dg.MetadataValue.md(md_table(by_match_rule(date_rows), ["match_rule", "count",
                                                                                         "amount"], money=["amount"])),
                "exceptions_by_reason": dg.MetadataValue.md(md_table(by_reason(open_exceptions),
                                                                     ["reason_code", "count", "amount", "next_step"],
                                                                     money=["amount"])),
                "preview": dg.MetadataValue.md(md_table(date_rows, [
                    "transaction_id", "kind", "outcome", "customer_account", "receipt_number", "invoices",
                    "amount_minor", "applied_minor", "unapplied_minor", "match_rule", "match_score", "match_tokens",
                    "match_rejected"], money=["amount_minor", "applied_minor", "unapplied_minor"])),
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

    return _cash_receipts
