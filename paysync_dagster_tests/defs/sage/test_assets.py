"""Sage 300's assets, built by the shared factory, materialized against the composed sandbox over real
HTTP: one outcome per payment, PaySync's batch of the date posted with its GL batch (the sample
mapping posts after each run), the reconciliation read back from Sage, idempotent re-runs, and the
mapping's GL accounts checked against Sage's chart of accounts."""

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import normalized_payments, reconciliation_kpis, sage_cash_receipts
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import SANDBOX_WEEK, start_paytrace_sandbox
from paysync_dagster_tests.defs.erp.support import ERPS, checks, materialize
from paysync_dagster_tests.lib.sage.sage_support import control

SAGE = ERPS["sage"]
DAY = (date.fromisoformat(SANDBOX_WEEK[0]) + timedelta(days=1)).isoformat()
EVERYTHING = SAGE.upstream + SAGE.posting + [SAGE.assets.on_account_applications, SAGE.assets.reconciliation]


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    with start_paytrace_sandbox(per_day=30) as server:
        yield server


def rows(url: str, table, where=None) -> list[dict]:  # noqa: ANN001
    engine = make_engine(url)
    with engine.connect() as conn:
        found = [dict(r) for r in conn.execute(select(table) if where is None else select(table).where(where)).mappings()]
    engine.dispose()
    return found


def test_a_day_posts_to_sage_reconciles_and_runs_again_to_the_same_state(sandbox: ServerThread, database_url: str) -> None:
    before = materialize(sandbox.url, database_url, SANDBOX_WEEK[0], EVERYTHING, erp="sage")  # what DAY's refunds refer to
    assert before.success
    run = materialize(sandbox.url, database_url, DAY, EVERYTHING, erp="sage")
    assert run.success and all(checks(run).values()), [k for k, ok in checks(run).items() if not ok]
    payments = rows(database_url, normalized_payments, normalized_payments.c.business_date == date.fromisoformat(DAY))
    outcomes = rows(database_url, sage_cash_receipts, sage_cash_receipts.c.business_date == date.fromisoformat(DAY))
    assert sorted(r["transaction_id"] for r in outcomes) == sorted(p["transaction_id"] for p in payments)
    approved = {f"PT-{p['transaction_id']}" for p in payments if p["kind"] in ("sale", "capture")}
    state = SAGE.final_state(sandbox.url)
    assert set(state["receipts"]) >= approved and set(state["receipt_numbers"].values()) == {1}
    assert {r["status"] for r in state["receipts"].values()} == {"Posted"}  # posted after the run, as mapped
    held = control(sandbox.url, "state")
    assert held["gl_batches"] and all(b["SourceLedger"] == "AR" for b in held["gl_batches"])
    paid = [n for n, (_t, due, fully) in state["invoices"].items() if fully]
    assert paid and all(state["invoices"][n][1] == 0 for n in paid)
    materialized = {e.asset_key.to_user_string(): e.materialization.metadata for e in run.get_asset_materialization_events()}
    receipts_md = materialized["sage_cash_receipts"]
    assert receipts_md["applied"].value.endswith(" USD") and receipts_md["receipts_in_sage"].value == len(approved)
    kpis = rows(database_url, reconciliation_kpis, reconciliation_kpis.c.erp == "sage")
    assert {k["business_date"] for k in kpis} == {date.fromisoformat(SANDBOX_WEEK[0]), date.fromisoformat(DAY)}

    again = materialize(sandbox.url, database_url, DAY, EVERYTHING, erp="sage")
    assert again.success and all(checks(again).values()), checks(again)
    assert SAGE.final_state(sandbox.url) == state  # nothing sent twice, nothing moved
    assert rows(database_url, sage_cash_receipts, sage_cash_receipts.c.business_date == date.fromisoformat(DAY)) == outcomes
    assert len(control(sandbox.url, "state")["gl_batches"]) == len(held["gl_batches"])  # nothing new to carry to GL


def test_a_mapping_account_sage_does_not_hold_fails_the_check_naming_it(sandbox: ServerThread, database_url: str) -> None:
    chart = sandbox.app.sage.state.store.gl_accounts  # a person deletes the refunds account from Sage's chart
    gone = next(k for k, a in chart.items() if a["AccountNumber"] == "101.10.12100.000")
    del chart[gone]
    run = materialize(sandbox.url, database_url, DAY, [SAGE.assets.open_invoices], erp="sage")
    assert run.success  # it is reported, not a stop: the day's cash still posts
    [evaluation] = [c for c in run.get_asset_check_evaluations() if c.check_name == "mapping_gl_accounts_in_erp"]
    assert not evaluation.passed
    to_fix = evaluation.metadata["accounts_to_fix"].value
    assert "101.10.12100.000" in to_fix and "gl_accounts.rules" in to_fix and "line" in to_fix
