"""normalized_payments: the contract every ERP path and the reconciliation read."""

from collections import Counter
from datetime import date

import dagster as dg
import pandas as pd
import pandera.errors

from paysync_dagster.defs.normalize.rules import MAPPING, MAPPING_FINGERPRINT
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.shared.live import is_live
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions import stage_writer
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.normalize import balance, normalize_chunks
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse import progress
from paysync_dagster.lib.warehouse.customer_accounts import account_rows, without_accounts
from paysync_dagster.lib.warehouse.io import read_partition_chunks, read_where, records
from paysync_dagster.lib.warehouse.tables import (
    erp_customers,
    normalized_payments as normalized_payments_table,
    paytrace_batch_transactions,
    paytrace_transactions as paytrace_transactions_table,
    payment_customer_accounts,
    payment_exceptions,
)


STAGE = "normalize"
UPSTREAM = "paytrace"


def _money_rows(counter: Counter, keys: tuple[str, ...]) -> list[dict]:
    return [{**dict(zip(keys, k)), "count": n, "sum": s, "currency": MAPPING.currency.base} for k, (n, s) in sorted(counter.items())]


def _batches_closed_on(engine, day: date):  # noqa: ANN001, ANN202
    """Batch membership for a date's payments, from the batches that closed on the date itself. A payment
    taken after the evening's close settles in the next date's batch, which that date's reconciliation
    reads from the batch's own list; were it read here, the row would depend on whether the next date's
    batches happened to be pulled before this date ran (dates of one backfill run side by side)."""
    def batches_for(ids: list[int]) -> pd.DataFrame:
        found = read_where(engine, paytrace_batch_transactions, "transaction_id", ids)
        if found.empty:
            return found
        return found[pd.to_datetime(found["business_date"]).dt.date == day].reset_index(drop=True)

    return batches_for


