"""PayTrace raw assets: the day's transactions (from the landing table) and settlement batches."""


from datetime import date
from typing import Any

import dagster as dg
import pandas as pd
import pandera.errors
from sqlalchemy import func, select

from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.paytrace.resources import PayTraceResource
from paysync_dagster.defs.shared.live import is_live
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.exceptions import stage_writer
from paysync_dagster.lib.paytrace.errors import PayTraceResponseError
from paysync_dagster.lib.exceptions.queue import CLEARED
from paysync_dagster.lib.paytrace.landing import land_records
from paysync_dagster.lib.paytrace.tables import (
    STAGE,
    UNREADABLE,
    batch_discrepancies,
    batch_rows,
    refused_record_exception,
    transaction_rows,
    transaction_summary,
    unreadable_exception,
)
from paysync_dagster.lib.schemas import BatchTransactionsSchema, PayTraceTransactionsSchema, SettlementBatchesSchema, rows_failing
from paysync_dagster.lib.scrub import mask_then_cut
from paysync_dagster.lib.settings import merchant_timezone
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse import begin_write, replace_partitions
from paysync_dagster.lib.warehouse import progress
from paysync_dagster.lib.warehouse.progress import landed_since, landing_rows, landing_watermark, stage_watermark
from paysync_dagster.lib.warehouse.tables import (
    payment_exceptions,
    paytrace_landing,
    paytrace_batch_transactions,
    paytrace_export_pulls,
    paytrace_settlement_batches as settlement_batches_table,
    paytrace_transactions as paytrace_transactions_table,
)

API_RETRY = dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
# What every asset that calls PayTrace shares: the day, the group, the API's pool and step retries
# (for whole-step failures; the client already retries single requests).
PAYTRACE_ASSET = dict(partitions_def=daily_partitions, group_name="paytrace", kinds={"paytrace", "sql"}, pool="paytrace_api", retry_policy=API_RETRY)


_TRANSACTION_COLUMNS = [c.name for c in paytrace_transactions_table.columns]


class PayTraceTransactionsConfig(dg.Config):
    """How a run builds the day's transactions."""

    pull_export: bool = True
    """Pull PayTrace's export for the date into the landing table first (backfills, the nightly run).
    Near-real-time runs started by the landing sensor skip it: the rows they need are landed already."""


def _partition_day(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def _validated(df: pd.DataFrame, schema, what: str) -> None:  # noqa: ANN001
    try:
        schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(20).to_dict("records")
        raise dg.Failure(
            description=f"{what} failed its contract ({len(exc.failure_cases)} problems); nothing was written",
            metadata={"failure_cases": dg.MetadataValue.md(md_table(cases, list(cases[0].keys()) if cases else []))},
        ) from None


def pull_export_into_landing(engine, paytrace: "PayTraceResource", day: date, tz_name: str, log) -> dict[str, Any]:  # noqa: ANN001
    """PayTrace's export for one business date -> the landing table (deduplicated).

    A record that cannot be read is left out and returned under ``refused`` (the caller records it as
    an exception); the rest of the date lands. An answer that is not the documented JSON at all fails
    the pull with nothing written, without the step's retries: bad data does not improve by asking again.
    """
    try:
        with paytrace.client() as client:
            records = client.export_transactions(day, day)
    except PayTraceResponseError as exc:
        raise dg.Failure(
            description=f"PayTrace sent data PaySync cannot read, nothing was written: {exc}",
            metadata={"error": type(exc).__name__, "field": getattr(exc, "field", "") or ""},
            allow_retries=False,
        ) from exc
    result, refused = land_records(engine, records, source="export", tz_name=tz_name)
    with begin_write(engine) as conn:
        conn.execute(paytrace_export_pulls.delete().where(paytrace_export_pulls.c.business_date == day))
        conn.execute(paytrace_export_pulls.insert().values(business_date=day, pulled_at=utcnow(), records=len(records), landed=result.landed))
    log.info(f"export for {day}: {len(records)} records, {result.landed} new landing rows, {len(refused)} unreadable")
    for r in refused:
        log.warning(f"export for {day}: record left out: {mask_then_cut(r.problem, 300)}")
    return {"exported": len(records), "landed": result.landed, "refused": refused}


def _landing_accounted(engine, day: date, watermark: int) -> dict[str, Any]:  # noqa: ANN001
    """Every transaction landed for the date up to the run's watermark is one row of the table, or an
    exception when none of its records can be read; the table holds nothing else."""
    t, e, landing = paytrace_transactions_table, payment_exceptions, paytrace_landing
    with engine.connect() as conn:
        landed = {r[0] for r in conn.execute(select(landing.c.transaction_id).distinct().where(
            landing.c.business_date == day, landing.c.id <= watermark))}
        rows = [r[0] for r in conn.execute(select(t.c.transaction_id).where(t.c.business_date == day))]
        excepted = {r[0] for r in conn.execute(select(e.c.transaction_id).where(
            e.c.business_date == day, e.c.stage == STAGE, e.c.reason_code == UNREADABLE, e.c.status != CLEARED))}
    in_table = set(rows)
    unbuilt = excepted - in_table
    return {"passed": landed == in_table | unbuilt and len(rows) == len(in_table), "landed_transactions": len(landed),
            "rows": len(rows), "exceptions_without_row": len(unbuilt), "watermark_landing_id": watermark}


def _date_amounts(engine, day: date) -> list[dict[str, Any]]:  # noqa: ANN001
    """What the date's figures are made of, for the whole date whatever this run built."""
    t = paytrace_transactions_table
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(t.c.transaction_type, t.c.state, t.c.amount_minor).where(t.c.business_date == day))]


