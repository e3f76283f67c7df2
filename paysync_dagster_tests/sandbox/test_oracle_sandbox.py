"""The Oracle Fusion sandbox over real HTTP (uvicorn on a free 127.0.0.1 port): receipts, applications,
invoices, activities, order hub, collection conventions, batch, errors, auth, faults, control API."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysync_dagster_tests.support import rsa_pem_pair
from paysync_dagster.lib.oracle.auth import JWT_BEARER, OAuthSettings, build_user_assertion, sign_rs256
from paysync_dagster.sandbox.oracle import OAuthServerConfig, SeedSpec, create_oracle_app
from paysync_dagster.sandbox.oracle.query import parse_q
from paysync_dagster.sandbox.paytrace.generator import open_invoices
from paysync_dagster.sandbox.server import ServerThread

USER, PASSWORD = "paysync.integration", "paysync-demo-password"
CLIENT_ID, CLIENT_SECRET = "paysync-oauth-client", "client-secret-never-logged"
ROOT = "/fscmRestApi/resources/11.13.18.05"
CONTROL = "/fscmRestApi/_sandbox"
BU = "Vision Operations"
TODAY = "2024-06-03"
SEED = SeedSpec(seed=11, start_date=date(2024, 5, 27), end_date=date(2024, 5, 31), per_day=30)
ACTION = "application/vnd.oracle.adf.action+json"
BATCH = "application/vnd.oracle.adf.batch+json"
STRUCTURED = {"Accept": "application/json, application/vnd.oracle.adf.error+json"}
DUP_TEXT = "A receipt with this number, date, amount and customer already exists. Enter a unique receipt number."


@pytest.fixture(scope="module")
def keys() -> tuple[str, str, str]:
    """(private PEM, its public PEM, an unrelated private PEM)."""
    private, public = rsa_pem_pair()
    other, _ = rsa_pem_pair()
    return private, public, other


class Sandbox:
    def __init__(self, server: ServerThread, app: Any):
        self.server, self.app = server, app
        self.http = httpx.Client(base_url=server.url, timeout=30, auth=(USER, PASSWORD))

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(ROOT + path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return self.http.post(ROOT + path, json=body, **kw)

    def action(self, path: str, body: Any, content_type: str = ACTION, **kw: Any) -> httpx.Response:
        headers = {"Content-Type": content_type, **kw.pop("headers", {})}
        return self.http.post(ROOT + path, content=json.dumps(body), headers=headers, **kw)

    def batch(self, parts: list[dict], **kw: Any) -> httpx.Response:
        return self.http.post(ROOT + "/", content=json.dumps({"parts": parts}), headers={"Content-Type": BATCH}, **kw)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, CONTROL + path, json=body, auth=None)
        assert r.status_code == 200, r.text
        return r.json()

    def receipt(self, **fields: Any) -> dict:
        r = self.post("/standardReceipts", {"BusinessUnit": BU, "ReceiptMethod": "Manual", **fields})
        assert r.status_code == 201, r.text
        return r.json()

    def invoice(self, amount: str = "100.00", account: str = "C10000", terms: str = "30 Net", **fields: Any) -> dict:
        r = self.post("/receivablesInvoices", {
            "BusinessUnit": BU, "TransactionSource": "Manual-NES", "TransactionType": "Invoice",
            "TransactionDate": "2024-06-01", "BillToCustomerNumber": account, "PaymentTerms": terms,
            "receivablesInvoiceLines": [{"Description": "Widget", "Quantity": 1, "UnitSellingPrice": amount}], **fields})
        assert r.status_code == 201, r.text
        return r.json()

    def installments(self, invoice: dict) -> list[dict]:
        r = self.get(f"/receivablesInvoices/{invoice['CustomerTransactionId']}/child/receivablesInvoiceInstallments")
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def sandbox(keys: tuple[str, str, str]) -> Iterator[Sandbox]:
    oauth = OAuthServerConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, public_key_pem=keys[1])
    app = create_oracle_app(seed=SEED, oauth=oauth, clock=lambda: datetime(2024, 6, 3, 17, 0, tzinfo=timezone.utc))
    with ServerThread(app) as server:
        sb = Sandbox(server, app)
        try:
            yield sb
        finally:
            sb.close()


# -- standardReceipts ------------------------------------------------------------------------------------

def test_required_fields_defaults_and_unknown_attributes(sandbox: Sandbox) -> None:
    r = sandbox.post("/standardReceipts", {"ReceiptNumber": "X1"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.splitlines() == ["You must provide a value for the attribute Amount.",
                                   "You must provide a value for the attribute BusinessUnit."]
    r = sandbox.post("/standardReceipts", {"Amount": "10", "BusinessUnit": BU, "CurrencyCode": "USD"})
    assert r.status_code == 400 and "CurrencyCode" in r.text  # the commonly assumed name is not Oracle's

    created = sandbox.receipt(Amount="25.50")
    assert created["ReceiptDate"] == created["AccountingDate"] == created["MaturityDate"] == TODAY
    assert created["RemittanceBankDepositDate"] == TODAY
    assert created["Currency"] == "USD" and created["RemittanceBankAllowOverride"] == "N"
    assert created["CustomerName"] is None and created["CustomerAccountNumber"] is None
    assert created["Status"] == "Unidentified" and created["UnappliedAmount"] == 25.5
    assert created["ReceiptNumber"] == str(created["StandardReceiptId"])
    assert str(created["StandardReceiptId"]).startswith("3001") and len(str(created["StandardReceiptId"])) == 15
    assert created["CreatedBy"] == USER
    item = sandbox.get(f"/standardReceipts/{created['StandardReceiptId']}")
    assert item.status_code == 200 and item.json()["Amount"] == "25.50"
    assert [link["rel"] for link in item.json()["links"]] == ["self", "canonical", "child"]


def test_amount_is_echoed_as_sent(sandbox: Sandbox) -> None:
    as_text = sandbox.receipt(ReceiptNumber="E-1", Amount="451.23")
    as_number = sandbox.receipt(ReceiptNumber="E-2", Amount=451.23)
    as_int = sandbox.receipt(ReceiptNumber="E-3", Amount=451)
    assert as_text["Amount"] == "451.23" and isinstance(as_text["Amount"], str)
    assert as_number["Amount"] == 451.23 and isinstance(as_number["Amount"], float)
    assert as_int["Amount"] == 451 and isinstance(as_int["Amount"], int)
    for created in (as_text, as_number):
        again = sandbox.get(f"/standardReceipts/{created['StandardReceiptId']}").json()
        assert again["Amount"] == created["Amount"] and type(again["Amount"]) is type(created["Amount"])
        assert again["UnappliedAmount"] == 451.23
    r = sandbox.post("/standardReceipts", {"BusinessUnit": BU, "Amount": "1.005"})
    assert r.status_code == 400 and "decimal places" in r.text


def test_duplicate_only_when_number_date_amount_and_customer_all_match(sandbox: Sandbox) -> None:
    base = {"ReceiptNumber": "DUP-1", "ReceiptDate": "2024-06-01", "Amount": "100.00", "CustomerAccountNumber": "C10001"}
    sandbox.receipt(**base)
    same = sandbox.post("/standardReceipts", {"BusinessUnit": BU, **base, "Amount": 100})  # 100 == "100.00"
    assert same.status_code == 400
    assert same.text == DUP_TEXT
    coded = sandbox.post("/standardReceipts", {"BusinessUnit": BU, **base}, headers=STRUCTURED)
    assert coded.json()["o:errorDetails"] == [{"detail": DUP_TEXT, "o:errorCode": "AR_RCP_DUP_NUM"}]
    for change in ({"ReceiptNumber": "DUP-2"}, {"ReceiptDate": "2024-06-02"}, {"Amount": "100.01"},
                   {"CustomerAccountNumber": "C10002"}):
        sandbox.receipt(**{**base, **change})
    # Unidentified receipts: no customer on both sides counts as the same customer.
    sandbox.receipt(ReceiptNumber="DUP-U", ReceiptDate="2024-06-01", Amount="5")
    assert sandbox.post("/standardReceipts", {"BusinessUnit": BU, "ReceiptNumber": "DUP-U", "ReceiptDate": "2024-06-01",
                                              "Amount": "5.00"}).status_code == 400
    assert sandbox.control("GET", "/stats")["oracle"]["receipts_rejected_duplicate"] == 3


@pytest.mark.parametrize(("change", "code"), [
    ({"BusinessUnit": "Nowhere Operations"}, "AR_RAPI_BU_INVALID"),
    ({"Currency": "XXX"}, "AR_RAPI_CURR_CODE_INVALID"),
    ({"ReceiptMethod": "Carrier Pigeon"}, "AR_INVAL_RECEIPT_MTH_ID"),
    ({"ReceiptMethod": "Bills of Exchange"}, "AR_BOE_OBSOLETE"),
    ({"CustomerAccountNumber": "NOPE"}, "AR_RAPI_CUS_NUM_INVALID"),
])
def test_validation_codes(sandbox: Sandbox, change: dict, code: str) -> None:
    r = sandbox.post("/standardReceipts", {"BusinessUnit": BU, "Amount": "10", "ReceiptMethod": "Manual", **change},
                     headers=STRUCTURED)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/vnd.oracle.adf.error+json"
    body = r.json()
    assert body["status"] == "400" and body["title"] == "Bad Request"
    assert [d["o:errorCode"] for d in body["o:errorDetails"]] == [code]


# -- applications ---------------------------------------------------------------------------------------------

def test_apply_unapply_reverse_move_installment_balances(sandbox: Sandbox) -> None:
    invoice = sandbox.invoice("100.00", account="C10003")
    [inst] = sandbox.installments(invoice)
    assert inst["OriginalAmount"] == 100 and inst["InstallmentBalanceDue"] == 100
    receipt = sandbox.receipt(ReceiptNumber="APP-1", Amount="100.00", CustomerAccountNumber="C10003")
    rid = receipt["StandardReceiptId"]

    r = sandbox.action(f"/standardReceipts/{rid}/action/applyReceipt",
                       {"appliedPaymentScheduleId": inst["InstallmentId"], "amountApplied": 60.00, "calledFrom": "REST"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.oracle.adf.actionresult+json"
    result = r.json()["result"]
    assert result["amountApplied"] == 60 and result["unappliedAmount"] == 40
    [after] = sandbox.installments(invoice)
    assert after["InstallmentBalanceDue"] == 40 and after["InstallmentStatus"] == "Open"
    assert sandbox.get(f"/receivablesInvoices/{invoice['CustomerTransactionId']}").json()["InvoiceBalanceAmount"] == 40
    assert sandbox.get(f"/standardReceipts/{rid}").json()["Status"] == "Unapplied"

    r = sandbox.action(f"/standardReceipts/{rid}/action/unapplyReceipt",
                       {"receivableApplicationId": result["receivableApplicationId"]})
    assert r.status_code == 200 and r.json()["result"]["amountUnapplied"] == 60
    assert sandbox.installments(invoice)[0]["InstallmentBalanceDue"] == 100

    # amountApplied omitted: the installment's whole open balance.
    r = sandbox.action(f"/standardReceipts/{rid}/action/applyReceipt", {"appliedPaymentScheduleId": inst["InstallmentId"]})
    assert r.status_code == 200 and r.json()["result"]["amountApplied"] == 100
    [closed] = sandbox.installments(invoice)
    assert closed["InstallmentBalanceDue"] == 0 and closed["InstallmentStatus"] == "Closed"
    assert sandbox.get(f"/standardReceipts/{rid}").json()["Status"] == "Applied"

    # The customer of an applied receipt cannot change (sample 11's text).
    r = sandbox.http.patch(ROOT + f"/standardReceipts/{rid}", json={"CustomerAccountNumber": "C10004"})
    assert r.status_code == 400
    assert r.text == "You can't update the customer account on receipt APP-1 because it was applied to a transaction."
    assert sandbox.http.delete(ROOT + f"/standardReceipts/{rid}").status_code == 400

    r = sandbox.action(f"/standardReceipts/{rid}/action/reverseReceipt",
                       {"reversalCategoryCode": "NSF", "reversalReasonCode": "NSF"})
    assert r.status_code == 200 and r.json()["result"]["status"] == "Reversed"
    assert sandbox.installments(invoice)[0]["InstallmentBalanceDue"] == 100
    reversed_ = sandbox.get(f"/standardReceipts/{rid}").json()
    assert reversed_["Status"] == "Reversed" and reversed_["State"] == "Reversed" and reversed_["UnappliedAmount"] == 0
    again = sandbox.action(f"/standardReceipts/{rid}/action/applyReceipt", {"appliedPaymentScheduleId": inst["InstallmentId"]})
    assert again.status_code == 400 and "reversed" in again.text
    dump = sandbox.control("GET", "/state?invoices=false")
    [row] = [x for x in dump["receipts"] if x["StandardReceiptId"] == rid]
    assert [a["status"] for a in row["applications"]] == ["UNAPP", "UNAPP"]
    assert row["reversal"]["category"] == "NSF"


def test_application_refusals_and_bulk_apply(sandbox: Sandbox) -> None:
    a = sandbox.invoice("50.00", account="C10005")
    b = sandbox.invoice("80.00", account="C10005")
    ia, ib = sandbox.installments(a)[0]["InstallmentId"], sandbox.installments(b)[0]["InstallmentId"]
    receipt = sandbox.receipt(ReceiptNumber="BULK-1", Amount="100.00", CustomerAccountNumber="C10005")
    rid = receipt["StandardReceiptId"]
    path = f"/standardReceipts/{rid}/action/applyReceipt"
    assert sandbox.action(path, {"appliedPaymentScheduleId": ia}, content_type="application/json").status_code == 415
    assert sandbox.action(path, {"appliedPaymentScheduleId": ia, "amountApplied": 50.01}).status_code == 400
    assert sandbox.action(path, {"appliedPaymentScheduleId": 1}).status_code == 400
    missing = sandbox.action(path, {}, headers=STRUCTURED)
    assert missing.json()["o:errorDetails"][0]["o:errorCode"] == "FND_CMN_REQ_ATTRIB_API_SERV"
    unidentified = sandbox.receipt(ReceiptNumber="BULK-U", Amount="10")
    assert sandbox.action(f"/standardReceipts/{unidentified['StandardReceiptId']}/action/applyReceipt",
                          {"appliedPaymentScheduleId": ia}).status_code == 400

    r = sandbox.action(f"/standardReceipts/{rid}/action/bulkApplyReceipt", {"appliedPaymentScheduleIds": f"{ia},{ib}"})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert [x["amountApplied"] for x in result["applications"]] == [50, 50] and result["unappliedAmount"] == 0
    assert sandbox.installments(a)[0]["InstallmentBalanceDue"] == 0
    assert sandbox.installments(b)[0]["InstallmentBalanceDue"] == 30
    # unapply by installment restores just that one
    r = sandbox.action(f"/standardReceipts/{rid}/action/unapplyReceipt", {"appliedPaymentScheduleId": ib})
    assert r.status_code == 200 and sandbox.installments(b)[0]["InstallmentBalanceDue"] == 80


def test_remittance_references_and_automatch(sandbox: Sandbox) -> None:
    invoice = sandbox.invoice("75.00", account="C10006")
    receipt = sandbox.receipt(ReceiptNumber="REM-1", Amount="75.00", CustomerAccountNumber="C10006",
                              remittanceReferences=[{"ReceiptMatchBy": "Transaction Number",
                                                     "ReferenceNumber": invoice["TransactionNumber"],
                                                     "ReferenceAmount": "75.00"}])
    assert receipt["remittanceReferences"][0]["ReferenceAmount"] == 75
    rid = receipt["StandardReceiptId"]
    r = sandbox.post(f"/standardReceipts/{rid}/child/remittanceReferences",
                     {"ReceiptMatchBy": "Purchase Order", "ReferenceNumber": "PO-77", "ReferenceAmount": "1.50"})
    assert r.status_code == 201
    assert set(r.json()) == {"RemittanceReferenceId", "ReceiptMatchBy", "ReferenceNumber", "ReferenceAmount", "CreatedBy",
                             "CreationDate", "LastUpdatedBy", "LastUpdateDate", "links"}
    assert r.json()["ReferenceAmount"] == 1.5
    listed = sandbox.get(f"/standardReceipts/{rid}/child/remittanceReferences").json()
    assert listed["count"] == 2
    assert sandbox.control("POST", "/automatch") == {"applied": 1}
    assert sandbox.installments(invoice)[0]["InstallmentBalanceDue"] == 0


# -- invoices, activities ----------------------------------------------------------------------------------------------

def test_invoice_terms_installments_and_patch(sandbox: Sandbox) -> None:
    invoice = sandbox.invoice("100.00", account="C10007", terms="30/60/90")
    assert invoice["EnteredAmount"] == 100 and invoice["DueDate"] == "2024-07-01"
    parts = sandbox.installments(invoice)
    assert [p["OriginalAmount"] for p in parts] == [33.34, 33.33, 33.33]
    assert [p["InstallmentDueDate"] for p in parts] == ["2024-07-01", "2024-07-31", "2024-08-30"]
    iid = invoice["CustomerTransactionId"]
    r = sandbox.http.patch(ROOT + f"/receivablesInvoices/{iid}", json={"Comments": "no"})
    assert r.status_code == 400 and "InvoiceStatus, PaymentTerms, and TransactionDate" in r.text
    r = sandbox.http.patch(ROOT + f"/receivablesInvoices/{iid}", json={"PaymentTerms": "Immediate"})
    assert r.status_code == 200 and r.json()["DueDate"] == "2024-06-01"
    assert len(sandbox.installments(invoice)) == 1
    r = sandbox.get(f"/receivablesInvoices?finder=PrimaryKey;CustomerTransactionId={iid}")
    assert [i["CustomerTransactionId"] for i in r.json()["items"]] == [iid]


def test_customer_activities_and_payment_schedules(sandbox: Sandbox) -> None:
    catalogue = [i for i in open_invoices(SEED.seed, SEED.start_date, SEED.end_date, SEED.per_day)]
    account = catalogue[0]["customer_account"]
    theirs = sorted(i["invoice_number"] for i in catalogue if i["customer_account"] == account)
    acts = sandbox.get(f"/receivablesCustomerAccountActivities?q=AccountNumber={account}").json()["items"]
    [act] = acts
    assert act["CustomerName"] == catalogue[0]["customer_name"]
    schedules = sandbox.get(f"/receivablesCustomerAccountActivities/{act['AccountId']}/child/transactionPaymentSchedules",
                            params={"q": "InstallmentStatus='Open'", "limit": 500},
                            headers={"REST-Framework-Version": "2"}).json()["items"]
    assert sorted(s["TransactionNumber"] for s in schedules) == theirs
    total = sum(i["amount_minor"] for i in catalogue if i["customer_account"] == account)
    assert round(act["TotalOpenReceivables"] * 100) == total
    r = sandbox.http.post(ROOT + "/receivablesCustomerAccountActivities", json={})
    assert r.status_code == 405 and r.text == "POST action not supported"
    site = sandbox.get("/receivablesCustomerAccountSiteActivities",
                       params={"finder": f"CustomerAccountSiteActivitiesFinder;AccountNumber={account}"}).json()["items"]
    assert [s["AccountNumber"] for s in site] == [account]
    assert set(site[0]) - {"links"} == {
        "BillToSiteUseId", "BillToSiteNumber", "BillToSiteAddress", "AccountNumber", "AccountId", "CustomerName",
        "CustomerId", "TaxRegistrationNumber", "TaxpayerIdentificationNumber", "TotalOpenReceivablesForSite",
        "TotalTransactionsDueForSite", "CreatedBy", "CreationDate"}


# -- collection conventions -------------------------------------------------------------------------------------------

def _all_invoices(sandbox: Sandbox) -> list[dict]:
    return sandbox.get("/receivablesInvoices", params={"limit": 500, "onlyData": "true"}).json()["items"]


def test_q_v1_and_v2(sandbox: Sandbox) -> None:
    everything = _all_invoices(sandbox)
    first = everything[0]

    def query(q: str, version: str) -> tuple[int, list[str]]:
        r = sandbox.get("/receivablesInvoices", params={"q": q, "limit": 500}, headers={"REST-Framework-Version": version})
        return r.status_code, sorted(i["TransactionNumber"] for i in r.json()["items"]) if r.status_code == 200 else []

    def expect(pred: Any) -> list[str]:
        return sorted(i["TransactionNumber"] for i in everything if pred(i))

    v1 = f"TransactionNumber={first['TransactionNumber']};BillToCustomerNumber={first['BillToCustomerNumber']}"
    assert query(v1, "1") == (200, [first["TransactionNumber"]])
    assert query(f"BillToCustomerName={first['BillToCustomerName']}", "1")[1] == \
        expect(lambda i: i["BillToCustomerName"] == first["BillToCustomerName"])
    assert query("EnteredAmount>=100 and <=200", "1")[1] == expect(lambda i: 100 <= i["EnteredAmount"] <= 200)
    assert query(v1, "2")[0] == 400  # v1 syntax is refused under framework version 2+
    assert query(v1, "4")[0] == 400

    cases = [
        (f"TransactionNumber='{first['TransactionNumber']}'", lambda i: i is first),
        ("EnteredAmount>100 and EnteredAmount<=200", lambda i: 100 < i["EnteredAmount"] <= 200),
        ("EnteredAmount>=100 and <= 200", lambda i: 100 <= i["EnteredAmount"] <= 200),
        ("TransactionNumber LIKE 'INV-0%1'", lambda i: i["TransactionNumber"].startswith("INV-0")
         and i["TransactionNumber"].endswith("1")),
        (f"(BillToCustomerNumber='C10001' or BillToCustomerNumber=C10002) and EnteredAmount<150",
         lambda i: i["BillToCustomerNumber"] in ("C10001", "C10002") and i["EnteredAmount"] < 150),
        (f"BillToCustomerName='{first['BillToCustomerName']}' and TransactionDate>=2024-05-01",
         lambda i: i["BillToCustomerName"] == first["BillToCustomerName"] and i["TransactionDate"] >= "2024-05-01"),
        ("BillToCustomerNumber!='C10001' and EnteredAmount < 60", lambda i: i["BillToCustomerNumber"] != "C10001"
         and i["EnteredAmount"] < 60),
        ("BillToCustomerNumber in ('C10003','C10004')", lambda i: i["BillToCustomerNumber"] in ("C10003", "C10004")),
        ("Comments is null and EnteredAmount between 10 and 90", lambda i: 10 <= i["EnteredAmount"] <= 90),
    ]
    for q, pred in cases:
        status, got = query(q, "4")
        assert status == 200, q
        assert got == expect(pred), q
        assert got, f"the case {q!r} should select something"
    for bad in ("NoSuchAttribute=1", "EnteredAmount>", "(EnteredAmount>1", "TransactionNumber='unterminated"):
        assert query(bad, "4")[0] == 400, bad
    r = sandbox.get("/receivablesInvoices", params={"q": "NoSuchAttribute=1"}, headers={"REST-Framework-Version": "2",
                                                                                        **STRUCTURED})
    assert r.status_code == 400 and "NoSuchAttribute" in r.json()["o:errorDetails"][0]["detail"]


def test_paging_fields_order_and_links(sandbox: Sandbox) -> None:
    total = len(open_invoices(SEED.seed, SEED.start_date, SEED.end_date, SEED.per_day))
    assert total > 60
    first = sandbox.get("/receivablesInvoices").json()
    assert first["count"] == 25 and first["limit"] == 25 and first["offset"] == 0 and first["hasMore"] is True
    assert "totalResults" not in first
    assert first["links"][0]["rel"] == "self" and first["links"][0]["href"].endswith(f"{ROOT}/receivablesInvoices")
    seen, offset = [], 0
    while True:
        page = sandbox.get("/receivablesInvoices", params={"limit": 20, "offset": offset, "totalResults": "true",
                                                           "fields": "CustomerTransactionId,TransactionNumber"}).json()
        assert page["totalResults"] == total
        assert all(set(i) == {"CustomerTransactionId", "TransactionNumber", "links"} for i in page["items"])
        seen += [i["CustomerTransactionId"] for i in page["items"]]
        if not page["hasMore"]:
            break
        offset += page["count"]
    assert len(seen) == len(set(seen)) == total
    capped = sandbox.get("/receivablesInvoices", params={"limit": 5000}).json()
    assert capped["limit"] == 500 and capped["count"] == total and capped["hasMore"] is False
    ordered = sandbox.get("/receivablesInvoices", params={"orderBy": "EnteredAmount:desc,TransactionNumber",
                                                          "onlyData": "true", "limit": 500}).json()
    amounts = [i["EnteredAmount"] for i in ordered["items"]]
    assert amounts == sorted(amounts, reverse=True)
    assert "links" not in ordered and all("links" not in i for i in ordered["items"])
    empty_fields = sandbox.get("/receivablesInvoices", params={"fields": "", "limit": 1}).json()["items"][0]
    assert list(empty_fields) == ["links"]
    only_self = sandbox.get("/receivablesInvoices", params={"links": "self", "limit": 1}).json()["items"][0]
    assert [link["rel"] for link in only_self["links"]] == ["self"]
    for bad in ({"orderBy": "Nope:asc"}, {"fields": "Nope"}, {"limit": "0"}, {"offset": "-1"}, {"expand": "nochild"}):
        assert sandbox.get("/receivablesInvoices", params=bad).status_code == 400, bad
    iid = first["items"][0]["CustomerTransactionId"]
    v1 = sandbox.get(f"/receivablesInvoices/{iid}", params={"expand": "receivablesInvoiceInstallments"}).json()
    v3 = sandbox.get(f"/receivablesInvoices/{iid}", params={"expand": "all"}, headers={"REST-Framework-Version": "3"}).json()
    assert isinstance(v1["receivablesInvoiceInstallments"], list)
    assert v3["receivablesInvoiceInstallments"]["count"] == 1 and "receivablesInvoiceLines" in v3


def test_etag_and_if_match(sandbox: Sandbox) -> None:
    rid = sandbox.receipt(ReceiptNumber="ET-1", Amount="3")["StandardReceiptId"]
    r = sandbox.get(f"/standardReceipts/{rid}")
    etag = r.headers["etag"]
    assert r.json()["links"][0]["properties"]["changeIndicator"] == etag
    ok = sandbox.http.patch(ROOT + f"/standardReceipts/{rid}", json={"Comments": "first"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    stale = sandbox.http.patch(ROOT + f"/standardReceipts/{rid}", json={"Comments": "second"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert sandbox.http.patch(ROOT + f"/standardReceipts/{rid}", json={"Amount": "4"}).status_code == 400
    assert sandbox.http.delete(ROOT + f"/standardReceipts/{rid}").status_code == 204
    assert sandbox.get(f"/standardReceipts/{rid}").status_code == 404


# -- batch ----------------------------------------------------------------------------------------------------------------

def test_batch_is_all_or_nothing(sandbox: Sandbox) -> None:
    invoice = sandbox.invoice("40.00", account="C10008")
    iid = invoice["CustomerTransactionId"]
    before = sandbox.control("GET", "/state")
    good = [
        {"id": "r1", "path": "/standardReceipts", "operation": "create",
         "payload": {"BusinessUnit": BU, "Amount": "1.00", "ReceiptNumber": "B-1"}},
        {"id": "i1", "path": f"/receivablesInvoices/{iid}", "operation": "update", "payload": {"InvoiceStatus": "Incomplete"}},
        {"id": "g1", "path": f"/receivablesInvoices/{iid}?fields=InvoiceStatus", "operation": "get"},
    ]
    bad = [dict(good[0], payload={**good[0]["payload"], "ReceiptNumber": "B-2"}), dict(good[1]),
           {"id": "r2", "path": "/standardReceipts", "operation": "create", "payload": {"BusinessUnit": "Nowhere",
                                                                                       "Amount": "2.00"}},
           {"id": "a1", "path": "/standardReceipts/1/action/applyReceipt", "operation": "create", "payload": {}}]
    r = sandbox.batch(bad)
    assert r.status_code == 400
    failed = r.json()["parts"]
    assert [p["id"] for p in failed] == ["r2", "a1"]
    assert failed[0]["payload"]["o:errorDetails"][0]["o:errorCode"] == "AR_RAPI_BU_INVALID"
    assert failed[0]["path"].endswith(f"{ROOT}/standardReceipts")
    assert failed[1]["payload"]["o:errorDetails"][0]["detail"] in (
        "The action applyReceipt isn't enabled for batch execution.", "The requested resource standardReceipts/1 was not found.")
    after = sandbox.control("GET", "/state")
    assert after["receipts"] == before["receipts"] and after["invoices"] == before["invoices"]

    r = sandbox.batch(good)
    assert r.status_code == 200, r.text
    parts = r.json()["parts"]
    assert [p["id"] for p in parts] == ["r1", "i1", "g1"]
    assert parts[0]["payload"]["ReceiptNumber"] == "B-1" and parts[0]["path"].startswith("http://127.0.0.1")
    assert parts[1]["payload"]["InvoiceStatus"] == "Incomplete"
    assert set(parts[2]["payload"]) == {"InvoiceStatus", "links"}
    rid = parts[0]["payload"]["StandardReceiptId"]
    r = sandbox.batch([{"id": "a", "path": f"/standardReceipts/{rid}/action/applyReceipt", "operation": "create",
                        "payload": {}}])
    assert r.status_code == 400
    assert r.json()["parts"][0]["payload"]["o:errorDetails"][0]["detail"] == \
        "The action applyReceipt isn't enabled for batch execution."
    assert sandbox.http.post(ROOT + "/", json={"parts": good}).status_code == 415
    assert sandbox.control("GET", "/stats")["oracle"]["batches_rolled_back"] == 2


# -- errors, auth ----------------------------------------------------------------------------------------------------------

def test_not_found_and_plain_vs_structured_errors(sandbox: Sandbox) -> None:
    r = sandbox.get("/standardReceipts/999")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")
    r = sandbox.get("/standardReceipts/999", headers=STRUCTURED)
    assert r.status_code == 404 and r.json()["title"] == "Not Found" and r.json()["status"] == "404"
    assert sandbox.get("/noSuchResource").status_code == 404
    assert sandbox.http.get("/fscmRestApi/resources/11.13.18.01/standardReceipts").status_code == 404
    assert sandbox.get("/standardReceipts", headers={"REST-Framework-Version": "99"}).status_code == 400
    r = sandbox.http.post(ROOT + "/standardReceipts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    versions = sandbox.http.get("/fscmRestApi/resources").json()["items"][0]
    assert versions["version"] == "11.13.18.05" and versions["isLatest"] is True
    assert versions["adf:extension"]["defaultFrameworkVersion"] == "1"


def _token(sandbox: Sandbox, assertion: str, secret: str = CLIENT_SECRET) -> httpx.Response:
    return httpx.post(sandbox.server.url + "/oauth2/v1/token", auth=(CLIENT_ID, secret), data={
        "grant_type": JWT_BEARER, "scope": "urn:opc:resource:consumer::all", "assertion": assertion})


def test_basic_and_oauth_jwt_auth(sandbox: Sandbox, keys: tuple[str, str, str]) -> None:
    private, _, other = keys
    url = sandbox.server.url + ROOT + "/standardReceipts"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=(USER, "wrong")).status_code == 401
    assert httpx.get(url, auth=(USER, PASSWORD)).status_code == 200

    settings = OAuthSettings(token_url=sandbox.server.url + "/oauth2/v1/token", client_id=CLIENT_ID,
                             client_secret=CLIENT_SECRET, username=USER, private_key_pem=private, key_id="paysync")
    r = _token(sandbox, build_user_assertion(settings))
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(url, headers=bearer).status_code == 200
    assert httpx.get(url, headers={"Authorization": "Bearer " + token["access_token"][:-2] + "xx"}).status_code == 401

    bad_signature = build_user_assertion(OAuthSettings(**{**settings.__dict__, "private_key_pem": other}))
    r = _token(sandbox, bad_signature)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant" and "signature" in r.json()["error_description"]
    assert _token(sandbox, build_user_assertion(settings), secret="nope").status_code == 401
    now = int(time.time())
    from paysync_dagster.lib.oracle.auth import load_private_key

    key = load_private_key(private)
    claims = {"iss": CLIENT_ID, "sub": USER, "aud": ["oauth.idm.oracle.com"], "iat": now, "exp": now + 300}
    for change in ({"iss": "someone-else"}, {"sub": "nobody"}, {"aud": ["https://elsewhere/"]},
                   {"iat": now - 900, "exp": now - 600}):
        r = _token(sandbox, sign_rs256({"typ": "JWT"}, {**claims, **change}, key))
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", change
    assert _token(sandbox, sign_rs256({"typ": "JWT"}, claims, key)).status_code == 200
    wrong_grant = httpx.post(sandbox.server.url + "/oauth2/v1/token", auth=(CLIENT_ID, CLIENT_SECRET),
                             data={"grant_type": "password", "username": USER, "password": PASSWORD})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"

    sandbox.control("POST", "/expire_tokens")
    assert httpx.get(url, headers=bearer).status_code == 401
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert httpx.get(url, headers={"Authorization": f"Basic {basic}"}).status_code == 200


# -- order hub ---------------------------------------------------------------------------------------------------------------

def test_sales_order_ship_creates_invoice(sandbox: Sandbox) -> None:
    parties = {c["AccountNumber"]: c for c in sandbox.control("GET", "/state?invoices=false")["customers"]}
    party = parties["C10009"]
    order = {"SourceTransactionNumber": "WEB-1001", "SourceTransactionSystem": "OPS", "SourceTransactionId": "WEB-1001",
             "BusinessUnitName": BU, "BuyingPartyNumber": party["PartyNumber"], "TransactionalCurrencyCode": "USD",
             "CustomerPONumber": "PO-1001", "SubmittedFlag": True,
             "lines": [{"ProductNumber": "AS54888", "OrderedQuantity": 2, "OrderedUOM": "Ea", "UnitSellingPrice": 19.99},
                       {"ProductNumber": "AS54999", "OrderedQuantity": 1, "UnitListPrice": "5.02"}]}
    r = sandbox.post("/salesOrdersForOrderHub", order)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["StatusCode"] == "OPEN" and created["BuyingPartyId"] == party["CustomerId"]
    assert created["PartialShipAllowedFlag"] is False and created["TransactionOn"].endswith("+00:00")
    assert sandbox.post("/salesOrdersForOrderHub", order).status_code == 400
    upsert = sandbox.post("/salesOrdersForOrderHub", {**order, "ShippingInstructions": "leave at dock"},
                          headers={"Upsert-Mode": "true"})
    assert upsert.status_code == 200 and upsert.json()["ShippingInstructions"] == "leave at dock"
    got = sandbox.get("/salesOrdersForOrderHub/OPS:WEB-1001", params={"expand": "lines"}).json()
    assert got["OrderNumber"] == created["OrderNumber"] and len(got["lines"]) == 2
    assert got["links"][0]["href"].endswith("/salesOrdersForOrderHub/OPS%3AWEB-1001")

    shipped = sandbox.action("/salesOrdersForOrderHub/OPS:WEB-1001/action/shipOrder", {"TransactionNumber": "SO-INV-1"})
    assert shipped.status_code == 200, shipped.text
    result = shipped.json()["result"]
    assert result["StatusCode"] == "CLOSED" and result["TransactionNumber"] == "SO-INV-1" and result["InvoiceAmount"] == 45
    invoice = sandbox.get(f"/receivablesInvoices/{result['CustomerTransactionId']}", params={"expand": "receivablesInvoiceLines"}).json()
    assert invoice["BillToCustomerNumber"] == "C10009" and invoice["TransactionSource"] == "Distributed Order Orchestration"
    assert invoice["CrossReference"] == created["OrderNumber"] and invoice["PurchaseOrder"] == "PO-1001"
    assert [line["SalesOrder"] for line in invoice["receivablesInvoiceLines"]] == [created["OrderNumber"]] * 2
    assert sandbox.get("/salesOrdersForOrderHub/OPS:WEB-1001").json()["StatusCode"] == "CLOSED"
    assert sandbox.action("/salesOrdersForOrderHub/OPS:WEB-1001/action/shipOrder", {}).status_code == 400
    receipt = sandbox.receipt(ReceiptNumber="SO-R-1", Amount="45.00", CustomerAccountNumber="C10009")
    [inst] = sandbox.installments(invoice)
    r = sandbox.action(f"/standardReceipts/{receipt['StandardReceiptId']}/action/applyReceipt",
                       {"appliedPaymentScheduleId": inst["InstallmentId"]})
    assert r.status_code == 200 and sandbox.installments(invoice)[0]["InstallmentBalanceDue"] == 0


# -- seeding, control API, faults ------------------------------------------------------------------------------------------

def test_seed_matches_the_paytrace_catalogue_and_is_deterministic(sandbox: Sandbox) -> None:
    catalogue = open_invoices(SEED.seed, SEED.start_date, SEED.end_date, SEED.per_day)
    dump = sandbox.control("GET", "/state")
    seeded = {i["TransactionNumber"]: i for i in dump["invoices"]}
    assert len(seeded) == len(catalogue)
    for inv in catalogue:
        row = seeded[inv["invoice_number"]]
        assert row["total_minor"] == row["balance_minor"] == inv["amount_minor"]
        assert row["BillToCustomerNumber"] == inv["customer_account"]
        assert row["installments"][0]["due_date"] == inv["due_date"]
    twin = create_oracle_app(seed=SEED, fault_injection=False)
    from paysync_dagster.sandbox.oracle import dump as dump_state

    assert dump_state(twin.state)["invoices"] == dump["invoices"]
    again = sandbox.control("POST", "/seed", {"seed": SEED.seed, "start_date": "2024-05-27", "end_date": "2024-05-31",
                                              "per_day": SEED.per_day})
    assert again["added"] == {"customers": 0, "invoices": 0}
    more = sandbox.control("POST", "/seed", {"customers": [{"account": "1008", "company": "Total Internet"}]})
    assert more["added"] == {"customers": 1, "invoices": 0}
    sandbox.receipt(Amount="1")
    reset = sandbox.control("POST", "/reset")
    assert reset["oracle"]["receipts"] == 0 and reset["oracle"]["invoices"] == len(catalogue)
    assert sandbox.control("POST", "/reset", {"empty": True})["oracle"]["invoices"] == 0
    assert sandbox.control("POST", "/clock", {"today": "2024-07-01"}) == {"today": "2024-07-01"}


def test_faults_drop_after_commit_and_control_never_faulted(sandbox: Sandbox) -> None:
    config = sandbox.control("POST", "/faults", {"drop_after_commit_rate": 1.0, "paths": [f"{ROOT}/standardReceipts"]})
    assert config["drop_after_commit_rate"] == 1.0
    with pytest.raises(httpx.TransportError):
        sandbox.post("/standardReceipts", {"BusinessUnit": BU, "Amount": "9.99", "ReceiptNumber": "DROP-1"})
    receipts_ = sandbox.control("GET", "/state?invoices=false")["receipts"]
    assert [r["ReceiptNumber"] for r in receipts_] == ["DROP-1"]  # committed, although the answer was lost
    assert sandbox.get("/standardReceipts", params={"q": "ReceiptNumber=DROP-1"}).json()["count"] == 1  # GET not faulted

    sandbox.control("POST", "/faults", {"error_rate": 1.0, "error_statuses": [503]})
    assert sandbox.get("/standardReceipts").status_code == 503
    assert sandbox.control("GET", "/health") == {"status": "ok"}  # the control API is never faulted
    stats = sandbox.control("GET", "/stats")
    assert stats["faults"]["drop_after_commit"] == 1 and stats["faults"]["error_503"] == 1
    sandbox.control("POST", "/faults", {"rate_limit_every": 1, "rate_limit_burst": 1, "retry_after_seconds": 2})
    statuses = [sandbox.get("/standardReceipts") for _ in range(2)]
    assert [s.status_code for s in statuses] == [200, 429] and statuses[1].headers["retry-after"] == "2"


# -- q grammar as a property; concurrency ------------------------------------------------------------------------

_ROWS = [{"Amount": a, "Name": n, "Day": d} for a, n, d in
         [(10, "alpha", "2024-01-01"), (99.5, "beta", "2024-02-10"), (100, "O'Neil", "2024-03-01"),
          (250.25, "gamma ray", "2024-03-15"), (None, "delta", None), (1000, "alpha", "2024-12-31")]]


@st.composite
def _expressions(draw: Any, depth: int = 0) -> tuple[str, Any]:
    """(v2 q text, the same condition as a Python function) over _ROWS' attributes."""
    if depth < 2 and draw(st.booleans()):
        (lt, lf), (rt, rf) = draw(_expressions(depth + 1)), draw(_expressions(depth + 1))
        if draw(st.booleans()):
            return f"({lt}) and ({rt})", lambda r: lf(r) and rf(r)
        return f"({lt}) or ({rt})", lambda r: lf(r) or rf(r)
    ops = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
           ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}
    op = draw(st.sampled_from(sorted(ops)))
    attr = draw(st.sampled_from(["Amount", "Name", "Day"]))
    if attr == "Amount":
        value = draw(st.sampled_from([10, 99.5, 100, 150, 250.25, 1000]))
        text = repr(value)
    else:
        value = draw(st.sampled_from([r[attr] for r in _ROWS if r[attr]] + ["b", "2024-03-01"]))
        text = "'" + value.replace("'", "''") + "'"
    return f"{attr}{op}{text}", lambda r: r[attr] is not None and ops[op](r[attr], value)


