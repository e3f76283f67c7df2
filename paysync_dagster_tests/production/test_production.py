"""PaySync in the production topology (support.py): PostgreSQL for the Dagster instance and the warehouse,
the sandboxes, the webhook receiver, a gRPC code server, ``dagster-webserver`` and ``dagster-daemon``, all
real processes on free loopback ports, driven the way an operator drives them: signed webhooks to the
receiver, GraphQL to the webserver, ``pg_ctl`` to the database server.

The tests share one stack and run in file order: live payments first (today's partition), then a restart
of PostgreSQL while the history's last date posts.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import and_, select

from paysync_dagster_tests.lib.sage.sage_support import entries as sage_entries
from paysync_dagster_tests.production import support
from paysync_dagster_tests.production.support import LOCATION, REPOSITORY, ProductionStack

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MAIN_JOB, LIVE_JOB = "paysync_daily_job", "paysync_live_job"
LIVE_PAYMENTS = 6
RUN_TIMEOUT = 600  # seconds a run may take on a busy 2-core machine
# Each step still runs in a process of its own, forked from a run worker that imported the definitions once,
# instead of a fresh interpreter importing them again per step (the default, ten seconds and more a step here).
RUN_CONFIG = {"execution": {"config": {"multiprocess": {"start_method": {
    "forkserver": {"preload_modules": ["paysync_dagster.definitions"]}}}}}}
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# PayTrace's published sandbox test card (the one the demo's stream uses); it only ever reaches the simulator.
TEST_CARD = "4012000098765439"

_RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { __typename
  ... on Runs { results { runId status jobName tags { key value } } } ... on PythonError { message } } }"""
_LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
_EVENTS = """query Events($runId: ID!, $after: String) { runOrError(runId: $runId) { __typename
  ... on Run { status eventConnection(afterCursor: $after) { cursor hasMore
    events { __typename ... on MessageEvent { stepKey message } } } } } }"""


def _runs(stack: ProductionStack, **filters: Any) -> list[dict[str, Any]]:
    found = stack.graphql(_RUNS, {"filter": filters})["runsOrError"]
    assert found["__typename"] == "Runs", found
    return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in found["results"]]


def _run_events(stack: ProductionStack, run_id: str) -> list[dict[str, Any]]:
    events, after = [], None
    while True:
        run = stack.graphql(_EVENTS, {"runId": run_id, "after": after})["runOrError"]
        assert run["__typename"] == "Run", run
        connection = run["eventConnection"]
        events += connection["events"]
        after = connection["cursor"]
        if not connection["hasMore"]:
            return events


def _no_run_in_flight(stack: ProductionStack) -> bool:
    return not _runs(stack, statuses=["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"])



def _receipt_prefix() -> str:
    from paysync_dagster.lib.mapping import load_mapping

    return load_mapping().receipts.receipt_number_prefix


def _oracle_receipt_numbers(stack: ProductionStack) -> Counter:
    state = httpx.get(f"{stack.sandbox_url}/_sandbox/oracle/state", params={"invoices": "false"}, timeout=60).json()
    return Counter(r["ReceiptNumber"] for r in state["receipts"])


def _sage_receipt_numbers(stack: ProductionStack) -> Counter:
    return Counter({number: len(found) for number, found in sage_entries(stack.sandbox_url).items()})


def _engine(stack: ProductionStack):  # noqa: ANN202
    from paysync_dagster.lib.warehouse import make_engine

    return make_engine(stack.warehouse_url)


# --- a. live payments ---------------------------------------------------------------------------------------

