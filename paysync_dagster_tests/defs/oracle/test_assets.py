"""oracle_open_invoices and oracle_cash_receipts materialized against the composed sandbox over real
HTTP, on SQLite and PostgreSQL: rows, checks, metadata, exceptions, and idempotent re-materialization."""

from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pandas as pd
import pytest
from sqlalchemy import select

from paysync_dagster.lib.posting.matching import MATCH_RULES
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import (erp_customers, normalized_payments, oracle_cash_receipts,
                                                  oracle_open_invoices, payment_exceptions)
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import SANDBOX_WEEK, start_paytrace_sandbox
from paysync_dagster_tests.defs.oracle.support import (ORACLE, UPSTREAM, assert_ledger_equals_sandbox, checks,
                                                       materialize, oracle_state)

WEEK = [(date.fromisoformat(SANDBOX_WEEK[0]) + timedelta(days=i)).isoformat() for i in range(7)]


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    with start_paytrace_sandbox(per_day=30) as server:
        yield server


def read(url: str, table, where=None) -> pd.DataFrame:  # noqa: ANN001
    engine = make_engine(url)
    q = select(table) if where is None else select(table).where(where)
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(q).mappings().all())
    engine.dispose()
    return df


def test_a_day_posts_every_payment_once_with_its_rule_and_score(sandbox: ServerThread, database_url: str) -> None:
    day = WEEK[1]
    result = materialize(sandbox.url, database_url, day, UPSTREAM + ORACLE)
    assert result.success and checks(result) and all(checks(result).values()), checks(result)
    rows = read(database_url, oracle_cash_receipts)
    normalized = read(database_url, normalized_payments)
    assert sorted(rows["transaction_id"]) == sorted(normalized["transaction_id"])  # one outcome per payment
    assert set(rows["outcome"]) <= {"posted", "applied", "on_account", "reversed", "refunded", "skipped", "exception"}
    receipts = rows[rows["owns_receipt"].astype(bool)]
    assert len(receipts) >= 20 and receipts["match_rule"].isin(MATCH_RULES).all()
    sure = receipts[~receipts["match_rule"].isin(["none", "typo"])]
    assert (sure["match_score"] == 1.0).all() and receipts.loc[receipts["match_rule"] == "typo", "match_score"].between(0, 1).all()
    assert {"exact", "reference"} <= set(receipts["match_rule"])
    # Every receipt says why: whom it is for and the references read where there were any.
    assert (receipts.loc[receipts["match_rule"] != "none", "match_tokens"] != "").all()
    state = oracle_state(sandbox.url)
    assert sorted(r["ReceiptNumber"] for r in state["receipts"]) == sorted(receipts["receipt_number"])
    approved = normalized[normalized["kind"].isin(["sale", "capture"])]
    assert sorted(receipts["receipt_number"]) == sorted(f"PT-{t}" for t in approved["transaction_id"])
    engine = make_engine(database_url)
    assert_ledger_equals_sandbox(engine, sandbox.url)
    engine.dispose()

    exceptions = read(database_url, payment_exceptions, payment_exceptions.c.stage == "oracle")
    flagged = rows[rows["exception_code"] != ""]
    assert sorted(exceptions["transaction_id"]) == sorted(flagged["transaction_id"])
    assert set(exceptions["reason_code"]) <= {"declined", "no_invoice_match", "erp_rejected", "erp_unreachable",
                                              "refund_without_receipt", "refund_not_postable", "unidentified_payer",
                                              "reference_other_customer"}
    invoices = read(database_url, oracle_open_invoices)
    assert len(invoices) > 0 and (invoices["balance_minor"] > 0).all() and (invoices["transaction_date"] <= day).all()
    customers = read(database_url, erp_customers)
    assert len(customers) == len(state["customers"]) and set(customers["erp"]) == {"oracle"}

    meta = {m.asset_key.to_user_string(): m.materialization.metadata for m in result.get_asset_materialization_events()}
    receipts_meta = meta["oracle_cash_receipts"]
    assert receipts_meta["normalized"].value == len(normalized)
    assert receipts_meta["posted"].value + receipts_meta["skipped"].value + receipts_meta["exceptions"].value == len(normalized)
    assert "| applied |" in receipts_meta["by_outcome"].value and "USD" in receipts_meta["applied"].value
    assert "match_rule" in receipts_meta["preview"].value
    assert meta["oracle_open_invoices"]["open_invoices"].value == len(invoices)


def test_rematerializing_posts_nothing_new_and_rewrites_the_same_rows(sandbox: ServerThread, sqlite_url: str) -> None:
    day = WEEK[2]
    assert materialize(sandbox.url, sqlite_url, day, UPSTREAM + ORACLE).success
    first = read(sqlite_url, oracle_cash_receipts).sort_values("transaction_id").reset_index(drop=True)
    exceptions = read(sqlite_url, payment_exceptions).drop(columns=["id", "created_at"])
    before = oracle_state(sandbox.url)["counts"]
    requests_before = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["requests"]
    result = materialize(sandbox.url, sqlite_url, day, ORACLE[1:])
    assert result.success and all(checks(result).values())
    pd.testing.assert_frame_equal(first, read(sqlite_url, oracle_cash_receipts).sort_values("transaction_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(exceptions, read(sqlite_url, payment_exceptions).drop(columns=["id", "created_at"]))
    assert oracle_state(sandbox.url)["counts"] == before
    requests_after = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["requests"]
    oracle_calls = {p: n for p, n in requests_after.items() if p.startswith("/fscmRestApi") and n != requests_before.get(p)}
    assert oracle_calls == {}  # every payment had its plan and outcome in the ledger: not one call to Oracle
