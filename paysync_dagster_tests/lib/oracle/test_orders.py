"""eCommerce orders as sales orders against the Oracle sandbox over real HTTP: the spec's payload, one
order whatever is dropped after commit, and the invoice shipping creates numbered with the order."""

from datetime import date, datetime

import httpx
import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.oracle.orders import EcommerceOrder, OrderLine, create_sales_order, payload
from paysync_dagster.lib.posting import Ledger
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import (SETTINGS, control, fresh, oracle_client)

DAY = date(2026, 3, 11)
ORDER = EcommerceOrder("WEB-03111800001", "C1", "USD", datetime(2026, 3, 11, 18, 5), 500_000_123, "PT-500000123",
                       (OrderLine("AS54888", 2, 45_900, "Standing desk"), OrderLine("AS55012", 1, 3_475)))


@pytest.fixture
def url(oracle_server: ServerThread) -> str:
    return fresh(oracle_server.url, [("INV-000101", "C1", 10_000)])


def test_the_payload_is_the_order_hub_create_of_the_spec() -> None:
    body = payload(ORDER, "US1 Business Unit")
    assert {k: body[k] for k in ("SourceTransactionSystem", "SourceTransactionId", "SourceTransactionNumber",
                                 "BusinessUnitName", "TransactionalCurrencyCode", "TransactionOn", "CustomerPONumber",
                                 "SubmittedFlag")} == {
        "SourceTransactionSystem": "PAYSYNC", "SourceTransactionId": "WEB-03111800001",
        "SourceTransactionNumber": "WEB-03111800001", "BusinessUnitName": "US1 Business Unit",
        "TransactionalCurrencyCode": "USD", "TransactionOn": "2026-03-11T18:05:00+00:00",
        "CustomerPONumber": "PT-500000123", "SubmittedFlag": True}
    assert body["billToCustomer"] == [{"AccountNumber": "C1"}]
    assert [(line["SourceTransactionLineId"], line["ProductNumber"], line["OrderedQuantity"], line["UnitSellingPrice"])
            for line in body["lines"]] == [("1", "AS54888", 2, "459.00"), ("2", "AS55012", 1, "34.75")]
    assert ORDER.order_key == "PAYSYNC:WEB-03111800001" and ORDER.total_minor == 95_275


def test_an_order_number_must_fit_an_invoice_number_and_survive_card_scrubbing() -> None:
    with pytest.raises(ValueError, match="1 to 20 characters"):
        EcommerceOrder("WEB-" + "9" * 17, "C1", "USD", datetime(2026, 3, 11), 1, "PT-1", ORDER.lines)
    with pytest.raises(ValueError, match="13 digits"):  # 2611220744512 is Luhn-valid: PayTrace data masks it
        EcommerceOrder("WEB-2611220744512", "C1", "USD", datetime(2026, 3, 11), 1, "PT-1", ORDER.lines)


def test_created_once_when_answers_are_lost_and_shipping_numbers_the_invoice_with_the_order(
        url: str, sqlite_engine: Engine) -> None:
    faults = {"seed": 2, "drop_after_commit_rate": 0.6, "paths": ["/fscmRestApi/*/salesOrdersForOrderHub"]}
    httpx.post(f"{url}/_sandbox/faults", json=faults).raise_for_status()
    try:
        with oracle_client(url) as client:
            # A lost answer is looked up by OrderKey before anything is sent again: each call ends certain.
            refs = [create_sales_order(client, Ledger(sqlite_engine, "oracle"), ORDER,
                                       business_unit=SETTINGS.business_unit, business_date=DAY) for _ in range(3)]
        injected = httpx.get(f"{url}/_sandbox/stats").json()["faults"]
    finally:
        httpx.post(f"{url}/_sandbox/faults", json={}).raise_for_status()
    assert injected.get("drop_after_commit"), injected
    orders = control(url, "state")["sales_orders"]
    assert [(o["OrderKey"], o["StatusCode"], o["total_minor"]) for o in orders] == \
        [("PAYSYNC:WEB-03111800001", "OPEN", 95_275)]
    assert {r.header_id for r in refs} == {orders[0]["HeaderId"]}
    entry = Ledger(sqlite_engine, "oracle").get("SO-WEB-03111800001")
    assert (entry.action, entry.posted, entry.erp_id, entry.transaction_id, entry.detail["order_number"]) == \
        ("sales_order", True, str(orders[0]["HeaderId"]), 500_000_123, orders[0]["OrderNumber"])

    with oracle_client(url) as client:
        shipped = client.ship_sales_order(refs[0].order_key, TransactionNumber=ORDER.number,
                                          TransactionDate=DAY.isoformat())
        invoice = client.find_invoice_by_number(ORDER.number)
        again = create_sales_order(client, Ledger(sqlite_engine, "oracle"), ORDER,
                                   business_unit=SETTINGS.business_unit, business_date=DAY)
    assert shipped["TransactionNumber"] == ORDER.number and invoice["CustomerTransactionId"] == shipped["CustomerTransactionId"]
    assert (invoice["PurchaseOrder"], invoice["CrossReference"], invoice["BillToCustomerNumber"], invoice["TransactionDate"]) == \
        ("PT-500000123", orders[0]["OrderNumber"], "C1", "2026-03-11")
    assert again == refs[0] and len(control(url, "state")["sales_orders"]) == 1  # the ledger answers: no call
