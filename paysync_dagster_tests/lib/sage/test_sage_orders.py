"""Order to payment in Sage 300 against the composed sandbox over real HTTP: an eCommerce order becomes
one OE order (its customer created from the card's billing data when new) whatever answers are lost,
and its card payment, posted on account before the order's invoice exists, is applied to that invoice
by rule ``sales_order`` once shipping brings it to AR."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.orders import Billing, EcommerceOrder, OrderLine
from paysync_dagster.lib.posting import Ledger
from paysync_dagster.lib.posting.late import LateApplier
from paysync_dagster.lib.sage.orders import create_sales_order, order_body
from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster.sandbox.server import SandboxApp, ServerThread
from paysync_dagster_tests.lib.sage.sage_support import (DAY, control, documents, entries, faults, fresh, payment, post,
                                                         post_date, poster, sage_client)

LATER = DAY + timedelta(days=1)
LINES = (OrderLine("AS54888", 2, 45_900, "Standing desk"), OrderLine("AS55012", 1, 3_475, "Desk lamp"))
ADA = Billing("Ada Lovelace", "ada@lovelace.example", "+1 415 555 0100", ("100 Market St", "Suite 4"), "San Francisco",
              "CA", "94105", "US")


def order(number: str, account: str, txn: int, billing: Billing | None = ADA) -> EcommerceOrder:
    return EcommerceOrder(number, account, "USD", datetime(2026, 3, 5, 18, 30), txn, f"PT-{txn}", LINES, billing)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(SandboxApp()) as running:
        yield running


@pytest.fixture
def url(server: ServerThread) -> str:
    return fresh(server.url)


def requests(url: str) -> int:
    return httpx.get(f"{url}/_sandbox/stats", timeout=30).json()["requests"]


def orders(url: str) -> list[tuple]:
    return [(o["OrderNumber"], o["CustomerNumber"], o["OrderTotal"], o["LastInvoiceNumber"])
            for o in control(url, "state")["orders"]]


def test_the_order_body_is_an_item_order_named_by_the_storefront_and_the_payment() -> None:
    body = order_body(order("WEB-03051830001", "W1001", 700_000_001), DAY)
    assert {k: body[k] for k in ("OrderNumber", "CustomerNumber", "OrderDate", "OrderDescription", "OrderReference",
                                 "PurchaseOrderNumber", "InvoiceWillBeProduced")} == {
        "OrderNumber": "WEB-03051830001", "CustomerNumber": "W1001", "OrderDate": DAY,
        "OrderDescription": "Web order WEB-03051830001", "OrderReference": "PT-700000001",
        "PurchaseOrderNumber": "PT-700000001", "InvoiceWillBeProduced": False}
    assert [(d["LineType"], d["Item"], d["Description"], d["QuantityOrdered"], str(d["UnitPrice"]))
            for d in body["OrderDetails"]] == [("Item", "AS54888", "Standing desk", 2, "459.00"),
                                               ("Item", "AS55012", "Desk lamp", 1, "34.75")]
    assert Billing.from_paytrace({"billing_address": {
        "name": "Ada Lovelace", "street_address": "100 Market St", "street_address2": "Suite 4", "city": "San Francisco",
        "state": "CA", "zip": "94105", "country": "US"}, "receipt_emailed_to": "ada@lovelace.example"},
        phone="+1 415 555 0100") == ADA
    with pytest.raises(ValueError, match="CustomerNumber"):  # Sage's customer numbers have 12 characters
        order_body(order("WEB-03051830001", "W" * 13, 1), DAY)
    with pytest.raises(ValueError, match="card number"):  # a Luhn-valid EAN-13 as a product code is never sent
        order_body(EcommerceOrder("WEB-03051830001", "W1001", "USD", datetime(2026, 3, 5), 1, "PT-1",
                                  (OrderLine("4111111111111111", 1, 100),)), DAY)


def test_an_order_for_a_new_customer_creates_both_once_whatever_answers_are_lost(
        url: str, sqlite_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    first = order("WEB-03051830001", "W1001", 700_000_001,
                  Billing("Ada Lovelace " + "x" * 60, "ada@lovelace.example", "+1 415 555 0100",
                          ("100 Market St", "Card 4111 1111 1111 1111"), "San Francisco", "CA", "94105", "US"))
    with sage_client(url) as client:
        ref = create_sales_order(client, Ledger(sqlite_engine, "sage"), first, business_date=DAY)
        customer = client.get_customer("W1001")
    assert (ref.order_number, ref.customer_number, ref.customer_created, ref.invoice_number) == \
        ("WEB-03051830001", "W1001", True, "")
    assert orders(url) == [("WEB-03051830001", "W1001", Decimal("952.75"), "")]
    assert {k: customer[k] for k in ("CustomerName", "ShortName", "Email", "PhoneNumber", "AddressLine1",
                                     "AddressLine2", "City", "StateProvince", "ZipPostalCode", "Country",
                                     "CurrencyCode")} == {
        "CustomerName": ("Ada Lovelace " + "x" * 60)[:60], "ShortName": "Ada Lovela", "Email": "ada@lovelace.example",
        "PhoneNumber": "+1 415 555 0100", "AddressLine1": "100 Market St", "AddressLine2": "Card **** **** **** 1111",
        "City": "San Francisco", "StateProvince": "CA", "ZipPostalCode": "94105", "Country": "US", "CurrencyCode": "USD"}
    entry = Ledger(sqlite_engine, "sage").get("SO-WEB-03051830001")
    assert (entry.action, entry.posted, entry.erp_id, entry.transaction_id, entry.detail["customer_created"]) == \
        ("sales_order", True, str(ref.order_uniquifier), 700_000_001, True)

    before = requests(url)
    with sage_client(url) as client:  # sent again: the ledger answers, Sage is not asked
        assert create_sales_order(client, Ledger(sqlite_engine, "sage"), first, business_date=DAY) == ref
    assert requests(url) == before

    # A second order for a new customer, every create's answer lost after Sage committed it.
    second = order("WEB-03051830002", "W1002", 700_000_002)
    faults(url, drop_after_commit_rate=1.0, paths=["*/OE/OEOrders", "*/AR/ARCustomers"])
    try:
        with sage_client(url) as client:
            refs = [create_sales_order(client, Ledger(sqlite_engine, "sage"), second, business_date=DAY)
                    for _ in range(3)]
        dropped = httpx.get(f"{url}/_sandbox/stats", timeout=30).json()["faults"]
    finally:
        faults(url)
    assert dropped == {"drop_after_commit": 2}, dropped  # the customer's create and the order's, each sent once
    # Another warehouse (no ledger entry) sending the same order: Sage's "already exists" is the order.
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate(other)
    try:
        with sage_client(url) as client:
            elsewhere = create_sales_order(client, Ledger(other, "sage"), second, business_date=DAY)
        assert Ledger(other, "sage").get("SO-WEB-03051830002").attempts == 1
    finally:
        other.dispose()
    assert {r.order_uniquifier for r in refs} == {elsewhere.order_uniquifier} and refs[0].customer_created
    assert not elsewhere.customer_created
    assert [o[:2] for o in orders(url)] == [("WEB-03051830001", "W1001"), ("WEB-03051830002", "W1002")]
    assert sorted(control(url, "state")["customers"]) == ["C1", "C2", "SUSPENSE", "W1001", "W1002"]
    assert Ledger(sqlite_engine, "sage").get("SO-WEB-03051830002").attempts == 1


def test_an_existing_customer_is_left_as_it_is_and_another_currency_is_refused(url: str, sqlite_engine: Engine) -> None:
    with sage_client(url) as client:
        before = client.get_customer("C1")
        ref = create_sales_order(client, Ledger(sqlite_engine, "sage"), order("WEB-03051830003", "C1", 700_000_003),
                                 business_date=DAY)
        assert not ref.customer_created and client.get_customer("C1")["CustomerName"] == before["CustomerName"]
        assert client.get_customer("C1")["Email"] == before["Email"]
        euro = EcommerceOrder("WEB-03051830004", "C1", "EUR", datetime(2026, 3, 5), 700_000_004, "PT-700000004", LINES)
        with pytest.raises(ValueError, match="kept in USD"):
            create_sales_order(client, Ledger(sqlite_engine, "sage"), euro, business_date=DAY)
    assert [o[0] for o in orders(url)] == ["WEB-03051830003"]
    assert Ledger(sqlite_engine, "sage").get("SO-WEB-03051830004").status == "failed"


@pytest.mark.parametrize(("number", "posted_first"), [
    ("WEB-03051830010", False), ("WEB-03051830010", True),
    ("ORD000000000010", False),  # numbered as Sage numbers OE orders: read as a sales order by its whole number
], ids=["batch-open", "batch-posted", "sage-style-number"])
def test_order_to_payment_applies_the_receipt_when_the_orders_invoice_appears(
        url: str, sqlite_engine: Engine, number: str, posted_first: bool) -> None:
    web = order(number, "W2001", 700_000_010)
    with sage_client(url) as client:
        create_sales_order(client, Ledger(sqlite_engine, "sage"), web, business_date=DAY)
    assert orders(url) == [(number, "W2001", Decimal("952.75"), "")]  # not shipped: no invoice yet

    # The storefront charged the card with the order number as the invoice reference.
    sale = payment(700_000_010, web.total_minor, ref=web.number, description=f"Web order {web.number}", account="W2001")
    first = post(url, sqlite_engine, [sale])[700_000_010]
    assert (first.outcome, first.customer_account, first.applied_minor) == ("on_account", "W2001", 0)
    assert [(e["type"], e["customer"], e["amount"]) for e in entries(url)["PT-700000010"]] == \
        [("Prepayment", "W2001", web.total_minor)]
    if posted_first:
        assert post_date(url) == [1]

    shipped = control(url, "ship_order", {"order_number": web.number, "date": LATER.isoformat()})
    invoice = shipped["invoice"]
    assert shipped["shipped"] and (invoice["OrderNumber"], invoice["PONumber"], invoice["CustomerNumber"]) == \
        (web.number, "PT-700000010", "W2001")
    assert documents(url)[invoice["DocumentNumber"]] == ("Invoice", web.total_minor, False)
    assert control(url, "ship_order", {"order_number": web.number})["shipped"] is False  # nothing left to ship

    with sage_client(url) as client:
        run = LateApplier(poster(client, sqlite_engine, today=LATER)).run(LATER)
    assert [(a.receipt_number, a.invoice_number, a.amount_minor, a.match_rule) for a in run.applied] == \
        [("PT-700000010", invoice["DocumentNumber"], web.total_minor, "sales_order")]
    got = entries(url)["PT-700000010"]
    if posted_first:  # the posted prepayment applied by an ApplyDocument entry of the day it is applied
        assert [(e["type"], e["lines"]) for e in got] == [
            ("Prepayment", []), ("ApplyDocument", [(invoice["DocumentNumber"], 1, web.total_minor)])]
        assert post_date(url, LATER) == [2]
    else:  # the unposted entry itself, a Receipt now
        assert [(e["type"], e["lines"]) for e in got] == [("Receipt", [(invoice["DocumentNumber"], 1, web.total_minor)])]
        assert post_date(url) == [1]
    assert documents(url)[invoice["DocumentNumber"]] == ("Invoice", 0, True)
    again = post(url, sqlite_engine, [sale])[700_000_010]  # redelivered: reported applied, nothing sent
    assert (again.outcome, again.invoices) == ("applied", invoice["DocumentNumber"])


def test_shipping_an_unknown_order_is_not_found(url: str) -> None:
    r = httpx.post(f"{url}/_sandbox/sage/ship_order", json={"order_number": "WEB-NOPE"}, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "RecordNotFound"
    assert httpx.post(f"{url}/_sandbox/sage/ship_order", json={}, timeout=30).status_code == 400
