"""Sage300Client against the Sage 300 sandbox over real HTTP (the composed sandbox, behind its fault
injector): paging whose next link drops the query, every documented error code as its typed error,
cookie sessions and their expiry, Content-Type on every request, 429 with Retry-After, a write whose
answer is lost, and the cash-receipt lifecycle down to the invoice's amount due.

Codes the sandbox cannot produce through a well-behaved client (a missing Content-Type, a stale
session cookie) are produced with a raw request and their real answers go through the client's
mapping function; ``TooManyRequests`` in Sage's own body shape is mapped from the shape of
``../shared/samples/sage/error_*.json``.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from paysync_dagster.lib.http import OutcomeUnknown, RetryPolicy
from paysync_dagster.lib.sage import (
    NewApplication,
    NewReceipt,
    NewRefund,
    Sage300Client,
    SageAuthError,
    SageDuplicate,
    SageNotFound,
    SageOutcomeUnknown,
    SageRateLimited,
    SageRejected,
    SageServerError,
    and_,
    entity_key,
    eq,
    error_for,
    ge,
    ne,
    odata_literal,
    or_,
)
from paysync_dagster.lib.sage.client import CUSTOMERS, POSTED_DOCUMENTS, RECEIPT_BATCHES, dumps
from paysync_dagster.lib.sage.records import (
    parse_customer,
    parse_gl_account,
    parse_posted_document,
    parse_posted_receipt,
    parse_receipt_batch,
)
from paysync_dagster.sandbox.oracle import SeedSpec
from paysync_dagster.sandbox.sage import create_sage_app
from paysync_dagster.sandbox.server import SandboxApp, ServerThread

COMPANY, USER, PASSWORD = "SAMLTD", "PAYSYNC", "PAYSYNC"
SEED = SeedSpec(seed=23, start_date=date(2024, 5, 27), end_date=date(2024, 5, 31), per_day=30)
DAY = date(2024, 6, 3)
BANK = "PAYTRACE"


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that keeps what was sent (method, path, headers) for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()}))
        return super().handle_request(request)


class Running:
    def __init__(self, app: SandboxApp, server: ServerThread):
        self.app, self.server, self.url = app, server, server.url
        self.state = app.sage.state
        self.base_url = f"{server.url}/Sage300WebApi/v1.0/-"
        self.waits: list[float] = []
        self._clients: list[Sage300Client] = []
        self._control = httpx.Client(base_url=server.url, timeout=30, trust_env=False)

    def client(self, username: str = USER, password: str = PASSWORD, **kw: Any) -> Sage300Client:
        kw.setdefault("retry", RetryPolicy(max_attempts=4, base_delay_s=0.001, rng=random.Random(5)))
        c = Sage300Client(self.base_url, COMPANY, username, password, sleep=self.waits.append, **kw)
        self._clients.append(c)
        return c

    def control(self, path: str, body: dict | None = None) -> Any:
        response = self._control.post(f"/_sandbox/sage/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def settings(self, **values: Any) -> Any:
        return self.control("settings", values)

    def faults(self, **config: Any) -> None:
        response = self._control.post("/_sandbox/faults", json=config)
        assert response.status_code == 200, response.text

    def raw(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        """A request that bypasses the client (to make the server produce what a client never would);
        it carries only the cookies given in ``headers``."""
        self._control.cookies.clear()
        return self._control.request(method, f"/Sage300WebApi/v1.0/-/{COMPANY}/{path}", headers=headers or {}, **kw)

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self._control.close()


@pytest.fixture
def start() -> Iterator[Callable[[], Running]]:
    started: list[tuple[ServerThread, Running]] = []

    def make() -> Running:
        app = SandboxApp(sage=create_sage_app(seed=SEED, control_prefix="/_sandbox/sage"))
        server = ServerThread(app).start()
        running = Running(app, server)
        started.append((server, running))
        return running

    try:
        yield make
    finally:
        for server, running in started:
            running.close()
            server.stop()


@pytest.fixture
def sb(start: Callable[[], Running]) -> Running:
    return start()


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def open_documents(sb: Running, customer: str) -> list[dict]:
    return sorted((d for d in sb.state.documents_of(customer) if d["CustomerCurrencyAmountDue"] > 0),
                  key=lambda d: d["DocumentNumber"])


def customer_with(sb: Running, n: int) -> str:
    """A customer with at least ``n`` open invoices."""
    for number in sorted(sb.state.store.customers):
        if len(open_documents(sb, number)) >= n:
            return number
    raise AssertionError(f"no customer with {n} open invoices in the seed")


def minor(value: Decimal) -> int:
    return int(value * 100)


# -- pure helpers: literals, keys, filters, JSON out ----------------------------------------------------------------

def test_literals_keys_and_filters() -> None:
    assert odata_literal("O'Neil") == "'O''Neil'"
    assert odata_literal(65) == "65" and odata_literal(Decimal("12.30")) == "12.30"
    assert odata_literal(True) == "true"
    assert odata_literal(date(2026, 4, 1)) == "2026-04-01T00:00:00Z"
    assert entity_key("1200") == "('1200')"
    assert entity_key(66) == "(66)"
    assert entity_key({"BatchRecordType": "CA", "BatchNumber": 65}) == "(BatchRecordType='CA',BatchNumber=65)"
    assert entity_key({"CustomerNumber": "A B", "DocumentNumber": "IN#1/2"}) == \
        "(CustomerNumber='A%20B',DocumentNumber='IN%231%2F2')"
    f = and_(eq("CustomerNumber", "C1"), or_(eq("FullyPaid", "No"), ge("DocumentDate", date(2024, 5, 1))))
    assert f.render() == "CustomerNumber eq 'C1' and (FullyPaid eq 'No' or DocumentDate ge 2024-05-01T00:00:00Z)"
    assert f.matches({"CustomerNumber": "C1", "FullyPaid": "No", "DocumentDate": "2020-01-01T00:00:00Z"})
    assert f.matches({"CustomerNumber": "C1", "FullyPaid": "Yes", "DocumentDate": "2024-05-02T00:00:00Z"})
    assert not f.matches({"CustomerNumber": "C2", "FullyPaid": "No"})
    assert not f.matches({"CustomerNumber": "C1", "FullyPaid": "Yes", "DocumentDate": "2024-04-30T00:00:00Z"})
    assert eq("FullyPaid", "No").matches({"FullyPaid": False})  # a flag written either way
    assert eq("CustomerCurrencyAmountDue", Decimal("110")).matches({"CustomerCurrencyAmountDue": Decimal("110.000")})
    assert ne("BatchNumber", 5).matches({"BatchNumber": 6})
    assert eq("X", 1).matches({"Y": 2})  # a property the row does not carry cannot be checked
    with pytest.raises(ValueError):
        eq("Customer Number", "x")


def test_links_are_followed_on_the_configured_host_only() -> None:
    with Sage300Client("https://erp.example.com/sage/Sage300WebApi/v1.0/-", COMPANY, USER, PASSWORD) as c:
        assert c.company_root == "/sage/Sage300WebApi/v1.0/-/SAMLTD"
        # a proxy's internal name and path in @odata.nextLink: the path under our company root, our host
        assert c._rebase("http://sage01:8080/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers?$skip=100") == \
            "/sage/Sage300WebApi/v1.0/-/SAMLTD/AR/ARCustomers?$skip=100"
        url, _ = c._follow("/Sage300WebApi/v1.0/-/SAMLTD/AR/ARPostedDocuments?$skip=3", "/x",
                           [("$filter", "CustomerNumber eq 'C1'"), ("$orderby", "DocumentNumber")])
        assert url == ("/sage/Sage300WebApi/v1.0/-/SAMLTD/AR/ARPostedDocuments"
                       "?$skip=3&$filter=CustomerNumber%20eq%20'C1'&$orderby=DocumentNumber")
        url, _ = c._follow("ARPostedDocuments?$skip=3&$filter=A%20eq%201", "/sage/Sage300WebApi/v1.0/-/SAMLTD/AR/x",
                           [("$filter", "CustomerNumber eq 'C1'")])
        assert url == "/sage/Sage300WebApi/v1.0/-/SAMLTD/AR/ARPostedDocuments?$skip=3&$filter=A%20eq%201"


def test_amounts_go_out_as_exact_json_numbers_in_body_order() -> None:
    receipt = NewReceipt("C1", 1230, DAY, "PT-1", applications=(NewApplication("INV-1", 1000),))
    text = dumps(receipt.to_json()).decode()
    assert '"BankReceiptAmount":12.30' in text and '"CustomerReceiptAmount":10.00' in text
    assert '"ReceiptDateAdjustmentDate":"2024-06-03"' in text
    assert list(json.loads(text)) == ["CustomerNumber", "ReceiptDateAdjustmentDate", "CheckReceiptNumber",
                                      "BankReceiptAmount", "CustomerReceiptAmount", "ReceiptTransactionType",
                                      "AppliedReceiptsAdjustments"]
    assert dumps({"a": Decimal("0.1") + Decimal("0.2")}) == b'{"a":0.3}'
    with pytest.raises(ValueError):
        dumps({"a": Decimal("NaN")})


# -- paging ------------------------------------------------------------------------------------------------------------

def test_paged_collection_is_read_to_its_end_although_the_next_link_drops_the_query(sb: Running) -> None:
    sb.settings(page_size=3)
    c = sb.client()
    # not the first customer: the unfiltered set's first rows are someone else's
    customer = max(sorted(sb.state.store.customers)[1:], key=lambda n: (len(sb.state.documents_of(n)), n))
    theirs = sorted(d["DocumentNumber"] for d in sb.state.documents_of(customer))
    assert len(theirs) > 3, "the test needs a customer with more than one page of documents"

    # What the server does: its next link keeps $skip only, and what it points at is the unfiltered set.
    first = c.page(POSTED_DOCUMENTS, [("$filter", eq("CustomerNumber", customer).render()), ("$select", "DocumentNumber")])
    assert len(first.value) == 3 and first.next_link is not None
    assert "$filter" not in first.next_link and "$select" not in first.next_link
    naive = c.page(first.next_link)
    assert any(r["CustomerNumber"] != customer for r in naive.value)

    rows = c.list(POSTED_DOCUMENTS, filter=eq("CustomerNumber", customer),
                  select=["DocumentNumber", "CustomerCurrencyAmountDue"], orderby="DocumentNumber desc")
    assert [r["DocumentNumber"] for r in rows] == sorted(theirs, reverse=True)
    assert all(set(r) == {"DocumentNumber", "CustomerCurrencyAmountDue", "CustomerNumber"} for r in rows)

    everything = c.list(POSTED_DOCUMENTS)
    assert len(everything) == len(sb.state.store.documents) > 100
    assert len({(r["CustomerNumber"], r["DocumentNumber"]) for r in everything}) == len(everything)
    assert len(c.list(POSTED_DOCUMENTS, top=7)) == 7
    assert [r["CustomerNumber"] for r in c.list_customers()] == sorted(sb.state.store.customers)

    # the customer's open invoices, across pages, typed
    open_docs = [parse_posted_document(r) for r in c.open_invoices(customer)]
    assert sorted(d.document_number for d in open_docs) == [d["DocumentNumber"] for d in open_documents(sb, customer)]
    assert all(d.is_open and d.fully_paid is False and (d.amount_due_minor or 0) > 0 for d in open_docs)


# -- every error code its typed error ----------------------------------------------------------------------------------

def test_each_error_code_the_sandbox_produces_maps_to_its_typed_error(sb: Running) -> None:
    c = sb.client()
    customer = customer_with(sb, 1)
    invoice = open_documents(sb, customer)[0]

    def expect(call: Callable[[], Any], cls: type, code: str, status: int) -> None:
        with pytest.raises(cls) as info:
            call()
        assert type(info.value) is cls, type(info.value)
        assert (info.value.code, info.value.http_status) == (code, status)
        assert info.value.sage_message

    expect(lambda: sb.client(password="wrong").list_customers(), SageAuthError, "Unauthorized", 401)
    expect(lambda: sb.client("paysync", PASSWORD).list_customers(), SageAuthError, "Unauthorized", 401)
    expect(lambda: sb.client("ADMIN", "ADMIN").list_customers(), SageAuthError, "Forbidden", 403)
    expect(lambda: c.get_customer("NOSUCH"), SageNotFound, "RecordNotFound", 404)
    assert c.find_customer("NOSUCH") is None
    expect(lambda: c.get("AR/ARNoSuchResource"), SageNotFound, "ResourceNotFound", 404)
    expect(lambda: c.request("DELETE", f"{CUSTOMERS}{entity_key(customer)}"), SageRejected, "MethodNotAllowed", 405)
    expect(lambda: c.list(POSTED_DOCUMENTS, filter="Nonsense eq 'x'"), SageRejected, "InvalidParameters", 400)
    expect(lambda: c.list(POSTED_DOCUMENTS, filter="CustomerNumber eq C10000"), SageRejected, "InvalidParameters", 400)
    expect(lambda: c.get(f"{RECEIPT_BATCHES}(BatchNumber=1)"), SageRejected, "InvalidEntityKey", 400)
    expect(lambda: c.create_customer({"CustomerNumber": "NEW1", "CustomerName": "New",
                                      "CreditLimitCustomerCurrency": "100.00"}), SageRejected, "InvalidPayload", 400)
    expect(lambda: c.create_customer({"CustomerNumber": "NEW1", "Nickname": "x"}), SageRejected, "InvalidPayload", 400)
    expect(lambda: c.create_customer({"CustomerNumber": customer, "CustomerName": "Again"}), SageDuplicate,
           "RecordDuplicate", 409)

    receipt = NewReceipt(customer, 100, DAY, "PT-ERR-1", applications=(NewApplication(invoice["DocumentNumber"], 100),))
    expect(lambda: c.create_receipt_batch(batch_date=DAY, description="errors", bank_code="NOBANK", entries=[receipt]),
           SageRejected, "RecordInvalid", 400)
    too_much = minor(invoice["CustomerCurrencyAmountDue"]) + 100
    greedy = NewReceipt(customer, too_much, DAY, "PT-ERR-2",
                        applications=(NewApplication(invoice["DocumentNumber"], too_much),))
    expect(lambda: c.create_receipt_batch(batch_date=DAY, description="errors", bank_code=BANK, entries=[greedy]),
           SageRejected, "General", 400)
    batch = c.create_receipt_batch(batch_date=DAY, description="errors", bank_code=BANK, entries=[receipt])
    key = c.receipt_batch_key(batch["BatchNumber"])
    expect(lambda: c.patch(RECEIPT_BATCHES, key, {"BatchStatus": "Posted"}), SageRejected, "InvalidAction", 400)
    assert len(c.open_receipt_batches(DAY, "errors")) == 1  # the refused ones left nothing behind

    # 500s: the company database offline; a read is retried, then typed; a write is outcome unknown
    sb.settings(database_offline=True)
    with pytest.raises(SageServerError) as read_info:
        c.list_customers()
    assert (read_info.value.code, read_info.value.http_status, read_info.value.attempts) == ("DBLinkError", 500, 4)
    with pytest.raises(SageOutcomeUnknown) as write_info:
        c.create_receipt_batch(batch_date=DAY, description="offline", bank_code=BANK, entries=[receipt])
    assert (write_info.value.code, write_info.value.http_status) == ("DBLinkError", 500)
    sb.settings(database_offline=False)

    # what a client never sends, made by hand: the server's real answers through the mapping function
    no_type = sb.raw("GET", "AR/ARCustomers", headers={"Authorization": basic()})
    err = error_for(no_type.status_code, no_type.content, content_type=no_type.headers["content-type"])
    assert (type(err), err.code, err.http_status) == (SageServerError, "InternalServerError", 500)

    signed_in = sb.raw("GET", "AR/ARCustomers?$top=1", headers={"Authorization": basic(), "Content-Type": "application/json"})
    cookie = signed_in.headers["set-cookie"].split(";")[0]
    sb.settings(session_error_on_expired=True)
    sb.control("expire_sessions")
    stale = sb.raw("GET", "AR/ARCustomers?$top=1", headers={"Authorization": basic(), "Cookie": cookie,
                                                            "Content-Type": "application/json"})
    err = error_for(stale.status_code, stale.content, content_type=stale.headers["content-type"])
    assert (type(err), err.code, err.http_status) == (SageServerError, "SessionError", 500)

    # 429 on every attempt: rate limited (the sandbox's limiter answers in its own body shape)
    sb.settings(session_error_on_expired=False)
    sb.faults(rate_limit_every=1, rate_limit_burst=50, retry_after_seconds=0)
    c.list_customers(top=1)  # the limiter lets the first request through
    with pytest.raises(SageRateLimited) as limited:
        c.list_customers(top=1)
    assert limited.value.http_status == 429 and limited.value.attempts == 4


def test_codes_the_sandbox_cannot_produce_map_from_their_body_shape() -> None:
    def body(code: str, text: str) -> str:  # the shape of ../shared/samples/sage/error_*.json
        return json.dumps({"error": {"code": code, "message": {"lang": "en-US", "value": text}}}, indent=4)

    for code, status, cls in [("TooManyRequests", 429, SageRateLimited), ("InternalServerError", 500, SageServerError),
                              ("DBLinkError", 500, SageServerError), ("SessionError", 500, SageServerError),
                              ("Unauthorized", 401, SageAuthError), ("Forbidden", 403, SageAuthError),
                              ("RecordNotFound", 404, SageNotFound), ("ResourceNotFound", 404, SageNotFound),
                              ("RecordDuplicate", 409, SageDuplicate), ("InvalidPayload", 400, SageRejected),
                              ("InvalidParameters", 400, SageRejected), ("InvalidEntityKey", 400, SageRejected),
                              ("InvalidAction", 400, SageRejected), ("RecordInvalid", 422, SageRejected),
                              ("General", 400, SageRejected), ("MethodNotAllowed", 405, SageRejected)]:
        err = error_for(status, body(code, f"{code} happened."), content_type="application/json; charset=utf-8")
        assert type(err) is cls and err.code == code and err.sage_message == f"{code} happened.", code


# -- sessions, headers, rate limits ---------------------------------------------------------------------------------

def test_session_cookie_is_reused_and_recovered_after_expiry(sb: Running) -> None:
    rec = Recording()
    c = sb.client(transport=rec)
    customer = customer_with(sb, 1)
    c.get_customer(customer)
    c.get_customer(customer)
    assert "cookie" not in rec.sent[0][2] and "ASP.NET_SessionId=" in rec.sent[1][2]["cookie"]
    assert sb.state.counts()["sessions_started"] == 1

    # expired, and the site answers 500 SessionError to the stale cookie: dropped, sent again with Basic
    sb.settings(session_error_on_expired=True)
    sb.control("expire_sessions")
    assert parse_customer(c.get_customer(customer)).customer_number == customer
    assert c.session_renewals == 1
    assert "cookie" in rec.sent[-2][2] and "cookie" not in rec.sent[-1][2]
    assert sb.state.counts()["sessions_started"] == 2

    # a write too: refused for its session, so sent once more, and stored once
    sb.control("expire_sessions")
    entry = NewReceipt(customer, 500, DAY, "PT-SESSION-1", transaction_type="Prepayment")
    c.create_receipt_batch(batch_date=DAY, description="session", bank_code=BANK, entries=[entry])
    assert c.session_renewals == 2
    assert len(c.open_receipt_batches(DAY, "session")) == 1

    # the site's other habit: an expired cookie with Basic credentials gets a fresh session at once
    sb.settings(session_error_on_expired=False)
    sb.control("expire_sessions")
    c.get_customer(customer)
    assert c.session_renewals == 2 and sb.state.counts()["sessions_started"] == 4

    # a 401 with a cookie is retried once without it, not forever
    sb.state.users[USER] = "changed"
    with pytest.raises(SageAuthError):
        c.get_customer(customer)
    assert c.session_renewals == 3 and "cookie" not in rec.sent[-1][2]


def test_content_type_and_basic_auth_on_every_request(sb: Running) -> None:
    rec = Recording()
    c = sb.client(transport=rec)
    customer = customer_with(sb, 1)
    invoice = open_documents(sb, customer)[0]
    c.list_customers(top=2)
    c.get_customer(customer)
    c.posted_document(customer, invoice["DocumentNumber"])
    batch = c.create_receipt_batch(batch_date=DAY, description="headers", bank_code=BANK,
                                   entries=[NewReceipt(customer, 100, DAY, "PT-H-1", transaction_type="Prepayment")])
    c.set_receipt_batch_ready(batch["BatchNumber"])
    c.post_receipt_batches(batch["BatchNumber"])
    assert {m for m, _, _ in rec.sent} == {"GET", "POST", "PATCH"}
    for method, path, headers in rec.sent:
        assert headers.get("content-type") == "application/json", (method, path)
        assert headers.get("authorization") == basic(), (method, path)
        assert path.startswith("/Sage300WebApi/v1.0/-/SAMLTD/")


def test_429_with_retry_after_is_waited_out_and_retried(sb: Running) -> None:
    customer = customer_with(sb, 1)
    c = sb.client()
    c.get_customer(customer)
    sb.settings(page_size=5)  # several pages, so that reads meet the limiter too
    sb.faults(rate_limit_every=1, rate_limit_burst=1, retry_after_seconds=2)
    assert [r["CustomerNumber"] for r in c.list_customers()] == sorted(sb.state.store.customers)
    created = c.create_receipt_batch(batch_date=DAY, description="limited", bank_code=BANK,
                                     entries=[NewReceipt(customer, 100, DAY, "PT-429-1", transaction_type="Prepayment")])
    assert sb.waits and all(w == 2.0 for w in sb.waits)  # Retry-After, not the (millisecond) backoff
    limited = sb.app.faults.stats()["faults"].get("rate_limit_429", 0)
    assert limited == len(sb.waits) >= 3  # reads and the POST (429: Sage did not act) were each retried
    assert [b["BatchNumber"] for b in c.open_receipt_batches(DAY, "limited")] == [created["BatchNumber"]]


# -- a write whose answer is lost ----------------------------------------------------------------------------------

def test_batch_post_committed_then_dropped_is_outcome_unknown_then_found(sb: Running) -> None:
    c = sb.client()
    customer = customer_with(sb, 1)
    invoice = open_documents(sb, customer)[0]
    due = minor(invoice["CustomerCurrencyAmountDue"])
    receipt = NewReceipt(customer, due, DAY, "PT-LOST-1", applications=(NewApplication(invoice["DocumentNumber"], due),))
    sb.faults(drop_after_commit_rate=1.0, paths=["*/AR/ARReceiptAndAdjustmentBatches*"])
    with pytest.raises(SageOutcomeUnknown) as info:
        c.create_receipt_batch(batch_date=DAY, description="PaySync 2024-06-03", bank_code=BANK, entries=[receipt])
    assert isinstance(info.value, OutcomeUnknown) and info.value.attempts == 1
    assert sb.app.faults.stats()["faults"]["drop_after_commit"] == 1  # sent once, never repeated

    sb.faults()
    (batch,) = [parse_receipt_batch(b) for b in c.open_receipt_batches(DAY, "PaySync 2024-06-03")]
    assert batch.is_open and batch.entry_by_check_number("PT-LOST-1") is not None
    found = c.find_receipt_entry("PT-LOST-1", batch_date=DAY, description="PaySync 2024-06-03")
    assert found is not None and found.batch_number == batch.batch_number and found.posted is None
    assert found.entry is not None and found.entry.amount_minor == due
    assert c.find_receipt_entry("PT-NEVER-SENT", batch_date=DAY, description="PaySync 2024-06-03") is None

    # an entry inserted by PATCH, answer lost: not repeated, and found in its batch afterwards
    other = NewReceipt(customer, 700, DAY, "PT-LOST-2", transaction_type="Prepayment")
    sb.faults(drop_after_commit_rate=1.0, paths=["*/AR/ARReceiptAndAdjustmentBatches*"])
    with pytest.raises(SageOutcomeUnknown):
        c.add_receipt_entry(batch.batch_number, other)
    sb.faults()
    found = c.find_receipt_entry("PT-LOST-2", batch_numbers=[batch.batch_number])
    assert found is not None and found.entry is not None and found.entry.entry_number == 2

    # a 5xx after sending is outcome unknown too (here a gateway's plain-text 502)
    sb.faults(error_rate=1.0, error_statuses=[502], paths=["*/AR/ARReceiptAndAdjustmentBatches"])
    with pytest.raises(SageOutcomeUnknown) as gateway:
        c.create_receipt_batch(batch_date=DAY, description="gateway", bank_code=BANK, entries=[other])
    assert gateway.value.http_status == 502 and gateway.value.code is None


# -- the cash-receipt lifecycle ---------------------------------------------------------------------------------------

def test_receipt_and_prepayment_batch_posted_pays_the_invoice(sb: Running) -> None:
    c = sb.client()
    customer = customer_with(sb, 2)
    paid, partly = open_documents(sb, customer)[:2]
    paid_due, partly_due = minor(paid["CustomerCurrencyAmountDue"]), minor(partly["CustomerCurrencyAmountDue"])
    other = next(n for n in sorted(sb.state.store.customers) if n != customer)

    batch = parse_receipt_batch(c.create_receipt_batch(
        batch_date=DAY, description="PaySync 2024-06-03", bank_code=BANK, entries=[
            NewReceipt(customer, paid_due, DAY, "PT-100", description="card payment", reference="txn 100",
                       applications=(NewApplication(paid["DocumentNumber"], paid_due),),
                       extra={"TransactionID": "100", "Last4": "1111"}),
            NewReceipt(other, 2500, DAY, "PT-101", transaction_type="Prepayment", description="on account")]))
    assert (batch.batch_type, batch.status, batch.number_of_entries, batch.total_minor) == \
        ("CA", "Open", 2, paid_due + 2500)
    receipt, prepayment = batch.entries
    assert (receipt.entry_number, receipt.applied_minor, receipt.unapplied_minor) == (1, paid_due, 0)
    assert receipt.applied[0].line_number == 20 and receipt.applied[0].document_number == paid["DocumentNumber"]
    assert prepayment.transaction_type == "Prepayment" and prepayment.document_number

    # one more entry by PATCH (UpdateOperation Insert): a part payment; Sage numbers it
    after = parse_receipt_batch(c.add_receipt_entry(batch.batch_number, NewReceipt(
        customer, 1000, DAY, "PT-102", applications=(NewApplication(partly["DocumentNumber"], 1000),))))
    assert [e.entry_number for e in after.entries] == [1, 2, 3] and after.total_minor == paid_due + 3500
    assert parse_receipt_batch(c.get_receipt_batch(batch.batch_number)) == after

    ready = parse_receipt_batch(c.set_receipt_batch_ready(batch.batch_number))
    assert ready.status == "ReadyToPost"
    assert c.open_receipt_batches(DAY, "PaySync 2024-06-03") == []
    assert len(c.open_receipt_batches(DAY, "PaySync 2024-06-03", statuses=("Open", "ReadyToPost"))) == 1
    result = c.post_receipt_batches(batch.batch_number)
    assert result["PostingSequenceNumber"] >= 1
    assert parse_receipt_batch(c.get_receipt_batch(batch.batch_number)).status == "Posted"

    settled = parse_posted_document(c.posted_document(customer, paid["DocumentNumber"]))
    assert (settled.amount_due_minor, settled.fully_paid, settled.date_paid) == (0, True, DAY)
    assert not settled.is_open
    part = parse_posted_document(c.posted_document(customer, partly["DocumentNumber"]))
    assert (part.amount_due_minor, part.fully_paid) == (partly_due - 1000, False)
    assert paid["DocumentNumber"] not in [d["DocumentNumber"] for d in c.open_invoices(customer)]
    (by_number,) = c.posted_documents_by_number(paid["DocumentNumber"])
    assert by_number["FullyPaid"] == "Yes"

    (posted,) = [parse_posted_receipt(r) for r in c.posted_receipts("PT-100")]
    assert (posted.customer_number, posted.amount_minor, posted.batch_number, posted.receipt_date) == \
        (customer, paid_due, batch.batch_number, DAY)
    found = c.find_receipt_entry("PT-101", batch_numbers=[batch.batch_number])
    assert found is not None and found.posted is not None and found.batch_status == "Posted"
    credit = parse_posted_document(c.posted_document(other, prepayment.document_number or ""))
    assert (credit.document_type, credit.amount_due_minor) == ("Prepayment", -2500)

    gl = c.create_gl_batch()
    journal = c.get_gl_journal_batch(gl["GLBatchNumber"])
    assert journal["SourceLedger"] == "AR" and journal["JournalHeaders"]

    # the prepayment paid back: a refund batch drawing on it
    refund = c.create_refund_batch(batch_date=DAY, description="refunds", bank_code=BANK, refunds=[
        NewRefund(other, DAY, ((prepayment.document_number or "", 2500),), check_number="PT-101-R")])
    c.set_refund_batch_ready(refund["BatchNumber"])
    c.post_refund_batches(refund["BatchNumber"])
    assert c.get_refund_batch(refund["BatchNumber"])["BatchStatus"] == "Posted"
    assert parse_posted_document(c.posted_document(other, prepayment.document_number or "")).amount_due_minor == 0


def test_customers_gl_accounts_and_orders(sb: Running) -> None:
    c = sb.client()
    created = parse_customer(c.create_customer({"CustomerNumber": "PAYS01", "CustomerName": "PaySync Test Co",
                                                "Email": "ap@example.com", "CreditLimitCustomerCurrency": Decimal("5000")}))
    assert (created.customer_number, created.currency, created.credit_limit_minor, created.is_active) == \
        ("PAYS01", "USD", 500000, True)
    patched = parse_customer(c.patch_customer("PAYS01", {"PhoneNumber": "555-0100", "OnHold": True}))
    assert (patched.phone, patched.on_hold, patched.email) == ("555-0100", True, "ap@example.com")
    assert [r["CustomerNumber"] for r in c.list_customers(filter=eq("CustomerNumber", "PAYS01"))] == ["PAYS01"]

    account = c.find_gl_account("1200-000")
    assert account is not None and parse_gl_account(account).unformatted_account == "1200000"
    assert parse_gl_account(c.get_gl_account("1200000")).account_number == "1200-000"
    assert c.find_gl_account("9999-999") is None
    assert all(parse_gl_account(a).is_active for a in c.gl_accounts())

    order = c.create_order({"CustomerNumber": "PAYS01", "OrderDate": DAY, "PurchaseOrderNumber": "PO-77",
                            "InvoiceWillBeProduced": True, "OrderDetails": [
                                {"LineType": "Miscellaneous", "MiscellaneousChargesCode": "FRT",
                                 "ExtendedAmount": Decimal("42.50")}]})
    assert order["LastInvoiceNumber"]
    assert c.get_order(order["OrderUniquifier"])["OrderNumber"] == order["OrderNumber"]
    assert [o["OrderNumber"] for o in c.find_orders(order["OrderNumber"])] == [order["OrderNumber"]]
    (invoice,) = [parse_posted_document(r) for r in c.posted_documents_by_order(order["OrderNumber"])]
    assert (invoice.customer_number, invoice.amount_due_minor, invoice.po_number) == ("PAYS01", 4250, "PO-77")


def test_resource_builds_a_working_client(sb: Running) -> None:
    import dagster as dg

    from paysync_dagster.defs.sage import resources

    assert not [v for v in vars(resources).values() if isinstance(v, (dg.AssetsDefinition, dg.Definitions))]
    resource = resources.Sage300Resource(base_url=sb.base_url, company=COMPANY, username=USER, password=PASSWORD,
                                         base_delay_s=0.001, max_delay_s=0.01)
    with resource.client() as c:
        assert c.company_root == "/Sage300WebApi/v1.0/-/SAMLTD"
        assert len(c.list_customers()) == len(sb.state.store.customers)


def test_official_invoice_batch_sample_is_accepted_posted_and_read_back(sb: Running) -> None:
    from pathlib import Path

    from paysync_dagster.lib.sage.records import parse_invoice_batch

    sample = Path(__file__).resolve().parents[3].parent / "shared" / "samples" / "sage" / "post_ar_invoice_batch.json"
    c = sb.client()
    c.create_customer({"CustomerNumber": "1400", "CustomerName": "Sample customer 1400"})
    created = parse_invoice_batch(c.create_invoice_batch(json.loads(sample.read_text(), parse_float=Decimal)))
    assert created.batch_number is not None and created.status == "Open" and len(created.invoices) == 4
    c.set_invoice_batch_ready(created.batch_number)
    c.post_invoice_batches(created.batch_number)
    assert parse_invoice_batch(c.get_invoice_batch(created.batch_number)).status == "Posted"
    numbers = {i.document_number for i in created.invoices}
    docs = {d.document_number: d for d in map(parse_posted_document, c.posted_documents(eq("CustomerNumber", "1400")))}
    assert numbers <= set(docs)
