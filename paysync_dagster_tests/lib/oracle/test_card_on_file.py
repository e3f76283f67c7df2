"""OracleAdapter.card_on_file_installments over real HTTP against the composed sandbox seeded with its
card-on-file invoices (``HistorySpec(card_on_file=True)``): what it returns is compared with what the
sandbox holds, never with numbers written here."""

from __future__ import annotations

from datetime import date, datetime, timedelta


from paysync_dagster.lib.oracle.adapter import OracleAdapter
from paysync_dagster.lib.outbound.due import DueInstallment
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.posting.erp import ReceiptSpec
from paysync_dagster.lib.timeutil import zone
from paysync_dagster.sandbox.card_on_file import (RECEIPT_METHOD, card_on_file_customers, card_on_file_invoices,
                                                  expired_card_account)
from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME
from paysync_dagster.sandbox.server import SandboxApp
from paysync_dagster_tests.lib.posting.oracle_support import SETTINGS, oracle_client

from paysync_dagster_tests.lib.card_on_file_support import DAY, HISTORY, NOW, TZ, app, sandbox, url  # noqa: F401


def held(app: SandboxApp, method: str, due_on_or_before: date) -> list[DueInstallment]:
    """What the sandbox's own store says is due: installments of complete invoices with that
    ReceiptMethod, balance above zero, due on or before the date."""
    state = app.oracle.state
    with state.lock:
        out = [DueInstallment("oracle", inv.number, str(inst.id), state.store.customers[inv.account_id].account_number,
                              inst.balance_minor, inv.currency, date.fromisoformat(inst.due_date))
               for inv in state.store.invoices.values() if inv.complete and inv.fields.get("ReceiptMethod") == method
               for inst in inv.installments
               if inst.balance_minor > 0 and date.fromisoformat(inst.due_date) <= due_on_or_before]
    return sorted(out, key=lambda d: (d.due_date, d.invoice_number, int(d.installment_id)))


def due(url: str, method: str = RECEIPT_METHOD, on: date = DAY, *, batch_size: int = 50) -> list[DueInstallment]:
    with oracle_client(url) as client:
        return OracleAdapter(client, SETTINGS, batch_size=batch_size).card_on_file_installments(method, on)


def test_the_installments_due_are_those_the_sandbox_holds(app: SandboxApp, url: str) -> None:
    expected = held(app, RECEIPT_METHOD, DAY)
    assert expected, "the seed has card-on-file installments due in its week"
    assert due(url) == expected
    assert due(url, batch_size=1) == expected  # one request per account, or the accounts in a batch request
    # Only the card-on-file invoices of the plan: the catalogue's invoices have no receipt method.
    planned = {i["invoice_number"]: i for i in card_on_file_invoices(HISTORY.seed, HISTORY.start_date,
                                                                     HISTORY.end_date, HISTORY.per_day)}
    assert {d.invoice_number for d in expected} <= set(planned)
    assert all(d.customer_account == planned[d.invoice_number]["customer_account"] for d in expected)
    accounts = {c["account"] for c in card_on_file_customers(HISTORY.seed, HISTORY.per_day, HISTORY.start_date.year)}
    assert {d.customer_account for d in expected} <= accounts
    assert all(d.erp == "oracle" and d.currency == "USD" and d.amount_minor > 0 for d in expected)
    # A day before the earliest due date nothing is due; the whole plan is due once its last date passes.
    earliest = min(d.due_date for d in expected)
    assert due(url, on=earliest - timedelta(days=1)) == []
    last = max(date.fromisoformat(i["due_date"]) for inv in planned.values() for i in inv["installments"])
    assert {d.invoice_number for d in due(url, on=last)} == set(planned)


def test_an_installment_due_after_the_date_is_left_out(app: SandboxApp, url: str) -> None:
    state = app.oracle.state
    with state.lock:
        (split,) = [inv for inv in state.store.invoices.values()
                    if inv.fields.get("ReceiptMethod") == RECEIPT_METHOD and len(inv.installments) == 2]
        first, second = sorted(split.installments, key=lambda i: i.due_date)
        ids = (str(first.id), str(second.id))
    assert first.due_date <= DAY.isoformat() < second.due_date
    found = {(d.invoice_number, d.installment_id): d for d in due(url)}
    assert (split.number, ids[0]) in found and (split.number, ids[1]) not in found
    assert found[(split.number, ids[0])].amount_minor == first.balance_minor
    assert found[(split.number, ids[0])].due_date == date.fromisoformat(first.due_date)
    later = {(d.invoice_number, d.installment_id): d for d in due(url, on=date.fromisoformat(second.due_date))}
    assert later[(split.number, ids[1])].amount_minor == second.balance_minor
    # Every card-on-file installment the sandbox holds past the date is left out.
    with state.lock:
        not_yet = {(inv.number, str(i.id)) for inv in state.store.invoices.values()
                   if inv.fields.get("ReceiptMethod") == RECEIPT_METHOD for i in inv.installments
                   if i.due_date > DAY.isoformat()}
    assert len(not_yet) >= 2 and not not_yet & set(found)


