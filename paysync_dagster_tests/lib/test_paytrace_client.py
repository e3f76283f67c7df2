"""PayTraceClient over real HTTP against the scripted server, fed with the verbatim public samples."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from paysync_dagster.lib.http import Attempt, RetryPolicy
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.paytrace.errors import (
    PayTraceApiError,
    PayTraceAuthError,
    PayTraceDataError,
    PayTraceOutcomeUnknown,
    PayTraceResponseError,
    PayTraceTransportError,
)

from .test_http_retry import Reply, ScriptedServer, server  # noqa: F401 - `server` is a fixture

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "paytrace"
TOKEN = "/oauth/token"
PASSWORD = "pa55-Word-never-logged"
INTEGRATOR = "9575315uXt4u"
PAN = "4012000098765439"
CSC = "739"


def sample(name: str) -> Any:
    assert SAMPLES.is_dir(), f"the shared PayTrace samples must exist at {SAMPLES}"
    return json.loads((SAMPLES / name).read_text())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(server: ScriptedServer, clock: FakeClock, waits: list[float]) -> Iterator[PayTraceClient]:  # noqa: F811
    with PayTraceClient(server.url, "api-user", PASSWORD, INTEGRATOR, httpx.Timeout(5.0, read=0.5),
                        RetryPolicy(max_attempts=4, base_delay_s=0.05, rng=random.Random(3)),
                        sleep=waits.append, clock=clock) as c:
        yield c


def token_reply(token: str = "aa:bb:cc", expires_in: int = 7200) -> Reply:
    return Reply(json={"access_token": token, "token_type": "bearer", "expires_in": expires_in})


def export_reply(*records: dict[str, Any]) -> Reply:
    return Reply(json={"success": True, "response_code": 1, "status_message": "Your request has been successfully completed.",
                       "transactions": list(records), "external_transaction_id": ""})


# -- the verbatim samples -----------------------------------------------------------------------------

def test_every_sample_file_goes_through_the_response_handling(server: ScriptedServer,  # noqa: F811
                                                              client: PayTraceClient) -> None:
    files = sorted(SAMPLES.glob("*.json"))
    assert files, f"no samples in {SAMPLES}"
    for path in files:
        body = json.loads(path.read_text())
        client._forget_token()
        if "access_token" in body:  # a token answer: cached and used
            server.script(Reply(json=body), path=TOKEN)
            server.script(Reply(json={"success": True, "customers": []}))
            assert client.export_customers() == []
            assert server.received[-1].headers["authorization"] == f"Bearer {body['access_token']}"
        elif "error" in body:  # an OAuth error from the token endpoint
            server.script(Reply(400, json=body), path=TOKEN)
            with pytest.raises(PayTraceAuthError):
                client.export_customers()
        elif body.get("success") is False:
            server.script(token_reply(), path=TOKEN)
            server.script(Reply(400, json=body))
            with pytest.raises(PayTraceApiError) as info:
                client.void(1)
            assert info.value.codes == [str(code) for code in body["errors"]], path.name
        else:
            server.script(token_reply(), path=TOKEN)
            server.script(Reply(json=body))
            assert client.sale_by_customer("c1", 100) == body, path.name


def test_token_sample_is_cached_until_shortly_before_expiry(server: ScriptedServer, client: PayTraceClient,  # noqa: F811
                                                            clock: FakeClock) -> None:
    token = sample("token.json")
    server.script(Reply(json=token), Reply(json={**token, "access_token": "second"}), path=TOKEN)
    server.script(export_reply(), export_reply(), export_reply())
    client.export_transaction(1)
    clock.now += 7000  # 200 s before expiry: still good
    client.export_transaction(2)
    assert len(server.requests_to(TOKEN)) == 1
    clock.now += 150  # inside the renewal margin (60 s before expires_in)
    client.export_transaction(3)
    tokens = server.requests_to(TOKEN)
    assert len(tokens) == 2 and client.token_fetches == 2
    calls = server.requests_to("/v1/transactions/export/by_id")
    assert [c.headers["authorization"] for c in calls] == [f"Bearer {token['access_token']}"] * 2 + ["Bearer second"]
    grant = tokens[0]
    assert grant.method == "POST"
    assert grant.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert grant.form() == {"grant_type": "password", "username": "api-user", "password": PASSWORD}
    assert [c.json() for c in calls] == [{"transaction_id": i, "integrator_id": INTEGRATOR} for i in (1, 2, 3)]


def test_invalid_grant_sample_raises_auth_error_without_the_password(server: ScriptedServer,  # noqa: F811
                                                                     client: PayTraceClient) -> None:
    body = sample("token_error_invalid_grant.json")
    server.script(Reply(401, json=body), path=TOKEN)
    with pytest.raises(PayTraceAuthError) as info:
        client.export_batch()
    assert body["error_description"] in str(info.value)
    assert "invalid_grant" in str(info.value)
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)
    assert len(server.requests_to(TOKEN)) == 1  # a refusal is not retried
    assert server.requests_to("/v1/batches/export_one") == []


@pytest.mark.parametrize("name, codes", [("error.json", ["58"]), ("error_multiple.json", ["30", "45", "46"])])
def test_error_samples_raise_api_error_with_exact_codes(server: ScriptedServer, client: PayTraceClient,  # noqa: F811
                                                        name: str, codes: list[str]) -> None:
    body = sample(name)
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(400, json=body))
    with pytest.raises(PayTraceApiError) as info:
        client.refund(392483066)
    err = info.value
    assert err.codes == codes
    assert err.errors == {code: body["errors"][code] for code in codes}
    assert err.http_status == 400 and err.response_code == 1
    assert err.path == "/v1/transactions/refund/for_transaction"
    assert len(server.requests_to(err.path)) == 1


def test_sale_approved_sample_is_returned_and_request_is_on_the_wire_format(server: ScriptedServer,  # noqa: F811
                                                                            client: PayTraceClient) -> None:
    body = sample("sale_approved.json")
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(json=body))
    address = {"name": "Steve Smith", "street_address": "8320 E. West St.", "city": "Spokane", "state": "WA",
               "zip": "85284"}
    answer = client.sale_keyed(1230, PAN, 9, 2030, csc=CSC, billing_address=address, invoice_id="INV-1",
                               description="d", email="a@b.c", tax_minor=105)
    assert answer == body
    sent = server.requests_to("/v1/transactions/sale/keyed")[0]
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["authorization"] == "Bearer aa:bb:cc"
    assert sent.json() == {
        "amount": "12.30", "credit_card": {"number": PAN, "expiration_month": "09", "expiration_year": "2030"},
        "csc": CSC, "billing_address": address, "invoice_id": "INV-1", "description": "d", "email": "a@b.c",
        "tax_amount": "1.05", "integrator_id": INTEGRATOR,
    }


def test_customer_create_sample_is_returned(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    body = sample("customer_create.json")
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(json=body))
    assert client.create_customer("customer456", "4111111111111111", 12, 2030,
                                  billing_address={"name": "Steve Smith"}) == body
    sent = server.requests_to("/v1/customer/create")[0].json()
    assert sent["customer_id"] == "customer456" and sent["integrator_id"] == INTEGRATOR
    assert "csc" not in sent and "email" not in sent  # optional fields left out, not sent as null


# -- invalid_token ------------------------------------------------------------------------------------

def test_invalid_token_mid_run_reauthenticates_exactly_once(server: ScriptedServer,  # noqa: F811
                                                            client: PayTraceClient) -> None:
    server.script(token_reply("first"), token_reply("second"), path=TOKEN)
    server.script(export_reply(), Reply(401, json={"error": "invalid_token", "error_description": "expired"}),
                  export_reply({"transaction_id": 7}))
    assert client.export_transaction(6) is None
    assert client.export_transaction(7) == {"transaction_id": 7}
    assert len(server.requests_to(TOKEN)) == 2
    calls = server.requests_to("/v1/transactions/export/by_id")
    assert [c.headers["authorization"] for c in calls] == ["Bearer first", "Bearer first", "Bearer second"]


def test_invalid_token_on_any_status_and_on_a_write_is_retried_once(server: ScriptedServer,  # noqa: F811
                                                                    client: PayTraceClient) -> None:
    server.script(token_reply("first"), token_reply("second"), path=TOKEN)
    server.script(Reply(200, json={"error": "invalid_token"}),
                  Reply(json={"success": True, "response_code": 109, "transaction_id": 5}))
    assert client.void(5)["response_code"] == 109
    assert len(server.requests_to("/v1/transactions/void")) == 2


def test_invalid_token_twice_is_an_error_not_a_loop(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    server.script(token_reply("first"), token_reply("second"), token_reply("third"), path=TOKEN)
    server.script(*[Reply(401, json={"error": "invalid_token"})] * 3)
    with pytest.raises(PayTraceAuthError, match="invalid_token"):
        client.export_customers()
    assert len(server.requests_to(TOKEN)) == 2
    assert len(server.requests_to("/v1/customer/export")) == 2


# -- answers that are not what the API documents -------------------------------------------------------

@pytest.mark.parametrize("reply", [
    Reply(200, body=b"<html><body>502 Bad Gateway</body></html>", headers={"content-type": "text/html"}),
    Reply(200, body=b'{"success": true, "transactions": ['),
    Reply(200, json=[1, 2]),
    Reply(200, json={"success": True}),  # no "transactions"
], ids=["html", "truncated", "list", "missing-key"])
def test_malformed_answers_raise_a_data_error_naming_the_path(server: ScriptedServer,  # noqa: F811
                                                              client: PayTraceClient, reply: Reply) -> None:
    server.script(token_reply(), path=TOKEN)
    server.script(reply)
    with pytest.raises(PayTraceDataError) as info:
        client.export_transaction(1)
    assert isinstance(info.value, PayTraceResponseError)
    assert "/v1/transactions/export/by_id" in str(info.value)
    assert "Bad Gateway" not in str(info.value)  # the body is never quoted


def test_non_json_token_answer(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    server.script(Reply(200, body=b"oops", headers={"content-type": "text/plain"}), path=TOKEN)
    with pytest.raises(PayTraceResponseError, match="/oauth/token"):
        client.export_customers()


def test_success_false_without_errors_is_an_api_error(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(200, json={"success": False, "response_code": 113, "status_message": "not captured"}))
    with pytest.raises(PayTraceApiError) as info:
        client.capture(5, 200)
    assert info.value.response_code == 113 and info.value.errors == {} and info.value.http_status == 200
    assert server.requests_to("/v1/transactions/authorization/capture")[0].json() == {
        "transaction_id": 5, "amount": "2.00", "integrator_id": INTEGRATOR}


# -- declines -----------------------------------------------------------------------------------------

DECLINE = {"success": False, "response_code": 102, "status_message": "Your transaction was not approved.",
           "transaction_id": 392483067, "approval_code": "", "approval_message": "    DECLINE - Do not honor",
           "avs_response": "No Match", "csc_response": "", "external_transaction_id": "",
           "masked_card_number": "xxxxxxxxxxxx5439"}


@pytest.mark.parametrize("status", [200, 400])
def test_decline_is_returned_for_sale_and_authorization(server: ScriptedServer, client: PayTraceClient,  # noqa: F811
                                                        status: int) -> None:
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(status, json=DECLINE), Reply(status, json=DECLINE), Reply(status, json=DECLINE))
    assert client.sale_keyed(29, PAN, 12, 2030) == DECLINE
    assert client.authorize_keyed(29, PAN, 12, 2030) == DECLINE
    assert client.sale_by_customer("c1", 29)["success"] is False


def test_decline_code_on_capture_refund_void_is_an_error(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    server.script(token_reply(), path=TOKEN)
    server.script(*[Reply(400, json=DECLINE)] * 3)
    for call in (lambda: client.capture(1), lambda: client.refund(1), lambda: client.void(1)):
        with pytest.raises(PayTraceApiError) as info:
            call()
        assert info.value.response_code == 102


# -- exports ------------------------------------------------------------------------------------------

def test_a_seven_day_range_is_seven_requests_with_mm_dd_yyyy_dates(server: ScriptedServer,  # noqa: F811
                                                                   client: PayTraceClient) -> None:
    server.script(token_reply(), path=TOKEN)
    server.script(
        export_reply({"transaction_id": 1, "amount": 1}),
        export_reply(),
        export_reply({"transaction_id": 2, "amount": 2}, {"transaction_id": 1, "amount": 99}),
        export_reply(), export_reply(), export_reply(),
        export_reply({"transaction_id": 3, "amount": 3}),
    )
    seen: list[tuple[date, int]] = []
    records = client.export_transactions(date(2025, 12, 29), date(2026, 1, 4), transaction_type="SALE",
                                         progress=lambda day, n: seen.append((day, n)))
    calls = server.requests_to("/v1/transactions/export/by_date_range")
    days = ["12/29/2025", "12/30/2025", "12/31/2025", "01/01/2026", "01/02/2026", "01/03/2026", "01/04/2026"]
    assert [(c.json()["start_date"], c.json()["end_date"]) for c in calls] == [(d, d) for d in days]
    assert all(c.json()["transaction_type"] == "SALE" and c.json()["integrator_id"] == INTEGRATOR for c in calls)
    assert all("customer_id" not in c.json() for c in calls)
    # deduplicated by transaction_id, the last copy wins
    assert records == [{"transaction_id": 2, "amount": 2}, {"transaction_id": 1, "amount": 99},
                       {"transaction_id": 3, "amount": 3}]
    assert [n for _, n in seen] == [1, 0, 2, 0, 0, 0, 1] and seen[0][0] == date(2025, 12, 29)
    assert len(server.requests_to(TOKEN)) == 1


def test_exports_survive_faults(server: ScriptedServer, clock: FakeClock) -> None:  # noqa: F811
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(503), Reply(action="drop"), Reply(429, headers={"Retry-After": "2"}),
                  export_reply({"transaction_id": 1}))
    waits: list[float] = []
    attempts: list[Attempt] = []
    with PayTraceClient(server.url, "api-user", PASSWORD, INTEGRATOR, 5.0, RetryPolicy(max_attempts=4, base_delay_s=0.05),
                        sleep=waits.append, clock=clock, on_attempt=attempts.append) as c:
        assert c.export_transactions(date(2026, 3, 1), date(2026, 3, 1)) == [{"transaction_id": 1}]
    assert len(server.requests_to("/v1/transactions/export/by_date_range")) == 4
    assert len(waits) == 3 and waits[2] == 2.0
    assert [(a.path, a.status, a.error) for a in attempts] == [
        (TOKEN, 200, None),
        ("/v1/transactions/export/by_date_range", 503, None),
        ("/v1/transactions/export/by_date_range", None, "RemoteProtocolError"),
        ("/v1/transactions/export/by_date_range", 429, None),
        ("/v1/transactions/export/by_date_range", 200, None),
    ]


def test_batches(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    server.script(token_reply(), path=TOKEN)
    server.script(
        Reply(json={"success": True, "response_code": 1, "batches": [{"number": 7}]}),
        Reply(json={"success": True, "response_code": 1, "batches": [{"number": 8}, {"number": 7, "x": 1}]}),
        Reply(json={"success": True, "response_code": 1, "batch": {"number": 8}}),
        Reply(json={"success": True, "response_code": 1, "batch": {"number": 9}}),
        Reply(json={"success": True, "response_code": 1, "batch": {"number": 8}, "transactions": [{"transaction_id": 4}]}),
    )
    assert client.export_batches(date(2026, 2, 28), date(2026, 3, 1)) == [{"number": 8}, {"number": 7, "x": 1}]
    assert client.export_batch(8) == {"number": 8}
    assert client.export_batch() == {"number": 9}
    assert client.batch_transactions(8) == [{"transaction_id": 4}]
    sent = [(r.path, r.json()) for r in server.received if r.path != TOKEN]
    assert sent == [
        ("/v1/batches/export", {"start_date": "02/28/2026", "end_date": "02/28/2026", "integrator_id": INTEGRATOR}),
        ("/v1/batches/export", {"start_date": "03/01/2026", "end_date": "03/01/2026", "integrator_id": INTEGRATOR}),
        ("/v1/batches/export_one", {"batch_number": 8, "integrator_id": INTEGRATOR}),
        ("/v1/batches/export_one", {"integrator_id": INTEGRATOR}),
        ("/v1/batches/transaction_list", {"batch_number": 8, "integrator_id": INTEGRATOR}),
    ]


def test_ping_needs_no_token(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    server.script(Reply(503), Reply(json={"status": "success"}), Reply(json={"status": "down"}))
    assert client.ping() == {"status": "success"}
    with pytest.raises(PayTraceApiError):
        client.ping()
    assert [r.path for r in server.received] == ["/v1/ping"] * 3
    assert all("authorization" not in r.headers and r.method == "GET" for r in server.received)


# -- writes with an uncertain outcome; card data never leaks --------------------------------------------

def test_sale_with_lost_answer_is_outcome_unknown_not_retried(server: ScriptedServer,  # noqa: F811
                                                              client: PayTraceClient) -> None:
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(429), Reply(action="drop"), Reply(json=DECLINE))
    with pytest.raises(PayTraceOutcomeUnknown) as info:
        client.sale_keyed(1000, PAN, 12, 2030, csc=CSC, invoice_id="INV-9")
    assert isinstance(info.value, PayTraceTransportError)
    assert info.value.path == "/v1/transactions/sale/keyed"
    assert len(server.requests_to("/v1/transactions/sale/keyed")) == 2  # the 429 retry, then the lost one


@pytest.mark.parametrize("method, args", [("capture", (5,)), ("refund", (5, 100)), ("void", (5,)),
                                          ("sale_by_customer", ("c1", 100)), ("delete_customer", ("c1",))])
def test_writes_are_not_retried_after_a_500(server: ScriptedServer, client: PayTraceClient,  # noqa: F811
                                            method: str, args: tuple[Any, ...]) -> None:
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(500), Reply(json={"success": True}))
    with pytest.raises(PayTraceOutcomeUnknown) as info:
        getattr(client, method)(*args)
    assert info.value.http_status == 500
    assert len([r for r in server.received if r.path != TOKEN]) == 1


def test_reads_give_up_with_a_transport_error(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    server.script(token_reply(), path=TOKEN)
    server.script(*[Reply(502)] * 4)
    with pytest.raises(PayTraceTransportError) as info:
        client.export_customers()
    assert not isinstance(info.value, PayTraceOutcomeUnknown)
    assert info.value.attempts == 4 and info.value.http_status == 502


def _chain(exc: BaseException | None) -> str:
    text = ""
    while exc is not None:
        text += f"{exc!s} {exc!r} "
        exc = exc.__cause__ or exc.__context__
    return text


def test_card_number_and_csc_never_reach_logs_or_errors(server: ScriptedServer, client: PayTraceClient,  # noqa: F811
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    server.script(token_reply(), path=TOKEN)
    echo = {"success": False, "response_code": 1, "status_message": f"Card {PAN} / {CSC} refused.",
            "errors": {"35": [f"Please provide a valid Credit Card Number. ({PAN})"], "48": [f"CSC {CSC} invalid"]}}
    server.script(Reply(503), Reply(action="drop"),  # sale 1: retried 503, then lost
                  Reply(400, json=echo),  # sale 2: an error answer echoing the card data
                  Reply(action="hang"))  # authorization: read timeout
    failures: list[BaseException] = []
    for call in (lambda: client.sale_keyed(4200, PAN, 12, 2030, csc=CSC),
                 lambda: client.sale_keyed(4200, PAN, 12, 2030, csc=CSC),
                 lambda: client.authorize_keyed(4200, PAN, 12, 2030, csc=CSC)):
        with pytest.raises((PayTraceOutcomeUnknown, PayTraceApiError)) as info:
            call()
        failures.append(info.value)
    server.release_hanging()
    assert isinstance(failures[1], PayTraceApiError) and failures[1].codes == ["35", "48"]
    assert "[redacted]" in str(failures[1])
    assert len(server.requests_to("/v1/transactions/sale/keyed")) == 3
    assert server.requests_to("/v1/transactions/sale/keyed")[0].json()["credit_card"]["number"] == PAN  # it was sent
    assert caplog.records, "the faults should have been logged"
    everything = caplog.text + " ".join(r.getMessage() for r in caplog.records) + "".join(map(_chain, failures))
    everything += repr(client) + repr(failures[1].errors)
    assert PAN not in everything and PAN[-10:] not in everything
    assert CSC not in everything
    assert PASSWORD not in everything


def test_export_transaction_unknown_id_is_none(server: ScriptedServer, client: PayTraceClient) -> None:  # noqa: F811
    server.script(token_reply(), path=TOKEN)
    server.script(Reply(400, json=sample("error.json")), Reply(400, json=sample("error_multiple.json")))
    assert client.export_transaction(123) is None  # error 58 alone means "no such transaction"
    with pytest.raises(PayTraceApiError):
        client.export_transaction(124)
