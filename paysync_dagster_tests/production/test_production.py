"""PaySync in the production topology (support.py): PostgreSQL for the Dagster instance and the warehouse,
the sandboxes, the webhook receiver, a gRPC code server, ``dagster-webserver`` and ``dagster-daemon``, all
real processes on free loopback ports, driven the way an operator drives them: signed webhooks to the
receiver, GraphQL to the webserver, ``pg_ctl`` to the database server.

The tests share one stack and run in file order: live payments first (today's partition), then the
backfill of the history's first seven dates, twice, then a restart of PostgreSQL while the history's last
date posts.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, timedelta
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
# A backfill's runs do every step in the run's own process: seven dates of a dozen payments each are
# Dagster's overhead more than work, and the tables they write are the same whichever executor runs them.
BACKFILL_RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}
BACKFILL_DAYS = 7
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
# PayTrace's published sandbox test card (the one the demo's stream uses); it only ever reaches the simulator.
TEST_CARD = "4012000098765439"

_RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { __typename
  ... on Runs { results { runId status jobName tags { key value } } } ... on PythonError { message } } }"""
_LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
_BACKFILL = """mutation Backfill($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
_BACKFILL_STATUS = """query Status($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status numPartitions } ... on PythonError { message } } }"""
_CURSOR = """query Cursor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { typeSpecificData { ... on SensorData { lastCursor } } } } } }"""
_TICKS = """query Ticks($selector: SensorSelector!, $after: Float) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { ticks(afterTimestamp: $after, limit: 5) { timestamp status } } } } }"""
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


# --- b. a backfill, twice -----------------------------------------------------------------------------------

# Columns that describe the last write, not what the row says: a run that writes the same facts again
# writes a later time there. Every other column must come out the same.
WRITE_TIMES: dict[str, set[str]] = {
    "schema_version": {"applied_at"},
    # when the date's export was last pulled, and how many landing rows that pull added (none, the second time)
    "paytrace_export_pulls": {"pulled_at", "landed"},
}
# Each ERP's open invoices as read when a date ran: the ERP's balances at that moment, which the first
# backfill's own receipts lower (a paid invoice leaves) and a later date's refund raises again. Checked
# apart: every date read each time, one row per invoice.
ERP_SNAPSHOTS = {"oracle_open_invoices", "sage_open_invoices"}


def _backfill(stack: ProductionStack, days: list[str], title: str) -> str:
    params = {"selector": {"partitionSetName": f"{MAIN_JOB}_partition_set",
                           "repositorySelector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}},
              "partitionNames": days, "fromFailure": False, "title": title, "runConfigData": BACKFILL_RUN_CONFIG}
    answer = stack.graphql(_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    backfill_id = answer["backfillId"]

    def done() -> bool:
        status = stack.graphql(_BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert status["__typename"] == "PartitionBackfill" and status["status"] not in ("FAILED", "CANCELED"), status
        runs = _runs(stack, tags=[{"key": "dagster/backfill", "value": backfill_id}])
        failed = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
        assert not failed, f"backfill runs failed: {failed}"
        return (status["status"].startswith("COMPLETED") and len(runs) == len(days)
                and all(r["status"] == "SUCCESS" for r in runs))

    stack.wait(done, timeout=RUN_TIMEOUT * 2, interval=3, what=f"backfill {backfill_id} of {days[0]}..{days[-1]}")
    runs = _runs(stack, tags=[{"key": "dagster/backfill", "value": backfill_id}])
    assert sorted(r["tags"]["dagster/partition"] for r in runs) == days
    assert {r["jobName"] for r in runs} == {MAIN_JOB}
    return backfill_id


def _quiet(stack: ProductionStack) -> bool:
    """The landing sensor has read every landing row (a backfill's export pull lands rows, which the sensor
    turns into live runs a tick later), and no run is in flight."""
    from sqlalchemy import func

    from paysync_dagster.lib.warehouse.tables import paytrace_landing

    engine = _engine(stack)
    try:
        with engine.connect() as conn:
            landed = conn.execute(select(func.max(paytrace_landing.c.id))).scalar() or 0
    finally:
        engine.dispose()
    sensor = stack.graphql(_CURSOR, {"selector": support.sensor_selector("paytrace_landing_sensor")})["sensorOrError"]
    cursor = int((sensor["sensorState"]["typeSpecificData"] or {}).get("lastCursor") or 0)
    return cursor >= landed and _no_run_in_flight(stack)


def _settled(stack: ProductionStack) -> None:
    """Quiet, and then one evaluation of the batch alerts after it: that sensor reads the clock and the
    reconciliation tables every minute, so an incident a date opened while its reconciliation had not run
    yet (the date is past the untied-batch threshold today) is resolved by the tick after the runs, not by
    the runs themselves. Snapshots are compared in that settled state."""
    import time

    stack.wait(lambda: _quiet(stack), timeout=RUN_TIMEOUT, interval=2, what="every landed row run")
    since = time.time()

    def evaluated() -> bool:
        found = stack.graphql(_TICKS, {"selector": support.sensor_selector("paysync_queue_and_batch_alerts"),
                                       "after": since})["sensorOrError"]
        assert found["__typename"] == "Sensor", found
        return any(t["timestamp"] > since and t["status"] != "STARTED" for t in found["sensorState"]["ticks"])

    stack.wait(evaluated, timeout=RUN_TIMEOUT, interval=2, what="the batch alerts evaluated after the runs")
    assert _quiet(stack), "a run started while the alerts were evaluated"


def _snapshot(stack: ProductionStack) -> dict[str, list[tuple]]:
    """Every warehouse table, every row (less the write-time columns), in one order."""
    from paysync_dagster.lib.warehouse.tables import metadata

    engine = _engine(stack)
    try:
        with engine.connect() as conn:
            out = {}
            for table in metadata.sorted_tables:
                columns = [c for c in table.columns if c.name not in WRITE_TIMES.get(table.name, set())]
                out[table.name] = sorted((tuple(r) for r in conn.execute(select(*columns)).all()), key=repr)
            return out
    finally:
        engine.dispose()


def _named(table_name: str, rows: list[tuple]) -> list[dict[str, Any]]:
    from paysync_dagster.lib.warehouse.tables import metadata

    names = [c.name for c in metadata.tables[table_name].columns if c.name not in WRITE_TIMES.get(table_name, set())]
    return [dict(zip(names, r)) for r in rows]


# A date's reconciliation reads the ERP as it stands when the date runs. A refund a later date of the
# backfill records against one of its receipts is in the ERP only once that later date has posted: the
# first backfill's reconciliation of the earlier date ran before it, the second's after. Those rows, and
# only those, may differ, and each must be such a refund (the reconciliation reports it as
# ``refund_in_later_batch``). Keys of the rows it touches, per reconciliation table:
RECONCILIATION_KEYS = {"reconciliation_variances": ("business_date", "erp", "batch_number", "transaction_id"),
                       "reconciliation_batches": ("business_date", "erp", "batch_number"),
                       "reconciliation_transactions": ("business_date", "erp", "transaction_id")}


def _refunds_recorded_later(stack: ProductionStack, before: dict[str, list[tuple]],
                            after: dict[str, list[tuple]]) -> list[dict[str, Any]]:
    """The variances the second backfill's reconciliation added, each checked to be a refund that a later
    date recorded against the date's receipt (the posting ledger's refund, under a later business date)."""
    name = "reconciliation_variances"
    added = _named(name, sorted(set(after[name]) - set(before[name]), key=repr))
    assert not set(before[name]) - set(after[name]), "the second reconciliation lost a variance"
    ledger = _named("posting_ledger", after["posting_ledger"])
    prefix = _receipt_prefix()
    for v in added:
        assert v["cause"] == "refund_in_later_batch", v
        later = [e for e in ledger if e["erp"] == v["erp"] and e["action"] == "refund"
                 and e["parent_reference"] == f"{prefix}{v['transaction_id']}" and e["business_date"] > v["business_date"]]
        assert later, f"no refund of a later date in the ledger explains {v}"
    return added


def _unexplained(name: str, before: list[tuple], after: list[tuple], explained: list[dict[str, Any]]) -> bool:
    """Whether the table's rows differ beyond what ``_refunds_recorded_later`` explains."""
    if before == after:
        return False
    if name not in RECONCILIATION_KEYS:
        return True
    if name != "reconciliation_variances" and len(before) != len(after):
        return True  # a batch or a transaction came or went: no refund does that
    keys = RECONCILIATION_KEYS[name]
    touched = {tuple(v[k] for k in keys) for v in explained}
    changed = _named(name, sorted(set(before) ^ set(after), key=repr))
    return any(tuple(row[k] for k in keys) not in touched for row in changed)


