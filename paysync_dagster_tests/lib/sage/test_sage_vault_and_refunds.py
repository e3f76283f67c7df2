"""SageAdapter's outbound side against the composed sandbox's Sage 300 Web API over real HTTP: the
customers a payment code marks (card_on_file_accounts), contact details written back to AR/ARCustomers
(update_customer), the refund entries a clerk marks for a card refund (card_refunds) and the result
written back on them (write_back_refund); and the sandbox behaviour they rely on (PATCH of customers and
of refund batches, the seed helper that enters a clerk's card refund)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import httpx
import pytest

from paysync_dagster.lib.outbound.erp_refunds import ErpRefund
from paysync_dagster.lib.posting import RejectedError
from paysync_dagster.lib.posting.erp import ReceiptSpec
from paysync_dagster.lib.sage.adapter import CUSTOMER_FIELD_LENGTHS, CUSTOMER_UPDATE_FIELDS
from paysync_dagster.lib.sage.client import Sage300Client
from paysync_dagster.lib.sage.errors import SageRejected
from paysync_dagster.sandbox.sage.schema import CUSTOMER, REFUND_ENTRY
from paysync_dagster.sandbox.sage.seed import CARD_REFUND_PAYMENT_CODE, seed_card_refund
from paysync_dagster.sandbox.server import SandboxApp, ServerThread
from paysync_dagster_tests.lib.sage.sage_support import (COMPANY, DAY, PASSWORD, USER, adapter, control, sage_client,
                                                         seed)

EARLIER = date(2026, 1, 2)  # the business date the customers are entered on
CODE = CARD_REFUND_PAYMENT_CODE


@pytest.fixture(scope="module")
def app() -> SandboxApp:
    return SandboxApp()


@pytest.fixture(scope="module")
def server(app: SandboxApp) -> Iterator[ServerThread]:
    with ServerThread(app) as running:
        yield running


@pytest.fixture
def url(server: ServerThread) -> str:
    """The sandbox back to its chart, customers C1, C2 and SUSPENSE entered on EARLIER with open
    invoices, and the business date then DAY (the adapters' today)."""
    httpx.post(f"{server.url}/_sandbox/reset", timeout=30).raise_for_status()
    control(server.url, "clock", {"today": EARLIER.isoformat()})
    seed(server.url, [("INV-000101", "C1", 10_000), ("INV-000190", "C2", 7_000)], customers=("C1", "C2"))
    control(server.url, "clock", {"today": DAY.isoformat()})
    return server.url


def requests(url: str, what: str) -> int:
    """How many requests the sandbox's Web API answered for ``what`` (e.g. "PATCH AR/ARCustomers")."""
    return sum(control(url, "stats")["requests"].get(what, {}).values())


def customer(client: Sage300Client, number: str) -> dict:
    return client.get_customer(number)


def clerk_refund(url: str, account: str, amount_minor: int, transaction_id: int | str, code: str = CODE) -> dict:
    """A clerk's card refund entered through the sandbox's control API (seed_card_refund)."""
    return control(url, "card_refund", {"customer": account, "amount_minor": amount_minor,
                                        "transaction_id": transaction_id, "payment_code": code})


def paysync_refund(client: Sage300Client, account: str, code: str = CODE) -> None:
    """PaySync's own refund entry of a posted prepayment, as the posting loop writes it (mark_refund),
    with the clerk's payment code, so only PaySync's marks tell it apart."""
    a = adapter(client, payment_code=code)
    a.create_receipts([ReceiptSpec("PT-77", 1_500, "USD", DAY, account)])
    a.post_date(DAY)
    receipt = a.find_receipts(["PT-77"])["PT-77"]
    a.mark_refund(receipt, "PT-78:RFND", 500, "Refund of transaction 77")


# -- card_on_file_accounts ----------------------------------------------------------------------------------------

def test_card_on_file_accounts_are_the_customers_of_the_code(url: str, app: SandboxApp) -> None:
    with sage_client(url) as client:
        client.patch_customer("C1", {"PaymentCode": "CARDFILE"})
        client.patch_customer("C2", {"PaymentCode": "CHECK"})
        client.create_customer({"CustomerNumber": "C3", "CustomerName": "Customer C3", "PaymentCode": "CARDFILE"})
        a = adapter(client)
        assert a.card_on_file_accounts("CARDFILE") == {"C1", "C3"}
        assert a.card_on_file_accounts(" cardfile ") == {"C1", "C3"}  # trimmed, any case
        assert a.card_on_file_accounts("CHECK") == {"C2"}
        assert a.card_on_file_accounts("NOSUCHCODE") == set() and a.card_on_file_accounts("  ") == set()
        # One customer a page: the next links drop the $filter (spec §2), every row is checked here.
        control(url, "settings", {"page_size": 1})
        assert a.card_on_file_accounts("CARDFILE") == {"C1", "C3"}
    with app.sage.state.lock:
        held = {n for n, c in app.sage.state.store.customers.items() if c["PaymentCode"] == "CARDFILE"}
    assert held == {"C1", "C3"}


# -- update_customer ----------------------------------------------------------------------------------------------

def test_update_customer_changes_only_the_named_fields_and_the_date_last_maintained(url: str) -> None:
    with sage_client(url) as client:
        before = customer(client, "C1")
        assert before["DateLastMaintained"].startswith(EARLIER.isoformat())
        a = adapter(client)
        changes = {"email": "billing@c1.example", "phone": " (206) 555-0199 ", "city": "Tacoma", "state": "WA"}
        a.update_customer("C1", changes)
        after = customer(client, "C1")
        a.update_customer("C1", changes)  # the same PATCH again: the same customer
        again = customer(client, "C1")
        other = customer(client, "C2")
        master = {r["account_number"]: r for r in a.customer_master()}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"Email", "PhoneNumber", "City", "StateProvince", "DateLastMaintained"}
    assert (after["Email"], after["PhoneNumber"], after["City"], after["StateProvince"]) == \
        ("billing@c1.example", "(206) 555-0199", "Tacoma", "WA")
    assert after["DateLastMaintained"].startswith(DAY.isoformat())
    assert again == after and other["DateLastMaintained"].startswith(EARLIER.isoformat())
    assert master["C1"] == {**master["C1"], "email": "billing@c1.example", "phone": "(206) 555-0199",
                            "city": "Tacoma", "state": "WA"}


