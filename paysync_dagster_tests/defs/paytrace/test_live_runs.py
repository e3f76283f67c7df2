"""Near-real-time runs: a run builds and posts only what new events brought, its checks hold while
events keep landing, and what it leaves is what a whole-date rebuild gives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import select

from paysync_dagster.definitions import defs
from paysync_dagster.defs.paytrace.assets import PayTraceTransactionsConfig
from paysync_dagster.defs.shared.live import LANDING, TRIGGER_TAG
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.paytrace.landing import land, landing_row_for_record
from paysync_dagster.lib.timeutil import format_paytrace_timestamp, local_to_utc
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import (normalized_payments, oracle_cash_receipts, payment_exceptions,
                                                  paytrace_transactions)
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import SANDBOX_WEEK, oracle_resource, paytrace_resource, start_paytrace_sandbox
from paysync_dagster_tests.defs.oracle.support import ORACLE, ORACLE_ASSETS, UPSTREAM, checks, materialize, oracle_state
from paysync_dagster_tests.lib.paytrace.records_fixtures import record

LA = "America/Los_Angeles"
DAY = (date.fromisoformat(SANDBOX_WEEK[0]) + timedelta(days=1)).isoformat()


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    with start_paytrace_sandbox(per_day=30) as server:
        yield server


# The landing sensor's job: its steps, as the code location's paysync_live_job selects them.
PAYTRACE_TRANSACTIONS, _BATCHES, _CUSTOMERS, NORMALIZED_PAYMENTS = UPSTREAM
POSTING_PATH = [PAYTRACE_TRANSACTIONS, ORACLE_ASSETS.customer_accounts, NORMALIZED_PAYMENTS, ORACLE_ASSETS.cash_receipts]


def test_the_posting_path_is_what_the_live_job_runs() -> None:
    job = defs().resolve_job_def("paysync_live_job")
    assert set(job.asset_layer.selected_asset_keys) == {a.key for a in POSTING_PATH}


def live_run(url: str, warehouse_url: str, day: str) -> dg.ExecuteInProcessResult:
    """The landing sensor's run: the posting path, tagged as landing-triggered, without the export pull."""
    return dg.materialize(
        POSTING_PATH, partition_key=day, raise_on_error=False, tags={TRIGGER_TAG: LANDING},
        run_config=dg.RunConfig(ops={"paytrace_transactions": PayTraceTransactionsConfig(pull_export=False)}),
        resources={"warehouse": WarehouseResource(database_url=warehouse_url), "paytrace": paytrace_resource(url),
                   "oracle": oracle_resource(url)})


def land_events(warehouse_url: str, day: str, ids: range) -> None:
    at = format_paytrace_timestamp(local_to_utc(datetime.fromisoformat(day).replace(hour=15), LA), LA)
    engine = make_engine(warehouse_url)
    land(engine, [landing_row_for_record(record(transaction_id=t, created__at=at, amount=12.5 + t % 7, invoice_id=""),
                                         source="webhook", tz_name=LA, event_id=f"evt-live-{t}") for t in ids])
    engine.dispose()


def built_this_run(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    return {m.asset_key.to_user_string(): m.materialization.metadata["built_this_run"].value
            for m in result.get_asset_materialization_events() if "built_this_run" in m.materialization.metadata}


def snapshot(warehouse_url: str) -> dict[str, pd.DataFrame]:
    engine = make_engine(warehouse_url)
    out = {}
    with engine.connect() as conn:
        for table, drop in ((paytrace_transactions, ()), (normalized_payments, ()), (oracle_cash_receipts, ()),
                            (payment_exceptions, ("id", "created_at", "details"))):
            df = pd.DataFrame(conn.execute(select(table)).mappings().all())
            keys = [c for c in ("stage", "transaction_id", "reason_code") if c in df.columns]
            out[table.name] = df.drop(columns=list(drop)).sort_values(keys).reset_index(drop=True)
    engine.dispose()
    return out


def test_a_live_run_builds_and_posts_only_what_new_events_brought(sandbox: ServerThread, sqlite_url: str) -> None:
    assert materialize(sandbox.url, sqlite_url, DAY, UPSTREAM + ORACLE).success  # the date as the nightly run leaves it
    before = snapshot(sqlite_url)
    retried = int((before["oracle_cash_receipts"]["outcome"] == "exception").sum())
    receipts_before = [r["ReceiptNumber"] for r in oracle_state(sandbox.url)["receipts"]]

    land_events(sqlite_url, DAY, range(880_001, 880_004))
    result = live_run(sandbox.url, sqlite_url, DAY)
    assert result.success and all(checks(result).values()), checks(result)
    assert built_this_run(result) == {"paytrace_transactions": 3, "normalized_payments": 3, "oracle_cash_receipts": 3 + retried}
    receipts_after = [r["ReceiptNumber"] for r in oracle_state(sandbox.url)["receipts"]]
    # A receipt for each new payment, and nothing else sent again.
    assert sorted(receipts_after) == sorted(receipts_before + [f"PT-{t}" for t in range(880_001, 880_004)])
    state = oracle_state(sandbox.url)["counts"]

    # Nothing new: a live run builds nothing (but the retries) and calls no ERP write.
    idle = live_run(sandbox.url, sqlite_url, DAY)
    assert idle.success and built_this_run(idle) == {"paytrace_transactions": 0, "normalized_payments": 0,
                                                     "oracle_cash_receipts": retried}
    assert oracle_state(sandbox.url)["counts"] == state
    live = snapshot(sqlite_url)
    # What the live runs left is what a whole-date rebuild gives.
    assert materialize(sandbox.url, sqlite_url, DAY, [*UPSTREAM, *ORACLE]).success
    rebuilt = snapshot(sqlite_url)
    for name in live:
        pd.testing.assert_frame_equal(live[name], rebuilt[name], obj=name)


def test_a_run_passes_every_check_while_events_keep_landing(sandbox: ServerThread, sqlite_url: str) -> None:
    assert materialize(sandbox.url, sqlite_url, DAY, UPSTREAM + ORACLE).success
    stop = threading.Event()
    landed: list[int] = []

    def keep_landing() -> None:
        t = 890_000
        while not stop.is_set():
            land_events(sqlite_url, DAY, range(t, t + 2))
            landed.extend([t, t + 1])
            t += 2

    writer = threading.Thread(target=keep_landing, daemon=True)
    writer.start()
    try:
        results = [live_run(sandbox.url, sqlite_url, DAY) for _ in range(3)]
    finally:
        stop.set()
        writer.join(timeout=60)
    for result in results:
        assert result.success and all(checks(result).values()), checks(result)
    assert landed, "the writer landed nothing while the runs ran"
    final = live_run(sandbox.url, sqlite_url, DAY)
    assert final.success and all(checks(final).values())
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        built = {r[0] for r in conn.execute(select(paytrace_transactions.c.transaction_id))}
    engine.dispose()
    assert set(landed) <= built