def test_a_backfill_launched_twice_leaves_every_warehouse_table_identical(production_stack: ProductionStack) -> None:
    stack = production_stack
    stack.wait(lambda: _no_run_in_flight(stack), timeout=RUN_TIMEOUT, interval=2, what="no run in flight")
    days = [(stack.history[0] + timedelta(days=i)).isoformat() for i in range(BACKFILL_DAYS)]
    assert stack.history[0] + timedelta(days=BACKFILL_DAYS) <= stack.history[1], "the restart test needs a date of its own"

    _backfill(stack, days, "production test: first")
    _settled(stack)
    before = _snapshot(stack)
    assert before["paytrace_transactions"] and before["oracle_cash_receipts"] and before["sage_cash_receipts"]
    assert {str(r[0]) for r in before["reconciliation_kpis"]} >= set(days)

    _backfill(stack, days, "production test: again")
    _settled(stack)
    after = _snapshot(stack)
    explained = _refunds_recorded_later(stack, before, after)
    differing = {name: (len(before[name]), len(after[name])) for name in before
                 if name not in ERP_SNAPSHOTS and _unexplained(name, before[name], after[name], explained)}
    assert not differing, f"tables that changed (rows before, after): {differing}\n" + json.dumps(
        {name: {"only_before": [repr(r) for r in set(before[name]) - set(after[name])][:5],
                "only_after": [repr(r) for r in set(after[name]) - set(before[name])][:5]} for name in differing},
        indent=1)
    for name in ERP_SNAPSHOTS:  # read again for every date, once each time
        for rows in (before[name], after[name]):
            dates = Counter(r["business_date"].isoformat() for r in _named(name, rows))
            assert set(days) <= set(dates), (name, sorted(dates))
            assert len({(r["business_date"], r["invoice_number"]) for r in _named(name, rows)}) == len(rows), name


