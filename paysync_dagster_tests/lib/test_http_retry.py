"""The retrying HTTP layer against a real HTTP server on 127.0.0.1.

``ScriptedServer`` (also used by test_paytrace_client.py) is a Starlette app under uvicorn in a
background thread that answers from a programmed queue: statuses, headers, a connection dropped
mid-body, or a response that hangs until the test releases it. Waits are recorded through an
injected ``sleep``, so nothing here sleeps and nothing asserts wall-clock time.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timezone
from typing import Any

import anyio.to_thread
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from paysync_dagster.lib.http import (
    DEFAULT_TIMEOUT,
    Attempt,
    OutcomeUnknown,
    RetriesExhausted,
    RetryingClient,
    RetryPolicy,
    build_client,
    parse_retry_after,
)

START_DEADLINE_S = 30.0


# -- the scriptable server ----------------------------------------------------------------------------

@dataclass
class Reply:
    """One programmed answer. ``action``: "respond", "drop" (headers + part of the body, then the
    connection is closed) or "hang" (no answer until the server is stopped or released)."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "respond"


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode()))


class _DroppedResponse(Response):
    """Promises 1000 bytes, sends a few, returns: uvicorn then closes the connection mid-body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"success": tr', "more_body": True})


class ScriptedServer:
    """Answers from queues of :class:`Reply`: one per path (``script(..., path=...)``) and a default
    one. An empty queue answers 418 so that a missing script fails fast instead of being retried."""

    def __init__(self) -> None:
        self._queues: dict[str | None, deque[Reply]] = {None: deque()}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.received: list[Received] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint,
                                           methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def script(self, *replies: Reply, path: str | None = None) -> None:
        with self._lock:
            self._queues.setdefault(path, deque()).extend(replies)

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def release_hanging(self) -> None:
        self._release.set()

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.received.append(Received(request.method, request.url.path, request.url.query,
                                          {k.lower(): v for k, v in request.headers.items()}, body))
            queue = self._queues.get(request.url.path)
            queue = queue if queue else self._queues[None]
            reply = queue.popleft() if queue else Reply(status=418, json={"script": "exhausted"})
        if reply.action == "hang":
            await anyio.to_thread.run_sync(self._release.wait, abandon_on_cancel=True)
        if reply.action == "drop":
            return _DroppedResponse()
        content = reply.body if reply.body is not None else json.dumps(reply.json).encode()
        headers = {"content-type": "application/json; charset=utf-8", **reply.headers}
        return Response(content, status_code=reply.status, headers=headers)

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; no race with other tests
        host, port = sock.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(self.app, lifespan="off", log_level="warning", timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="scripted-http-server")
        self._thread.start()
        deadline = time.monotonic() + START_DEADLINE_S
        while not self._accepts(host, port):
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"scripted server on {self.url} did not start within {START_DEADLINE_S}s")
            time.sleep(0.01)  # polling a condition, not waiting a fixed time

    def _accepts(self, host: str, port: int) -> bool:
        if self._server is None or not self._server.started:
            return False
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        self._release.set()  # a hanging handler must not keep the server from shutting down
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            assert not self._thread.is_alive(), "scripted server thread did not stop"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


# -- helpers ------------------------------------------------------------------------------------------

@dataclass
class Harness:
    retrying: RetryingClient
    waits: list[float]
    attempts: list[Attempt]


@pytest.fixture
def make_harness(server: ScriptedServer) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make(url: str | None = None, *, read_timeout: float = 5.0, wall_clock: float = 1_700_000_000.0,
             **policy: Any) -> Harness:
        http = build_client(url or server.url, timeout=httpx.Timeout(5.0, read=read_timeout))
        clients.append(http)
        waits: list[float] = []
        attempts: list[Attempt] = []
        policy.setdefault("rng", random.Random(42))
        policy.setdefault("base_delay_s", 0.1)
        retrying = RetryingClient(http, RetryPolicy(**policy), sleep=waits.append, wall_clock=lambda: wall_clock,
                                  on_attempt=attempts.append)
        return Harness(retrying, waits, attempts)

    yield make
    for c in clients:
        c.close()


def ok(payload: Any = None) -> Reply:
    return Reply(json=payload if payload is not None else {"ok": True})


# -- tests --------------------------------------------------------------------------------------------

def test_503_twice_then_200_backs_off_with_growing_waits(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(503), Reply(503), ok())
    h = make_harness(max_attempts=5, base_delay_s=0.2, jitter=0.5)
    response = h.retrying.request("GET", "/thing")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert len(server.received) == 3
    assert len(h.waits) == 2
    assert 0.1 <= h.waits[0] <= 0.2 and 0.2 <= h.waits[1] <= 0.4
    assert h.waits[1] >= h.waits[0]
    assert [a.status for a in h.attempts] == [503, 503, 200]
    assert [a.wait_s for a in h.attempts] == [h.waits[0], h.waits[1], None]


def test_429_retry_after_seconds_is_honoured_over_backoff(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(429, headers={"Retry-After": "1"}), ok())
    h = make_harness(base_delay_s=10.0)
    assert h.retrying.request("POST", "/x", json={"a": 1}, retry_uncertain=False).status_code == 200
    assert h.waits == [1.0]
    assert len(server.received) == 2


def test_retry_after_http_date(server: ScriptedServer, make_harness: Any) -> None:
    now = 1_700_000_000.0
    when = format_datetime(datetime.fromtimestamp(now + 30, tz=timezone.utc), usegmt=True)
    server.script(Reply(503, headers={"Retry-After": when}), ok())
    h = make_harness(wall_clock=now)
    assert h.retrying.request("GET", "/x").status_code == 200
    assert h.waits == [30.0]


def test_retry_after_is_capped(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(429, headers={"Retry-After": "3600"}), ok())
    h = make_harness(max_retry_after_s=5.0)
    h.retrying.request("GET", "/x")
    assert h.waits == [5.0]


def test_unreadable_retry_after_falls_back_to_backoff(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(503, headers={"Retry-After": "soon-ish"}), ok())
    h = make_harness(base_delay_s=0.4, jitter=0.0)
    h.retrying.request("GET", "/x")
    assert h.waits == [0.4]


def test_exhausted_retries_raise_with_last_status(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(502), Reply(503), Reply(504))
    h = make_harness(max_attempts=3)
    with pytest.raises(RetriesExhausted) as info:
        h.retrying.request("GET", "/x")
    assert info.value.status == 504 and info.value.attempts == 3 and info.value.path == "/x"
    assert info.value.response is not None and info.value.response.status_code == 504
    assert len(server.received) == 3
    assert len(h.waits) == 2


def test_client_errors_are_returned_not_retried(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(400, json={"success": False}))
    h = make_harness()
    assert h.retrying.request("POST", "/x", json={}).status_code == 400
    assert len(server.received) == 1 and h.waits == []


def test_dropped_connection_is_retried_for_idempotent_requests(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(action="drop"), ok({"n": 2}))
    h = make_harness()
    response = h.retrying.request("GET", "/x")
    assert response.json() == {"n": 2}
    assert len(server.received) == 2
    assert h.attempts[0].error == "RemoteProtocolError"


def test_dropped_connection_on_a_write_is_outcome_unknown(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(action="drop"), ok())
    h = make_harness()
    with pytest.raises(OutcomeUnknown) as info:
        h.retrying.request("POST", "/v1/transactions/sale/keyed", json={"amount": "1.00"})
    assert info.value.path == "/v1/transactions/sale/keyed" and info.value.attempts == 1
    assert len(server.received) == 1 and h.waits == []


def test_hook_allows_retrying_a_post(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(action="drop"), ok())
    h = make_harness()
    h.retrying.may_retry_uncertain = lambda request: request.url.path.startswith("/v1/transactions/export")
    assert h.retrying.request("POST", "/v1/transactions/export/by_id", json={}).status_code == 200
    assert len(server.received) == 2
    with pytest.raises(OutcomeUnknown):
        server.script(Reply(action="drop"))
        h.retrying.request("POST", "/v1/transactions/void", json={})


def test_slow_response_beyond_read_timeout_is_retried(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(action="hang"), ok({"late": False}))
    h = make_harness(read_timeout=0.3)
    try:
        assert h.retrying.request("GET", "/slow").json() == {"late": False}
    finally:
        server.release_hanging()
    assert len(server.received) == 2
    assert h.attempts[0].error == "ReadTimeout"


def test_slow_response_on_a_write_is_outcome_unknown(server: ScriptedServer, make_harness: Any) -> None:
    server.script(Reply(action="hang"))
    h = make_harness(read_timeout=0.3)
    try:
        with pytest.raises(OutcomeUnknown):
            h.retrying.request("POST", "/v1/transactions/refund/for_transaction", json={})
    finally:
        server.release_hanging()
    assert len(server.received) == 1


def test_500_on_a_write_is_outcome_unknown_but_429_and_503_are_retried(server: ScriptedServer,
                                                                        make_harness: Any) -> None:
    h = make_harness()
    server.script(Reply(429), Reply(503), ok())
    assert h.retrying.request("POST", "/w", json={}, retry_uncertain=False).status_code == 200
    assert len(server.received) == 3
    server.script(Reply(500))
    with pytest.raises(OutcomeUnknown) as info:
        h.retrying.request("POST", "/w", json={}, retry_uncertain=False)
    assert info.value.status == 500
    assert len(server.received) == 4


def test_connection_refused_is_retried_even_for_writes(make_harness: Any) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    h = make_harness(f"http://127.0.0.1:{port}", max_attempts=3)
    with pytest.raises(RetriesExhausted) as info:
        h.retrying.request("POST", "/v1/transactions/sale/keyed", json={}, retry_uncertain=False)
    assert info.value.status is None and info.value.attempts == 3
    assert [a.error for a in h.attempts] == ["ConnectError"] * 3
    assert len(h.waits) == 2


def test_logs_name_method_path_status_attempt_but_no_secrets(server: ScriptedServer, make_harness: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    server.script(Reply(503), ok())
    h = make_harness()
    caplog.set_level(logging.INFO)  # root at INFO: httpx's own URL line (with the query) must stay quiet
    caplog.set_level(logging.DEBUG, logger="paysync.http")
    h.retrying.request("POST", "/v1/thing?api_key=QUERYSECRET", json={"password": "BODYSECRET"},
                       headers={"Authorization": "Bearer HEADERSECRET"})
    text = caplog.text
    assert "POST /v1/thing -> HTTP 503 (attempt 1/5): retrying in" in text
    assert "POST /v1/thing -> HTTP 200 (attempt 2/5): done" in text
    warning = [r for r in caplog.records if r.name == "paysync.http" and r.levelno == logging.WARNING]
    assert len(warning) == 1
    for secret in ("QUERYSECRET", "BODYSECRET", "HEADERSECRET", "api_key"):
        assert secret not in text
    assert server.received[1].query == "api_key=QUERYSECRET"  # the secret did go where it belongs


# -- pure parts ---------------------------------------------------------------------------------------

def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after(format_datetime(datetime.fromtimestamp(now + 90, tz=timezone.utc), usegmt=True),
                             now=now) == 90.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0  # in the past
    for junk in (None, "", "-5", "1.5", "tomorrow", "Wed, 99 Foo 2015"):
        assert parse_retry_after(junk, now=now) is None


def test_backoff_grows_then_caps() -> None:
    for seed in range(50):
        policy = RetryPolicy(base_delay_s=0.5, max_delay_s=8.0, rng=random.Random(seed))
        waits = [policy.backoff(n) for n in range(1, 9)]
        assert all(later >= earlier for earlier, later in zip(waits[:5], waits[1:5]))  # before the cap
        assert all(4.0 <= w <= 8.0 for w in waits[4:])  # capped, still jittered
    assert RetryPolicy(base_delay_s=1, jitter=0).backoff(3) == 4.0


def test_policy_validation_and_defaults() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)
    assert RetryPolicy().retry_statuses == frozenset({429, 500, 502, 503, 504})
    assert (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read, DEFAULT_TIMEOUT.write, DEFAULT_TIMEOUT.pool) == (
        5.0, 30.0, 30.0, 5.0)
    with build_client("http://127.0.0.1:1", timeout=2) as c:
        assert c.timeout.read == 2.0 and c.follow_redirects is False
