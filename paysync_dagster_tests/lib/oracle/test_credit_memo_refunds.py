"""Credit memos marked for a card refund, over real HTTP against the composed sandbox on loopback: the
sandbox's ``receivablesCreditMemos`` (list, filter, paging, item, PATCH, refusals, seeding), the
client's ``search_credit_memos``/``update_credit_memo``, and ``OracleAdapter.card_refunds``,
``write_back_refund`` and ``card_on_file_accounts``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from paysync_dagster.lib.oracle.adapter import CREDIT_MEMO_COMMENTS_LENGTH, OracleAdapter
from paysync_dagster.lib.oracle.errors import OraclePreconditionFailed, OracleValidationError
from paysync_dagster.lib.outbound.erp_refunds import ErpRefund
from paysync_dagster.lib.posting.erp import RejectedError
from paysync_dagster.sandbox.oracle import add_credit_memo, create_oracle_app
from paysync_dagster.sandbox.oracle.state import DEFAULT_RECEIPT_METHODS, ApiError, OracleState
from paysync_dagster.sandbox.server import SandboxApp, ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import PASSWORD, SETTINGS, USER, control, oracle_client, seed

CARD_REFUND = "Card Refund"
CARD_ON_FILE = "Card on File"
ROOT = "/fscmRestApi/resources/11.13.18.05"
MEMOS = f"{ROOT}/receivablesCreditMemos"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[OracleState, str]]:
    state = OracleState()
    oracle = create_oracle_app(state, fault_injection=False, control_prefix="/_sandbox/oracle")
    with ServerThread(SandboxApp(oracle=oracle)) as running:
        yield state, running.url


@pytest.fixture
def sandbox(server: tuple[OracleState, str]) -> tuple[OracleState, str]:
    """The Oracle sandbox emptied for each test."""
    control(server[1], "reset", {"empty": True})
    return server


def seed_memos(state: OracleState) -> dict[str, int]:
    """Four credit memos: three marked for a card refund (one in EUR), one refunded by check."""
    return {
        "a": add_credit_memo(state, account_number="C100", amount_minor=12_345, currency="USD",
                             receipt_method=CARD_REFUND, cross_reference="918273645", invoice_number="INV-000101",
                             transaction_date=date(2026, 3, 4)),
        "b": add_credit_memo(state, account_number="C200", amount_minor=5_000, currency="USD",
                             receipt_method=CARD_REFUND, cross_reference="refund of order 77",
                             transaction_date="2026-03-05"),
        "c": add_credit_memo(state, account_number="C100", amount_minor=990, currency="USD", receipt_method="Check",
                             cross_reference="555", transaction_date="2026-03-05"),
        "d": add_credit_memo(state, account_number="C300", amount_minor=2_550, currency="EUR",
                             receipt_method=CARD_REFUND, transaction_date="2026-03-06"),
    }


def number_of(state: OracleState, memo_id: int) -> str:
    with state.lock:
        return state.store.credit_memos[memo_id].number


def adapter_refunds(url: str, method: str = CARD_REFUND) -> list[ErpRefund]:
    with oracle_client(url) as client:
        return OracleAdapter(client, SETTINGS).card_refunds(method)


# -- the sandbox resource and the client --------------------------------------------------------------------

def test_credit_memos_are_listed_filtered_paged_and_read(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    ids = seed_memos(state)
    with oracle_client(url) as client:
        every = client.search_credit_memos(None)
        cards = client.search_credit_memos(client.q(ReceiptMethod=CARD_REFUND), onlyData="true")
        paged = client.list_items("/receivablesCreditMemos", {"q": client.q(ReceiptMethod=CARD_REFUND)}, page_size=1)
        by_number = client.search_credit_memos(client.q(TransactionNumber=number_of(state, ids["c"])))
        by_finder = client.search_credit_memos(None, finder=f"PrimaryKey;CustomerTransactionId={ids['b']}")
        item = client.get_credit_memo(ids["a"])
    assert [i["CustomerTransactionId"] for i in every] == [ids[k] for k in "abcd"]
    assert [i["CustomerTransactionId"] for i in cards] == [ids[k] for k in "abd"]
    assert all("links" not in i for i in cards) and all("links" in i for i in every)
    assert [i["CustomerTransactionId"] for i in paged] == [ids[k] for k in "abd"]
    assert [i["CustomerTransactionId"] for i in by_number] == [ids["c"]]
    assert [i["CustomerTransactionId"] for i in by_finder] == [ids["b"]]
    assert {k: item[k] for k in ("TransactionNumber", "TransactionDate", "CreditMemoCurrency", "BillToCustomerNumber",
                                 "EnteredAmount", "TransactionBalanceDue", "CrossReference", "ReceiptMethod",
                                 "CreditedTransactionNumber", "CreditMemoStatus", "CreditMemoComments",
                                 "InternalNotes", "TransactionType", "TransactionSource")} == {
        "TransactionNumber": number_of(state, ids["a"]), "TransactionDate": "2026-03-04", "CreditMemoCurrency": "USD",
        "BillToCustomerNumber": "C100", "EnteredAmount": -123.45, "TransactionBalanceDue": -123.45,
        "CrossReference": "918273645", "ReceiptMethod": CARD_REFUND, "CreditedTransactionNumber": "INV-000101",
        "CreditMemoStatus": "Complete", "CreditMemoComments": None, "InternalNotes": None,
        "TransactionType": "Credit Memo", "TransactionSource": "Manual"}
    # The collection's own paging: limit, offset, hasMore, totalResults.
    page = httpx.get(f"{url}{MEMOS}", auth=(USER, PASSWORD),
                     params={"limit": 1, "offset": 1, "totalResults": "true", "onlyData": "true"}).json()
    assert (page["count"], page["hasMore"], page["totalResults"], page["items"][0]["CustomerTransactionId"]) == \
        (1, True, 4, ids["b"])
    # Numbers are the sandbox's, distinct from every invoice's and from each other's.
    assert len({i["TransactionNumber"] for i in every}) == 4


def test_a_patch_is_visible_on_the_next_read(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    ids = seed_memos(state)
    changes = {"CreditMemoComments": "PayTrace refund 4455 approved", "InternalNotes": "checked by AR",
               "CrossReference": "111222333"}
    with oracle_client(url) as client:
        answered = client.update_credit_memo(ids["b"], changes)
        again = client.get_credit_memo(ids["b"])
        other = client.get_credit_memo(ids["a"])
        cleared = client.update_credit_memo(ids["b"], {"InternalNotes": None})
    assert {k: answered[k] for k in changes} == changes == {k: again[k] for k in changes}
    assert again["EnteredAmount"] == -50 and again["LastUpdatedBy"] == USER
    assert other["CreditMemoComments"] is None and other["CrossReference"] == "918273645"
    assert cleared["InternalNotes"] is None and cleared["CreditMemoComments"] == changes["CreditMemoComments"]
    # The item's ETag changes with each update; a PATCH with a stale one is refused and changes nothing.
    etag = httpx.get(f"{url}{MEMOS}/{ids['b']}", auth=(USER, PASSWORD)).headers["ETag"]
    with oracle_client(url) as client:
        client.update_credit_memo(ids["b"], {"CreditMemoStatus": "Incomplete"}, if_match=etag)
        with pytest.raises(OraclePreconditionFailed):
            client.update_credit_memo(ids["b"], {"CreditMemoComments": "stale"}, if_match=etag)
        assert client.get_credit_memo(ids["b"])["CreditMemoComments"] == changes["CreditMemoComments"]


def test_read_only_and_unknown_attributes_are_refused(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    ids = seed_memos(state)
    with oracle_client(url) as client:
        before = client.get_credit_memo(ids["a"])
        for body in ({"EnteredAmount": -1}, {"BillToCustomerNumber": "C200"}, {"ReceiptMethod": "Check"},
                     {"TransactionNumber": "X-1"}, {"CustomerTransactionId": 1}, {"CreditMemoCurrency": "EUR"},
                     {"CreditMemoComments": "ok", "TransactionDate": "2026-03-09"}):
            with pytest.raises(OracleValidationError) as refused:
                client.update_credit_memo(ids["a"], body)
            assert any("is read-only" in m.detail for m in refused.value.messages), body
        # Comments is the SOAP service's name, not this resource's.
        with pytest.raises(OracleValidationError) as unknown:
            client.update_credit_memo(ids["a"], {"Comments": "PayTrace"})
        assert "isn't valid for the resource receivablesCreditMemos" in unknown.value.messages[0].detail
        for body in ({"CreditMemoComments": "x" * (CREDIT_MEMO_COMMENTS_LENGTH + 1)}, {"CreditMemoStatus": "Open"},
                     {"AllowCompletion": "Yes"}):
            with pytest.raises(OracleValidationError):
                client.update_credit_memo(ids["a"], body)
        assert client.get_credit_memo(ids["a"]) == before
    # No create and no delete through the REST API: credit memos come from seeding.
    for method in ("POST", "DELETE"):
        path = MEMOS if method == "POST" else f"{MEMOS}/{ids['a']}"
        answer = httpx.request(method, f"{url}{path}", auth=(USER, PASSWORD),
                               json={"BillToCustomerNumber": "C100"} if method == "POST" else None)
        assert answer.status_code == 405, method


def test_seeding_refuses_what_oracle_would_and_the_control_api_seeds_too(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    assert CARD_REFUND in DEFAULT_RECEIPT_METHODS
    good = {"account_number": "C500", "amount_minor": 100, "currency": "USD", "receipt_method": CARD_REFUND}
    for bad in ({"receipt_method": "Refund Card"}, {"currency": "XYZ"}, {"amount_minor": 0}, {"amount_minor": -5},
                {"account_number": " "}, {"cross_reference": "9" * 151}):
        with pytest.raises(ApiError):
            add_credit_memo(state, **{**good, **bad})
    assert state.counts()["credit_memos"] == 0
    added = control(url, "seed", {"credit_memos": [{**good, "cross_reference": "42"}, {**good, "amount_minor": 7}]})
    assert added["added"] == {"credit_memos": 2} and added["oracle"]["credit_memos"] == 2
    refused = httpx.post(f"{url}/_sandbox/oracle/seed", json={"credit_memos": [good, {**good, "currency": "XYZ"}]})
    assert refused.status_code == 400 and state.counts()["credit_memos"] == 2  # all or nothing
    assert [(r.customer_account, r.amount_minor, r.original_transaction_id) for r in adapter_refunds(url)] == \
        [("C500", 100, 42), ("C500", 7, None)]


# -- the adapter ------------------------------------------------------------------------------------------------

def test_card_refunds_map_every_field(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    ids = seed_memos(state)
    with oracle_client(url) as client:
        raw = {i["CustomerTransactionId"]: i["EnteredAmount"] for i in client.search_credit_memos(None)}
    assert all(amount < 0 for amount in raw.values())  # Oracle's credit memos carry negative amounts
    expected = [
        ErpRefund("oracle", str(ids["a"]), number_of(state, ids["a"]), "C100", 12_345, "USD", date(2026, 3, 4),
                  918273645, "INV-000101", "", True),
        ErpRefund("oracle", str(ids["b"]), number_of(state, ids["b"]), "C200", 5_000, "USD", date(2026, 3, 5),
                  None, "", "", True),
        ErpRefund("oracle", str(ids["d"]), number_of(state, ids["d"]), "C300", 2_550, "EUR", date(2026, 3, 6),
                  None, "", "", True),
    ]
    assert adapter_refunds(url) == expected
    assert adapter_refunds(url, f"  {CARD_REFUND} ") == expected
    assert not any(r.has_result for r in expected)
    (check,) = adapter_refunds(url, "Check")
    assert (check.key, check.amount_minor, check.original_transaction_id) == (str(ids["c"]), 990, 555)
    assert adapter_refunds(url, "Wire") == [] and adapter_refunds(url, "") == []


def test_rows_without_an_account_or_an_amount_are_left_out(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    ids = seed_memos(state)
    # What a pod's incomplete rows look like: no bill-to account on one, a zero amount on another.
    with state.lock:
        state.store.credit_memos[ids["a"]].fields["BillToCustomerNumber"] = None
        state.store.credit_memos[ids["d"]].amount_minor = 0
    assert [r.key for r in adapter_refunds(url)] == [str(ids["b"])]


def test_the_write_back_is_read_back(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    ids = seed_memos(state)
    with oracle_client(url) as client:
        adapter = OracleAdapter(client, SETTINGS)
        first, second, third = adapter.card_refunds(CARD_REFUND)
        adapter.write_back_refund(first, "PayTrace refund 4455 approved")
        adapter.write_back_refund(first, "PayTrace refund 4455 approved")  # the same PATCH again: the same record
        adapter.write_back_refund(second, "PayTrace " + "x" * 3000)
        after = {r.key: r for r in adapter.card_refunds(CARD_REFUND)}
        assert client.get_credit_memo(ids["a"])["CreditMemoComments"] == "PayTrace refund 4455 approved"
    assert after[first.key].written_back == "PayTrace refund 4455 approved" and after[first.key].has_result
    assert len(after[second.key].written_back) == CREDIT_MEMO_COMMENTS_LENGTH and after[second.key].has_result
    assert after[third.key] == third and not third.has_result
    # Everything else about the refunds is as before.
    assert after[first.key] == ErpRefund(**{**first.__dict__, "written_back": "PayTrace refund 4455 approved"})


def test_a_write_back_that_cannot_be_made(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    ids = seed_memos(state)
    with oracle_client(url) as client:
        adapter = OracleAdapter(client, SETTINGS)
        refund = adapter.card_refunds(CARD_REFUND)[0]
        with pytest.raises(ValueError):
            adapter.write_back_refund(ErpRefund(**{**refund.__dict__, "erp": "sage"}), "PayTrace x")
        with pytest.raises(ValueError):
            adapter.write_back_refund(ErpRefund(**{**refund.__dict__, "key": "12:3"}), "PayTrace x")
        with pytest.raises(RejectedError):  # no such credit memo: Oracle's 404
            adapter.write_back_refund(ErpRefund(**{**refund.__dict__, "key": "1"}), "PayTrace x")
        assert client.get_credit_memo(ids["a"])["CreditMemoComments"] is None


def test_card_on_file_accounts_are_the_invoices_accounts(sandbox: tuple[OracleState, str]) -> None:
    state, url = sandbox
    seed(url, [("INV-000901", "C100", 1_000), ("INV-000902", "C200", 2_000), ("INV-000903", "C300", 3_000),
               ("INV-000904", "C400", 4_000)])  # catalogue invoices: no receipt method

    def invoice(number: str, account: str, method: str, status: str = "Complete") -> dict:
        return {"TransactionNumber": number, "BusinessUnit": "Vision Operations", "TransactionSource": "Manual",
                "TransactionType": "Invoice", "TransactionDate": "2026-03-01", "PaymentTerms": "Immediate",
                "ReceiptMethod": method, "BillToCustomerNumber": account, "InvoiceStatus": status,
                "receivablesInvoiceLines": [{"Description": "Service", "Quantity": 1, "UnitSellingPrice": 42}]}

    with oracle_client(url) as client:
        for body in (invoice("COF-1", "C100", CARD_ON_FILE), invoice("COF-2", "C100", CARD_ON_FILE),
                     invoice("COF-3", "C200", CARD_ON_FILE, "Incomplete"), invoice("ACH-1", "C300", "ACH")):
            client.create_invoice(body)
        paid = client.find_invoice_by_number("COF-1")
        receipt = client.create_receipt({"Amount": "42.00", "BusinessUnit": "Vision Operations",
                                         "CustomerAccountNumber": "C100", "ReceiptNumber": "R-1"})
        (inst,) = client.invoice_installments(paid["CustomerTransactionId"])
        client.apply_receipt(receipt["StandardReceiptId"], inst["InstallmentId"])  # any status: paid ones count
        adapter = OracleAdapter(client, SETTINGS)
        assert adapter.card_on_file_accounts(CARD_ON_FILE) == {"C100", "C200"}
        assert adapter.card_on_file_accounts(f" {CARD_ON_FILE} ") == {"C100", "C200"}
        assert adapter.card_on_file_accounts("ACH") == {"C300"}
        assert adapter.card_on_file_accounts("Wire") == set() and adapter.card_on_file_accounts("") == set()
        # The same search the installments due come from: every account with one due is among them.
        due = adapter.card_on_file_installments(CARD_ON_FILE, date(2026, 3, 31))
    assert {d.customer_account for d in due} <= {"C100", "C200"}
