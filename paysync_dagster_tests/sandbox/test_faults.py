"""Fault injection over real HTTP, on the PayTrace sandbox and on a bare app (it is API-neutral)."""

from __future__ import annotations

import time

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from paysync_dagster.sandbox.faults import FaultConfig, FaultInjector, fault_config
from paysync_dagster.sandbox.paytrace.state import FakeClock
from paysync_dagster.sandbox.server import ServerThread, build_app

INTEGRATOR = "9575315uXt4u"
CARD = {"number": "4012000098765439", "expiration_month": "12", "expiration_year": "2030"}


@pytest.fixture(scope="module")
def server():
    app = build_app(clock=FakeClock(1717434000))
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as http:
        yield app, http


@pytest.fixture()
def http(server) -> httpx.Client:
    app, client = server
    assert client.post("/_sandbox/reset").status_code == 200
    return client


def _faults(http: httpx.Client, **config) -> None:
    r = http.post("/_sandbox/faults", json=config)
    assert r.status_code == 200, r.text


def _token(http: httpx.Client) -> str:
    r = http.post("/oauth/token", data={"grant_type": "password", "username": "paysync-demo",
                                        "password": "paysync-demo-password"})
    assert r.status_code == 200
    return r.json()["access_token"]


def _post(http: httpx.Client, path: str, token: str, **body) -> httpx.Response:
    return http.post(f"/v1/{path}", json={"integrator_id": INTEGRATOR, **body},
                     headers={"Authorization": f"Bearer {token}"})


def test_error_rate_is_roughly_honoured_and_reproducible(http):
    _faults(http, seed=42, error_rate=0.3)
    first = [http.get("/v1/ping").status_code for _ in range(300)]
    errors = [s for s in first if s != 200]
    assert 0.2 < len(errors) / len(first) < 0.4
    assert set(errors) == {500, 502, 503}
    _faults(http, seed=42, error_rate=0.3)  # same seed: the same answers in the same order
    assert [http.get("/v1/ping").status_code for _ in range(300)] == first
    _faults(http, seed=43, error_rate=0.3)
    assert [http.get("/v1/ping").status_code for _ in range(300)] != first
    stats = http.get("/_sandbox/stats").json()
    assert sum(n for kind, n in stats["faults"].items() if kind.startswith("error_")) == \
        sum(n for status, n in stats["requests"]["/v1/ping"].items() if status != "200")


def test_injected_errors_come_before_the_work(http):
    token = _token(http)
    _faults(http, error_rate=1.0, paths=["/v1/transactions/*"])
    r = _post(http, "transactions/sale/keyed", token, amount="1.00", credit_card=CARD)
    assert r.status_code in (500, 502, 503) and r.headers["content-type"].startswith("text/plain")
    _faults(http)
    assert http.get("/_sandbox/stats").json()["paytrace"]["transactions"] == 0


def test_rate_limit_bursts_answer_429_with_retry_after(http):
    _faults(http, rate_limit_every=3, rate_limit_burst=2, retry_after_seconds=1)
    answers = [http.get("/v1/ping") for _ in range(10)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429, 200, 200, 200, 429, 429]
    for r in answers:
        if r.status_code == 429:
            assert r.headers["retry-after"] == "1"
    _faults(http, rate_limit_every=1, rate_limit_burst=1, retry_after_seconds=0)
    statuses = [http.get("/v1/ping") for _ in range(2)]
    assert statuses[1].status_code == 429 and statuses[1].headers["retry-after"] == "0"
    assert http.get("/_sandbox/stats").json()["faults"]["rate_limit_429"] == 5


def test_drop_after_commit_commits_then_breaks_the_connection(http):
    token = _token(http)
    _faults(http, drop_after_commit_rate=1.0)
    with pytest.raises(httpx.TransportError):
        _post(http, "transactions/sale/keyed", token, amount="3.21", invoice_id="DROP-1", credit_card=CARD)
    # Reads are never dropped, so the client can find out what happened.
    r = _post(http, "transactions/export/by_date_range", token, start_date="06/03/2024", end_date="06/03/2024")
    assert r.status_code == 200
    (record,) = r.json()["transactions"]
    assert (record["invoice_id"], record["amount"]) == ("DROP-1", 3.21)
    by_id = _post(http, "transactions/export/by_id", token, transaction_id=record["transaction_id"])
    assert by_id.status_code == 200 and by_id.json()["transactions"][0]["invoice_id"] == "DROP-1"
    assert http.get("/_sandbox/stats").json()["faults"]["drop_after_commit"] == 1


