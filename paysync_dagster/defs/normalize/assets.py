"""normalized_payments: the contract every ERP path and the reconciliation read."""

from datetime import date

import dagster as dg
import pandas as pd
import pandera.errors

from paysync_dagster.defs.normalize.rules import MAPPING, MAPPING_FINGERPRINT
from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.normalize import balance, normalize
from paysync_dagster.lib.schemas import NormalizedPaymentsSchema
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.io import read_partition, read_where, records, rewrite
from paysync_dagster.lib.warehouse.tables import (
    erp_customers,
    normalized_payments as normalized_payments_table,
    paytrace_batch_transactions,
    paytrace_transactions as paytrace_transactions_table,
    payment_exceptions,
)


@dg.asset(
    partitions_def=daily_partitions,
    group_name="normalize",
    kinds={"pandas", "sql"},
    deps=[paytrace_transactions, paytrace_settlement_batches],
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
    UTC times, the settlement batch, the invoice reference normalized, ERP customer accounts, the GL
    account, card brand and last four (never more), a standardized billing address, and the mapping
    version. Rows that cannot be normalized go to payment_exceptions with a reason and a next step.
    """
    day = date.fromisoformat(context.partition_key)
    engine = warehouse.engine
    raw = read_partition(engine, paytrace_transactions_table, [day])
    batches = read_where(engine, paytrace_batch_transactions, "transaction_id", raw["transaction_id"].tolist())
    customers = pd.read_sql_table(erp_customers.name, engine) if not raw.empty else None
    result = normalize(raw, MAPPING, batches=batches, erp_customers=customers)
    try:
        NormalizedPaymentsSchema.validate(result.payments, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases.head(20).astype(str).to_dict("records")
        raise dg.Failure(
            description=f"normalized payments for {day} broke their contract ({len(exc.failure_cases)} problems); nothing was written",
            metadata={"failure_cases": dg.MetadataValue.md(md_table(cases, list(cases[0]) if cases else []))},
        ) from None

    exceptions = result.exceptions.assign(status="open", created_at=utcnow())
    rewrite(engine, [day], {
        normalized_payments_table: (None, records(result.payments)),
        payment_exceptions: (payment_exceptions.c.stage == "normalize", records(exceptions)),
    })

    figures = balance(raw, result)
    payments = result.payments
    by_kind = (payments.groupby(["kind", "status"])["amount_minor"].agg(["count", "sum"]).reset_index()
               .assign(currency=MAPPING.currency.base).to_dict("records")) if not payments.empty else []
    by_reason = (result.exceptions.groupby("reason_code")["amount_minor"].agg(["count", "sum"]).reset_index()
                 .assign(currency=MAPPING.currency.base).to_dict("records")) if not result.exceptions.empty else []
    duplicates = int(payments["transaction_id"].duplicated().sum())
    return dg.MaterializeResult(
        metadata={
            "business_date": str(day),
            "mapping_version": MAPPING.version,
            "mapping_fingerprint": MAPPING_FINGERPRINT,
            "raw_transactions": len(raw),
            "normalized": len(payments),
            "exceptions": len(result.exceptions),
            "normalized_amount": dg.MetadataValue.text(format_amount(int(payments["amount_minor"].sum()) if len(payments) else 0, MAPPING.currency.base)),
            "card_numbers_masked": result.card_numbers_masked,
            "by_kind_and_status": dg.MetadataValue.md(md_table(by_kind, ["kind", "status", "count", "sum"], money=["sum"])),
            "exceptions_by_reason": dg.MetadataValue.md(md_table(by_reason, ["reason_code", "count", "sum"], money=["sum"])),
            "preview": dg.MetadataValue.md(md_table(
                payments.head(20).assign(currency=payments["currency"]).to_dict("records"),
                ["transaction_id", "kind", "status", "amount_minor", "invoice_reference", "card_brand", "card_last_four", "gl_account"],
                money=["amount_minor"],
            )),
        },
        check_results=[
            dg.AssetCheckResult(check_name="unique_transaction_ids", passed=duplicates == 0, metadata={"duplicates": duplicates}),
            dg.AssetCheckResult(
                check_name="raw_equals_normalized_plus_exceptions",
                passed=figures["count_difference"] == 0 and figures["amount_difference_minor"] == 0,
                metadata=figures,
            ),
        ],
    )
