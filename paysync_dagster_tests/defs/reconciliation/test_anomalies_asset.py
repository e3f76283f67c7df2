"""payment_anomalies materialized with Dagster on a real SQLite warehouse seeded with normalized payments."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from paysync_dagster.defs.reconciliation.anomalies import payment_anomalies
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.warehouse.customer_accounts import account_rows, without_accounts
from paysync_dagster.lib.warehouse.io import records
from paysync_dagster.lib.warehouse.tables import normalized_payments, payment_customer_accounts
from paysync_dagster.lib.warehouse.tables import payment_anomalies as anomalies_table
from paysync_dagster_tests.lib.reconciliation.test_anomalies import DAY, MORNING, ordinary_history, pay


def normalized(row: dict[str, Any]) -> dict[str, Any]:
    """A full ``normalized_payments`` row around the fields the detection reads."""
    return {**row, "paytrace_state": row["status"], "oracle_status": "Cleared", "sage_status": "Paid", "fx_rate": "1",
            "fx_rate_date": row["business_date"].isoformat(), "fx_rate_source": "base currency", "settled_at": None,
            "settlement_batch": None, "invoice_reference_raw": row["invoice_reference"], "customer_name": "",
            "gl_account": "101.10.12000.000", "billing_name": "A Customer", "billing_street": "1 Main St",
            "billing_city": "Portland", "billing_state": "OR", "billing_country": "US", "source": "export",
            "mapping_version": "test"}


def seed(engine: Engine) -> None:
    history = ordinary_history(per_day=16)
    original = pay(500, MORNING - timedelta(days=40), 10000, day=DAY - timedelta(days=40))  # before the history window
    today = [
        pay(9001, MORNING),
        pay(9002, MORNING + timedelta(minutes=4)),  # the same card and amount again
        pay(9003, MORNING + timedelta(hours=1), 12000, kind="refund", description="Refund of transaction 500"),
        pay(9004, datetime(2026, 3, 10, 10, 0), 985000, customer="C3", card=("VISA", "1003", "90003")),  # 03:00 local
    ]
    rows = pd.DataFrame([normalized(r) for r in history + [original] + today])
    with engine.begin() as conn:  # as normalization writes them: the payer's ERP accounts as rows
        conn.execute(insert(normalized_payments), records(without_accounts(rows)))
        conn.execute(insert(payment_customer_accounts), account_rows(rows))


def materialize(url: str) -> dg.ExecuteInProcessResult:
    return dg.materialize([payment_anomalies], partition_key=DAY.isoformat(),
                          resources={"warehouse": WarehouseResource(database_url=url)})


def table(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(anomalies_table).order_by(anomalies_table.c.rule, anomalies_table.c.transaction_id))
        return pd.DataFrame(rows.mappings().all())


def test_the_asset_writes_the_dates_anomalies_and_rewrites_them_idempotently(sqlite_engine: Engine, sqlite_url: str) -> None:
    seed(sqlite_engine)
    result = materialize(sqlite_url)
    assert result.success
    rows = table(sqlite_engine)
    flagged = {(r.rule, r.transaction_id): r for r in rows.itertuples()}
    assert flagged[("duplicate_charge", 9002)].related_transaction_id == 9001
    refund = flagged[("refund_exceeds_original", 9003)]
    assert refund.related_transaction_id == 500 and "above the original 100.00 USD" in refund.reason
    assert "9,850.00 USD" in flagged[("unusual_amount_for_customer", 9004)].reason
    assert "9,850.00 USD" in flagged[("model_outlier", 9004)].reason
    assert set(rows["business_date"]) == {DAY} and rows["detected_at"].notna().all()
    assert rows["score"].between(0, 1).all()

    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["anomalies"].value == len(rows)
    assert meta["duplicate_charge"].value == 1 and meta["refund_exceeds_original"].value == 1
    assert meta["payments"].value == 4 and meta["history_payments"].value == 480
    assert meta["model"].value.startswith("IsolationForest on 483 approved payments (3 of the date)")
    assert "9,850.00 USD" in meta["preview"].value and "| duplicate_charge |" in meta["by_rule"].value

    assert materialize(sqlite_url).success
    pd.testing.assert_frame_equal(table(sqlite_engine), rows)  # the same rows, first-detected times kept

    with sqlite_engine.begin() as conn:  # the duplicate turns out to be gone (e.g. re-normalized as a void)
        conn.execute(delete(normalized_payments).where(normalized_payments.c.transaction_id == 9002))
    assert materialize(sqlite_url).success
    again = table(sqlite_engine)
    assert ("duplicate_charge", 9002) not in set(zip(again["rule"], again["transaction_id"]))
    assert len(again) == len(rows) - 1


def test_a_date_without_payments_clears_its_rows(sqlite_engine: Engine, sqlite_url: str) -> None:
    seed(sqlite_engine)
    assert materialize(sqlite_url).success and not table(sqlite_engine).empty
    with sqlite_engine.begin() as conn:
        conn.execute(delete(normalized_payments).where(normalized_payments.c.business_date == DAY))
    result = materialize(sqlite_url)
    assert result.success and table(sqlite_engine).empty
    assert result.get_asset_materialization_events()[0].materialization.metadata["anomalies"].value == 0
