"""PayTrace assets materialized against the sandbox over real HTTP, on SQLite and PostgreSQL."""

import json
from datetime import date, datetime, timedelta

import dagster as dg
import httpx
import pandas as pd
import pytest
from sqlalchemy import select

from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.paytrace.assets import PayTraceTransactionsConfig, paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster.lib.warehouse.tables import (
    normalized_payments as normalized_table,
    payment_exceptions,
    paytrace_batch_transactions,
    paytrace_landing,
    paytrace_settlement_batches as batches_table,
    paytrace_transactions as transactions_table,
)
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import SANDBOX_WEEK, paytrace_resource, start_paytrace_sandbox

ASSETS = [paytrace_transactions, paytrace_settlement_batches, normalized_payments]
WEEK = [(date.fromisoformat(SANDBOX_WEEK[0]) + timedelta(days=i)).isoformat() for i in range(7)]


def materialize(url: str, warehouse_url: str, day: str, assets=ASSETS, pull_export: bool = True,  # noqa: ANN001
                **paytrace_overrides) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets, partition_key=day, raise_on_error=False,
        run_config=dg.RunConfig(ops={"paytrace_transactions": PayTraceTransactionsConfig(pull_export=pull_export)}),
        resources={"warehouse": WarehouseResource(database_url=warehouse_url), "paytrace": paytrace_resource(url, **paytrace_overrides)},
    )


def table(warehouse_url: str, t, drop=("landing_id",)) -> pd.DataFrame:  # noqa: ANN001
    engine = make_engine(warehouse_url)
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(select(t)).mappings().all())
    engine.dispose()
    if df.empty:
        return df
    keys = [c for c in ("business_date", "batch_number", "transaction_id") if c in df.columns]
    return df.drop(columns=[c for c in drop if c in df.columns]).sort_values(keys).reset_index(drop=True)


