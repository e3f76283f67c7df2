"""SageAdapter.card_on_file_installments over real HTTP against the composed sandbox seeded with its
card-on-file customers and invoices (``HistorySpec(card_on_file=True)``): what it returns is compared
with what the sandbox holds, never with numbers written here."""

from __future__ import annotations

from datetime import date


from paysync_dagster.lib.outbound.due import DueInstallment
from paysync_dagster.lib.posting.erp import ReceiptSpec
from paysync_dagster.sandbox.card_on_file import (PAYMENT_CODE, card_on_file_customers, card_on_file_invoices,
                                                  expired_card_account)
from paysync_dagster.sandbox.server import SandboxApp
from paysync_dagster_tests.lib.sage.sage_support import adapter, sage_client

from paysync_dagster_tests.lib.card_on_file_support import DAY, HISTORY, app, sandbox, url  # noqa: F401


def held(app: SandboxApp, code: str, due_on_or_before: date) -> list[DueInstallment]:
    """What the sandbox's own store says is due (no receipt batch is pending in these tests): open
    posted invoices of customers with that PaymentCode, due on or before the date."""
    state = app.sage.state
    with state.lock:
        customers = {n for n, c in state.store.customers.items() if c["PaymentCode"] == code}
        out = [DueInstallment("sage", d["DocumentNumber"], "1", d["CustomerNumber"],
                              int(d["CustomerCurrencyAmountDue"] * 100), d["CurrencyCode"], d["DueDate"])
               for d in state.store.documents.values()
               if d["CustomerNumber"] in customers and d["DocumentType"] == "Invoice" and d["FullyPaid"] == "No"
               and d["CustomerCurrencyAmountDue"] > 0 and d["DueDate"] <= due_on_or_before]
    return sorted(out, key=lambda i: (i.due_date, i.invoice_number, i.customer_account))


def due(url: str, code: str = PAYMENT_CODE, on: date = DAY, *, batch_size: int = 50) -> list[DueInstallment]:
    with sage_client(url) as client:
        return adapter(client, batch_size=batch_size).card_on_file_installments(code, on)


def test_the_invoices_due_are_those_the_sandbox_holds(app: SandboxApp, url: str) -> None:
    expected = held(app, PAYMENT_CODE, DAY)
    assert expected
    assert due(url) == expected
    assert due(url, batch_size=1) == expected  # the customers asked one per request
    # The customers are the plan's (vault customers); Sage marks the customer, so their catalogue
    # invoices due by then are among them too, beside the planned card-on-file invoices.
    accounts = {c["account"] for c in card_on_file_customers(HISTORY.seed, HISTORY.per_day, HISTORY.start_date.year)}
    assert {d.customer_account for d in expected} <= accounts
    planned = {i["invoice_number"] for i in card_on_file_invoices(HISTORY.seed, HISTORY.start_date, HISTORY.end_date,
                                                                   HISTORY.per_day) if i["due_date"] <= DAY.isoformat()}
    assert planned and planned <= {d.invoice_number for d in expected}
    assert all(d.erp == "sage" and d.installment_id == "1" and d.amount_minor > 0 for d in expected)
    # The balance is what open_invoices computes for the same documents.
    with sage_client(url) as client:
        balances = {f.invoice.number: f.invoice.balance_minor for f in adapter(client).open_invoices()[0]}
    assert all(balances[d.invoice_number] == d.amount_minor for d in expected)


def test_an_invoice_due_after_the_date_is_left_out(app: SandboxApp, url: str) -> None:
    state = app.sage.state
    with state.lock:
        customers = {n for n, c in state.store.customers.items() if c["PaymentCode"] == PAYMENT_CODE}
        later = {d["DocumentNumber"]: d["DueDate"] for d in state.store.documents.values()
                 if d["CustomerNumber"] in customers and d["FullyPaid"] == "No" and d["DueDate"] > DAY}
    assert later
    found = {d.invoice_number for d in due(url)}
    assert not found & set(later)
    number, when = min(later.items(), key=lambda kv: (kv[1], kv[0]))
    then = due(url, on=when)
    assert number in {d.invoice_number for d in then} and then == held(app, PAYMENT_CODE, when)


def test_a_paid_invoice_is_left_out_and_a_part_applied_one_shows_its_balance(app: SandboxApp, url: str) -> None:
    before = due(url)
    expired = expired_card_account(HISTORY.seed, HISTORY.per_day, HISTORY.start_date.year)
    paid, part = [d for d in before if d.customer_account != expired][:2]
    with sage_client(url) as client:
        a = adapter(client, today=DAY)
        a.create_receipts([
            ReceiptSpec("PT-COF-1", paid.amount_minor, "USD", DAY, paid.customer_account,
                        applications=((paid.invoice_number, paid.invoice_number, paid.amount_minor),)),
            ReceiptSpec("PT-COF-2", 1_000, "USD", DAY, part.customer_account,
                        applications=((part.invoice_number, part.invoice_number, 1_000),))])
        # Unposted: the balance is already net of what the batch applies (as open_invoices has it).
        pending = {d.invoice_number: d for d in a.card_on_file_installments(PAYMENT_CODE, DAY)}
        assert paid.invoice_number not in pending
        assert pending[part.invoice_number].amount_minor == part.amount_minor - 1_000
        a.post_date(DAY)
    after = due(url)
    assert after == held(app, PAYMENT_CODE, DAY)
    with app.sage.state.lock:
        assert app.sage.state.document(paid.customer_account, paid.invoice_number)["FullyPaid"] == "Yes"
    assert paid.invoice_number not in {d.invoice_number for d in after}
    (now,) = [d for d in after if d.invoice_number == part.invoice_number]
    assert now.amount_minor == part.amount_minor - 1_000
    assert [d for d in after if d.invoice_number != part.invoice_number] == [d for d in before if d not in (paid, part)]


def test_another_payment_code_is_left_out(app: SandboxApp, url: str) -> None:
    cards = {d.customer_account for d in due(url)}
    with app.sage.state.lock:
        other = next(n for n, c in sorted(app.sage.state.store.customers.items())
                     if n not in cards and c["PaymentCode"] != PAYMENT_CODE
                     and any(d["DueDate"] <= DAY and d["FullyPaid"] == "No" for d in app.sage.state.documents_of(n)))
    with sage_client(url) as client:
        client.patch_customer(other, {"PaymentCode": "CHECK"})
    assert other not in {d.customer_account for d in due(url)} and due(url) == held(app, PAYMENT_CODE, DAY)
    checks = due(url, "CHECK")
    assert checks and {d.customer_account for d in checks} == {other} and checks == held(app, "CHECK", DAY)
    assert due(url, "NOSUCHCODE") == []


def test_the_expired_card_customer_is_among_them(app: SandboxApp, url: str) -> None:
    expired = expired_card_account(HISTORY.seed, HISTORY.per_day, HISTORY.start_date.year)
    assert expired in {d.customer_account for d in due(url)}
    with app.sage.state.lock:
        assert app.sage.state.customer(expired)["PaymentCode"] == PAYMENT_CODE
    card = app.paytrace.customers[expired]["card"]  # its vault profile, under the same account number
    assert (card[4], card[3]) < (HISTORY.start_date.year, HISTORY.start_date.month)