@settings(max_examples=200, deadline=None)
@given(_expressions())
def test_q_v2_agrees_with_python(case: tuple[str, Any]) -> None:
    text, expected = case
    predicate = parse_q(text, ("Amount", "Name", "Day"), framework_version=4)
    assert [predicate(r) for r in _ROWS] == [bool(expected(r)) for r in _ROWS], text


def test_concurrent_writes_are_serialized(sandbox: Sandbox) -> None:
    invoice = sandbox.invoice("500.00", account="C10010")
    [inst] = sandbox.installments(invoice)
    receipts_ = [sandbox.receipt(ReceiptNumber=f"CC-{i}", Amount="10.00", CustomerAccountNumber="C10010")
                 for i in range(20)]

    def work(i: int) -> int:
        with httpx.Client(base_url=sandbox.server.url, auth=(USER, PASSWORD), timeout=30) as http:
            http.post(ROOT + "/standardReceipts", json={"BusinessUnit": BU, "Amount": "1", "ReceiptNumber": f"CN-{i}"})
            r = http.post(ROOT + f"/standardReceipts/{receipts_[i]['StandardReceiptId']}/action/applyReceipt",
                          content=json.dumps({"appliedPaymentScheduleId": inst["InstallmentId"], "amountApplied": "10.00"}),
                          headers={"Content-Type": ACTION})
            return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(work, range(20)))
    assert statuses == [200] * 20
    assert sandbox.installments(invoice)[0]["InstallmentBalanceDue"] == 300
    dump = sandbox.control("GET", "/state?invoices=false")["receipts"]
    assert len({r["StandardReceiptId"] for r in dump}) == len(dump) == 40
