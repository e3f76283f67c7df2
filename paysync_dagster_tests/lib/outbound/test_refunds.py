"""ERP-initiated card refunds against the composed sandbox (PayTrace, Sage 300, Oracle) over real HTTP, with
faults on: each Sage refund entry or Oracle credit memo marked for a card refund becomes one PayTrace refund of its settled
original (or one void of an unsettled one), whatever is retried, redelivered or cut off after PayTrace
committed; the result is written back on the entry; a refusal is an exception with PayTrace's words;
and the refund that comes back from PayTrace is recorded again in no ERP that asked for it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.lib.outbound.erp_refunds import ErpRefund
from paysync_dagster.lib.outbound.refunds import (DONE_BEFORE, NO_ORIGINAL, REFUNDED, REFUSED, UNREACHABLE, VOIDED, WAITING,
                                                  WOULD, LEDGER_SYSTEM, RefundOutcome, Refunder, made_for_erp)
from paysync_dagster.lib.posting.ledger import Ledger
from paysync_dagster.sandbox.paytrace.state import HistorySpec
from paysync_dagster.sandbox.server import ServerThread, build_app
from paysync_dagster_tests.conftest import SANDBOX_TZ, oracle_resource, sage_resource
from paysync_dagster_tests.lib.outbound.support import calm, paytrace_client

START, END = date(2026, 3, 2), date(2026, 3, 6)
DAY = date.today()
MARK = MAPPING.refunds.card_refund  # the ERP's mark of a refund to the card, per ERP
FAULTS = {"seed": 3, "drop_after_commit_rate": 0.4, "error_rate": 0.15, "error_statuses": [502, 503]}
TEST_CARD = ("4012000098765439", 12, 2030)  # PayTrace's published sandbox test card


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    history = HistorySpec(seed=11, start_date=START, end_date=END, per_day=20)
    with ServerThread(build_app(history=history, tz_name=SANDBOX_TZ, faults=FAULTS)) as server:
        yield server


@pytest.fixture(params=["sage", "oracle"])
def erp(request: pytest.FixtureRequest) -> str:
    return request.param


def _resource(url: str, erp: str):  # noqa: ANN202
    return sage_resource(url) if erp == "sage" else oracle_resource(url)


def _clerk(url: str, erp: str, account: str, amount_minor: int, transaction_id: int | str) -> None:
    """A clerk's refund record marked for a card refund, through the sandbox's control API: a Sage refund
    entry naming the transaction, or an Oracle credit memo with it as cross reference."""
    if erp == "sage":
        r = httpx.post(f"{url}/_sandbox/sage/card_refund", json={
            "customer": account, "amount_minor": amount_minor, "transaction_id": str(transaction_id),
            "payment_code": MARK["sage"]}, timeout=30)
    else:
        r = httpx.post(f"{url}/_sandbox/oracle/seed", json={"credit_memos": [{
            "account_number": account, "amount_minor": amount_minor, "currency": "USD",
            "receipt_method": MARK["oracle"], "cross_reference": str(transaction_id)}]}, timeout=30)
    r.raise_for_status()


def _marked(url: str, erp: str) -> list[ErpRefund]:
    resource = _resource(url, erp)
    with resource.client() as client:
        return resource.adapter(client, MAPPING).card_refunds(MARK[erp])


def _run(url: str, engine: Engine, erp: str, *, dry_run: bool = False, day: date = DAY) -> list[RefundOutcome]:
    resource = _resource(url, erp)
    with resource.client() as client, paytrace_client(url) as pt:
        adapter = resource.adapter(client, MAPPING)
        refunder = Refunder(Ledger(engine, LEDGER_SYSTEM), Ledger(engine, erp), pt, original_of=lambda r: None,
                            write_back=adapter.write_back_refund)
        return refunder.run(adapter.card_refunds(MARK[erp]), day, dry_run=dry_run)


def _settle(url: str, engine: Engine, erp: str) -> dict[str, RefundOutcome]:
    """Runs until no record is left without a certain answer (at most 8, as the next days' runs would);
    each record's outcome from the run that settled it."""
    for _ in range(8):
        outcomes = {o.refund.document_number: o for o in _run(url, engine, erp)}
        if all(o.outcome != UNREACHABLE for o in outcomes.values()):
            return outcomes
    raise AssertionError("still no certain answer after 8 runs")


def _refunds_of(url: str, original: int) -> list[dict]:
    with paytrace_client(url) as pt:
        return [r for r in pt.export_transactions(START, DAY + timedelta(days=1), transaction_type="REFUND")
                if str(r.get("description") or "").endswith(f" {original}")]


@pytest.fixture
def sales(sandbox: ServerThread) -> dict[str, dict]:
    """A settled sale of the history with its customer, and a new unsettled one (not the same customer)."""
    with calm(sandbox, FAULTS), paytrace_client(sandbox.url) as pt:
        history = [r for r in pt.export_transactions(START, END) if r["transaction_type"] == "SALE"
                   and r["approval_code"] and r["settled"] and r["amount"] >= 20]
        settled = history[0]
        number, month, year = TEST_CARD
        fresh = pt.sale_keyed(4_500, number, month, year, invoice_id="INV-777001")
    return {"settled": settled, "unsettled": {"transaction_id": fresh["transaction_id"], "amount": 45}}


def test_each_marked_refund_is_made_once_through_faults_and_redelivery_and_written_back(
        sandbox: ServerThread, engine: Engine, sales: dict[str, dict], erp: str) -> None:
    settled, unsettled = sales["settled"], sales["unsettled"]
    customers = sorted(r["account_number"] for r in _customers(sandbox.url))
    with calm(sandbox, FAULTS):
        _clerk(sandbox.url, erp, customers[0], 1_000, settled["transaction_id"])  # partial, of a settled sale
        _clerk(sandbox.url, erp, customers[1], 4_500, unsettled["transaction_id"])  # whole, of an unsettled one
    first = _settle(sandbox.url, engine, erp)
    for _ in range(2):  # redelivered: the date that made them still says so; a later date, done before
        assert {o.outcome for o in _run(sandbox.url, engine, erp)} == {REFUNDED, VOIDED}
    refunder_later = _run(sandbox.url, engine, erp, day=DAY + timedelta(days=1))
    assert {o.outcome for o in refunder_later} == {DONE_BEFORE}
    assert sandbox.app.faults.stats()["faults"], "the faults fired"

    with calm(sandbox, FAULTS):
        refunds = _refunds_of(sandbox.url, int(settled["transaction_id"]))
        assert [round(r["amount"] * 100) for r in refunds] == [1_000], "one refund of the settled sale, for the amount"
        with paytrace_client(sandbox.url) as pt:
            assert pt.export_transaction(unsettled["transaction_id"])["transaction_type"] == "VOID"
        marked = {r.original_transaction_id: r for r in _marked(sandbox.url, erp)}
    outcomes = {o.original_transaction_id: o for o in first.values()}
    assert outcomes[int(settled["transaction_id"])].outcome in (REFUNDED, DONE_BEFORE)
    assert outcomes[int(unsettled["transaction_id"])].outcome in (VOIDED, DONE_BEFORE)
    assert marked[int(settled["transaction_id"])].written_back == \
        f"PayTrace refund {refunds[0]['transaction_id']} of transaction {settled['transaction_id']}"
    assert marked[int(unsettled["transaction_id"])].written_back == \
        f"PayTrace void of transaction {unsettled['transaction_id']}"

    # The refund comes back from PayTrace: the ERP that asked for it records nothing more; another ERP does.
    refund_id = int(refunds[0]["transaction_id"])
    other = "oracle" if erp == "sage" else "sage"
    assert made_for_erp(engine, refund_id, "refund", erp) is not None
    assert made_for_erp(engine, refund_id, "refund", other) is None
    assert made_for_erp(engine, int(unsettled["transaction_id"]), "void", erp) is not None


def _customers(url: str) -> list[dict[str, str]]:
    resource = sage_resource(url)
    with resource.client() as client:
        return resource.adapter(client, MAPPING).customer_master()


def test_refusals_and_what_cannot_be_sent_are_exceptions_with_their_reason(
        sandbox: ServerThread, engine: Engine, sales: dict[str, dict], erp: str) -> None:
    settled, unsettled = sales["settled"], sales["unsettled"]
    account = sorted(r["account_number"] for r in _customers(sandbox.url))[0]
    too_much = round(settled["amount"] * 100) + 1
    with calm(sandbox, FAULTS):
        _clerk(sandbox.url, erp, account, too_much, settled["transaction_id"])  # more than the payment
        _clerk(sandbox.url, erp, account, 1_000, unsettled["transaction_id"])  # part of a payment not settled yet
        _clerk(sandbox.url, erp, account, 500, "not-a-transaction")  # names nothing PayTrace knows
    outcomes = {o.refund.amount_minor: o for o in _settle(sandbox.url, engine, erp).values()}

    refused = outcomes[too_much]
    assert refused.outcome == REFUSED and refused.is_exception_on(DAY) and refused.reason
    assert outcomes[1_000].outcome == WAITING and not outcomes[1_000].is_exception_on(DAY)
    assert outcomes[500].outcome == NO_ORIGINAL and outcomes[500].is_exception_on(DAY)
    with calm(sandbox, FAULTS):
        assert _refunds_of(sandbox.url, int(settled["transaction_id"])) == [], "nothing refunded"
        assert not any(r.written_back for r in _marked(sandbox.url, erp)), "nothing written back"
    later = {o.refund.amount_minor: o for o in _run(sandbox.url, engine, erp, day=DAY + timedelta(days=1))}
    assert later[too_much].outcome == REFUSED and not later[too_much].is_exception_on(DAY + timedelta(days=1))


def test_a_dry_run_sends_and_writes_nothing(sandbox: ServerThread, engine: Engine, sales: dict[str, dict],
                                            erp: str) -> None:
    account = sorted(r["account_number"] for r in _customers(sandbox.url))[0]
    with calm(sandbox, FAULTS):
        _clerk(sandbox.url, erp, account, 1_000, sales["settled"]["transaction_id"])
    outcomes = _run(sandbox.url, engine, erp, dry_run=True)
    assert [o.outcome for o in outcomes] == [WOULD + REFUNDED]
    with calm(sandbox, FAULTS):
        assert _refunds_of(sandbox.url, int(sales["settled"]["transaction_id"])) == []
        assert not _marked(sandbox.url, erp)[0].written_back
    assert Counter(e.status for e in Ledger(engine, LEDGER_SYSTEM).entries()) == Counter()