def test_every_customer_master_column_is_written_where_customer_master_reads_it(url: str) -> None:
    values = {"name": "Pioneer Office Systems Inc.", "email": "ap@pioneer.example", "phone": "(617) 555-0100",
              "address_line1": "6561 Oak Ave", "address_line2": "Suite 202", "city": "Boston", "state": "MA",
              "postal_code": "02124", "country": "US"}
    with sage_client(url) as client:
        client.create_customer({"CustomerNumber": "C3", "CustomerName": "Customer C3", "AddressLine2": "Dock 4",
                                "AddressLine3": "Gate B", "AddressLine4": "Bay 9"})
        a = adapter(client)
        a.update_customer("C3", values)
        master = {r["account_number"]: r for r in a.customer_master()}
        row = customer(client, "C3")
    # address_line2 is read as AddressLine2..4 joined: writing it leaves AddressLine3 and 4 empty.
    assert master["C3"] == {"account_number": "C3", **values}
    assert (row["AddressLine2"], row["AddressLine3"], row["AddressLine4"]) == ("Suite 202", "", "")


def test_an_unknown_key_or_an_over_long_value_is_refused_and_nothing_is_sent(url: str) -> None:
    # The widths are the sandbox's (Sage's) declared field lengths.
    assert CUSTOMER_FIELD_LENGTHS == {f: CUSTOMER.fields[f].max_len for f in CUSTOMER_UPDATE_FIELDS.values()}
    with sage_client(url) as client:
        a = adapter(client)
        before = customer(client, "C1")
        sent = requests(url, "PATCH AR/ARCustomers")
        with pytest.raises(ValueError, match="'fax'"):
            a.update_customer("C1", {"city": "Tacoma", "fax": "555-0100"})
        with pytest.raises(ValueError, match="'account_number'"):
            a.update_customer("C1", {"account_number": "C9"})
        with pytest.raises(ValueError, match="ZipPostalCode") as long:
            a.update_customer("C1", {"city": "Tacoma", "postal_code": "9" * 21})
        assert "'postal_code'" in str(long.value) and "20" in str(long.value)
        with pytest.raises(ValueError, match="Email"):
            a.update_customer("C1", {"email": "a" * 40 + "@example.com"})
        a.update_customer("C1", {"postal_code": "9" * 20 + "  "})  # trimmed first: it fits
        a.update_customer("C1", {})  # nothing to change: nothing sent
        assert customer(client, "C1") == {**before, "ZipPostalCode": "9" * 20,
                                          "DateLastMaintained": customer(client, "C1")["DateLastMaintained"]}
    assert requests(url, "PATCH AR/ARCustomers") == sent + 1