def test_a_day_materializes_with_checks_and_metadata(paytrace_sandbox: ServerThread, database_url: str) -> None:
    result = materialize(paytrace_sandbox.url, database_url, WEEK[1])
    assert result.success
    checks = {(c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks
    meta = {m.asset_key.to_user_string(): m.materialization.metadata for m in result.get_asset_materialization_events()}
    txn_meta = meta["paytrace_transactions"]
    assert txn_meta["transactions"].value > 20
    assert txn_meta["net_minor"].value == txn_meta["gross_minor"].value - txn_meta["refunds_minor"].value
    assert "|" in txn_meta["preview"].value
    rows = table(database_url, transactions_table)
    assert len(rows) == txn_meta["transactions"].value
    assert rows["amount_minor"].dtype.kind == "i" and (rows["currency"] == "USD").all()
    assert set(rows["business_date"]) == {date.fromisoformat(WEEK[1])}
    assert rows["masked_card_number"].str.fullmatch(r"\*+\d{4}").all()
    batches = table(database_url, batches_table)
    assert len(batches) == 1 and (batches["net_minor"] == batches["listed_net_minor"]).all()
    normalized = table(database_url, normalized_table)
    assert meta["normalized_payments"]["raw_transactions"].value == len(rows)
    assert meta["normalized_payments"]["mapping_version"].value
    assert len(normalized) + meta["normalized_payments"]["exceptions"].value == len(rows)


def test_rematerializing_is_idempotent_and_deterministic(paytrace_sandbox: ServerThread, sqlite_url: str) -> None:
    assert materialize(paytrace_sandbox.url, sqlite_url, WEEK[2]).success
    first = [table(sqlite_url, t) for t in (transactions_table, batches_table, paytrace_batch_transactions, normalized_table)]
    landing_rows = len(table(sqlite_url, paytrace_landing))
    assert materialize(paytrace_sandbox.url, sqlite_url, WEEK[2]).success
    second = [table(sqlite_url, t) for t in (transactions_table, batches_table, paytrace_batch_transactions, normalized_table)]
    for a, b in zip(first, second):
        pd.testing.assert_frame_equal(a, b)
    assert len(table(sqlite_url, paytrace_landing)) == landing_rows


def test_a_faulted_week_ends_with_exactly_the_rows_of_a_clean_week(tmp_path) -> None:  # noqa: ANN001
    clean_db, faulted_db = f"sqlite:///{tmp_path / 'clean.db'}", f"sqlite:///{tmp_path / 'faulted.db'}"
    faults = {"seed": 3, "error_rate": 0.2, "rate_limit_every": 7, "rate_limit_burst": 2, "retry_after_seconds": 1,
              "expire_tokens_after_requests": 9}
    with start_paytrace_sandbox() as clean, start_paytrace_sandbox(faults=faults) as faulted:
        for day in WEEK:
            assert materialize(clean.url, clean_db, day).success, day
            assert materialize(faulted.url, faulted_db, day).success, day
        stats = httpx.get(f"{faulted.url}/_sandbox/stats").json()
    injected = str(stats)
    assert "429" in injected or "rate_limit" in injected, stats
    for t in (transactions_table, batches_table, paytrace_batch_transactions, normalized_table):
        pd.testing.assert_frame_equal(table(clean_db, t), table(faulted_db, t))


def _bad_paytrace(records_body: bytes) -> ServerThread:
    """A PayTrace look-alike that answers the token call and then serves the given export body."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def token(_request):  # noqa: ANN001, ANN202
        return JSONResponse({"access_token": "a:b:c", "token_type": "bearer", "expires_in": 7200})

    async def export(_request):  # noqa: ANN001, ANN202
        return Response(records_body, media_type="application/json")

    return ServerThread(Starlette(routes=[Route("/oauth/token", token, methods=["POST"]),
                                          Route("/v1/transactions/export/by_date_range", export, methods=["POST"])]))


def test_an_unreadable_answer_fails_with_a_typed_error_and_writes_nothing(paytrace_sandbox: ServerThread, sqlite_url: str) -> None:
    day = WEEK[3]
    assert materialize(paytrace_sandbox.url, sqlite_url, day, assets=[paytrace_transactions]).success
    before = table(sqlite_url, transactions_table)
    landing_before = table(sqlite_url, paytrace_landing)
    body = b'{"success": true, "response_code": 1, "transactions": [{"transaction_id": 5'
    with _bad_paytrace(body) as bad:
        result = materialize(bad.url, sqlite_url, day, assets=[paytrace_transactions], max_attempts=1)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    text = failure.to_string()
    assert "PayTraceResponseError" in text
    assert "nothing was written" in text and "body is not JSON" in text
    assert len(result.get_step_failure_events()) == 1  # no retry of bad data
    pd.testing.assert_frame_equal(table(sqlite_url, transactions_table), before)
    pd.testing.assert_frame_equal(table(sqlite_url, paytrace_landing), landing_before)


GOOD = {"transaction_type": "SALE", "amount": 12.5, "approval_code": "TAS610"}


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"transaction_id": 77, "transaction_type": "PAYOUT", "amount": 1}, "transaction 77, field 'transaction_type'"),
        ({"transaction_id": 78, "transaction_type": "SALE"}, "transaction 78, field 'amount'"),
        ({"transaction_id": 79, "transaction_type": "SALE", "amount": 1e20}, "transaction 79, field 'amount'"),
        ({"transaction_id": 2**63, "transaction_type": "SALE", "amount": 1}, "field 'transaction_id'"),
    ],
)
def test_a_bad_export_record_is_an_exception_and_the_rest_of_the_date_lands(paytrace_sandbox: ServerThread, sqlite_url: str,
                                                                           bad: dict, expected: str) -> None:
    """One record PayTrace's export sends that cannot be read never stops the date: the other records land and
    build, the bad one is an exception naming the transaction and the field."""
    day = WEEK[3]
    at = f"{date.fromisoformat(day):%-m/%-d/%Y} 1:00:00 PM"
    records = [{**GOOD, "transaction_id": 901, "created": {"at": at}}, {**bad, "created": {"at": at}},
               {**GOOD, "transaction_id": 902, "created": {"at": at}}]
    body = json.dumps({"success": True, "response_code": 1, "transactions": records}).encode()
    with _bad_paytrace(body) as bad_server:
        result = materialize(bad_server.url, sqlite_url, day, assets=[paytrace_transactions], max_attempts=1)
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"schema_valid": True, "landing_accounted": True}
    assert set(table(sqlite_url, transactions_table)["transaction_id"]) == {901, 902}
    exceptions = table(sqlite_url, payment_exceptions, drop=())
    assert len(exceptions) == 1
    row = exceptions.iloc[0]
    assert (row["stage"], row["reason_code"], row["status"]) == ("paytrace", "unreadable_export_record", "open")
    assert expected in row["reason"]


def test_a_landed_row_that_cannot_be_built_is_an_exception_and_the_date_goes_on(sqlite_url: str, paytrace_sandbox: ServerThread) -> None:
    """Rows landed before today's checks (an amount of 1e20, a lone surrogate, a 20-digit expiry year, a
    masked number with the first six digits) never fail the date: each unreadable one is an exception,
    and the transaction is built from its latest state that can be read."""
    day = date.fromisoformat(WEEK[4])
    engine = make_engine(sqlite_url)
    migrate(engine)
    at = f"{day:%-m/%-d/%Y} 1:00:00 PM"

    def landed(tid: int, state: str, **record: object) -> dict:
        payload = {**GOOD, "transaction_id": tid, "created": {"at": at}, **record}
        return {"dedup_key": f"{tid}:{state}", "transaction_id": tid, "state": state, "source": "webhook", "event_id": f"e{tid}{state}",
                "event_type": "transaction.approved", "business_date": day, "occurred_at": datetime(2026, 1, 1),
                "payload": json.dumps(payload), "landed_at": datetime(2026, 1, 1)}

    with engine.begin() as conn:
        conn.execute(paytrace_landing.insert(), [
            landed(1, "approved"),
            landed(2, "approved", amount=1e20),
            landed(3, "approved", billing_address={"name": "\ud800"}),
            landed(4, "approved", credit_card={"expiration_year": 10**19}),
            landed(5, "approved"), landed(5, "settled", settled="x"),  # its settled record is unreadable: built as approved
            landed(6, "approved", credit_card={"masked_number": "401200******5439"}),
        ])
    engine.dispose()
    result = materialize(paytrace_sandbox.url, sqlite_url, day.isoformat(), assets=[paytrace_transactions], pull_export=False)
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"schema_valid": True, "landing_accounted": True}
    rows = table(sqlite_url, transactions_table).set_index("transaction_id")
    assert sorted(rows.index) == [1, 5, 6]
    assert rows.loc[5, "state"] == "approved" and rows.loc[6, "card_last_four"] == "5439"
    exceptions = table(sqlite_url, payment_exceptions, drop=())
    assert sorted(exceptions["transaction_id"]) == [2, 3, 4, 5]
    assert set(exceptions["reason_code"]) == {"unreadable_record"}
    reasons = dict(zip(exceptions["transaction_id"], exceptions["reason"]))
    assert "amount" in reasons[2] and "billing_address.name" in reasons[3] and "expiration_year" in reasons[4] and "settled" in reasons[5]


def test_a_dates_payments_name_only_its_own_batches_whatever_ran_first(paytrace_sandbox: ServerThread, tmp_path) -> None:  # noqa: ANN001
    """Dates of one backfill run side by side: a date normalized after the next date's batches were pulled
    gives the same rows as one normalized before. Payments taken after the evening's close settle in the next
    date's batch; that date's reconciliation finds them in the batch's own list."""
    in_order, next_first = f"sqlite:///{tmp_path / 'in_order.db'}", f"sqlite:///{tmp_path / 'next_first.db'}"
    for url, days in ((in_order, [WEEK[1], WEEK[2]]), (next_first, [WEEK[2], WEEK[1]])):
        for day in days:
            assert materialize(paytrace_sandbox.url, url, day).success
    day = date.fromisoformat(WEEK[1])
    normalized = [table(url, normalized_table) for url in (in_order, next_first)]
    pd.testing.assert_frame_equal(*(n[n["business_date"] == day].reset_index(drop=True) for n in normalized))
    members = table(next_first, paytrace_batch_transactions)
    next_batch = set(members.loc[members["business_date"] == date.fromisoformat(WEEK[2]), "transaction_id"])
    late = normalized[1][(normalized[1]["business_date"] == day) & normalized[1]["transaction_id"].isin(next_batch)]
    assert len(late) > 0, "the sandbox's day has payments after the evening's close"
    assert late["settlement_batch"].isna().all()
    own = normalized[1][(normalized[1]["business_date"] == day) & normalized[1]["settlement_batch"].notna()]
    assert len(own) > 0 and set(own["settlement_batch"]) <= set(members.loc[members["business_date"] == day, "batch_number"])
