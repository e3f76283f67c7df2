"""Reconciliation: each business date's settlement batches tied out against the ERP and the bank."""

from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import select

from paysync_dagster.defs.erp.connectors import ErpConnector, ErpResource
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions import stage_writer
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.reconciliation.bank import read_bank_folder
from paysync_dagster.lib.reconciliation.checks import batch_checks, unaccounted
from paysync_dagster.lib.reconciliation.core import Tolerances, reconcile
from paysync_dagster.lib.reconciliation.files import (bar_chart_svg, reconciliation_name, with_cash_application, write_chart,
                                                     write_reports)
from paysync_dagster.lib.reconciliation.kpis import date_kpis, describe, exceptions_by_reason_and_age, summarize
from paysync_dagster.lib.reconciliation.load import load_scope
from paysync_dagster.lib.reconciliation.queue_rows import exception_rows
from paysync_dagster.lib.settings import bank_files_dir, merchant_timezone, reports_dir
from paysync_dagster.lib.timeutil import utcnow, zone
from paysync_dagster.lib.warehouse.io import read_partition, records
from paysync_dagster.lib.warehouse.tables import (
    normalized_payments,
    payment_exceptions,
    reconciliation_batches,
    reconciliation_kpis,
    reconciliation_transactions,
    reconciliation_variances,
)

CHART_DAYS = 14
# Deposits land after the batch closes, so a date's bank leg reads a little beyond it.
BANK_LOOKBACK_DAYS, BANK_LOOKAHEAD_DAYS = 3, 10


def _tolerances() -> Tolerances:
    return Tolerances.of(MAPPING.tolerances)


def _merchant_today() -> date:
    return pd.Timestamp.now(tz=zone(merchant_timezone())).date()


def _chart(engine, day: date, base: str, erp: str) -> tuple[str, list[dict[str, Any]]]:  # noqa: ANN001
    """Matched against unmatched amounts for the last CHART_DAYS reports of one ERP up to ``day``."""
    days = [day - timedelta(days=i) for i in range(CHART_DAYS - 1, -1, -1)]
    rows = read_partition(engine, reconciliation_transactions, days, reconciliation_transactions.c.erp == erp)
    points = []
    for d in days:
        part = rows[rows["business_date"] == d] if not rows.empty else rows
        if part.empty:
            continue
        amount = part["gateway_amount_minor"].abs().where(part["gateway_amount_minor"] != 0, part["erp_amount_minor"].abs())
        matched = int(amount[part["status"] == "matched"].sum())
        points.append({"date": d.isoformat(), "matched_minor": matched, "unmatched_minor": int(amount.sum()) - matched})
    svg = bar_chart_svg([p["date"] for p in points], [p["matched_minor"] for p in points],
                        [p["unmatched_minor"] for p in points], base)
    return svg, points


def _with_keying_age(transactions: pd.DataFrame, today: date) -> pd.DataFrame:
    """For an ERP a clerk keys by hand: how long each receipt missing in the ERP has waited on its
    keying worksheet (the worksheet of the transaction's business date)."""
    if transactions.empty:
        return transactions
    missing = transactions["status"] == "missing_in_erp"
    if not missing.any():
        return transactions
    out = transactions.copy()
    dates = pd.to_datetime(out.loc[missing, "business_date"]).dt.date
    ages = [(today - d).days for d in dates]
    out.loc[missing, "detail"] = [f"{detail}; on the keying worksheet of {d}, not keyed for {a} day{'s' if a != 1 else ''}"
                                  for detail, d, a in zip(out.loc[missing, "detail"], dates, ages)]
    return out