def test_what_sage_refuses_is_the_posting_loops_error(url: str) -> None:
    with sage_client(url) as client:
        a = adapter(client)
        with pytest.raises(RejectedError) as missing:
            a.update_customer("NOSUCH", {"city": "Tacoma"})
        assert missing.value.code == "RecordNotFound"
        with pytest.raises(RejectedError) as blank:
            a.update_customer("C1", {"name": "  "})
        assert blank.value.code == "RecordInvalid" and "CustomerName" in str(blank.value)
        assert customer(client, "C1")["CustomerName"] == "Customer C1"


# -- card_refunds ------------------------------------------------------------------------------------------------

def test_card_refunds_are_the_clerks_entries_of_the_code_never_paysyncs_own(url: str) -> None:
    mine = clerk_refund(url, "C1", 2_500, 1234567)
    odd = clerk_refund(url, "C2", 400, "PT-88")  # a transaction id that is not PayTrace's number
    clerk_refund(url, "C1", 900, 555, code="CHECKRFND")  # another payment code
    with sage_client(url) as client:
        paysync_refund(client, "C2")
        a = adapter(client)
        ours = [r for b in client.refund_batches() if b["Description"].startswith("PaySync ") for r in b["Refunds"]]
        found = a.card_refunds(CODE)
        assert a.card_refunds(" cardrfnd ") == found and a.card_refunds("") == []
        control(url, "settings", {"page_size": 1})  # one batch a page
        assert a.card_refunds(CODE) == found
    assert [(r["PaymentCode"], r["CheckNumber"]) for r in ours] == [(CODE, "PT-78:RFND")]  # the same code: left out
    assert found == [
        ErpRefund("sage", f"{mine['batch_number']}:{mine['entry_number']}", mine["document_number"], "C1", 2_500, "USD",
                  DAY, 1234567, "", "", True),
        ErpRefund("sage", f"{odd['batch_number']}:{odd['entry_number']}", odd["document_number"], "C2", 400, "USD",
                  DAY, None, "", "", True)]
    assert mine["document_number"].startswith("RF") and mine["credit_note"].startswith("CN")


def test_a_posted_refund_batch_is_read_as_not_editable(url: str) -> None:
    first, second = clerk_refund(url, "C1", 2_500, 101), clerk_refund(url, "C2", 700, 102)
    n = first["batch_number"]
    assert control(url, "post_batches", {"ledger": "RF", "from": n, "to": n})["posted"] == [n]
    with sage_client(url) as client:
        found = {r.original_transaction_id: r for r in adapter(client).card_refunds(CODE)}
    assert (found[101].editable, found[102].editable) == (False, True)
    assert found[102].key == f"{second['batch_number']}:{second['entry_number']}"


# -- write_back_refund ---------------------------------------------------------------------------------------------

def test_write_back_shows_in_a_fresh_read_and_is_repeatable(url: str) -> None:
    clerk_refund(url, "C1", 2_500, 1234567)
    clerk_refund(url, "C2", 700, 7654321)
    text = "PayTrace refund 9001 approved TAS042 on 2026-03-05, card ending 4242, by PaySync"
    assert len(text) > 60
    with sage_client(url) as client:
        a = adapter(client)
        first, second = a.card_refunds(CODE)
        a.write_back_refund(first, text)
        a.write_back_refund(first, text)  # repeated after a lost answer: the same entry
        now = {r.key: r for r in a.card_refunds(CODE)}
        [entry] = [r for b in client.refund_batches() for r in b["Refunds"]
                   if f"{b['BatchNumber']}:{r['EntryNumber']}" == first.key]
    assert now[first.key].written_back == text[:60].strip() and now[first.key].has_result
    assert entry["EntryReference"] == text[:60] and entry["TransactionID"] == "1234567"
    assert now[second.key] == second and not second.has_result  # the other entry is untouched
    assert now[first.key] == replace(first, written_back=text[:60].strip())


def test_write_back_is_refused_on_a_posted_batch(url: str) -> None:
    made = clerk_refund(url, "C1", 2_500, 1234567)
    with sage_client(url) as client:
        a = adapter(client)
        [stale] = a.card_refunds(CODE)  # read while the batch is open
        n = made["batch_number"]
        control(url, "post_batches", {"ledger": "RF", "from": n, "to": n})
        [posted] = a.card_refunds(CODE)
        assert not posted.editable
        with pytest.raises(ValueError, match="posted"):
            a.write_back_refund(posted, "PayTrace refund 9001 approved")
        with pytest.raises(RejectedError) as refused:  # posted since it was read: Sage refuses
            a.write_back_refund(stale, "PayTrace refund 9001 approved")
        assert refused.value.code == "InvalidAction"
        assert a.card_refunds(CODE)[0].written_back == ""
        with pytest.raises(ValueError):
            a.write_back_refund(ErpRefund("oracle", "300100", "CM-1", "C1", 1, "USD", DAY, None, "", ""), "x")