@dg.asset(
    partitions_def=daily_partitions,
    group_name="normalize",
    kinds={"pandas", "sql"},
    # Upstream assets by key, not by object: an asset object imported into a second defs module would be
    # found there too, and counted twice when definitions.py adds the ERPs' customer accounts.
    # The customer accounts of each ERP that is on are added when the definitions load
    # (definitions.py): payers are found by name from the first run of an installation on.
    deps=["paytrace_transactions", "paytrace_settlement_batches"],
    check_specs=[
        dg.AssetCheckSpec("unique_transaction_ids", asset="normalized_payments", blocking=True,
                          description="one normalized row per PayTrace transaction"),
        dg.AssetCheckSpec("raw_equals_normalized_plus_exceptions", asset="normalized_payments", blocking=True,
                          description="PayTrace rows = normalized + exceptions, in count and to the cent"),
    ],
)
def normalized_payments(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """PayTrace transactions of the business date in one ERP-neutral shape.

    Kind and canonical status, integer cents with the ERP base-currency amount and the rate used,
    UTC times, the settlement batch (when it closed on the date itself), the invoice reference normalized, ERP customer accounts, the GL
    account, card brand and last four (never more), a standardized billing address, and the mapping
    version. Rows that cannot be normalized go to payment_exceptions with a reason and a next step.
    """
    day = date.fromisoformat(context.partition_key)
    engine = warehouse.engine
    customers = pd.read_sql_table(erp_customers.name, engine)
    upstream = progress.progress_of(engine, day, UPSTREAM)
    # A near-real-time run normalizes the transactions built since this stage last ran; others the whole date.
    scope = (progress.behind(engine, day, STAGE, UPSTREAM)
             if is_live(context) and progress.stage_watermark(engine, day, STAGE) is not None else None)
    source = (read_partition_chunks(engine, paytrace_transactions_table, [day]) if scope is None
              else [read_where(engine, paytrace_transactions_table, "transaction_id", scope)])
    chunks = normalize_chunks(
        source,
        MAPPING,
        batches_for=_batches_closed_on(engine, day),
        erp_customers=customers,
    )
    seen: set[int] = set()
    duplicates = raw_count = count_difference = amount_difference = masked = 0
    by_kind: Counter = Counter()
    by_reason: Counter = Counter()
    totals: dict[tuple, list[int]] = {}
    preview: list[dict] = []
    created = utcnow()
    try:
        # Everything is written in one transaction: a failure on the last chunk leaves the previous content.
        with stage_writer(engine, [day], STAGE, {normalized_payments_table: None, payment_customer_accounts: None},
                          transactions=scope) as write:
            for raw, result in chunks:
                payments, exceptions = result.payments, result.exceptions
                write(normalized_payments_table, records(without_accounts(payments)))
                write(payment_customer_accounts, account_rows(payments))
                write(payment_exceptions, records(exceptions.assign(status="open", created_at=created)))
                figures = balance(raw, result)
                raw_count += len(raw)
                count_difference += figures["count_difference"]
                amount_difference += figures["amount_difference_minor"]
                masked += result.card_numbers_masked
                ids = payments["transaction_id"].tolist()
                duplicates += len(ids) - len(set(ids)) + len(seen.intersection(ids))
                seen.update(ids)
                for key, grp in payments.groupby(["kind", "status"])["amount_minor"]:
                    t = totals.setdefault(("kind",) + key, [0, 0])
                    t[0] += len(grp)
                    t[1] += int(grp.sum())
                for key, grp in exceptions.groupby("reason_code")["amount_minor"]:
                    t = totals.setdefault(("reason", key), [0, 0])
                    t[0] += len(grp)
                    t[1] += int(pd.to_numeric(grp).sum())
                if len(preview) < 20:
                    preview.extend(payments.head(20 - len(preview)).to_dict("records"))
            built = upstream if scope is None else {t: upstream[t] for t in scope if t in upstream}
            progress.record(write.conn, day, STAGE, built, progress.stage_watermark(write.conn, day, UPSTREAM) or 0,
                            whole_date=scope is None)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(20).astype(str).to_dict("records")
        raise dg.Failure(
            description=f"normalized payments for {day} broke their contract ({len(exc.failure_cases)} problems); nothing was written",
            metadata={"failure_cases": dg.MetadataValue.md(md_table(cases, list(cases[0]) if cases else []))},
        ) from None

    for key, (n, s) in totals.items():
        (by_kind if key[0] == "kind" else by_reason)[key[1:]] = (n, s)
    normalized = sum(n for n, _ in by_kind.values())
    exceptions_count = sum(n for n, _ in by_reason.values())
    normalized_amount = sum(s for _, s in by_kind.values())
    return dg.MaterializeResult(
        metadata={
            **provenance(),
            "business_date": str(day),
            "mapping_version": MAPPING.version,
            "mapping_fingerprint": MAPPING_FINGERPRINT,
            "built_this_run": raw_count,
            "scope": "the whole date" if scope is None else "transactions built since the last run",
            "raw_transactions": raw_count,
            "normalized": normalized,
            "exceptions": exceptions_count,
            "normalized_amount": dg.MetadataValue.text(format_amount(normalized_amount, MAPPING.currency.base)),
            "card_numbers_masked": masked,
            "by_kind_and_status": dg.MetadataValue.md(md_table(_money_rows(by_kind, ("kind", "status")), ["kind", "status", "count", "sum"], money=["sum"])),
            "exceptions_by_reason": dg.MetadataValue.md(md_table(_money_rows(by_reason, ("reason_code",)), ["reason_code", "count", "sum"], money=["sum"])),
            "preview": dg.MetadataValue.md(md_table(
                preview,
                ["transaction_id", "kind", "status", "amount_minor", "invoice_reference", "card_brand", "card_last_four", "gl_account"],
                money=["amount_minor"],
            )),
        },
        check_results=[
            dg.AssetCheckResult(check_name="unique_transaction_ids", passed=duplicates == 0, metadata={"duplicates": duplicates}),
            dg.AssetCheckResult(
                check_name="raw_equals_normalized_plus_exceptions",
                passed=count_difference == 0 and amount_difference == 0,
                metadata={"count_difference": count_difference, "amount_difference_minor": amount_difference},
            ),
        ],
    )
