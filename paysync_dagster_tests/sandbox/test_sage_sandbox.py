"""The Sage 300 Web API sandbox over real HTTP, inside the composed sandbox (uvicorn on a free
127.0.0.1 port): OData envelope and paging, filters, errors, auth and sessions, the receipt batch
lifecycle and posting, prepayments applied later, refunds, invoice batches, OE orders, GL, faults,
seeding and the control API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from paysync_dagster.lib.mapping import check_gl_accounts, gl_account_for, load_mapping
from paysync_dagster.sandbox.paytrace.generator import ID, REFERENCE, customer_catalogue, generate, open_invoices
from paysync_dagster.sandbox.paytrace.state import HistorySpec
from paysync_dagster.sandbox.server import ServerThread, build_app

USER = PASSWORD = "PAYSYNC"
ROOT = "/Sage300WebApi/v1.0/-/SAMLTD"
JSON_HEADERS = {"Content-Type": "application/json"}
TZ = "America/Los_Angeles"
HISTORY = HistorySpec(seed=11, start_date=date(2026, 3, 4), end_date=date(2026, 3, 8), per_day=20)
TODAY = "2026-03-10"
RECEIPTS = "/AR/ARReceiptAndAdjustmentBatches"


def _json(r: httpx.Response) -> Any:
    return json.loads(r.text, parse_float=Decimal)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # the shortest repr of a 2-place Decimal's float is that decimal: sent as a JSON number
    raise TypeError(f"cannot send {value!r}")


class Sage:
    """A client of the composed sandbox: the Web API under ROOT, the control APIs beside it."""

    def __init__(self, url: str):
        self.url = url
        self.base = url + ROOT
        self.http = httpx.Client(base_url=self.base, auth=(USER, PASSWORD), headers=JSON_HEADERS, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params or None)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, content=json.dumps(body, default=_number))

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.http.patch(path, content=json.dumps(body, default=_number))

    def ok(self, r: httpx.Response, status: int = 200) -> Any:
        assert r.status_code == status, r.text
        return _json(r)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, self.url + path, json=body, timeout=30)
        assert r.status_code == 200, r.text
        return _json(r)

    def open_docs(self, customer: str) -> list[dict]:
        page = self.ok(self.get("/AR/ARPostedDocuments", **{
            "$filter": f"CustomerNumber eq '{customer}' and FullyPaid eq 'No'", "$orderby": "DocumentNumber"}))
        return page["value"]

    def doc(self, customer: str, number: str) -> dict:
        return self.ok(self.get(f"/AR/ARPostedDocuments(CustomerNumber='{customer}',DocumentNumber='{number}')"))

    def receipt_batch(self, entries: list[dict], **fields: Any) -> dict:
        return self.ok(self.post(RECEIPTS, {"BatchRecordType": "CA", "BatchDate": TODAY, **fields,
                                            "ReceiptsAdjustments": entries}), 201)

    def post_receipts(self, number: int) -> dict:
        return self.ok(self.post("/AR/ARPostReceiptsAndAdjustments('$process')", {
            "BatchType": "CA", "PostAllBatches": "Donotpostallbatches", "PostBatchFrom": number, "PostBatchTo": number}))


def error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, r.text
    assert body["error"]["message"]["lang"] == "en-US"
    return body["error"]["message"]["value"]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(build_app(history=HISTORY, tz_name=TZ)) as running:
        yield running


@pytest.fixture
def sage(server: ServerThread) -> Iterator[Sage]:
    client = Sage(server.url)
    client.control("POST", "/_sandbox/reset")
    client.control("POST", "/_sandbox/sage/clock", {"today": TODAY})
    try:
        yield client
    finally:
        client.http.close()


def customer_with_open_invoices(sage: Sage, n: int = 2) -> tuple[str, list[dict]]:
    for c in customer_catalogue(HISTORY.seed, HISTORY.per_day, HISTORY.start_date.year):
        docs = sage.open_docs(c["account"])
        if len(docs) >= n:
            return c["account"], docs
    raise AssertionError("no customer has enough open invoices")


# -- OData: envelope, paging, filters ------------------------------------------------------------------

def test_envelope_and_paging_to_the_end_with_a_next_link_that_drops_the_query(sage: Sage) -> None:
    sage.control("POST", "/_sandbox/sage/settings", {"page_size": 7})
    everything = sage.control("GET", "/_sandbox/sage/state")["documents"]
    customer, _ = customer_with_open_invoices(sage, 2)
    wanted = {d["DocumentNumber"] for d in everything if d["CustomerNumber"] == customer}
    first = sage.ok(sage.get("/AR/ARPostedDocuments", **{
        "$filter": f"CustomerNumber eq '{customer}'", "$select": "CustomerNumber,DocumentNumber,BatchNumber",
        "$count": "true"}))
    assert first["@odata.context"] == (f"{sage.base}/AR/$metadata#ARPostedDocuments"
                                       "(CustomerNumber,DocumentNumber,BatchNumber)")
    assert first["@odata.count"] == len(wanted)
    assert all(set(row) == {"CustomerNumber", "DocumentNumber", "BatchNumber"} for row in first["value"])
    if len(wanted) <= 7:  # a filter this narrow fits one page: no link
        assert "@odata.nextLink" not in first
    everything_page = sage.ok(sage.get("/AR/ARPostedDocuments", **{
        "$filter": "CustomerCurrencyAmountDue gt 0", "$select": "CustomerNumber,DocumentNumber,CustomerCurrencyAmountDue"}))
    assert len(everything_page["value"]) == 7 and all(len(row) == 3 for row in everything_page["value"])
    assert everything_page["@odata.nextLink"] == f"{sage.base}/AR/ARPostedDocuments?$skip=7"

    # Follow the links to the end: pages after the first have neither the filter nor the select, so
    # the client re-checks its condition on every row (and meets some rows twice).
    seen: dict[tuple[str, str], dict] = {}
    page, fetched = everything_page, 0
    while True:
        fetched += len(page["value"])
        for row in page["value"]:
            if row["CustomerCurrencyAmountDue"] > 0:
                seen[(row["CustomerNumber"], row["DocumentNumber"])] = row
        link = page.get("@odata.nextLink")
        if not link:
            break
        assert "$filter" not in link and "$select" not in link
        page = sage.ok(sage.http.get(link))
        assert "FullyPaid" in page["value"][0]  # whole rows again: the $select is gone
    assert fetched == len(everything)  # the first page, then the unfiltered set from $skip=7
    assert len(seen) == len([d for d in everything if Decimal(str(d["CustomerCurrencyAmountDue"])) > 0])

    top = sage.ok(sage.get("/AR/ARPostedDocuments", **{"$top": "3", "$skip": "2", "$orderby": "DocumentNumber desc"}))
    numbers = sorted((d["DocumentNumber"] for d in everything), reverse=True)
    assert [r["DocumentNumber"] for r in top["value"]] == numbers[2:5] and "@odata.nextLink" not in top
    entry = sage.ok(sage.get(f"/AR/ARCustomers('{customer}')", **{"$select": "CustomerNumber,Email"}))
    assert set(entry) == {"CustomerNumber", "Email"}  # an entry is the object itself


def test_filters(sage: Sage) -> None:
    docs = sage.control("GET", "/_sandbox/sage/state")["documents"]

    def numbers(text: str, resource: str = "/AR/ARPostedDocuments") -> set[str]:
        sage.control("POST", "/_sandbox/sage/settings", {"page_size": 1000})
        page = sage.ok(sage.get(resource, **{"$filter": text}))
        assert "@odata.nextLink" not in page
        return {r.get("DocumentNumber") or r.get("CustomerNumber") for r in page["value"]}

    def expect(predicate: Any) -> set[str]:
        return {d["DocumentNumber"] for d in docs if predicate(d)}

    one = docs[5]
    assert numbers(f"DocumentNumber eq '{one['DocumentNumber']}'") == {one["DocumentNumber"]}
    assert numbers("CustomerCurrencyAmountDue gt 100.5m and CustomerCurrencyAmountDue le 1000") == \
        expect(lambda d: 100.5 < d["CustomerCurrencyAmountDue"] <= 1000)
    assert numbers("CustomerCurrencyAmountDue lt 20 or CustomerCurrencyAmountDue ge 2000") == \
        expect(lambda d: d["CustomerCurrencyAmountDue"] < 20 or d["CustomerCurrencyAmountDue"] >= 2000)
    assert numbers("FullyPaid eq '0' and DocumentType eq '1'") == numbers("FullyPaid eq 'No' and DocumentType eq 'Invoice'") \
        == expect(lambda d: True)
    assert numbers("not (CustomerNumber ne 'C10001')") == expect(lambda d: d["CustomerNumber"] == "C10001")
    assert numbers("startswith(DocumentNumber,'INV-0088')") == expect(lambda d: d["DocumentNumber"].startswith("INV-0088"))
    state_docs = {d["DocumentNumber"]: d for d in sage.ok(sage.get("/AR/ARPostedDocuments", **{"$top": "1000"}))["value"]}
    assert numbers("DocumentDate ge 2026-02-01") == {n for n, d in state_docs.items() if d["DocumentDate"] >= "2026-02-01"}
    assert numbers("DocumentDate lt datetime'2026-02-01T00:00'") == \
        {n for n, d in state_docs.items() if d["DocumentDate"] < "2026-02-01"}
    assert numbers("DatePaid eq null") == set(state_docs)
    po = next(d for d in docs if d["PONumber"])
    assert one["DocumentNumber"] in numbers(f"PONumber eq '' or DocumentNumber eq '{one['DocumentNumber']}'")
    assert numbers(f"PONumber eq '{po['PONumber']}'") == expect(lambda d: d["PONumber"] == po["PONumber"])

    sage.ok(sage.post("/AR/ARCustomers", {"CustomerNumber": "OB1", "CustomerName": "O'Brien Tools"}), 201)
    assert numbers("CustomerName eq 'O''Brien Tools'", "/AR/ARCustomers") == {"OB1"}
    assert numbers("substringof('Brien',CustomerName) and length(CustomerName) eq 13", "/AR/ARCustomers") == {"OB1"}

    # Errors: an unknown property (or an unquoted string, read as one), incompatible types, bad options.
    msg = error(sage.get("/AR/ARPostedDocuments", **{"$filter": "L010746552 eq 'x'"}), 400, "InvalidParameters")
    assert msg == ("Could not find a property named 'L010746552' on type "
                   "'Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.PostedDocument'.")
    assert "'C10003'" in error(sage.get("/AR/ARPostedDocuments", **{"$filter": "CustomerNumber eq C10003"}), 400,
                               "InvalidParameters")
    assert "incompatible" in error(sage.get("/AR/ARPostedDocuments", **{"$filter": "CustomerCurrencyAmountDue eq '1'"}),
                                   400, "InvalidParameters")
    error(sage.get("/AR/ARPostedDocuments", **{"$filter": "DocumentType eq 'Bogus'"}), 400, "InvalidParameters")
    error(sage.get("/AR/ARPostedDocuments", **{"$filter": "CustomerNumber eq"}), 400, "InvalidParameters")
    error(sage.get("/AR/ARPostedDocuments", **{"$top": "-1"}), 400, "InvalidParameters")
    error(sage.get("/AR/ARPostedDocuments", **{"$search": "x"}), 400, "InvalidParameters")
    assert "'Nope'" in error(sage.get("/AR/ARCustomers", **{"$select": "CustomerNumber,Nope"}), 400, "InvalidParameters")
    error(sage.get("/AR/ARCustomers", **{"$orderby": "Nope desc"}), 400, "InvalidParameters")


# -- errors, auth, sessions ---------------------------------------------------------------------------

def test_error_codes_and_statuses(sage: Sage) -> None:
    r = sage.http.get(sage.url + "/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers")
    assert "SAMINC" in error(r, 404, "ResourceNotFound")
    error(sage.http.get(sage.url + "/Sage300WebApi/v2.0/-/SAMLTD/AR/ARCustomers"), 404, "ResourceNotFound")
    error(sage.get("/AR/ARNoSuchThing"), 404, "ResourceNotFound")
    error(sage.get("/XX/ARCustomers"), 404, "ResourceNotFound")
    assert error(sage.get("/AR/ARCustomers('NOPE')"), 404, "RecordNotFound") == \
        "A Record cannot be found for the specified entity key"  # Sage's own text (sample)
    error(sage.get(RECEIPTS + "(65)"), 400, "InvalidEntityKey")  # a composite key needs every segment
    error(sage.get("/AR/ARInvoiceBatches('x')"), 400, "InvalidEntityKey")
    error(sage.get("/AR/ARCustomers(Nope='1')"), 400, "InvalidEntityKey")
    error(sage.http.delete("/AR/ARCustomers('C10000')"), 405, "MethodNotAllowed")
    error(sage.http.put("/AR/ARCustomers('C10000')", content="{}"), 405, "MethodNotAllowed")
    error(sage.patch("/AR/ARPostedDocuments(CustomerNumber='C10000',DocumentNumber='X')", {}), 405, "MethodNotAllowed")
    error(sage.get("/AR/ARPostInvoices"), 405, "MethodNotAllowed")
    error(sage.patch("/OE/OEOrders(1)", {}), 405, "MethodNotAllowed")

    # Strict payloads.
    entry = {"CustomerNumber": "C10000", "CustomerReceiptAmount": 10}
    body = {"BatchRecordType": "CA", "ReceiptsAdjustments": [entry]}
    assert "Edm.Decimal" in error(sage.post(RECEIPTS, {**body, "ReceiptsAdjustments": [
        {**entry, "CustomerReceiptAmount": "10.00"}]}), 400, "InvalidPayload")
    assert "Edm.String" in error(sage.post(RECEIPTS, {**body, "ReceiptsAdjustments": [
        {**entry, "CheckReceiptNumber": 12345}]}), 400, "InvalidPayload")
    assert "'Amount'" in error(sage.post(RECEIPTS, {**body, "ReceiptsAdjustments": [{**entry, "Amount": 10}]}), 400,
                               "InvalidPayload")
    error(sage.http.post(RECEIPTS, content=b"{not json"), 400, "InvalidPayload")
    error(sage.post(RECEIPTS, {**body, "BatchDate": "someday"}), 400, "InvalidPayload")
    error(sage.post(RECEIPTS, {**body, "BatchStatus": "Whenever"}), 400, "InvalidPayload")

    # The business layer.
    error(sage.post("/AR/ARCustomers", {"CustomerNumber": "C10000", "CustomerName": "Again"}), 409, "RecordDuplicate")
    assert "C99999" in error(sage.post(RECEIPTS, {**body, "ReceiptsAdjustments": [{**entry, "CustomerNumber": "C99999"}]}),
                             400, "RecordInvalid")
    error(sage.post(RECEIPTS, {**body, "BankCode": "NOBANK"}), 400, "RecordInvalid")
    error(sage.post(RECEIPTS, {**body, "ReceiptsAdjustments": [{**entry, "CustomerReceiptAmount": 10.005}]}), 400,
          "RecordInvalid")
    error(sage.post(RECEIPTS, {**body, "BatchRecordType": "AD"}), 400, "RecordInvalid")
    error(sage.post(RECEIPTS, {"ReceiptsAdjustments": [entry]}), 400, "RecordInvalid")
    error(sage.post("/AR/ARCustomers", {"CustomerNumber": "THIRTEEN-CHAR", "CustomerName": "x"}), 400, "RecordInvalid")
    error(sage.post(RECEIPTS, {**body, "BatchStatus": "Posted"}), 400, "InvalidAction")
    customer, docs = customer_with_open_invoices(sage, 1)
    over = docs[0]["CustomerCurrencyAmountDue"] + 1
    assert "exceeds its balance" in error(sage.post(RECEIPTS, {**body, "ReceiptsAdjustments": [{
        "CustomerNumber": customer, "CustomerReceiptAmount": over, "AppliedReceiptsAdjustments": [
            {"DocumentNumber": docs[0]["DocumentNumber"], "CustomerReceiptAmount": over}]}]}), 400, "General")

    # Content-Type is required on every request, GET included.
    assert error(httpx.get(sage.base + "/AR/ARCustomers", auth=(USER, PASSWORD)), 500, "InternalServerError")
    error(httpx.post(sage.base + RECEIPTS, content=json.dumps(body), auth=(USER, PASSWORD),
                     headers={"Content-Type": "text/plain"}), 500, "InternalServerError")

    sage.control("POST", "/_sandbox/sage/settings", {"database_offline": True})
    error(sage.get("/AR/ARCustomers"), 500, "DBLinkError")
    sage.control("POST", "/_sandbox/sage/settings", {"database_offline": False})
    assert sage.get("/AR/ARCustomers").status_code == 200


def test_basic_auth_users_and_cookie_sessions(sage: Sage) -> None:
    url = sage.base + "/AR/ARCustomers('C10000')"
    r = httpx.get(url, headers=JSON_HEADERS)
    error(r, 401, "Unauthorized")
    assert r.headers["www-authenticate"].startswith("Basic")
    error(httpx.get(url, headers=JSON_HEADERS, auth=(USER, "wrong")), 401, "Unauthorized")
    error(httpx.get(url, headers=JSON_HEADERS, auth=("paysync", PASSWORD)), 401, "Unauthorized")  # names are upper case
    error(httpx.get(url, headers=JSON_HEADERS, auth=("ADMIN", "WRONG")), 401, "Unauthorized")
    assert "AllowWebApiAccessForAdmin" in error(httpx.get(url, headers=JSON_HEADERS, auth=("ADMIN", "ADMIN")), 403,
                                                "Forbidden")
    sage.control("POST", "/_sandbox/sage/settings", {"allow_admin": True})
    assert httpx.get(url, headers=JSON_HEADERS, auth=("ADMIN", "ADMIN")).status_code == 200

    # Basic once, then the cookie alone; expired by the control API, the cookie alone is refused and a
    # fresh Basic request recovers with a new session.
    with httpx.Client(headers=JSON_HEADERS, timeout=30) as http:
        first = http.get(url, auth=(USER, PASSWORD))
        assert first.status_code == 200 and first.headers["set-cookie"].startswith("ASP.NET_SessionId=")
        old = http.cookies["ASP.NET_SessionId"]
        again = http.get(url)
        assert again.status_code == 200 and "set-cookie" not in again.headers
        assert sage.control("POST", "/_sandbox/sage/expire_sessions")["expired"] >= 1
        assert "expired" in error(http.get(url), 401, "Unauthorized")
        recovered = http.get(url, auth=(USER, PASSWORD))
        assert recovered.status_code == 200 and http.cookies["ASP.NET_SessionId"] != old
        assert http.get(url).status_code == 200

        # A site that answers a stale cookie with SessionError: the client must drop the cookie.
        sage.control("POST", "/_sandbox/sage/settings", {"session_error_on_expired": True})
        sage.control("POST", "/_sandbox/sage/expire_sessions")
        error(http.get(url, auth=(USER, PASSWORD)), 500, "SessionError")
        http.cookies.clear()
        assert http.get(url, auth=(USER, PASSWORD)).status_code == 200
    assert sage.control("GET", "/_sandbox/sage/state")["sessions"]["live"] >= 1

    # The fault injector's token expiry ends Sage sessions too.
    sage.control("POST", "/_sandbox/sage/settings", {"session_error_on_expired": False})
    sage.control("POST", "/_sandbox/faults", {"expire_tokens_after_requests": 2})
    with httpx.Client(headers=JSON_HEADERS, timeout=30) as http:
        assert http.get(url, auth=(USER, PASSWORD)).status_code == 200  # request 1
        assert http.get(url).status_code == 401  # request 2 expires the session first
    assert sage.control("GET", "/_sandbox/stats")["faults"]["expire_tokens"] == 1


# -- the receipt batch lifecycle -------------------------------------------------------------------------

def test_receipt_batch_lifecycle_post_and_posted_documents(sage: Sage) -> None:
    customer, docs = customer_with_open_invoices(sage, 2)
    first, second = docs[0], docs[1]
    part = (second["CustomerCurrencyAmountDue"] / 2).quantize(Decimal("0.01"))
    balance_before = sage.ok(sage.get(f"/AR/ARCustomers('{customer}')"))["BalanceDueInCustomerCurrency"]
    paid = first["CustomerCurrencyAmountDue"] + part
    batch = sage.receipt_batch([
        {"BatchType": "CA", "BatchNumber": 146, "EntryNumber": 7, "CustomerNumber": customer,
         "ReceiptDateAdjustmentDate": TODAY, "CheckReceiptNumber": "PT-300000001", "EntryReference": "PT-300000001",
         "TransactionID": "300000001", "Last4": "1111", "PaymentCode": "VISA", "BankReceiptAmount": paid,
         "CustomerReceiptAmount": paid, "ReceiptTransactionType": "Receipt", "AppliedReceiptsAdjustments": [
             {"LineNumber": 99, "DocumentNumber": first["DocumentNumber"], "PaymentNumber": 1,
              "CustomerReceiptAmount": first["CustomerCurrencyAmountDue"]},
             {"DocumentNumber": second["DocumentNumber"], "CustomerReceiptAmount": part}]},
        {"CustomerNumber": customer, "ReceiptDateAdjustmentDate": TODAY, "CheckReceiptNumber": "PT-300000002",
         "BankReceiptAmount": 22, "CustomerReceiptAmount": 22, "TotalCustomerAmountApplied": 22,
         "ReceiptTransactionType": "Prepayment", "CustomerUnappliedAmount": 0,
         "AppliedReceiptsAdjustments": [{"LineNumber": 20, "CustomerNumber": customer, "PaymentNumber": 1,
                                         "CustomerReceiptAmount": 22}]},
    ], BatchNumber=146, Description="PayTrace batch 2026-03-10")
    number = batch["BatchNumber"]
    assert number == 1 and batch["BatchStatus"] == "Open"  # the server's number, not the one sent
    receipt, prepayment = batch["ReceiptsAdjustments"]
    assert [receipt["EntryNumber"], prepayment["EntryNumber"]] == [1, 2]
    assert [line["LineNumber"] for line in receipt["AppliedReceiptsAdjustments"]] == [20, 40]
    assert receipt["DocumentNumber"] == "PY000001" and prepayment["DocumentNumber"] == "PY000002"
    assert receipt["TotalCustomerAmountApplied"] == paid and receipt["CustomerUnappliedAmount"] == 0
    assert batch["BatchTotal"] == paid + 22 and batch["NumberOfEntries"] == 2 and batch["BankCode"] == "PAYTRACE"
    r = sage.get(f"{RECEIPTS}(BatchRecordType='CA',BatchNumber={number})")
    assert f'"BatchTotal":{paid + 22:.3f}' in r.text  # amounts carry three places on the wire
    assert r.json()["ReceiptsAdjustments"][0]["ReceiptDateAdjustmentDate"] == f"{TODAY}T00:00:00Z"

    # Unposted: reachable only through the batch; nothing has moved yet.
    nested = sage.ok(sage.get(f"{RECEIPTS}(BatchRecordType='CA',BatchNumber={number})/ReceiptsAdjustments",
                              **{"$filter": "CheckReceiptNumber eq 'PT-300000001'"}))
    assert [e["EntryNumber"] for e in nested["value"]] == [1]
    assert sage.ok(sage.get("/AR/ARPostedReceipts", **{"$filter": f"CustomerNumber eq '{customer}'"}))["value"] == []
    assert sage.doc(customer, first["DocumentNumber"])["CustomerCurrencyAmountDue"] == first["CustomerCurrencyAmountDue"]

    # A second batch cannot spend what the first one holds.
    rest = second["CustomerCurrencyAmountDue"] - part
    error(sage.post(RECEIPTS, {"BatchRecordType": "CA", "ReceiptsAdjustments": [{
        "CustomerNumber": customer, "CustomerReceiptAmount": rest + 1, "AppliedReceiptsAdjustments": [
            {"DocumentNumber": second["DocumentNumber"], "CustomerReceiptAmount": rest + 1}]}]}), 400, "General")

    # Posting passes over an Open batch; ReadyToPost, then $process.
    assert sage.post_receipts(number)["PostingSequenceNumber"] == 0
    ready = sage.ok(sage.patch(f"{RECEIPTS}(BatchRecordType='CA',BatchNumber={number})",
                               {"BatchNumber": number, "BatchStatus": "ReadyToPost"}))
    assert ready["BatchStatus"] == "ReadyToPost"
    result = sage.post_receipts(number)
    assert result["PostingSequenceNumber"] == 1 and result["PostBatchFrom"] == number
    posted = sage.ok(sage.get(f"{RECEIPTS}('CA',{number})"))
    assert posted["BatchStatus"] == "Posted" and posted["PostingSequenceNumber"] == 1
    assert sage.post_receipts(number)["PostingSequenceNumber"] == 0  # posted once only

    paid_doc = sage.doc(customer, first["DocumentNumber"])
    assert paid_doc["CustomerCurrencyAmountDue"] == 0 and paid_doc["FullyPaid"] == "Yes"
    assert paid_doc["DatePaid"] == f"{TODAY}T00:00:00Z"
    half = sage.doc(customer, second["DocumentNumber"])
    assert half["CustomerCurrencyAmountDue"] == rest and half["FullyPaid"] == "No" and half["DatePaid"] is None
    pp = sage.doc(customer, "PY000002")
    assert pp["DocumentType"] == "Prepayment" and pp["CustomerCurrencyAmountDue"] == -22 and pp["FullyPaid"] == "No"
    receipts = sage.ok(sage.get("/AR/ARPostedReceipts", **{"$filter": f"CustomerNumber eq '{customer}'",
                                                           "$orderby": "EntryNumber"}))["value"]
    assert [(r["CheckReceiptNumber"], r["ReceiptTransactionType"], r["CustomerReceiptAmount"]) for r in receipts] == \
        [("PT-300000001", "Receipt", paid), ("PT-300000002", "Prepayment", 22)]
    key = f"BankCode='PAYTRACE',CustomerNumber='{customer}',CheckReceiptNumber='PT-300000001',BatchNumber={number}," \
          f"EntryNumber=1,DocumentNumber='PY000001'"
    assert sage.ok(sage.get(f"/AR/ARPostedReceipts({key})"))["TransactionID"] == "300000001"
    customer_row = sage.ok(sage.get(f"/AR/ARCustomers(CustomerNumber='{customer}')"))
    assert customer_row["BalanceDueInCustomerCurrency"] == balance_before - paid - 22
    assert customer_row["DateOfLastReceipt"] == f"{TODAY}T00:00:00Z"
    error(sage.patch(f"{RECEIPTS}(BatchRecordType='CA',BatchNumber={number})", {"Description": "late"}), 400,
          "InvalidAction")

    # The GL: bank (the mapping's clearing account) against AR control, balanced, sent once.
    gl = sage.ok(sage.post("/AR/ARCreateGLBatch('$process')", {
        "ProcessReceiptBatch": "PostCashbatches", "ReceiptThroughPostingSequenceNumber": 999999}))
    assert gl["GLBatchNumber"] == "000001"
    journal = sage.ok(sage.get("/GL/GLJournalBatches('000001')"))
    assert journal["SourceLedger"] == "AR" and journal["NumberOfEntries"] == 2
    assert journal["Debits"] == journal["Credits"] == paid + 22
    clearing = gl_account_for(load_mapping(), "sage", load_mapping().gl_accounts.default)
    lines = journal["JournalHeaders"][0]["JournalDetails"]
    assert (lines[0]["AccountNumber"], lines[0]["Amount"]) == (clearing, paid)
    assert (lines[-1]["AccountNumber"], lines[-1]["Amount"]) == ("1200-000", -paid)
    assert [l["TransactionNumber"] for l in lines] == ["0000000020", "0000000040"]
    again = sage.ok(sage.post("/AR/ARCreateGLBatch('$process')", {"ProcessReceiptBatch": "PostCashbatches"}))
    assert again["GLBatchNumber"] == ""


def test_patch_detail_rows_with_update_operation(sage: Sage) -> None:
    customer, docs = customer_with_open_invoices(sage, 2)
    a, b = docs[0], docs[1]
    batch = sage.receipt_batch([{"CustomerNumber": customer, "CustomerReceiptAmount": 5, "AppliedReceiptsAdjustments": [
        {"DocumentNumber": a["DocumentNumber"], "CustomerReceiptAmount": 3},
        {"DocumentNumber": b["DocumentNumber"], "CustomerReceiptAmount": 2}]}])
    path = f"{RECEIPTS}(BatchRecordType='CA',BatchNumber={batch['BatchNumber']})"
    changed = sage.ok(sage.patch(path, {"Description": "edited", "ReceiptsAdjustments": [
        {"UpdateOperation": "Update", "EntryNumber": 1, "CustomerReceiptAmount": 7, "AppliedReceiptsAdjustments": [
            {"UpdateOperation": "Delete", "LineNumber": 40},
            {"UpdateOperation": "Update", "LineNumber": 20, "CustomerReceiptAmount": 4},
            {"UpdateOperation": "Insert", "LineNumber": 20, "DocumentNumber": b["DocumentNumber"],
             "CustomerReceiptAmount": 1}]},
        {"UpdateOperation": "Insert", "EntryNumber": 1, "CustomerNumber": customer, "CustomerReceiptAmount": 9,
         "ReceiptTransactionType": "UnappliedCash"}]}))
    assert changed["Description"] == "edited" and changed["BatchTotal"] == 16
    one, two = changed["ReceiptsAdjustments"]
    assert two["EntryNumber"] == 2 and two["ReceiptTransactionType"] == "UnappliedCash"  # the server's number
    assert [(l["LineNumber"], l["CustomerReceiptAmount"]) for l in one["AppliedReceiptsAdjustments"]] == [(20, 4), (60, 1)]
    assert one["CustomerUnappliedAmount"] == 2  # 7 received, 5 applied
    error(sage.patch(path, {"ReceiptsAdjustments": [{"UpdateOperation": "Delete", "EntryNumber": 9}]}), 404,
          "RecordNotFound")
    after_delete = sage.ok(sage.patch(path, {"ReceiptsAdjustments": [{"UpdateOperation": "Delete", "EntryNumber": 2}]}))
    assert [e["EntryNumber"] for e in after_delete["ReceiptsAdjustments"]] == [1]
    inserted = sage.ok(sage.patch(path, {"ReceiptsAdjustments": [{"CustomerNumber": customer, "CustomerReceiptAmount": 1,
                                                                  "ReceiptTransactionType": "Prepayment"}]}))
    assert inserted["ReceiptsAdjustments"][-1]["EntryNumber"] == 3  # a deleted number is not reused

    # POST may carry ReadyToPost (Sage 2021+): the batch is ready at once and posts.
    ready = sage.receipt_batch([{"CustomerNumber": customer, "CustomerReceiptAmount": 1,
                                 "ReceiptTransactionType": "UnappliedCash"}], BatchStatus="ReadyToPost")
    assert ready["BatchStatus"] == "ReadyToPost" and ready["BatchNumber"] == batch["BatchNumber"] + 1
    posted = sage.ok(sage.post("/AR/ARPostReceiptsAndAdjustments('$process')",
                               {"BatchType": "CA", "PostAllBatches": "Postallbatches"}))
    assert posted["PostingSequenceNumber"] == 1
    assert sage.ok(sage.get(f"{RECEIPTS}('CA',{batch['BatchNumber']})"))["BatchStatus"] == "Open"
    assert sage.doc(customer, ready["ReceiptsAdjustments"][0]["DocumentNumber"])["DocumentType"] == "UnappliedCash"
    template = sage.ok(sage.post(f"{RECEIPTS}('$template')", {}))
    assert template["BatchRecordType"] == "CA" and template["ReceiptsAdjustments"] == []


def test_apply_document_uses_a_prepayment_later(sage: Sage) -> None:
    customer, docs = next((c["account"], d) for c in customer_catalogue(HISTORY.seed, HISTORY.per_day, 2026)
                          if len(d := sage.open_docs(c["account"])) >= 2 and d[1]["CustomerCurrencyAmountDue"] >= 6)
    invoice = docs[0]
    due = invoice["CustomerCurrencyAmountDue"]
    deposit = sage.receipt_batch([{"CustomerNumber": customer, "CustomerReceiptAmount": due + 5,
                                   "CheckReceiptNumber": "PT-DEP", "ReceiptTransactionType": "Prepayment"}],
                                 BatchStatus="ReadyToPost")
    sage.post_receipts(deposit["BatchNumber"])
    py = deposit["ReceiptsAdjustments"][0]["DocumentNumber"]
    assert sage.doc(customer, py)["CustomerCurrencyAmountDue"] == -(due + 5)

    apply_entry = {"CustomerNumber": customer, "ReceiptTransactionType": "ApplyDocument", "DocumentNumber": py,
                   "AppliedReceiptsAdjustments": [{"DocumentNumber": invoice["DocumentNumber"],
                                                   "CustomerReceiptAmount": due}]}
    error(sage.post(RECEIPTS, {"BatchRecordType": "CA", "ReceiptsAdjustments": [{**apply_entry, "CustomerReceiptAmount": 1}]}),
          400, "RecordInvalid")  # no cash on an ApplyDocument entry
    error(sage.post(RECEIPTS, {"BatchRecordType": "CA", "ReceiptsAdjustments": [{**apply_entry,
                                                                                 "DocumentNumber": invoice["DocumentNumber"]}]}),
          400, "RecordInvalid")  # an invoice is not a credit
    applied = sage.receipt_batch([apply_entry], BatchStatus="ReadyToPost")
    assert applied["BatchTotal"] == 0
    error(sage.post(RECEIPTS, {"BatchRecordType": "CA", "ReceiptsAdjustments": [{
        "CustomerNumber": customer, "ReceiptTransactionType": "ApplyDocument", "DocumentNumber": py,
        "AppliedReceiptsAdjustments": [{"DocumentNumber": docs[1]["DocumentNumber"], "CustomerReceiptAmount": 6}]}]}),
        400, "General")  # 5 left on the prepayment once the pending application is counted
    sage.post_receipts(applied["BatchNumber"])
    paid = sage.doc(customer, invoice["DocumentNumber"])
    assert paid["FullyPaid"] == "Yes" and paid["CustomerCurrencyAmountDue"] == 0
    left = sage.doc(customer, py)
    assert left["CustomerCurrencyAmountDue"] == -5 and left["FullyPaid"] == "No"
    # An ApplyDocument moves no cash: ARPostedReceipts shows only the prepayment.
    assert [r["ReceiptTransactionType"] for r in sage.ok(sage.get("/AR/ARPostedReceipts", **{
        "$filter": f"CustomerNumber eq '{customer}'"}))["value"]] == ["Prepayment"]


def test_refunds_of_a_prepayment_and_of_a_credit_note(sage: Sage) -> None:
    customer, docs = customer_with_open_invoices(sage, 1)
    deposit = sage.receipt_batch([{"CustomerNumber": customer, "CustomerReceiptAmount": 40,
                                   "ReceiptTransactionType": "Prepayment"}], BatchStatus="ReadyToPost")
    sage.post_receipts(deposit["BatchNumber"])
    py = deposit["ReceiptsAdjustments"][0]["DocumentNumber"]
    refund = {"CustomerNumber": customer, "CheckNumber": "PT-REFUND-1", "RefundDetails": [
        {"DocumentNumber": py, "CustomerRefundAmount": 30}]}
    error(sage.post("/AR/ARRefundBatches", {"Refunds": [{**refund, "RefundDetails": [
        {"DocumentNumber": py, "CustomerRefundAmount": 41}]}]}), 400, "General")
    error(sage.post("/AR/ARRefundBatches", {"Refunds": [{**refund, "RefundDetails": [
        {"DocumentNumber": docs[0]["DocumentNumber"], "CustomerRefundAmount": 1}]}]}), 400, "RecordInvalid")
    batch = sage.ok(sage.post("/AR/ARRefundBatches", {"BatchDate": TODAY, "Refunds": [refund]}), 201)
    assert batch["Refunds"][0]["DocumentNumber"] == "RF000001" and batch["BatchTotal"] == 30
    error(sage.post("/AR/ARRefundBatches", {"Refunds": [{**refund, "RefundDetails": [
        {"DocumentNumber": py, "CustomerRefundAmount": 11}]}]}), 400, "General")  # 10 left beside the pending 30
    sage.ok(sage.patch(f"/AR/ARRefundBatches({batch['BatchNumber']})", {"BatchStatus": "ReadyToPost"}))
    posted = sage.ok(sage.post("/AR/ARPostRefunds('$process')", {"PostAllBatches": "Postallbatches"}))
    assert posted["PostingSequenceNumber"] == 1
    assert sage.doc(customer, py)["CustomerCurrencyAmountDue"] == -10
    rf = sage.doc(customer, "RF000001")
    assert rf["DocumentType"] == "Refund" and rf["CustomerCurrencyInvoiceAmount"] == 30 and rf["FullyPaid"] == "Yes"

    # A card refund of an invoice: a credit note (invoice batch, posted), then its refund.
    credit = sage.ok(sage.post("/AR/ARInvoiceBatches", {"BatchStatus": "ReadyToPost", "Invoices": [{
        "CustomerNumber": customer, "DocumentType": "CreditNote", "InvoiceDescription": "Refund of PT sale",
        "InvoiceDetails": [{"Description": "Refund", "ExtendedAmountWithoutTIP": 12.5}]}]}), 201)
    cn = credit["Invoices"][0]["DocumentNumber"]
    assert cn == "CN000001"
    sage.ok(sage.post("/AR/ARPostInvoices('$process')", {"PostAllBatches": "Postallbatches"}))
    assert sage.doc(customer, cn)["CustomerCurrencyAmountDue"] == Decimal("-12.5")
    sage.ok(sage.post("/AR/ARRefundBatches", {"BatchStatus": "ReadyToPost", "Refunds": [
        {"CustomerNumber": customer, "RefundDetails": [{"DocumentNumber": cn, "CustomerRefundAmount": 12.5}]}]}), 201)
    sage.ok(sage.post("/AR/ARPostRefunds('$process')", {"PostAllBatches": "Postallbatches"}))
    assert sage.doc(customer, cn)["FullyPaid"] == "Yes"


# -- invoices, orders, customers, GL ---------------------------------------------------------------------

def test_official_samples_are_accepted(sage: Sage, samples_dir: Any) -> None:
    sample = json.loads((samples_dir / "sage" / "post_ar_invoice_batch.json").read_text())
    sage.ok(sage.post("/AR/ARCustomers", {"CustomerNumber": "1400", "CustomerName": "Mr. Ronald Black"}), 201)
    batch = sage.ok(sage.post("/AR/ARInvoiceBatches", sample), 201)
    assert batch["BatchNumber"] == 1 and [i["EntryNumber"] for i in batch["Invoices"]] == [1, 2, 3, 4]
    invoice, debit, credit, interest = batch["Invoices"]
    assert (invoice["DocumentTotalBeforeTax"], invoice["TaxTotal"], invoice["AmountDue"]) == (200, 26, 226)
    assert interest["DocumentType"] == "Interest" and interest["TransactionType"] == "InterestCharge"
    assert [i["DocumentNumber"] for i in batch["Invoices"]] == ["IN000001", "DN000001", "CN000001", "IT000001"]
    sage.ok(sage.patch(f"/AR/ARInvoiceBatches({batch['BatchNumber']})", {"BatchStatus": "ReadyToPost"}))
    assert sage.ok(sage.post("/AR/ARPostInvoices('$process')", {"PostAllBatches": "Postallbatches"}))["PostingSequenceNumber"] == 1
    assert sage.doc("1400", "IN000001")["CustomerCurrencyAmountDue"] == 226
    assert sage.doc("1400", "CN000001")["CustomerCurrencyAmountDue"] == Decimal("-33.9")

    prepay = json.loads((samples_dir / "sage" / "post_ar_receipt_batch_prepayment.json").read_text())
    sage.ok(sage.post("/AR/ARCustomers", {"CustomerNumber": "1500", "CustomerName": "Bargain Mart - San Diego"}), 201)
    created = sage.ok(sage.post(RECEIPTS, prepay), 201)
    assert created["BatchNumber"] == 1 and created["BankCode"] == "SEATAC"
    assert created["ReceiptsAdjustments"][0]["DocumentNumber"] == "PY000001"


def test_oe_order_invoice_will_be_produced(sage: Sage) -> None:
    order = sage.ok(sage.post("/OE/OEOrders", {
        "CustomerNumber": "C10000", "OrderDate": TODAY, "OrderDescription": "Web order", "PurchaseOrderNumber": "PO-77881",
        "InvoiceWillBeProduced": True, "OrderDetails": [
            {"LineType": "Item", "Item": "A1-103/0", "Location": "1", "QuantityOrdered": 2, "UnitPrice": 49.95},
            {"LineType": "Miscellaneous", "MiscellaneousChargesCode": "FRT", "ExtendedAmount": 10}]}), 201)
    assert order["OrderNumber"] == "ORD000000000001" and order["LastShipmentNumber"] == "SH000000000001"
    assert order["LastInvoiceNumber"] == "IN000000000001" and order["OrderTotal"] == Decimal("109.9")
    assert order["OrderDetails"][0]["QuantityShipped"] == 2 and order["OrderDetails"][0]["QuantityBackordered"] == 0
    found = sage.ok(sage.get("/AR/ARPostedDocuments", **{"$filter": f"OrderNumber eq '{order['OrderNumber']}'"}))["value"]
    assert [(d["DocumentNumber"], d["PONumber"], d["CustomerCurrencyAmountDue"]) for d in found] == \
        [("IN000000000001", "PO-77881", Decimal("109.9"))]
    assert sage.ok(sage.get(f"/OE/OEOrders({order['OrderUniquifier']})"))["OrderNumber"] == order["OrderNumber"]

    quote = sage.ok(sage.post("/OE/OEOrders", {"CustomerNumber": "C10000", "OrderDetails": [
        {"Item": "A1", "QuantityOrdered": 1, "ExtendedAmount": 5}]}), 201)
    assert quote["LastInvoiceNumber"] == "" and quote["OrderDetails"][0]["QuantityBackordered"] == 1
    assert sage.ok(sage.get("/AR/ARPostedDocuments", **{"$filter": f"OrderNumber eq '{quote['OrderNumber']}'"}))["value"] == []
    error(sage.post("/OE/OEOrders", {"CustomerNumber": "C10000", "OrderDetails": [{"Item": "A1", "QuantityOrdered": 1}]}),
          400, "RecordInvalid")  # no price list: a price is needed


def test_customers_post_get_patch(sage: Sage) -> None:
    created = sage.ok(sage.post("/AR/ARCustomers", {
        "CustomerNumber": "PT1001", "CustomerName": "Summit Tool Supply Inc.", "Email": "ap@summit.example",
        "CustomerOptionalFieldValues": [{"OptionalField": "PAYTRACEID", "Value": "cust-42"}]}), 201)
    assert created["Terms"] == "NET30" and created["Status"] == "Active" and created["ShortName"] == "Summit Too"
    assert created["BalanceDueInCustomerCurrency"] == 0 and created["DateLastMaintained"] == f"{TODAY}T00:00:00Z"
    assert sage.ok(sage.get("/AR/ARCustomers('PT1001')")) == sage.ok(sage.get("/AR/ARCustomers(CustomerNumber='PT1001')"))
    patched = sage.ok(sage.patch("/AR/ARCustomers('PT1001')", {"PhoneNumber": "(206) 555-0100", "CustomerOptionalFieldValues": [
        {"UpdateOperation": "Update", "OptionalField": "PAYTRACEID", "Value": "cust-43"},
        {"UpdateOperation": "Insert", "OptionalField": "CHANNEL", "Value": "web"}]}))
    assert patched["PhoneNumber"] == "(206) 555-0100" and patched["Email"] == "ap@summit.example"
    assert [(o["OptionalField"], o["Value"]) for o in patched["CustomerOptionalFieldValues"]] == \
        [("PAYTRACEID", "cust-43"), ("CHANNEL", "web")]
    error(sage.patch("/AR/ARCustomers('PT1001')", {"CustomerOptionalFieldValues": [
        {"UpdateOperation": "Insert", "OptionalField": "CHANNEL", "Value": "x"}]}), 409, "RecordDuplicate")
    error(sage.patch("/AR/ARCustomers('PT1001')", {"CustomerNumber": "PT1002"}), 400, "RecordInvalid")
    error(sage.patch("/AR/ARCustomers('NOPE')", {"PhoneNumber": "1"}), 404, "RecordNotFound")


def test_gl_accounts_hold_the_mapping_and_journal_batches_balance(sage: Sage) -> None:
    accounts = sage.ok(sage.get("/GL/GLAccounts"))["value"]
    mapping = load_mapping()
    assert check_gl_accounts(mapping, "sage", {a["AccountNumber"] for a in accounts}) == []
    assert check_gl_accounts(mapping, "sage", {a["UnformattedAccount"] for a in accounts}) == []
    ar = sage.ok(sage.get("/GL/GLAccounts('1200000')"))
    assert ar["AccountNumber"] == "1200-000" and ar["ControlAccount"] is True and ar["Status"] == "Active"
    clearing = gl_account_for(mapping, "sage", mapping.gl_accounts.default)
    batch = sage.ok(sage.post("/GL/GLJournalBatches", {"Description": "Card fees", "JournalHeaders": [{
        "Description": "PayTrace fees March", "DocumentDate": TODAY, "JournalDetails": [
            {"AccountNumber": "4900000", "Amount": 12.34, "Reference": "fees"},
            {"AccountNumber": clearing, "Amount": -12.34, "Reference": "fees"}]}]}), 201)
    assert batch["BatchNumber"] == "000001" and batch["Debits"] == batch["Credits"] == Decimal("12.34")
    header = batch["JournalHeaders"][0]
    assert header["EntryNumber"] == "00001" and header["SourceType"] == "JE"
    assert header["JournalDetails"][0]["AccountNumber"] == "4900-000"  # written formatted
    error(sage.post("/GL/GLJournalBatches", {"JournalHeaders": [{"JournalDetails": [
        {"AccountNumber": "1200-000", "Amount": 1}, {"AccountNumber": "4000-000", "Amount": -0.99}]}]}), 400, "General")
    error(sage.post("/GL/GLJournalBatches", {"JournalHeaders": [{"JournalDetails": [
        {"AccountNumber": "9999-999", "Amount": 0}]}]}), 400, "RecordInvalid")


# -- faults, seed, control API ----------------------------------------------------------------------------

def test_commit_then_drop_leaves_the_batch_created(sage: Sage) -> None:
    customer, _ = customer_with_open_invoices(sage, 1)
    sage.control("POST", "/_sandbox/faults", {"drop_after_commit_rate": 1.0, "paths": ["/Sage300WebApi/*"]})
    with pytest.raises(httpx.TransportError):
        sage.post(RECEIPTS, {"BatchRecordType": "CA", "ReceiptsAdjustments": [{
            "CustomerNumber": customer, "CheckReceiptNumber": "PT-LOST-1", "CustomerReceiptAmount": 15,
            "ReceiptTransactionType": "Prepayment"}]})
    # The answer was lost, the batch was not: a client finds it among the open batches of the day.
    listed = sage.ok(sage.get(RECEIPTS, **{"$filter": "BatchStatus eq 'Open'"}))["value"]
    assert [(b["BatchNumber"], b["ReceiptsAdjustments"][0]["CheckReceiptNumber"]) for b in listed] == [(1, "PT-LOST-1")]
    assert sage.control("GET", "/_sandbox/stats")["faults"]["drop_after_commit"] == 1

    sage.control("POST", "/_sandbox/faults", {"error_rate": 1.0, "error_statuses": [503], "paths": ["/Sage300WebApi/*"]})
    assert sage.get("/AR/ARCustomers").status_code == 503
    sage.control("POST", "/_sandbox/faults", {"rate_limit_every": 1, "rate_limit_burst": 1, "retry_after_seconds": 2})
    answers = [sage.get("/AR/ARCustomers", **{"$top": "1"}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 429] and answers[1].headers["retry-after"] == "2"
    assert sage.control("GET", "/_sandbox/sage/health") == {"status": "ok"}  # the control API is never faulted


def test_seed_matches_the_paytrace_catalogue(sage: Sage) -> None:
    catalogue = open_invoices(HISTORY.seed, HISTORY.start_date, HISTORY.end_date, HISTORY.per_day, TZ)
    state = sage.control("GET", "/_sandbox/sage/state")
    docs = {d["DocumentNumber"]: d for d in state["documents"]}
    assert sorted(docs) == [inv["invoice_number"] for inv in catalogue]
    for inv in catalogue:
        d = docs[inv["invoice_number"]]
        assert d["CustomerNumber"] == inv["customer_account"] and d["DocumentType"] == "Invoice"
        assert d["CustomerCurrencyAmountDue"] == Decimal(inv["amount_minor"]) / 100 and d["OrderNumber"] == ""
    oracle = sage.control("GET", "/_sandbox/oracle/state")
    assert {i["TransactionNumber"] for i in oracle["invoices"]} == set(docs)
    # The catalogue's customers, and the one PaySync holds unidentified receipts on.
    assert state["customers"] == sorted([*(c["account"] for c in customer_catalogue(HISTORY.seed, HISTORY.per_day, 2026)),
                                         "SUSPENSE"])
    # PONumber: the customer_reference_id of the transaction that pays the invoice.
    refs = {rec[ID]: rec[REFERENCE] for day in generate(HISTORY.seed, HISTORY.start_date, HISTORY.end_date,
                                                         HISTORY.per_day, TZ) for rec in day.transactions}
    with_po = [inv for inv in catalogue if docs[inv["invoice_number"]]["PONumber"]]
    assert with_po
    for inv in with_po:
        assert docs[inv["invoice_number"]]["PONumber"] in {refs[i] for i in inv["paid_by"]}
    customer = sage.ok(sage.get("/AR/ARCustomers('C10000')"))
    first = customer_catalogue(HISTORY.seed, HISTORY.per_day, 2026)[0]
    assert (customer["CustomerName"], customer["Email"], customer["City"]) == \
        (first["company"], first["email"], first["billing"][3])
    assert [b["BankCode"] for b in state["banks"]] == ["PAYTRACE", "SEATAC"]


def test_control_api(sage: Sage) -> None:
    customer, docs = customer_with_open_invoices(sage, 1)
    entry = {"CustomerNumber": customer, "CustomerReceiptAmount": docs[0]["CustomerCurrencyAmountDue"],
             "AppliedReceiptsAdjustments": [{"DocumentNumber": docs[0]["DocumentNumber"],
                                             "CustomerReceiptAmount": docs[0]["CustomerCurrencyAmountDue"]}]}
    batch = sage.receipt_batch([entry])
    # A clerk posts it in Sage's screens (Open is fine there).
    assert sage.control("POST", "/_sandbox/sage/post_batches", {"ledger": "CA"}) == \
        {"posted": [batch["BatchNumber"]], "posting_sequence": 1}
    assert sage.doc(customer, docs[0]["DocumentNumber"])["FullyPaid"] == "Yes"
    state = sage.control("GET", "/_sandbox/sage/state?documents=false")
    assert "documents" not in state and state["receipt_batches"][0]["BatchStatus"] == "Posted"
    assert state["counts"]["posted_receipts"] == 1
    stats = sage.control("GET", "/_sandbox/sage/stats")
    assert stats["requests"][f"POST AR/ARReceiptAndAdjustmentBatches"] == {"201": 1}

    r = httpx.post(sage.url + "/_sandbox/sage/settings", json={"page_size": 0})
    assert r.status_code == 400
    assert sage.control("POST", "/_sandbox/sage/settings", {"page_size": 5})["page_size"] == 5
    assert sage.control("POST", "/_sandbox/sage/clock", {"today": "2026-04-01"}) == {"today": "2026-04-01"}
    added = sage.control("POST", "/_sandbox/sage/seed", {"customers": [{"account": "Z1", "company": "Zed Co"}],
                                                         "invoices": [{"invoice_number": "INV-999999",
                                                                       "customer_account": "Z1", "customer_name": "Zed Co",
                                                                       "amount_minor": 1234, "currency": "USD",
                                                                       "invoice_date": "2026-03-01",
                                                                       "due_date": "2026-03-31"}]})
    assert added["added"] == {"customers": 1, "invoices": 1}
    assert sage.doc("Z1", "INV-999999")["Terms"] == "NET30"

    # A new history reseeds Sage with its catalogue, as it does Oracle.
    generated = sage.control("POST", "/_sandbox/generate", {"seed": 5, "start_date": "2026-03-01", "days": 2,
                                                            "per_day": 10})
    assert generated["sage"]["documents"] == generated["oracle"]["invoices"] == len(
        open_invoices(5, date(2026, 3, 1), date(2026, 3, 2), 10, TZ))
    assert generated["sage"]["gl_accounts"] == state["counts"]["gl_accounts"]

    # The composed reset puts Sage back to its startup seed and settings.
    reset = sage.control("POST", "/_sandbox/reset")
    assert reset["sage"]["receipt_batches"] == 0 and reset["sage"]["documents"] == len(
        open_invoices(HISTORY.seed, HISTORY.start_date, HISTORY.end_date, HISTORY.per_day, TZ))
    assert sage.control("GET", "/_sandbox/sage/settings")["page_size"] == 100  # back to the startup settings
    assert sage.control("POST", "/_sandbox/sage/reset", {"empty": True})["sage"]["customers"] == 0
    assert sage.control("GET", "/_sandbox/stats")["sage"]["customers"] == 0
