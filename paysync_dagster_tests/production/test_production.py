"""PaySync in the production topology (support.py): PostgreSQL for the Dagster instance and the warehouse,
the sandboxes, the webhook receiver, a gRPC code server, ``dagster-webserver`` and ``dagster-daemon``, all
real processes on free loopback ports, driven the way an operator drives them: signed webhooks to the
receiver, GraphQL to the webserver, ``pg_ctl`` to the database server.

Live payments on today's partition: each signed webhook becomes exactly one receipt in Oracle Fusion and
in Sage 300, through the landing sensor's runs under the daemon.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import httpx
import pytest

from paysync_dagster_tests.lib.sage.sage_support import entries as sage_entries
from paysync_dagster_tests.production import support
from paysync_dagster_tests.production.support import ProductionStack

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LIVE_JOB = "paysync_live_job"
LIVE_PAYMENTS = 6
RUN_TIMEOUT = 600  # seconds a run, or a backfill's seven, may take on a busy 2-core machine
# PayTrace's published sandbox test card (the one the demo's stream uses); it only ever reaches the simulator.
TEST_CARD = "4012000098765439"

_RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { __typename
  ... on Runs { results { runId status jobName tags { key value } } } ... on PythonError { message } } }"""


def _runs(stack: ProductionStack, **filters: Any) -> list[dict[str, Any]]:
    found = stack.graphql(_RUNS, {"filter": filters})["runsOrError"]
    assert found["__typename"] == "Runs", found
    return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in found["results"]]


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

# Columns that hold the moment a row was written, not what the row says. A run that writes the same
# facts again writes a later time; every other column must come out the same.
WRITE_TIMES: dict[str, set[str]] = {
    "schema_version": {"applied_at"},
    "paytrace_export_pulls": {"pulled_at"},  # when the date's export was last pulled
}