def test_token_expiry_mid_run(http):
    token = _token(http)
    _faults(http, expire_tokens_after_requests=3)
    assert _post(http, "customer/export", token).status_code == 200  # request 1
    assert _post(http, "customer/export", token).status_code == 200  # request 2
    r = _post(http, "customer/export", token)  # request 3 meets an expired token
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_token", "error_description": "The access token expired"}
    fresh = _token(http)  # request 4
    assert _post(http, "customer/export", fresh).status_code == 200  # request 5


def test_latency_is_added(http):
    _faults(http, latency_ms=150)
    began = time.perf_counter()
    assert http.get("/v1/ping").status_code == 200
    assert time.perf_counter() - began >= 0.15


def test_a_request_in_flight_is_received_and_not_yet_answered(http):
    import threading

    _faults(http, latency_ms=1500, paths=["/v1/ping"])
    caller = threading.Thread(target=lambda: http.get("/v1/ping"))
    caller.start()
    try:
        deadline = time.monotonic() + 30
        while (stats := http.get("/_sandbox/stats").json())["received"].get("/v1/ping", 0) < 1:
            assert time.monotonic() < deadline, stats
            time.sleep(0.01)
        assert "/v1/ping" not in stats["requests"]  # taken in, still waiting out its latency
    finally:
        caller.join(timeout=30)
    stats = http.get("/_sandbox/stats").json()
    assert stats["received"]["/v1/ping"] == sum(stats["requests"]["/v1/ping"].values()) == 1


def test_control_paths_are_never_faulted(http):
    _faults(http, error_rate=1.0, rate_limit_every=1, rate_limit_burst=5, drop_after_commit_rate=1.0)
    for _ in range(20):
        assert http.get("/_sandbox/stats").status_code == 200
        assert http.get("/_sandbox/faults").status_code == 200
    assert http.get("/v1/ping").status_code in (429, 500, 502, 503)
    assert http.post("/_sandbox/reset").status_code == 200
    assert http.get("/v1/ping").status_code == 200  # reset clears the faults


def test_bad_config_is_refused(http):
    assert http.post("/_sandbox/faults", json={"error_rate": 1.5}).status_code == 400
    assert http.post("/_sandbox/faults", json={"no_such_knob": 1}).status_code == 400
    assert http.get("/_sandbox/faults").json() == FaultConfig().model_dump(mode="json")


def test_config_round_trips_as_json():
    config = fault_config('{"seed": 9, "error_rate": 0.25, "paths": ["/v1/*"], "retry_after_seconds": 2}')
    assert fault_config(config.model_dump(mode="json")) == config
    assert fault_config(config.model_dump_json()) == config
    with pytest.raises(ValidationError):
        fault_config({"retry_after_seconds": 0.2})  # Retry-After is whole seconds
    assert config.is_write("POST", "/v1/transactions/sale/keyed")
    assert not config.is_write("POST", "/v1/transactions/export/by_date_range")
    assert not config.is_write("GET", "/fscmRestApi/resources/receivables")
    assert config.is_write("PATCH", "/fscmRestApi/resources/receivables/1")
    assert not config.targets("/_sandbox/stats")


def test_middleware_works_for_any_app():
    calls = []

    async def write(request):
        calls.append(request.url.path)
        return PlainTextResponse("stored")

    expired = []
    app = FaultInjector(Starlette(routes=[Route("/items", write, methods=["POST", "GET"])]),
                        FaultConfig(drop_after_commit_rate=1.0, expire_tokens_after_requests=2),
                        on_expire_tokens=[lambda: expired.append(True)])
    with ServerThread(app) as srv, httpx.Client(base_url=srv.url) as http:
        with pytest.raises(httpx.TransportError):
            http.post("/items")
        assert http.get("/items").text == "stored"  # a GET is no write: answered in full
        assert calls == ["/items", "/items"] and expired == [True]
        assert app.stats()["faults"] == {"drop_after_commit": 1, "expire_tokens": 1}
        assert app.stats()["requests"]["/items"] == {"200": 2}
