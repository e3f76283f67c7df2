"""The demo's order to cash against the sandboxes served in process: each eCommerce order's card payment
ends applied to the invoice its shipping created, the invoice owes nothing, and the warehouse says so;
with Sage on, the same orders are OE orders there too and their invoices get the cash as well."""

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone

import dagster as dg
import httpx
import pytest
from sqlalchemy import Engine, select

from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.erp.factory import erp_assets
from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.demo.o2c import OrderToCash, SageSide, run_order_to_cash
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.posting import Ledger
from paysync_dagster.lib.sage.client import Sage300Client
from paysync_dagster.lib.warehouse.tables import (audit_log, oracle_late_applications, payment_exceptions,
                                                  sage_late_applications)
from paysync_dagster.lib.warehouse.tables import oracle_cash_receipts as receipts_table
from paysync_dagster.sandbox.oracle.state import DEFAULT_USERS
from paysync_dagster.sandbox.paytrace.state import (DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME, FakeClock,
                                                    HistorySpec)
from paysync_dagster.sandbox.server import ServerThread, build_app
from paysync_dagster_tests.conftest import SANDBOX_TZ, oracle_resource, paytrace_resource, sage_resource
from paysync_dagster_tests.lib.sage.sage_support import control

DAY = date(2026, 3, 11)
NOW = datetime(2026, 3, 11, 18, 30, tzinfo=timezone.utc)  # 11:30 in Los Angeles: the sales are of DAY
ORACLE = erp_assets("oracle")
ASSETS = [paytrace_transactions, paytrace_settlement_batches, ORACLE.customer_accounts, normalized_payments,
          ORACLE.open_invoices, ORACLE.cash_receipts, ORACLE.on_account_applications]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ServerThread]:
    history = HistorySpec(seed=11, start_date=date(2026, 3, 4), end_date=date(2026, 3, 10), per_day=20)
    with ServerThread(build_app(history=history, tz_name=SANDBOX_TZ, clock=FakeClock(NOW.timestamp()))) as s:
        yield s


def materialize(url: str, warehouse_url: str, day: date, assets: list) -> None:
    result = dg.materialize(assets, partition_key=day.isoformat(), raise_on_error=False, resources={
        "warehouse": WarehouseResource(database_url=warehouse_url), "paytrace": paytrace_resource(url),
        "oracle": oracle_resource(url)})
    assert result.success, [e.message for e in result.all_events if e.is_failure]


@pytest.fixture
def results(sandbox: ServerThread, sqlite_url: str, sqlite_engine: Engine) -> list[OrderToCash]:
    url = sandbox.url
    # The customer master normalization reads payers' names against, as earlier dates' runs leave it.
    materialize(url, sqlite_url, DAY, [ORACLE.customer_accounts])
    user, password = next(iter(DEFAULT_USERS.items()))
    with PayTraceClient(url, DEFAULT_USERNAME, DEFAULT_PASSWORD, DEFAULT_INTEGRATOR_ID) as paytrace, \
            OracleFusionClient(url, username=user, password=password) as oracle:
        return run_order_to_cash(paytrace, oracle, sqlite_engine,
                                 lambda _records, days: [materialize(url, sqlite_url, d, ASSETS) for d in days],
                                 lambda days: [materialize(url, sqlite_url, d, ASSETS) for d in days],
                                 business_unit="US1 Business Unit", receipt_prefix="PT-", tz_name=SANDBOX_TZ,
                                 stamp="0311183000")