def test_a_paid_invoice_is_left_out_and_a_part_paid_one_shows_its_balance(app: SandboxApp, url: str) -> None:
    before = due(url)
    expired = expired_card_account(HISTORY.seed, HISTORY.per_day, HISTORY.start_date.year)
    single = {i["invoice_number"] for i in card_on_file_invoices(HISTORY.seed, HISTORY.start_date, HISTORY.end_date,
                                                                  HISTORY.per_day) if len(i["installments"]) == 1}
    paid = next(d for d in before if d.customer_account != expired and d.invoice_number in single)
    part = next(d for d in before if d.customer_account != expired and d != paid)
    with oracle_client(url) as client:
        adapter = OracleAdapter(client, SETTINGS)
        ids = adapter.create_receipts([ReceiptSpec("PT-COF-1", paid.amount_minor, "USD", DAY, paid.customer_account),
                                       ReceiptSpec("PT-COF-2", 1_000, "USD", DAY, part.customer_account)])
        client.apply_receipt(ids["PT-COF-1"], int(paid.installment_id), application_date=DAY.isoformat())
        client.apply_receipt(ids["PT-COF-2"], int(part.installment_id), 1_000, application_date=DAY.isoformat())
    after = due(url)
    assert after == held(app, RECEIPT_METHOD, DAY)
    assert paid.invoice_number not in {d.invoice_number for d in after}
    (now,) = [d for d in after if d.installment_id == part.installment_id]
    assert now.amount_minor == part.amount_minor - 1_000
    assert [d for d in after if d.installment_id != part.installment_id] == \
        [d for d in before if d not in (paid, part)]


def test_another_receipt_method_is_left_out(app: SandboxApp, url: str) -> None:
    account = due(url)[0].customer_account
    with oracle_client(url) as client:
        client.create_invoice({
            "TransactionNumber": "INV-ACH-1", "BusinessUnit": "Vision Operations",
            "TransactionSource": "PaySync Catalogue", "TransactionType": "Invoice", "TransactionDate": "2026-03-01",
            "PaymentTerms": "Immediate", "ReceiptMethod": "ACH", "BillToCustomerNumber": account,
            "receivablesInvoiceLines": [{"Description": "Service", "Quantity": 1, "UnitSellingPrice": 42}]})
    cards = due(url)
    assert "INV-ACH-1" not in {d.invoice_number for d in cards} and cards == held(app, RECEIPT_METHOD, DAY)
    ach = due(url, "ACH")
    assert [(d.invoice_number, d.customer_account, d.amount_minor) for d in ach] == [("INV-ACH-1", account, 4_200)]
    assert ach == held(app, "ACH", DAY)
    assert due(url, "Wire") == []  # a method no invoice has


def test_the_expired_card_customer_is_among_them_and_its_charge_declines(app: SandboxApp, url: str) -> None:
    expired = expired_card_account(HISTORY.seed, HISTORY.per_day, HISTORY.start_date.year)
    found = due(url)
    assert expired in {d.customer_account for d in found}
    other = next(d for d in found if d.customer_account != expired)
    # Every card-on-file customer has a vault profile under its account number; only one card expired.
    profiles = app.paytrace.customers
    accounts = {c["account"] for c in card_on_file_customers(HISTORY.seed, HISTORY.per_day, HISTORY.start_date.year)}
    assert accounts <= set(profiles)
    today = datetime.fromtimestamp(NOW, zone(TZ))
    lapsed = {a for a in accounts if (profiles[a]["card"][4], profiles[a]["card"][3]) < (today.year, today.month)}
    assert lapsed == {expired}
    with PayTraceClient(url, DEFAULT_USERNAME, DEFAULT_PASSWORD, DEFAULT_INTEGRATOR_ID) as paytrace:
        declined = paytrace.sale_by_customer(expired, 1_000, invoice_id="INV-TEST-1")
        approved = paytrace.sale_by_customer(other.customer_account, 1_000, invoice_id="INV-TEST-2")
    assert (declined["success"], declined["approval_message"]) == (False, "  EXPIRED CARD - Expired card")
    assert approved["success"] is True