def _unusable_rows(rows: list[dict[str, Any]], landing: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows that break PayTraceTransactionsSchema leave the date as exceptions; the rest are kept."""
    failing = rows_failing(PayTraceTransactionsSchema, pd.DataFrame(rows, columns=_TRANSACTION_COLUMNS)) if rows else {}
    if not failing:
        return rows, []
    by_id = {r["id"]: r for r in landing}
    kept = [r for i, r in enumerate(rows) if i not in failing]
    dropped = [unreadable_exception(by_id[rows[i]["landing_id"]], problem) for i, problem in failing.items()]
    return kept, dropped


@dg.asset(
    **PAYTRACE_ASSET,
    check_specs=[
        dg.AssetCheckSpec("schema_valid", asset="paytrace_transactions", blocking=True, description="rows satisfy PayTraceTransactionsSchema"),
        dg.AssetCheckSpec("landing_accounted", asset="paytrace_transactions", blocking=True,
                          description="every landed transaction of the date has exactly one row, or an exception when none of its records can be read"),
    ],
)
def paytrace_transactions(
    context: dg.AssetExecutionContext,
    config: PayTraceTransactionsConfig,
    warehouse: WarehouseResource,
    paytrace: PayTraceResource,
) -> dg.MaterializeResult:
    """Every PayTrace transaction created on the business date, in its latest known state.

    Built from the landing table (webhook and export rows alike); a backfill or the nightly run
    first pulls PayTrace's export for the date so that nothing a lost webhook missed is missing.
    Amounts in cents, timestamps in UTC, card numbers masked.
    """
    day = _partition_day(context)
    tz_name = merchant_timezone()
    engine = warehouse.engine
    pulled = pull_export_into_landing(engine, paytrace, day, tz_name, context.log) if config.pull_export else {}
    # The run reads up to the landing rows there now: events landing meanwhile are the next run's.
    watermark = landing_watermark(engine, day)
    previous = stage_watermark(engine, day, STAGE) if is_live(context) else None
    scope = None if previous is None else landed_since(engine, day, previous, watermark)
    landing = landing_rows(engine, day, watermark, scope)
    rows, unreadable = transaction_rows(landing, tz_name)
    rows, broken = _unusable_rows(rows, landing)
    exceptions = unreadable + broken + [refused_record_exception(day, r.transaction_id, r.problem) for r in pulled.get("refused", [])]
    built: dict[int, int] = {}
    for landed in landing:  # each transaction, by the newest landing row read for it
        built[landed["transaction_id"]] = max(built.get(landed["transaction_id"], 0), landed["id"])
    with stage_writer(engine, [day], STAGE, {paytrace_transactions_table: None}, transactions=scope) as write:
        write(paytrace_transactions_table, rows)
        write(payment_exceptions, exceptions)
        progress.record(write.conn, day, STAGE, built, watermark, whole_date=scope is None)
    context.log.info(f"{day}: built {len(built)} transactions from landing rows up to id {watermark}"
                     + (f" (the {len(scope)} touched since id {previous})" if scope is not None else " (the whole date)"))
    accounted = _landing_accounted(engine, day, watermark)
    day_rows = _date_amounts(engine, day)
    summary = transaction_summary(day_rows)
    by_state = (pd.DataFrame(day_rows).groupby("state")["amount_minor"].agg(["count", "sum"]).reset_index().to_dict("records")
                if day_rows else [])
    preview = md_table(
        rows,
        ["transaction_id", "transaction_type", "state", "amount_minor", "invoice_id", "masked_card_number", "created_at"],
        money=["amount_minor"],
    )
    return dg.MaterializeResult(
        metadata={
            **provenance(),
            "business_date": str(day),
            "transactions": summary["transactions"],
            "gross": dg.MetadataValue.text(format_amount(summary["gross_minor"])),
            "refunds": dg.MetadataValue.text(format_amount(summary["refunds_minor"])),
            "net": dg.MetadataValue.text(format_amount(summary["net_minor"])),
            "gross_minor": summary["gross_minor"],
            "refunds_minor": summary["refunds_minor"],
            "net_minor": summary["net_minor"],
            "declined": summary["declined"],
            "voided": summary["voided"],
            "settled": summary["settled"],
            "pending_settlement": summary["pending"],
            "built_this_run": len(built),
            "read_up_to_landing_id": watermark,
            "export_records": pulled.get("exported", 0),
            "newly_landed": pulled.get("landed", 0),
            "exceptions": len(exceptions),
            "exceptions_preview": dg.MetadataValue.md(md_table(
                exceptions,
                ["transaction_id", "reason_code", "reason", "amount_minor"], money=["amount_minor"],
            )),
            "by_state": dg.MetadataValue.md(md_table([{**r, "currency": "USD"} for r in by_state], ["state", "count", "sum"], money=["sum"])),
            "preview": dg.MetadataValue.md(preview),
        },
        check_results=[
            dg.AssetCheckResult(check_name="schema_valid", passed=True, metadata={"rows": len(rows), "rows_refused": len(broken)}),
            dg.AssetCheckResult(check_name="landing_accounted", passed=accounted.pop("passed"), metadata=accounted),
        ],
    )


@dg.asset(
    **PAYTRACE_ASSET,
    check_specs=[
        dg.AssetCheckSpec("schema_valid", asset="paytrace_settlement_batches", blocking=True, description="rows satisfy the batch schemas"),
        dg.AssetCheckSpec(
            "batch_totals_match_transactions",
            asset="paytrace_settlement_batches",
            blocking=True,
            description="each batch's count and net equal the sum of the transactions PayTrace lists in it",
        ),
    ],
)
def paytrace_settlement_batches(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    paytrace: PayTraceResource,
) -> dg.MaterializeResult:
    """Settlement batches PayTrace closed on the business date, with the transactions in each.

    PayTrace closes a batch at 8 pm merchant time by default; refunds settle in the batch of the day
    they were made, not with the sale they return.
    """
    day = _partition_day(context)
    tz_name = merchant_timezone()
    with paytrace.client() as client:
        batches = client.export_batches(day, day)
        listed = {int(b["number"]): client.batch_transactions(int(b["number"])) for b in batches if str(b.get("number", "")).isdigit()}
    summaries, members = batch_rows(day, batches, listed, tz_name)
    _validated(pd.DataFrame(summaries, columns=[c.name for c in settlement_batches_table.columns]), SettlementBatchesSchema, f"settlement batches for {day}")
    _validated(pd.DataFrame(members, columns=[c.name for c in paytrace_batch_transactions.columns]), BatchTransactionsSchema, f"batch transactions for {day}")
    replace_partitions(warehouse.engine, [day], {settlement_batches_table: summaries, paytrace_batch_transactions: members})

    problems = batch_discrepancies(summaries)
    sales = sum(b["sales_minor"] for b in summaries)
    refunds = sum(b["refund_minor"] for b in summaries)
    net = sum(b["net_minor"] for b in summaries)
    preview = md_table(
        [{**b, "currency": "USD"} for b in summaries],
        ["batch_number", "closed_at", "transaction_count", "sales_minor", "refund_minor", "net_minor"],
        money=["sales_minor", "refund_minor", "net_minor"],
    )
    return dg.MaterializeResult(
        metadata={
            **provenance(),
            "business_date": str(day),
            "batches": len(summaries),
            "settled_transactions": len(members),
            "gross": dg.MetadataValue.text(format_amount(sales)),
            "refunds": dg.MetadataValue.text(format_amount(refunds)),
            "net": dg.MetadataValue.text(format_amount(net)),
            "net_minor": net,
            "preview": dg.MetadataValue.md(preview),
        },
        check_results=[
            dg.AssetCheckResult(check_name="schema_valid", passed=True, metadata={"batches": len(summaries), "transactions": len(members)}),
            dg.AssetCheckResult(
                check_name="batch_totals_match_transactions",
                passed=not problems,
                metadata={"discrepancies": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
            ),
        ],
    )
