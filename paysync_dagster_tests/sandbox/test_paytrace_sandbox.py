"""The PayTrace sandbox over real HTTP: auth, transactions, exports, batches, vault, control API, CLI."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from paysync_dagster.lib.money import to_minor
from paysync_dagster.lib.paytrace.batch_fields import BATCH_FIELDS, CARD_TYPE_FIELDS
from paysync_dagster.lib.timeutil import parse_paytrace_date
from paysync_dagster.sandbox.paytrace.state import FakeClock
from paysync_dagster.sandbox.server import ServerThread, build_app

INTEGRATOR = "9575315uXt4u"
USER, PASSWORD = "paysync-demo", "paysync-demo-password"
VISA, MC, AMEX = "4012000098765439", "5499740000000057", "371449635392376"
# 2024-06-03 10:00 America/Los_Angeles (PDT): a Monday, far from DST changes.
START_EPOCH = 1717434000

# Verbatim from samples/paytrace (kept here so the tests do not depend on a path outside the repo).
SALE_APPROVED_SAMPLE = json.loads('{"success":true,"response_code":101,"status_message":"Your transaction was successfully approved.","transaction_id":392483066,"approval_code":"TAS610","approval_message":"  NO  MATCH - Approved and completed","avs_response":"No Match","csc_response":"","external_transaction_id":"","masked_card_number":"xxxxxxxxxxxx5439"}')
INVALID_GRANT_SAMPLE = json.loads('{"error":"invalid_grant","error_description":"The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}')
ERROR_MULTIPLE_SAMPLE = json.loads('{ "success":false, "response_code":1, "status_message":"One or more errors has occurred.", "errors":{ "30":[ "Customer ID, customerid123, was not found or is incomplete." ], "45":[ "Please provide a valid Checking Account Number." ], "46":[ "Please provide a valid Transit Routing Number." ] } }')
CUSTOMER_CREATE_SAMPLE = json.loads('{"success": true, "response_code": 160, "status_message": "The customer profile for customer456/Steve Smith was successfully created.", "customer_id": "customer456", "masked_card_number": "xxxxxxxxxxxx1111"}')

TIMESTAMP = re.compile(r"^([1-9]|1[0-2])/([1-9]|[12]\d|3[01])/\d{4} ([1-9]|1[0-2]):[0-5]\d:[0-5]\d (AM|PM)$")
RECORD_KEYS = {"transaction_id", "credit_card", "transaction_type", "description", "amount", "invoice_id",
               "shipping_address", "billing_address", "receipt_emailed_to", "tax_amount", "customer_reference_id",
               "approval_code", "approval_message", "avs_response", "csc_response", "status_code", "status_message",
               "created", "settled", "customer_id"}
SHIPPING_KEYS = {"name", "street_address", "street_address2", "city", "county", "state", "zip", "country"}
BILLING_KEYS = {"name", "street_address", "street_address2", "city", "state", "zip", "country"}
REFUND_817 = ("The Transaction ID that you provided could not be refunded. Only settled transactions can be "
              "refunded.  Please try to void the transaction instead.")


class Sandbox:
    def __init__(self, server: ServerThread, app, clock: FakeClock):
        self.server, self.app, self.clock = server, app, clock
        self.http = httpx.Client(base_url=server.url, timeout=60)

    def token(self) -> str:
        r = self.http.post("/oauth/token", data={"grant_type": "password", "username": USER, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def call(self, path: str, token: str | None = None, **body) -> httpx.Response:
        body.setdefault("integrator_id", INTEGRATOR)
        return self.http.post(f"/v1/{path}", json=body, headers={"Authorization": f"Bearer {token or self.token()}"})

    def sale(self, token: str, amount: str = "10.00", number: str = VISA, **extra) -> dict:
        r = self.call("transactions/sale/keyed", token, amount=amount, credit_card={
            "number": number, "expiration_month": "12", "expiration_year": "2030"}, **extra)
        assert r.status_code == 200, r.text
        return r.json()

    def export_one(self, token: str, txn_id: int) -> dict:
        r = self.call("transactions/export/by_id", token, transaction_id=txn_id)
        assert r.status_code == 200, r.text
        (record,) = r.json()["transactions"]
        return record

    def generate(self, **spec) -> dict:
        r = self.http.post("/_sandbox/generate", json=spec)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def server():
    clock = FakeClock(START_EPOCH)
    app = build_app(clock=clock)
    with ServerThread(app) as srv:
        sandbox = Sandbox(srv, app, clock)
        yield sandbox
        sandbox.http.close()


@pytest.fixture()
def sb(server: Sandbox) -> Sandbox:
    server.clock.epoch = START_EPOCH
    assert server.http.post("/_sandbox/reset").status_code == 200
    return server


# -- auth -----------------------------------------------------------------------------------------

def test_token_has_the_documented_shape(sb: Sandbox):
    r = sb.http.post("/oauth/token", data={"grant_type": "password", "username": USER, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 7200
    assert re.fullmatch(r"[0-9a-f]+:[0-9a-f]+:[A-Za-z0-9_-]+", body["access_token"])


def test_bad_credentials_give_invalid_grant(sb: Sandbox):
    r = sb.http.post("/oauth/token", data={"grant_type": "password", "username": USER, "password": "nope"})
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT_SAMPLE


def test_malformed_token_requests(sb: Sandbox):
    r = sb.http.post("/oauth/token", json={"grant_type": "password", "username": USER, "password": PASSWORD})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = sb.http.post("/oauth/token", data={"grant_type": "client_credentials", "username": USER, "password": PASSWORD})
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = sb.http.post("/oauth/token", data={"grant_type": "password", "username": USER})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


def test_unknown_or_missing_token_is_401(sb: Sandbox):
    r = sb.call("transactions/export/by_id", "abc:def:ghi", transaction_id=1)
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_token", "error_description": "The access token is invalid"}
    r = sb.http.post("/v1/transactions/export/by_id", json={"integrator_id": INTEGRATOR, "transaction_id": 1})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_token_expires_after_7200_sandbox_seconds(sb: Sandbox):
    token = sb.token()
    sale = sb.sale(token)
    sb.clock.advance(7199)
    assert sb.call("transactions/export/by_id", token, transaction_id=sale["transaction_id"]).status_code == 200
    sb.clock.advance(1)
    r = sb.call("transactions/export/by_id", token, transaction_id=sale["transaction_id"])
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_token", "error_description": "The access token expired"}
    assert sb.call("transactions/export/by_id", sb.token(), transaction_id=sale["transaction_id"]).status_code == 200


def test_control_api_expires_every_token(sb: Sandbox):
    token = sb.token()
    assert sb.http.post("/_sandbox/expire_tokens").json() == {"expired": 1}
    r = sb.call("customer/export", token)
    assert r.status_code == 401 and r.json()["error_description"] == "The access token expired"


def test_ping_needs_no_token(sb: Sandbox):
    r = sb.http.get("/v1/ping")
    assert r.status_code == 200 and r.json()["status"] == "success"


def test_integrator_id_is_required(sb: Sandbox):
    token = sb.token()
    for body in ({}, {"integrator_id": "someone-else"}):
        r = sb.http.post("/v1/customer/export", json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 400
        assert r.json() == {"success": False, "response_code": 1, "status_message": "One or more errors has occurred.",
                            "errors": {"970": ["Please provide a valid Integrator ID."]}}


# -- transactions ---------------------------------------------------------------------------------

def test_approved_sale_has_the_sample_fields(sb: Sandbox):
    body = sb.sale(sb.token(), "12.34", billing_address={"name": "Steve Smith", "zip": "97201"}, csc="123")
    assert set(body) == set(SALE_APPROVED_SAMPLE)
    assert (body["success"], body["response_code"]) == (True, 101)
    assert body["status_message"] == "Your transaction was successfully approved."
    assert isinstance(body["transaction_id"], int)
    assert re.fullmatch(r"[A-Z0-9]{6}", body["approval_code"])
    assert body["masked_card_number"] == "xxxxxxxxxxxx5439"
    assert body["external_transaction_id"] == ""
    assert body["csc_response"] == "Match"


def test_amount_029_declines_but_keeps_a_transaction(sb: Sandbox):
    token = sb.token()
    body = sb.sale(token, "0.29", number=AMEX)
    assert (body["success"], body["response_code"]) == (False, 102)
    assert body["status_message"] == "Your transaction was not approved."
    assert body["approval_code"] == "" and body["approval_message"] == "    DECLINE - Do not honor"
    assert body["masked_card_number"] == "xxxxxxxxxxxx2376"
    record = sb.export_one(token, body["transaction_id"])
    assert (record["transaction_type"], record["approval_code"], record["settled"]) == ("SALE", "", "")
    sb.call("transactions/settle", token)
    assert sb.export_one(token, body["transaction_id"])["settled"] == ""  # declines never settle


def test_expired_card_declines(sb: Sandbox):
    r = sb.call("transactions/sale/keyed", sb.token(), amount="5.00",
                credit_card={"number": MC, "expiration_month": 1, "expiration_year": 24})
    assert r.status_code == 200
    assert (r.json()["response_code"], r.json()["approval_message"]) == (102, "  EXPIRED CARD - Expired card")


def test_several_validation_errors_at_once(sb: Sandbox):
    r = sb.call("transactions/sale/keyed", sb.token(), amount="1.00",
                credit_card={"number": "54545454545454", "expiration_month": "14", "expiration_year": "2030"})
    assert r.status_code == 400
    body = r.json()
    assert set(body) - {"external_transaction_id"} == set(ERROR_MULTIPLE_SAMPLE)
    assert (body["success"], body["response_code"], body["status_message"]) == \
        (False, 1, "One or more errors has occurred.")
    assert body["errors"] == {"35": ["Please provide a valid Credit Card Number."],
                              "43": ["Please provide a valid Expiration Month."]}


def test_card_number_must_pass_luhn(sb: Sandbox):
    r = sb.call("transactions/sale/keyed", sb.token(), amount="1.00",
                credit_card={"number": VISA[:-1] + "8", "expiration_month": "12", "expiration_year": "30"})
    assert r.status_code == 400 and set(r.json()["errors"]) == {"35"}


def test_authorization_then_partial_capture(sb: Sandbox):
    token = sb.token()
    r = sb.call("transactions/authorization/keyed", token, amount="5.00",
                credit_card={"number": MC, "expiration_month": 12, "expiration_year": 2030})
    auth = r.json()
    assert (r.status_code, auth["response_code"]) == (200, 101)
    assert sb.export_one(token, auth["transaction_id"])["transaction_type"] == "AUTHORIZATION"
    r = sb.call("transactions/authorization/capture", token, transaction_id=auth["transaction_id"], amount="2.00")
    assert r.status_code == 200
    assert r.json() == {"success": True, "response_code": 112, "status_message": "Your transaction was successfully captured.",
                        "transaction_id": auth["transaction_id"], "external_transaction_id": ""}
    record = sb.export_one(token, auth["transaction_id"])
    assert (record["transaction_type"], record["amount"]) == ("CAPTURE", 2)
    again = sb.call("transactions/authorization/capture", token, transaction_id=auth["transaction_id"])
    assert again.status_code == 400 and set(again.json()["errors"]) == {"815"}
    other = sb.call("transactions/authorization/keyed", token, amount="5.00",
                    credit_card={"number": MC, "expiration_month": 12, "expiration_year": 2030}).json()
    over = sb.call("transactions/authorization/capture", token, transaction_id=other["transaction_id"], amount="5.01")
    assert over.status_code == 400 and set(over.json()["errors"]) == {"816"}


def test_refund_needs_settlement_then_allows_partial_refunds_up_to_the_original(sb: Sandbox):
    token = sb.token()
    sale = sb.sale(token, "10.00", invoice_id="INV-000042", description="Parts")
    txn = sale["transaction_id"]
    r = sb.call("transactions/refund/for_transaction", token, transaction_id=txn, amount="4.00")
    assert r.status_code == 400
    assert r.json()["errors"] == {"817": [REFUND_817]}
    settle = sb.call("transactions/settle", token).json()
    assert settle["success"] is True and settle["batch"]["sales_count"] == 1
    r = sb.call("transactions/refund/for_transaction", token, transaction_id=txn, amount="4.00")
    assert r.status_code == 200
    refund = r.json()
    assert (refund["success"], refund["response_code"]) == (True, 106)
    assert refund["status_message"] == "Your transaction was successfully refunded."
    assert refund["transaction_id"] != txn and set(refund) == {"success", "response_code", "status_message",
                                                               "transaction_id", "external_transaction_id"}
    record = sb.export_one(token, refund["transaction_id"])
    original = sb.export_one(token, txn)
    assert record["transaction_type"] == "REFUND" and record["amount"] == 4
    assert record["description"] == f"Refund of transaction {txn}"
    for key in ("invoice_id", "customer_id", "credit_card", "billing_address"):
        assert record[key] == original[key]
    over = sb.call("transactions/refund/for_transaction", token, transaction_id=txn, amount="6.01")
    assert over.status_code == 400 and set(over.json()["errors"]) == {"819"}
    assert sb.call("transactions/refund/for_transaction", token, transaction_id=txn, amount="6.00").status_code == 200
    assert sb.call("transactions/refund/for_transaction", token, transaction_id=txn, amount="0.01").status_code == 400


def test_void_only_before_settlement(sb: Sandbox):
    token = sb.token()
    sale = sb.sale(token)
    r = sb.call("transactions/void", token, transaction_id=sale["transaction_id"])
    assert r.status_code == 200
    assert r.json() == {"success": True, "response_code": 109, "status_message": "Your transaction was successfully voided.",
                        "transaction_id": sale["transaction_id"]}
    assert sb.export_one(token, sale["transaction_id"])["transaction_type"] == "VOID"
    assert sb.call("transactions/settle", token).json()["batch"] is None  # nothing left to settle
    settled = sb.sale(token)
    sb.call("transactions/settle", token)
    r = sb.call("transactions/void", token, transaction_id=settled["transaction_id"])
    assert r.status_code == 400 and set(r.json()["errors"]) == {"818"}
    assert sb.export_one(token, settled["transaction_id"])["transaction_type"] == "SALE"


def test_unknown_transaction_is_error_58(sb: Sandbox):
    r = sb.call("transactions/export/by_id", sb.token(), transaction_id=123)
    assert r.status_code == 400
    assert r.json() == {"success": False, "response_code": 1, "status_message": "One or more errors has occurred.",
                        "errors": {"58": ["Please provide a valid Transaction ID."]}, "external_transaction_id": ""}


def test_batch_closes_by_itself_at_8pm_merchant_time(sb: Sandbox):
    token = sb.token()
    sale = sb.sale(token)
    sb.clock.epoch = START_EPOCH + 10 * 3600 - 1  # 7:59:59 pm
    token = sb.token()  # the first one expired at noon
    assert sb.export_one(token, sale["transaction_id"])["settled"] == ""
    sb.clock.advance(1)
    assert sb.export_one(token, sale["transaction_id"])["settled"] == "6/3/2024 8:00:00 PM"


# -- exports --------------------------------------------------------------------------------------

def _check_record(rec: dict) -> None:
    assert set(rec) == RECORD_KEYS
    assert type(rec["transaction_id"]) is int
    assert type(rec["amount"]) in (int, float) and rec["amount"] > 0
    assert isinstance(rec["tax_amount"], str) and re.fullmatch(r"(\d+\.\d\d)?", rec["tax_amount"])
    card = rec["credit_card"]
    assert set(card) == {"masked_number", "expiration_month", "expiration_year"}
    assert re.fullmatch(r"\*{12}\d{4}", card["masked_number"])
    assert type(card["expiration_month"]) is int and 1 <= card["expiration_month"] <= 12
    assert type(card["expiration_year"]) is int and 0 <= card["expiration_year"] <= 99
    assert set(rec["shipping_address"]) == SHIPPING_KEYS and set(rec["billing_address"]) == BILLING_KEYS
    assert set(rec["created"]) == {"through", "at", "by", "from_ip"}
    assert rec["created"]["through"] == "API" and rec["created"]["by"] == USER
    assert TIMESTAMP.match(rec["created"]["at"])
    assert rec["settled"] == "" or TIMESTAMP.match(rec["settled"])
    assert rec["transaction_type"] in {"SALE", "AUTHORIZATION", "CAPTURE", "REFUND", "VOID"}
    for key in RECORD_KEYS - {"transaction_id", "amount", "credit_card", "shipping_address", "billing_address", "created"}:
        assert isinstance(rec[key], str), key
    for address in (rec["shipping_address"], rec["billing_address"]):
        assert all(isinstance(v, str) for v in address.values())


def test_date_range_export_records_are_field_for_field(sb: Sandbox):
    sb.generate(seed=3, start_date="2024-05-27", end_date="2024-06-02", per_day=120)
    token = sb.token()
    live = sb.sale(token, "7.50")
    r = sb.call("transactions/export/by_date_range", token, start_date="05/27/2024", end_date="06/03/2024")
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["success", "response_code", "status_message", "transactions", "external_transaction_id"]
    assert (body["success"], body["response_code"], body["status_message"], body["external_transaction_id"]) == \
        (True, 1, "Your request has been successfully completed.", "")
    records = body["transactions"]
    assert len(records) == 7 * 120 + 1
    for rec in records:
        _check_record(rec)
    # The amount is a JSON number, never a string, in the raw text too; whole dollars are integers.
    assert re.search(r'"amount":\d+(\.\d{1,2})?,', r.text) and '"amount":"' not in r.text
    assert next(x for x in records if x["transaction_id"] == live["transaction_id"])["amount"] == 7.5
    assert any(x["tax_amount"] for x in records) and any(x["tax_amount"] == "" for x in records)
    assert any(x["customer_id"] == "" for x in records) and any(x["customer_id"] for x in records)
    assert any(x["shipping_address"]["county"] for x in records)
    # The date filter is on the merchant-local date that created.at shows.
    days = {datetime.strptime(rec["created"]["at"].split(" ")[0], "%m/%d/%Y").date() for rec in records}
    assert min(days) == parse_paytrace_date("05/27/2024") and max(days) == parse_paytrace_date("06/03/2024")
    narrower = sb.call("transactions/export/by_date_range", token, start_date="05/28/2024", end_date="06/02/2024")
    assert len(narrower.json()["transactions"]) == 6 * 120


def test_include_bin_shows_first_six(sb: Sandbox):
    token = sb.token()
    sale = sb.sale(token, number=MC)
    r = sb.call("transactions/export/by_id", token, transaction_id=sale["transaction_id"], include_bin=True)
    assert r.json()["transactions"][0]["credit_card"]["masked_number"] == "549974******0057"


def test_export_filters(sb: Sandbox):
    sb.generate(seed=5, start_date="2024-05-30", end_date="2024-06-02", per_day=200)
    token = sb.token()

    def export(**filters) -> list[dict]:
        r = sb.call("transactions/export/by_date_range", token, start_date="05/30/2024", end_date="06/02/2024", **filters)
        assert r.status_code == 200, r.text
        return r.json()["transactions"]

    everything = export()
    assert len(everything) == 800
    for kind in ("SALE", "AUTHORIZATION", "CAPTURE", "REFUND", "VOID"):
        subset = export(transaction_type=kind)
        assert subset and all(x["transaction_type"] == kind for x in subset)
        assert len(subset) == sum(x["transaction_type"] == kind for x in everything)
    declined = export(transaction_type="DECLINED")
    assert declined and all(x["approval_code"] == "" and x["transaction_type"] in ("SALE", "AUTHORIZATION") for x in declined)
    settled = export(transaction_type="SETTLED")
    assert settled and all(x["settled"] for x in settled)
    pending = export(transaction_type="PENDING")
    assert pending and all(x["settled"] == "" and x["transaction_type"] in ("SALE", "CAPTURE", "REFUND") and x["approval_code"]
                           for x in pending)
    customer = next(x["customer_id"] for x in everything if x["customer_id"])
    mine = export(customer_id=customer)
    assert mine and all(x["customer_id"] == customer for x in mine)
    assert len(mine) == sum(x["customer_id"] == customer for x in everything)
    one_day = sb.call("transactions/export/by_date_range", token, start_date="6/1/2024", end_date="6/1/2024").json()
    assert one_day == sb.call("transactions/export/by_date_range", token, start_date="06/01/2024", end_date="06/01/2024").json()
    assert len(one_day["transactions"]) == 200 and all(x["created"]["at"].startswith("6/1/2024 ") for x in one_day["transactions"])
    bad = sb.call("transactions/export/by_date_range", token, start_date="05/30/2024", end_date="06/02/2024", transaction_type="BOGUS")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"952"}
    bad = sb.call("transactions/export/by_date_range", token, start_date="2024-05-30", end_date="06/02/2024")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"950"}


# -- batches --------------------------------------------------------------------------------------

def _signed_cents(rec: dict) -> int:
    cents = to_minor(rec["amount"])
    return -cents if rec["transaction_type"] == "REFUND" else cents


def test_batches_use_the_documented_fields_and_add_up(sb: Sandbox):
    sb.generate(seed=11, start_date="2024-05-28", end_date="2024-06-01", per_day=150)
    token = sb.token()
    r = sb.call("batches/export", token, start_date="05/28/2024", end_date="06/02/2024")
    assert r.status_code == 200
    body = r.json()
    assert (body["success"], body["response_code"], body["external_transaction_id"]) == (True, 1, "")
    batches = body["batches"]
    assert len(batches) == 6  # one per day, plus the last evening's, closed by the clock on 6/2 at 8 pm
    assert [b["number"] for b in batches] == list(range(batches[0]["number"], batches[0]["number"] + 6))
    assert any(b["refund_count"] for b in batches)
    for b in batches:
        assert set(b) == set(BATCH_FIELDS)
        assert b["created"].endswith(" 8:00:00 PM") and TIMESTAMP.match(b["created"])
        assert to_minor(b["net_amount"]) == to_minor(b["sales_amount"]) - to_minor(b["refund_amount"])
        assert b["transaction_count"] == b["sales_count"] + b["refund_count"]
        for row in b["card_types"]:
            assert set(row) == set(CARD_TYPE_FIELDS)
        assert sum(to_minor(row["sales_amount"]) for row in b["card_types"]) == to_minor(b["sales_amount"])
        one = sb.call("batches/export_one", token, batch_number=b["number"]).json()
        assert one["batch"] == b
        listing = sb.call("batches/transaction_list", token, batch_number=b["number"]).json()
        assert listing["batch"] == b
        assert len(listing["transactions"]) == b["transaction_count"]
        assert sum(_signed_cents(x) for x in listing["transactions"]) == to_minor(b["net_amount"])
        for x in listing["transactions"]:
            _check_record(x)
            assert x["settled"] == b["created"]
            assert x["transaction_type"] in ("SALE", "CAPTURE", "REFUND") and x["approval_code"]
    unknown = sb.call("batches/transaction_list", token, batch_number=1)
    assert unknown.status_code == 400 and set(unknown.json()["errors"]) == {"953"}


def test_open_batch_summary(sb: Sandbox):
    token = sb.token()
    sb.sale(token, "3.00")
    sb.sale(token, "0.29")  # declined: not in the batch
    r = sb.call("batches/export_one", token)
    batch = r.json()["batch"]
    assert set(batch) == set(BATCH_FIELDS)
    assert (batch["created"], batch["sales_count"], batch["net_amount"]) == ("", 1, 3)
    closed = sb.call("transactions/settle", token).json()["batch"]
    assert closed["number"] == batch["number"] and TIMESTAMP.match(closed["created"])
    assert sb.call("batches/export_one", token).json()["batch"]["transaction_count"] == 0


# -- vault ----------------------------------------------------------------------------------------

def test_customer_lifecycle_never_shows_a_full_card_number(sb: Sandbox):
    token = sb.token()
    texts: list[str] = []

    def call(path: str, **body) -> httpx.Response:
        r = sb.call(path, token, **body)
        texts.append(r.text)
        return r

    card = {"number": VISA, "expiration_month": "7", "expiration_year": "2031"}
    r = call("customer/create", customer_id="customer456", credit_card=card, csc="8642",
             billing_address={"name": "Steve Smith", "street_address": "1 Main St", "city": "Spokane", "state": "WA",
                              "zip": "99201"}, email="steve@example.com")
    assert r.status_code == 200
    assert r.json() == {**CUSTOMER_CREATE_SAMPLE, "masked_card_number": "xxxxxxxxxxxx5439"}
    dup = call("customer/create", customer_id="customer456", credit_card=card)
    assert dup.status_code == 400
    assert dup.json()["errors"] == {"171": ["Please provide a unique customer ID."]}
    assert dup.json()["masked_card_number"] == "xxxxxxxxxxxx5439"
    sale = call("transactions/sale/by_customer", customer_id="customer456", amount="20.00", invoice_id="INV-000007").json()
    assert (sale["response_code"], sale["masked_card_number"]) == (101, "xxxxxxxxxxxx5439")
    record = sb.export_one(token, sale["transaction_id"])
    assert record["customer_id"] == "customer456" and record["billing_address"]["name"] == "Steve Smith"
    upd = call("customer/update", customer_id="customer456", new_id="customer789", billing_address={"name": "Steven Smith"})
    assert upd.status_code == 200
    assert upd.json() == {"success": True, "response_code": 161, "customer_id": "customer789",
                          "status_message": "The customer profile for customer789/Steven Smith was successfully updated.",
                          "masked_card_number": "xxxxxxxxxxxx5439"}
    gone = call("transactions/sale/by_customer", customer_id="customer456", amount="1.00")
    assert gone.status_code == 400
    assert gone.json()["errors"] == {"30": ["Customer ID, customer456, was not found or is incomplete."]}
    exported = call("customer/export").json()
    (profile,) = [c for c in exported["customers"] if c["customer_id"] == "customer789"]
    assert profile["credit_card"] == {"masked_number": "************5439", "expiration_month": 7, "expiration_year": 31}
    assert profile["billing_address"]["street_address"] == "1 Main St"  # untouched by the partial update
    assert profile["email"] == "steve@example.com"
    from_txn = call("customer/create_from_transaction", customer_id="walkin-1", transaction_id=sale["transaction_id"])
    assert from_txn.status_code == 200 and from_txn.json()["response_code"] == 160
    deleted = call("customer/delete", customer_id="customer789")
    assert deleted.json() == {"success": True, "response_code": 162, "customer_id": "customer789",
                              "status_message": "The customer profile for customer789/Steven Smith was successfully deleted."}
    assert all(VISA not in t and VISA[-8:] not in t for t in texts)
    state = sb.app.paytrace
    stored = repr((state.customers, state.txns))
    assert VISA not in stored and VISA[6:] not in stored
    assert all("8642" not in repr(p) and "csc" not in p for p in state.customers.values())


def test_vault_history_is_served(sb: Sandbox):
    sb.generate(seed=2, start_date="2024-06-01", end_date="2024-06-01", per_day=200)
    customers = sb.call("customer/export", sb.token()).json()["customers"]
    assert customers and all(re.fullmatch(r"C\d{5}", c["customer_id"]) for c in customers)
    assert all(re.fullmatch(r"\*{12}\d{4}", c["credit_card"]["masked_number"]) for c in customers)


# -- control API and CLI --------------------------------------------------------------------------

def test_stats_count_requests_by_path_and_status(sb: Sandbox):
    token = sb.token()
    sb.sale(token)
    sb.call("transactions/export/by_id", token, transaction_id=1)
    stats = sb.http.get("/_sandbox/stats").json()
    assert stats["paytrace"]["transactions"] == 1 and stats["paytrace"]["open_batch"] == 1
    assert stats["requests"]["/v1/transactions/sale/keyed"] == {"200": 1}
    assert stats["requests"]["/v1/transactions/export/by_id"] == {"400": 1}
    assert stats["requests"]["/oauth/token"] == {"200": 1}
    assert not any(path.startswith("/_sandbox/") for path in stats["requests"])


def test_reset_restores_the_startup_history():
    from datetime import date

    from paysync_dagster.sandbox.paytrace.state import HistorySpec
    app = build_app(clock=FakeClock(START_EPOCH), history=HistorySpec(1, date(2024, 6, 1), date(2024, 6, 2), 50))
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url) as http:
        before = http.get("/_sandbox/stats").json()["paytrace"]
        assert before["transactions"] == 100
        http.post("/_sandbox/generate", json={"seed": 9, "start_date": "2024-06-01", "days": 1, "per_day": 10})
        assert http.get("/_sandbox/stats").json()["paytrace"]["transactions"] == 10
        after = http.post("/_sandbox/reset").json()["paytrace"]
        assert after["transactions"] == 100 and after["batches"] == before["batches"]
        assert http.post("/_sandbox/generate", json={"seed": 1}).status_code == 400


def test_cli_serves_until_sigterm():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "paysync_dagster.cli", "sandbox",
         "--port", "0", "--days", "2", "--per-day", "20", "--start-date", "2024-06-01", "--faults", '{"seed": 3}'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=Path(__file__).resolve().parents[2], text=True)
    try:
        deadline = time.monotonic() + 60
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no URL printed"
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        r = httpx.get(f"{url}/v1/ping", timeout=max(1.0, deadline - time.monotonic()))
        assert r.status_code == 200
        assert httpx.get(f"{url}/_sandbox/faults").json()["seed"] == 3
        assert httpx.get(f"{url}/_sandbox/stats").json()["paytrace"]["transactions"] == 40
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