def reconciliation_asset(c: ErpConnector, cash_receipts: dg.AssetsDefinition,
                         on_account: dg.AssetsDefinition | None) -> dg.AssetsDefinition:
    """The reconciliation of one ERP, named by its connector."""
    name = c.reconciliation_name

    @dg.asset(
        name=name,
        partitions_def=daily_partitions,
        group_name="reconciliation",
        kinds={"pandas", "sql"},
        # After the late applications, so that cash applied today is not reported unapplied.
        deps=[cash_receipts, *([on_account] if on_account is not None else []), "paytrace_settlement_batches"],
        pool=c.pool,
        required_resource_keys={"warehouse", c.resource_key},
        retry_policy=dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
        check_specs=[
            dg.AssetCheckSpec("batch_totals_equal_settled_transactions", asset=name,
                              description="each batch's total equals the sum of its settled transactions"),
            dg.AssetCheckSpec("erp_receipts_equal_batch_net", asset=name,
                              description="the ERP's receipts for each batch, as posted, equal its net within the "
                                          "mapping's tolerance (refunds in later batches and chargebacks are "
                                          "itemized, not failures)"),
            dg.AssetCheckSpec("no_transaction_unaccounted", asset=name,
                              description="every transaction and every ERP receipt in scope has exactly one status"),
        ],
        description=f"The date's settlement batches reconciled to the cent over three legs: PayTrace (settled "
                    f"transactions and batch totals), {c.title} as it holds the receipts now (read back, so edits "
                    "and deletions after posting show as drift), and the bank's deposit lines when statement files "
                    "are given (PAYSYNC_BANK_FILES_DIR). One status per transaction; each batch tied or its variance "
                    "itemized by cause; the KPIs of the date; CSV and XLSX files under PAYSYNC_REPORTS_DIR; what "
                    f"needs a person in payment_exceptions (stage \"{reconciliation_name(c.name)}\").",
    )
    def _reconciliation(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        return _reconcile(context, warehouse, c, getattr(context.resources, c.resource_key))

    return _reconciliation


def _reconcile(context: dg.AssetExecutionContext, warehouse: WarehouseResource, c: ErpConnector,
               erp: ErpResource) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    engine = warehouse.engine
    prefix = MAPPING.receipts.receipt_number_prefix
    scope = load_scope(engine, day, c.name, prefix)
    with erp.client() as client:
        reader = erp.reader(client, MAPPING)
        known, known_refunds = reader.receipts(scope.receipt_references)
        dated, dated_refunds = reader.receipts_dated(day, day, prefix)
    erp_receipts = pd.concat([known, dated], ignore_index=True).drop_duplicates("erp_id").reset_index(drop=True)
    erp_refunds = pd.concat([known_refunds, dated_refunds], ignore_index=True).drop_duplicates().reset_index(drop=True)
    folder = bank_files_dir()
    bank = read_bank_folder(folder, day - timedelta(days=BANK_LOOKBACK_DAYS), day + timedelta(days=BANK_LOOKAHEAD_DAYS)) \
        if folder else None
    rec = reconcile(scope.gateway, scope.ledger, erp_receipts, erp_refunds, scope.batches, bank, receipt_prefix=prefix,
                    tolerances=_tolerances(), as_of=_merchant_today())
    batch_numbers = set(int(b) for b in scope.batches["batch_number"]) if not scope.batches.empty else set()
    t = rec.transactions
    in_scope = (t["business_date"] == day) | t["settlement_batch"].isin(batch_numbers)
    transactions = t[in_scope].reset_index(drop=True)
    if c.keyed_by_hand:
        transactions = _with_keying_age(transactions, _merchant_today())
    context.log.info(f"{len(transactions)} transactions, {len(rec.batches)} batches, "
                     f"{len(erp_receipts)} ERP receipts read, bank leg {'on' if bank is not None else 'off'}")

    outcomes = read_partition(engine, c.cash_receipts, [day])
    payments = read_partition(engine, normalized_payments, [day])
    with engine.connect() as conn:
        raised = pd.DataFrame(conn.execute(select(payment_exceptions).where(payment_exceptions.c.business_date == day)).fetchall(),
                              columns=[c.name for c in payment_exceptions.columns])
    new_exceptions = exception_rows(transactions, day, reconciliation_name(c.name))
    declined = payments.loc[payments["status"] == "declined", "transaction_id"] if not payments.empty else []
    ids = set(payments["transaction_id"]) if not payments.empty else set()
    ids |= set(raised.loc[raised["stage"] == "normalize", "transaction_id"]) if not raised.empty else set()
    # This ERP's exceptions and those before any ERP (the other ERPs' say nothing of this one)
    own_stages = {"paytrace", "normalize", c.name}
    flagged = set(raised.loc[raised["stage"].isin(own_stages), "transaction_id"]) if not raised.empty else set()
    flagged |= {r["transaction_id"] for r in new_exceptions}
    kpi_rows = date_kpis(day, outcomes, ids, declined, flagged, rec.batches, transactions, rec.variances)

    table_rows = transactions.rename(columns={"business_date": "transaction_date"}).assign(business_date=day)
    tables = (reconciliation_transactions, reconciliation_batches, reconciliation_variances, reconciliation_kpis)
    with stage_writer(engine, [day], reconciliation_name(c.name), {t: t.c.erp == c.name for t in tables}) as write:
        write(reconciliation_transactions, _records(table_rows.assign(erp=c.name), reconciliation_transactions))
        write(reconciliation_batches, _records(rec.batches.assign(business_date=day, erp=c.name), reconciliation_batches))
        write(reconciliation_variances, _records(rec.variances.assign(business_date=day, erp=c.name),
                                                 reconciliation_variances))
        write(reconciliation_kpis, [{**row, "erp": c.name} for row in kpi_rows])
        write(payment_exceptions, new_exceptions)

    base = MAPPING.currency.base
    summary = summarize(pd.DataFrame(kpi_rows))
    with engine.connect() as conn:
        queue = pd.DataFrame(conn.execute(select(payment_exceptions).where(payment_exceptions.c.business_date == day)).fetchall(),
                             columns=[c.name for c in payment_exceptions.columns])
    open_queue = queue[(queue["status"] == "open") & queue["stage"].isin(own_stages | {reconciliation_name(c.name)})] \
        if not queue.empty else queue
    paths = write_reports(reports_dir(), day, transactions=with_cash_application(transactions, outcomes),
                          batches=rec.batches, variances=rec.variances, erp=c.name,
                          kpis=summary, exceptions=open_queue)
    svg, points = _chart(engine, day, base, c.name)
    paths["chart"] = write_chart(reports_dir(), day, svg, c.name)
    checks = batch_checks(rec.batches, rec.variances, _tolerances().batch_variance_minor)
    missing = unaccounted(scope.gateway, erp_receipts, rec.transactions, prefix)
    by_status = transactions.groupby("status").agg(count=("transaction_id", "count"),
                                                   gateway_minor=("gateway_amount_minor", "sum"),
                                                   erp_minor=("erp_amount_minor", "sum")).reset_index() \
        if not transactions.empty else pd.DataFrame(columns=["status", "count", "gateway_minor", "erp_minor"])
    today = next((p for p in points if p["date"] == day.isoformat()), {"matched_minor": 0, "unmatched_minor": 0})
    return dg.MaterializeResult(
        metadata={
            **provenance(),
            "business_date": str(day),
            "transactions": len(transactions),
            "batches": len(rec.batches),
            "batches_tied": int(rec.batches["tied"].sum()) if not rec.batches.empty else 0,
            "matched": format_amount(today["matched_minor"], base),
            "unmatched": format_amount(today["unmatched_minor"], base),
            "bank_leg": "on" if bank is not None else "off (set PAYSYNC_BANK_FILES_DIR)",
            "kpis": dg.MetadataValue.md("\n".join(f"- {line}" for line in describe(summary, format_amount))),
            "by_status": dg.MetadataValue.md(md_table(by_status.to_dict("records"), ["status", "count", "gateway_minor",
                                                                                       "erp_minor"],
                                                       money=["gateway_minor", "erp_minor"], currency=base)),
            "batches_report": dg.MetadataValue.md(md_table(rec.batches.to_dict("records"), [
                "batch_number", "net_minor", "erp_net_minor", "erp_variance_minor", "bank_net_minor", "bank_variance_minor",
                "tied"], money=["net_minor", "erp_net_minor", "erp_variance_minor", "bank_net_minor", "bank_variance_minor"],
                currency=base)),
            "variances": dg.MetadataValue.md(md_table(rec.variances.to_dict("records"), [
                "batch_number", "leg", "cause", "amount_minor", "transaction_id", "note"], money=["amount_minor"], currency=base)),
            "exceptions_by_reason_and_age": dg.MetadataValue.md(md_table(
                exceptions_by_reason_and_age(queue, utcnow()).to_dict("records"),
                ["reason_code", "<1d", "1-3d", "3-7d", ">7d", "count", "amount_minor"], money=["amount_minor"])),
            "matched_vs_unmatched": dg.MetadataValue.md(
                "Matched (green) and unmatched (red) amounts per day\n\n"
                f"![matched vs unmatched](data:image/svg+xml;base64,{_b64(svg)})\n\n"
                + md_table(points, ["date", "matched_minor", "unmatched_minor"], money=["matched_minor", "unmatched_minor"],
                           currency=base)),
            "report_csv": dg.MetadataValue.path(str(paths["csv"])),
            "report_xlsx": dg.MetadataValue.path(str(paths["xlsx"])),
            "chart_svg": dg.MetadataValue.path(str(paths["chart"])),
        },
        check_results=[
            dg.AssetCheckResult(check_name="batch_totals_equal_settled_transactions", passed=checks["totals"]["passed"],
                                metadata={"batches": len(rec.batches),
                                          "failing": dg.MetadataValue.json(checks["totals"]["failing"])}),
            dg.AssetCheckResult(check_name="erp_receipts_equal_batch_net", passed=checks["erp"]["passed"],
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"batches": len(rec.batches),
                                          "failing": dg.MetadataValue.json(checks["erp"]["failing"])}),
            dg.AssetCheckResult(check_name="no_transaction_unaccounted", passed=not missing,
                                metadata={"unaccounted": dg.MetadataValue.json(missing[:50]), "count": len(missing)}),
        ],
    )


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _records(df: pd.DataFrame, table) -> list[dict[str, Any]]:  # noqa: ANN001
    """The frame's rows with exactly the table's columns (NA as None)."""
    return records(df.reindex(columns=[c.name for c in table.columns]))