def test_signed_webhooks_become_one_receipt_each_in_oracle_and_sage(production_stack: ProductionStack) -> None:
    """Sales taken in the PayTrace sandbox, each announced by a signed webhook, become exactly one receipt in
    each ERP sandbox through the receiver, the landing sensor and the daemon's queued live runs."""
    from paysync_dagster.lib.paytrace.client import PayTraceClient
    from paysync_dagster.webhooks.stream import envelope, post_signed

    stack = production_stack
    assert support.sensor_status(stack, "paytrace_landing_sensor") == "RUNNING"
    env, rng = stack.env, random.Random(15)
    paid: list[int] = []
    with PayTraceClient(stack.sandbox_url, env["PAYTRACE_USERNAME"], env["PAYTRACE_PASSWORD"],
                        env["PAYTRACE_INTEGRATOR_ID"]) as paytrace, httpx.Client(timeout=30) as http:
        for _ in range(LIVE_PAYMENTS):
            answer = paytrace.sale_keyed(rng.randrange(1_500, 250_000), TEST_CARD, 12, 2030,
                                         invoice_id=f"INV-{rng.randrange(1, 999):06d}", description="Online order")
            assert answer.get("success"), answer.get("status_message")
            record = paytrace.export_transaction(answer["transaction_id"])
            assert record is not None
            response = post_signed(http, stack.webhook_url, stack.webhook_secret, envelope("transaction.approved", record))
            assert response.status_code == 200, response.text
            paid.append(int(answer["transaction_id"]))
    expected = {f"{_receipt_prefix()}{t}" for t in paid}

    def receipted(read) -> bool:  # noqa: ANN001
        failed = [r for r in _runs(stack, statuses=["FAILURE"])]
        assert not failed, f"runs failed: {failed}"
        return expected <= set(read(stack))

    stack.wait(lambda: receipted(_oracle_receipt_numbers), timeout=RUN_TIMEOUT, interval=2,
               what="a receipt in the Oracle sandbox for every live payment")
    stack.wait(lambda: receipted(_sage_receipt_numbers), timeout=RUN_TIMEOUT, interval=2,
               what="a receipt in the Sage sandbox for every live payment")
    stack.wait(lambda: _no_run_in_flight(stack), timeout=RUN_TIMEOUT, interval=2, what="the live runs to finish")

    oracle, sage = _oracle_receipt_numbers(stack), _sage_receipt_numbers(stack)
    assert {n: oracle[n] for n in expected} == dict.fromkeys(expected, 1)
    assert {n: sage[n] for n in expected} == dict.fromkeys(expected, 1)
    live = _runs(stack, pipelineName=LIVE_JOB)
    assert live and all(r["status"] == "SUCCESS" for r in live), live
    today = support.today_in_merchant_zone().isoformat()
    assert {r["tags"].get("dagster/partition") for r in live} == {today}
    assert all(r["tags"].get("dagster/sensor_name") == "paytrace_landing_sensor" for r in live), live


# --- c. PostgreSQL restarted while a run posts --------------------------------------------------------------

ERP_PATHS = ["/fscmRestApi/*", "/Sage300WebApi/*"]
POSTING_STEPS = {"oracle_cash_receipts", "sage_cash_receipts"}


def _erp_requests(stack: ProductionStack) -> int:
    """Requests the ERP sandboxes have answered so far (the sandbox counts each when it answers)."""
    from fnmatch import fnmatchcase

    stats = httpx.get(f"{stack.sandbox_url}/_sandbox/stats", timeout=30).json()["requests"]
    return sum(sum(by_status.values()) for path, by_status in stats.items()
               if any(fnmatchcase(path, p) for p in ERP_PATHS))


def _launch(stack: ProductionStack, day: str) -> str:
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": MAIN_JOB},
              "runConfigData": RUN_CONFIG, "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]}}
    answer = stack.graphql(_LAUNCH, {"params": params})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    return answer["run"]["runId"]


def _posting_started(stack: ProductionStack, run_id: str) -> bool:
    return any(e["__typename"] == "ExecutionStepStartEvent" and e.get("stepKey") in POSTING_STEPS
               for e in _run_events(stack, run_id))


def _outage_met(stack: ProductionStack, seen: dict) -> bool:
    """A process has met the outage since ``seen`` (each log's size at the stop): a refused connection logged."""
    for log in stack.logs.glob("*.log"):
        with log.open("rb") as f:
            f.seek(seen.get(log, 0))
            if b"Connection refused" in f.read():
                return True
    return False


def _chain(stack: ProductionStack, run_id: str) -> list[dict[str, Any]]:
    """The run and every retry of it (retries carry the first run's id as ``dagster/root_run_id``)."""
    retries = _runs(stack, tags=[{"key": "dagster/root_run_id", "value": run_id}])
    return [r for r in _runs(stack, runIds=[run_id])] + retries


