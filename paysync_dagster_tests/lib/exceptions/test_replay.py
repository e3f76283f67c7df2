"""Replaying exceptions: what runs for which stage, refusals before anything runs, and end to end: a date
posted to the Oracle sandbox while it refused receipts, then replayed with ``paysync exceptions replay``
as a real Dagster run on a temporary DAGSTER_HOME."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.exceptions import QueueError, open_exceptions, replay, replay_plan, write_stage_exceptions
from paysync_dagster.lib.exceptions.audit import history
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.sandbox.oracle.state import DEFAULT_USERS
from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import start_paytrace_sandbox
from paysync_dagster_tests.defs.oracle.support import (ORACLE, UPSTREAM, assert_ledger_equals_sandbox, checks,
                                                       final_state, materialize)
from paysync_dagster_tests.lib.exceptions.support import reported
from paysync_dagster_tests.cli.test_exceptions import paysync

DAY = date(2026, 3, 5)
# Oracle refuses every receipt call (create and look-up), nothing else: invoices still read.
RECEIPTS_DOWN = {"error_rate": 1.0, "error_statuses": [503], "paths": ["*/standardReceipts*"]}


def test_each_date_runs_once_with_what_its_stages_need() -> None:
    d1, d2, d3 = date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)
    plan = replay_plan([(d2, "oracle"), (d1, "oracle"), (d2, "normalize"), (d3, "reconciliation"), (d1, "oracle")])
    assert plan == [
        ([d1], frozenset({"oracle_cash_receipts"})),
        ([d2], frozenset({"normalized_payments", "oracle_cash_receipts", "sage_cash_receipts"})),
        ([d3], frozenset({"reconciliation_report"})),
    ]
    assert replay_plan([(d1, "sage"), (d3, "sage")]) == [([d1, d3], frozenset({"sage_cash_receipts"}))]
    with pytest.raises(QueueError, match="bank exceptions cannot be replayed"):
        replay_plan([(d1, "bank")])


def test_nothing_runs_unless_every_id_is_an_open_replayable_exception(engine: Engine) -> None:
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 1), reported(DAY, 2)])
    write_stage_exceptions(engine, [DAY], "bank", [reported(DAY, 3, stage="bank", code="missing_deposit")])
    ids = open_exceptions(engine).set_index("transaction_id")["id"].astype(int).to_dict()

    def must_not_run(days: list[date], assets: set[str]) -> dict:
        raise AssertionError(f"ran {assets} for {days}")

    with pytest.raises(QueueError, match="unknown exception ids: 424242; nothing was changed"):
        replay(engine, [ids[1], 424242], "gina", must_not_run)
    with pytest.raises(QueueError, match="bank exceptions cannot be replayed"):
        replay(engine, [ids[1], ids[3]], "gina", must_not_run)
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 1)])  # 2 is cleared now
    with pytest.raises(QueueError, match=f"not open: {ids[2]} \\(cleared\\)"):
        replay(engine, [ids[1], ids[2]], "gina", must_not_run)
    assert history(engine, action="exception.replayed").empty


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    with start_paytrace_sandbox(per_day=10) as server:
        yield server


def test_replaying_a_date_posts_what_failed_once_and_clears_its_exceptions(sandbox: ServerThread, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert materialize(sandbox.url, url, str(DAY), UPSTREAM + ORACLE[:1]).success
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=RECEIPTS_DOWN).raise_for_status()
    down = materialize(sandbox.url, url, str(DAY), ORACLE[1:], batch_size=1, max_attempts=2)
    assert down.success and all(checks(down).values())
    engine = make_engine(url)
    unreachable = open_exceptions(engine, reason_code="erp_unreachable")
    assert len(unreachable) >= 3 and set(unreachable["stage"]) == {"oracle"}
    assert final_state(sandbox.url)["receipts"] == {}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={}).raise_for_status()  # Oracle answers again

    chosen = int(unreachable["id"].iloc[0])
    username, password = next(iter(DEFAULT_USERS.items()))
    home = tmp_path / "dagster_home"
    home.mkdir()
    done = paysync(url, "replay", str(chosen), actor="hana", DAGSTER_HOME=str(home),
                   PAYTRACE_BASE_URL=sandbox.url, PAYTRACE_USERNAME=DEFAULT_USERNAME, PAYTRACE_PASSWORD=DEFAULT_PASSWORD,
                   PAYTRACE_INTEGRATOR_ID=DEFAULT_INTEGRATOR_ID, ORACLE_FUSION_BASE_URL=sandbox.url,
                   ORACLE_FUSION_USERNAME=username, ORACLE_FUSION_PASSWORD=password)
    assert done.returncode == 0, done.stderr
    ran, row = done.stdout.splitlines()
    run_id = ran.split(" run ")[1].split()[0]
    assert ran == f"ran oracle_cash_receipts for {DAY}: run {run_id} succeeded"
    assert row.split() == [str(chosen), str(DAY), "oracle", "erp_unreachable:", "open", "->", "cleared"]

    # The whole date was posted again: every receipt that failed is in Oracle, once.
    after = open_exceptions(engine, status="all").set_index("id")
    assert set(after.loc[unreachable["id"], "status"]) == {"cleared"}
    state = final_state(sandbox.url)
    assert len(state["receipts"]) >= len(unreachable) and set(state["receipt_numbers"].values()) == {1}
    assert_ledger_equals_sandbox(engine, sandbox.url)

    replayed = history(engine, action="exception.replayed")
    assert list(replayed["subject"]) == [f"payment_exceptions:{chosen}"] and list(replayed["actor"]) == ["hana"]
    assert json.loads(replayed["before"].iloc[0])["status"] == "open"
    assert json.loads(replayed["after"].iloc[0])["status"] == "cleared"
    assert run_id in replayed["note"].iloc[0] and "succeeded" in replayed["note"].iloc[0]
    cleared = history(engine, action="exception.cleared")
    assert set(cleared["subject"]) >= {f"payment_exceptions:{i}" for i in unreachable["id"]}
    assert set(cleared["actor"]) == {"paysync"}

    # The run is in the instance the UI reads, saying who asked for it.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["paysync/actor"] == "hana" and run.tags["dagster/partition"] == str(DAY)
    engine.dispose()