def test_each_order_ends_applied_to_the_invoice_its_shipping_created(
        results: list[OrderToCash], sandbox: ServerThread, sqlite_url: str, sqlite_engine: Engine) -> None:
    assert [r.order_number for r in results] == [f"WEB-0311183000{i}" for i in (1, 2, 3)]
    assert len({r.customer_account for r in results}) == 3
    assert all(r.settled and r.invoice_number == r.order_number for r in results), [r.line() for r in results]
    state = httpx.get(f"{sandbox.url}/_sandbox/oracle/state", timeout=60).json()
    orders = {o["OrderKey"]: o for o in state["sales_orders"]}
    invoices = {i["TransactionNumber"]: i for i in state["invoices"]}
    receipts = {r["ReceiptNumber"]: r for r in state["receipts"]}
    for r in results:
        order = orders[f"PAYSYNC:{r.order_number}"]
        assert (order["HeaderId"], order["StatusCode"], order["total_minor"]) == (r.header_id, "CLOSED", r.amount_minor)
        assert invoices[r.invoice_number]["balance_minor"] == 0
        receipt = receipts[r.receipt_number]
        assert [(a["TransactionNumber"], a["amount_minor"], a["status"]) for a in receipt["applications"]] == \
            [(r.invoice_number, r.amount_minor, "APP")]
        assert (receipt["CustomerAccountNumber"], receipt["unapplied_minor"]) == (r.customer_account, 0)

    with sqlite_engine.connect() as conn:
        late = conn.execute(select(oracle_late_applications)).mappings().all()
        rows = {r.transaction_id: r for r in conn.execute(select(receipts_table)).mappings()}
        exceptions = conn.execute(select(payment_exceptions).where(payment_exceptions.c.stage == "oracle")).mappings().all()
        audit = conn.execute(select(audit_log).where(audit_log.c.action == "exception.cleared")).mappings().all()
    assert sorted((a["business_date"], a["receipt_number"], a["invoice_number"], a["amount_minor"], a["match_rule"])
                  for a in late) == [(DAY, r.receipt_number, r.invoice_number, r.amount_minor, "exact") for r in results]
    for r in results:
        row = rows[r.transaction_id]
        assert (row["outcome"], row["invoices"], row["applied_minor"], row["unapplied_minor"], row["exception_code"]) == \
            ("applied", r.invoice_number, r.amount_minor, 0, "")
        assert f"applied on {DAY} when invoice {r.invoice_number} appeared" in row["reason"]
    mine = [x for x in exceptions if x["transaction_id"] in {r.transaction_id for r in results}]
    assert [(x["reason_code"], x["status"]) for x in mine] == [("no_invoice_match", "cleared")] * 3
    assert sorted(a["subject"] for a in audit) == sorted(f"payment_exceptions:{x['id']}" for x in mine)
    assert all(json.loads(a["before"])["status"] == "open" and json.loads(a["after"])["status"] == "cleared"
               and "appeared" in a["note"] for a in audit)
    ledger = Ledger(sqlite_engine, "oracle")
    assert [ledger.get(f"SO-{r.order_number}").erp_id for r in results] == [str(r.header_id) for r in results]

    # Another run of the date changes nothing: one application each, the rows still applied.
    materialize(sandbox.url, sqlite_url, DAY, ASSETS)
    state = httpx.get(f"{sandbox.url}/_sandbox/oracle/state", timeout=60).json()
    after = {r["ReceiptNumber"]: r for r in state["receipts"]}
    assert [len(after[r.receipt_number]["applications"]) for r in results] == [1, 1, 1]
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(oracle_late_applications)).mappings().all() == late
        again = {r.transaction_id: r for r in conn.execute(select(receipts_table)).mappings()}
        still_open = conn.execute(select(payment_exceptions.c.id).where(
            payment_exceptions.c.status == "open",
            payment_exceptions.c.transaction_id.in_([r.transaction_id for r in results]))).all()
    assert [again[r.transaction_id]["outcome"] for r in results] == ["applied"] * 3 and still_open == []


def test_with_sage_on_each_order_is_also_an_oe_order_whose_invoice_gets_the_cash(
        sandbox: ServerThread, sqlite_url: str, sqlite_engine: Engine) -> None:
    url = sandbox.url
    sage_assets = erp_assets("sage")
    both = [*ASSETS, sage_assets.customer_accounts, sage_assets.open_invoices, sage_assets.cash_receipts,
            sage_assets.on_account_applications]

    def run(days: list[date]) -> None:
        for d in days:
            result = dg.materialize(both, partition_key=d.isoformat(), raise_on_error=False, resources={
                "warehouse": WarehouseResource(database_url=sqlite_url), "paytrace": paytrace_resource(url),
                "oracle": oracle_resource(url), "sage": sage_resource(url)})
            assert result.success, [e.message for e in result.all_events if e.is_failure]

    run_customers = dg.materialize([ORACLE.customer_accounts, sage_assets.customer_accounts], partition_key=DAY.isoformat(),
                                   resources={"warehouse": WarehouseResource(database_url=sqlite_url),
                                              "oracle": oracle_resource(url), "sage": sage_resource(url)})
    assert run_customers.success

    def ship(order_number: str, day: date) -> dict:
        answer = httpx.post(f"{url}/_sandbox/sage/ship_order", json={"order_number": order_number, "date": day.isoformat()},
                            timeout=60)
        answer.raise_for_status()
        return answer.json()["invoice"]

    user, password = next(iter(DEFAULT_USERS.items()))
    with PayTraceClient(url, DEFAULT_USERNAME, DEFAULT_PASSWORD, DEFAULT_INTEGRATOR_ID) as paytrace, \
            OracleFusionClient(url, username=user, password=password) as oracle, \
            Sage300Client(f"{url}/Sage300WebApi/v1.0/-", "SAMLTD", "PAYSYNC", "PAYSYNC") as sage:
        results = run_order_to_cash(paytrace, oracle, sqlite_engine, lambda _records, days: run(days), run,
                                    business_unit="US1 Business Unit", receipt_prefix="PT-", tz_name=SANDBOX_TZ,
                                    stamp="0311183500", sage=SageSide(sage, ship))
    in_sage = [r for r in results if r.erp == "Sage"]
    assert [r.order_number for r in in_sage] == [f"WEB-0311183500{i}" for i in (1, 2, 3)]
    assert all(r.settled for r in results), [r.line() for r in results]  # both ERPs: applied, nothing owed
    state = control(url, "state")
    orders = {o["OrderNumber"]: o for o in state["orders"]}
    documents = {d["DocumentNumber"]: d for d in state["documents"]}
    for r in in_sage:
        assert orders[r.order_number]["CustomerNumber"] == r.customer_account
        assert orders[r.order_number]["LastInvoiceNumber"] == r.invoice_number
        assert documents[r.invoice_number]["OrderNumber"] == r.order_number
        assert documents[r.invoice_number]["FullyPaid"] == "Yes"
    with sqlite_engine.connect() as conn:
        late = conn.execute(select(sage_late_applications)).mappings().all()
    assert sorted((a["receipt_number"], a["invoice_number"], a["match_rule"]) for a in late) == \
        sorted((r.receipt_number, r.invoice_number, "sales_order") for r in in_sage)