# --- c. PostgreSQL restarted while a run posts --------------------------------------------------------------

ERP_PATHS = ["/fscmRestApi/*", "/Sage300WebApi/*"]
ERP_LATENCY_MS = 2_000
POSTING_STEPS = {"oracle_cash_receipts", "sage_cash_receipts"}
RETRY_EVENTS = {"ExecutionStepUpForRetryEvent", "ExecutionStepRestartEvent"}


def _erp_requests(stack: ProductionStack, which: str = "answered") -> int:
    """Requests the ERP sandboxes have answered (or ``received``, answered or not) so far."""
    from fnmatch import fnmatchcase

    stats = httpx.get(f"{stack.sandbox_url}/_sandbox/stats", timeout=30).json()
    counts = stats["received"] if which == "received" else {
        path: sum(by_status.values()) for path, by_status in stats["requests"].items()}
    return sum(n for path, n in counts.items() if any(fnmatchcase(path, p) for p in ERP_PATHS))


def _intents_recorded(stack: ProductionStack, day: str) -> bool:
    from paysync_dagster.lib.warehouse.tables import posting_ledger

    engine = _engine(stack)
    try:
        with engine.connect() as conn:
            return conn.execute(select(posting_ledger.c.id).where(
                posting_ledger.c.business_date == date.fromisoformat(day)).limit(1)).first() is not None
    finally:
        engine.dispose()


def _launch(stack: ProductionStack, day: str) -> str:
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": MAIN_JOB},
              "runConfigData": RUN_CONFIG, "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]}}
    answer = stack.graphql(_LAUNCH, {"params": params})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    return answer["run"]["runId"]


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


def test_postgres_restarted_while_a_run_posts_retries_it_and_loses_and_doubles_nothing(
        production_stack: ProductionStack) -> None:
    from paysync_dagster.defs.erp.connectors import CONNECTORS
    from paysync_dagster.lib.warehouse.tables import normalized_payments, posting_ledger

    stack = production_stack
    stack.wait(lambda: _no_run_in_flight(stack), timeout=RUN_TIMEOUT, interval=2, what="no run in flight")
    day = stack.history[1].isoformat()  # the history's last date: no run has posted it yet
    # Every ERP call two seconds long: the posting step spends nearly all its time waiting on one, and after
    # each answer it writes the posting ledger before anything else (the poster's look-before-resend order).
    httpx.post(f"{stack.sandbox_url}/_sandbox/faults", json={"latency_ms": ERP_LATENCY_MS, "paths": ERP_PATHS},
               timeout=30).raise_for_status()
    try:
        run_id = _launch(stack, day)
        # The posting step records its intents in the ledger, then makes the ERP call that creates those receipts:
        # PostgreSQL goes down while that call is in flight.
        stack.wait(lambda: _intents_recorded(stack, day), timeout=RUN_TIMEOUT, interval=0.05,
                   what=f"run {run_id[:8]} to record its first posting intents")
        in_flight = _erp_requests(stack, "received")
        seen = {log: log.stat().st_size for log in stack.logs.glob("*.log")}
        support.stop_postgres(stack.pg)
        try:
            # Down until every ERP call taken in before the stop is answered (each takes the same time, so they
            # are answered first): the step's ledger write after its call meets the outage, and the step fails
            # with its receipts sent, the case the ledger's look-before-resend is for.
            stack.wait(lambda: _erp_requests(stack) >= in_flight, timeout=120, interval=0.05,
                       what="the ERP calls in flight at the stop to be answered")
            stack.wait(lambda: _outage_met(stack, seen), timeout=120, interval=0.1,
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
    # The posting was retried: its step by the step's retry policy within the run, or the run by the daemon.
    events = stack.wait(lambda: [e for r in chain for e in _run_events(stack, r["runId"])], timeout=120, interval=1,
                        what="the events of the runs")
    retries = [e for e in events if e["__typename"] in RETRY_EVENTS and e.get("stepKey") in POSTING_STEPS]
    assert retries or len(chain) > 1, f"the outage did not make PaySync retry the posting: {chain}"

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