# -- the sandbox -------------------------------------------------------------------------------------------------

def test_refund_batches_keep_the_card_fields_and_refuse_edits_once_posted(url: str) -> None:
    assert {"PaymentCode", "TransactionID", "EntryReference"} <= set(REFUND_ENTRY.fields)
    with sage_client(url) as client:
        # A clerk's credit note and refund batch entered through the Web API itself.
        client.create_invoice_batch({"BatchDate": DAY, "Description": "Credit", "BatchStatus": "ReadyToPost",
                                     "Invoices": [{"CustomerNumber": "C1", "DocumentNumber": "CN-C1",
                                                   "DocumentType": "CreditNote",
                                                   "InvoiceDetails": [{"ExtendedAmountWithoutTIP": 20}]}]})
        client.post_invoice_batches()
        made = client.create_refund_batch(batch_date=DAY, description="Card refunds by hand", bank_code="PAYTRACE",
                                          refunds=[{"CustomerNumber": "C1", "PaymentCode": CODE,
                                                    "TransactionID": "424242", "EntryReference": "ticket 17",
                                                    "RefundDetails": [{"DocumentNumber": "CN-C1",
                                                                       "CustomerRefundAmount": 20}]}])
        number = int(made["BatchNumber"])
        [entry] = client.get_refund_batch(number)["Refunds"]
        assert (entry["PaymentCode"], entry["TransactionID"], entry["EntryReference"]) == (CODE, "424242", "ticket 17")
        # EntryReference changes on an open batch, nothing else does.
        client.patch("AR/ARRefundBatches", number, {"Refunds": [
            {"UpdateOperation": "Update", "EntryNumber": entry["EntryNumber"], "EntryReference": "PayTrace done"}]})
        [changed] = client.get_refund_batch(number)["Refunds"]
        assert changed == {**entry, "EntryReference": "PayTrace done"}
        client.set_refund_batch_ready(number)
        client.post_refund_batches(number)
        with pytest.raises(SageRejected) as refused:
            client.patch("AR/ARRefundBatches", number, {"Refunds": [
                {"UpdateOperation": "Update", "EntryNumber": entry["EntryNumber"], "EntryReference": "again"}]})
        assert refused.value.code == "InvalidAction"
        assert client.get_refund_batch(number)["Refunds"][0]["EntryReference"] == "PayTrace done"
    # The refusal as Sage shapes it, read without the client.
    raw = httpx.patch(f"{url}/Sage300WebApi/v1.0/-/{COMPANY}/AR/ARRefundBatches({number})", auth=(USER, PASSWORD),
                      json={"Refunds": [{"UpdateOperation": "Update", "EntryNumber": 1, "EntryReference": "x"}]},
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert raw.status_code == refused.value.http_status and raw.json()["error"]["code"] == "InvalidAction"
    assert "posted" in raw.json()["error"]["message"]["value"]


def test_the_seed_helper_enters_what_a_clerk_would(url: str, app: SandboxApp) -> None:
    state = app.sage.state
    made = seed_card_refund(state, "C2", 1_234, 99887766)
    with state.lock:
        credit = state.document("C2", made["credit_note"])
        batch = state.store.refund_batches[made["batch_number"]]
        [entry] = batch["Refunds"]
        assert (credit["DocumentType"], int(credit["CustomerCurrencyAmountDue"] * 100)) == ("CreditNote", -1_234)
        assert batch["BatchStatus"] == "Open" and not batch["Description"].startswith("PaySync")
        assert (entry["PaymentCode"], entry["TransactionID"], entry["DocumentNumber"]) == \
            (CODE, "99887766", made["document_number"])
        assert [(d["DocumentNumber"], int(d["CustomerRefundAmount"] * 100)) for d in entry["RefundDetails"]] == \
            [(made["credit_note"], 1_234)]
    with sage_client(url) as client:
        assert [(r.customer_account, r.amount_minor, r.original_transaction_id)
                for r in adapter(client).card_refunds(CODE)] == [("C2", 1_234, 99887766)]
    for body in ({"customer": "NOSUCH", "amount_minor": 100, "transaction_id": 1},
                 {"customer": "C1", "amount_minor": 0, "transaction_id": 1},
                 {"customer": "C1", "amount_minor": 100}):
        r = httpx.post(f"{url}/_sandbox/sage/card_refund", json=body, timeout=30)
        assert r.status_code == 400, body
    counts = control(url, "state")["counts"]
    assert (counts["refund_batches"], counts["invoice_batches"]) == (1, 1)  # the refused ones left nothing