def test_postgres_restarted_while_a_run_posts_loses_and_doubles_nothing(
        production_stack: ProductionStack) -> None:
    from paysync_dagster.defs.erp.connectors import CONNECTORS
    from paysync_dagster.lib.warehouse.tables import normalized_payments, posting_ledger

    stack = production_stack
    stack.wait(lambda: _no_run_in_flight(stack), timeout=RUN_TIMEOUT, interval=2, what="no run in flight")
    day = stack.history[1].isoformat()  # the history's last date: no run has posted it yet
    # Every ERP call a third of a second slower: posting a date takes seconds, long enough to be caught in it.
    httpx.post(f"{stack.sandbox_url}/_sandbox/faults", json={"latency_ms": 300, "paths": ERP_PATHS},
               timeout=30).raise_for_status()
    try:
        run_id = _launch(stack, day)
        stack.wait(lambda: _posting_started(stack, run_id), timeout=RUN_TIMEOUT, interval=0.2,
                   what=f"run {run_id[:8]} to start posting")
        # Mid-posting: at least one ERP call answered since the posting step started.
        started = _erp_requests(stack)
        stack.wait(lambda: _erp_requests(stack) > started, timeout=RUN_TIMEOUT, interval=0.05,
                   what="the posting step's first ERP call")
        seen = {log: log.stat().st_size for log in stack.logs.glob("*.log")}
        support.stop_postgres(stack.pg)
        try:
            # Down until the Dagster processes have met the outage (they poll the instance's storage all the time).
            stack.wait(lambda: _outage_met(stack, seen), timeout=120, interval=0.2,
                       what="a process to meet the PostgreSQL outage")
        finally:
            support.start_postgres_again(stack.pg)
    finally:
        httpx.post(f"{stack.sandbox_url}/_sandbox/faults", json={}, timeout=30).raise_for_status()

    # Reads through the webserver are polled: its first queries after the restart may meet connections the
    # database dropped, which it replaces on the next request.
    def settled() -> bool:
        chain = _chain(stack, run_id)
        return any(r["status"] == "SUCCESS" for r in chain) and all(r["status"] in TERMINAL for r in chain)

    stack.wait(settled, timeout=RUN_TIMEOUT, interval=2, what=f"run {run_id[:8]} (or a retry of it) to succeed")
    chain = stack.wait(lambda: _chain(stack, run_id), timeout=120, interval=1, what=f"the runs of {run_id[:8]}")
    # Depending on where the run stood, the outage fails a step (the run is then retried from it, or the step
    # retried) or the run's worker waits it out on Dagster's own storage retries; either way the run ends in
    # success, every retry of it has ended, and what it posted is there exactly once.
    failed = [r for r in chain if r["status"] == "FAILURE"]
    assert not failed or len(chain) > len(failed), f"a run failed by the outage was not retried: {chain}"

    # Nothing lost, nothing doubled: one outcome per payment of the date in each ERP's table, every receipt the
    # ledger holds posted and in the ERP exactly once.
    engine = _engine(stack)
    try:
        with engine.connect() as conn:
            payments = sorted(conn.execute(select(normalized_payments.c.transaction_id)
                                           .where(normalized_payments.c.business_date == date.fromisoformat(day))).scalars())
            assert payments
            erp_numbers = {"oracle": _oracle_receipt_numbers(stack), "sage": _sage_receipt_numbers(stack)}
            for erp, numbers in erp_numbers.items():
                table = CONNECTORS[erp].cash_receipts
                outcomes = conn.execute(select(table.c.transaction_id, table.c.receipt_number, table.c.owns_receipt)
                                        .where(table.c.business_date == date.fromisoformat(day))).all()
                assert sorted(t for t, _, _ in outcomes) == payments, erp
                ledger = conn.execute(select(posting_ledger.c.reference, posting_ledger.c.status).where(and_(
                    posting_ledger.c.erp == erp, posting_ledger.c.action == "receipt",
                    posting_ledger.c.business_date == date.fromisoformat(day)))).all()
                assert ledger, f"no receipt of {day} in the {erp} ledger"
                assert Counter(ref for ref, _ in ledger).most_common(1)[0][1] == 1, ledger
                assert {status for _, status in ledger} == {"posted"}, ledger
                assert {ref: numbers[ref] for ref, _ in ledger} == {ref: 1 for ref, _ in ledger}, erp
                owned = {number for _, number, owns in outcomes if owns}
                assert owned <= {ref for ref, _ in ledger}, erp
    finally:
        engine.dispose()
