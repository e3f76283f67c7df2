"""Fault injection for the sandboxes: an ASGI middleware that knows nothing about any one API.

It sits in front of every sandbox (PayTrace now, the ERPs later) so that a client's retry,
idempotency and re-authentication paths get exercised over real HTTP. Per request that a fault may
hit (``FaultConfig.paths`` / ``exclude_paths``, and never the control prefix ``/_sandbox/``), in
this order:

1. ``latency_ms`` (+ up to ``latency_jitter_ms``) of added delay;
2. every ``expire_tokens_after_requests``-th request first calls the app's ``on_expire_tokens``
   hooks, so that request (and later ones on the same token) meet an expired token;
3. rate limiting: after every ``rate_limit_every`` requests, the next ``rate_limit_burst`` are
   answered 429 with ``Retry-After: <retry_after_seconds>`` (an integer: HTTP allows no fraction);
4. ``error_rate`` of requests are answered with one of ``error_statuses`` before the app sees them;
5. ``drop_after_commit_rate`` of *write* requests run to completion in the app (committed), then the
   connection is cut after the response headers: the client gets a transport error, not an answer.
   A write is a method in ``write_methods`` on a path matching none of ``read_only_paths`` (globs;
   the defaults treat exports, token and ping calls as reads, since PayTrace reads are POSTs too).

Random draws come from ``random.Random(seed)``, three per faultable request whatever the config, so
a sequential client sees the same faults on every run. ``stats()`` counts requests by path and
status and faults by kind. Request bodies are never looked at, let alone logged.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import defaultdict
from fnmatch import fnmatchcase
from typing import Any, Awaitable, Callable, Iterable, MutableMapping

from pydantic import BaseModel, ConfigDict, Field

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/_sandbox/"


class FaultConfig(BaseModel):
    """What to inject; JSON in and out (``model_dump(mode="json")`` / ``model_validate``)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503], min_length=1)
    latency_ms: int = Field(0, ge=0)
    latency_jitter_ms: int = Field(0, ge=0)
    rate_limit_every: int = Field(0, ge=0, description="N: after every N requests ...")
    rate_limit_burst: int = Field(0, ge=0, description="... K requests are answered 429")
    retry_after_seconds: int = Field(1, ge=0)
    expire_tokens_after_requests: int = Field(0, ge=0)
    drop_after_commit_rate: float = Field(0.0, ge=0.0, le=1.0)
    write_methods: list[str] = Field(default_factory=lambda: ["POST", "PUT", "PATCH", "DELETE"])
    read_only_paths: list[str] = Field(default_factory=lambda: ["*/export*", "*/transaction_list", "*/token", "*/ping"])
    paths: list[str] = Field(default_factory=list, description="globs; empty = every path")
    exclude_paths: list[str] = Field(default_factory=list)

    def targets(self, path: str) -> bool:
        if path.startswith(CONTROL_PREFIX):
            return False
        if self.paths and not any(fnmatchcase(path, p) for p in self.paths):
            return False
        return not any(fnmatchcase(path, p) for p in self.exclude_paths)

    def is_write(self, method: str, path: str) -> bool:
        return method.upper() in {m.upper() for m in self.write_methods} and \
            not any(fnmatchcase(path, p) for p in self.read_only_paths)


class FaultInjector:
    """ASGI middleware; ``configure`` swaps the config (and restarts its random stream and counters)."""

    def __init__(self, app: ASGIApp, config: FaultConfig | None = None, *,
                 on_expire_tokens: Iterable[Callable[[], object]] = (), control_prefix: str = CONTROL_PREFIX):
        self.app = app
        self.control_prefix = control_prefix
        self.on_expire_tokens = list(on_expire_tokens)
        self._lock = threading.Lock()  # configure/stats may come from other threads (tests, control API)
        self.reset_stats()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._seen = 0

    def reset_stats(self) -> None:
        with self._lock:
            self._requests: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            # Requests taken in, answered or not: with ``requests`` (the answered ones) a test sees what is in flight.
            self._received: dict[str, int] = defaultdict(int)
            self._faults: dict[str, int] = defaultdict(int)

    def stats(self) -> dict:
        with self._lock:
            return {"requests": {p: dict(s) for p, s in sorted(self._requests.items())},
                    "received": dict(sorted(self._received.items())),
                    "faults": dict(sorted(self._faults.items()))}

    def _count(self, path: str, status: object) -> None:
        with self._lock:
            self._requests[path][str(status)] += 1

    def _fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.control_prefix):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        with self._lock:
            self._received[path] += 1
            cfg = self.config
            faultable = cfg.targets(path)
            if faultable:
                self._seen += 1
                n = self._seen
                roll_error, roll_pick, roll_drop = self._rng.random(), self._rng.random(), self._rng.random()
        if not faultable:
            await self._run(scope, receive, send, path)
            return

        if cfg.latency_ms or cfg.latency_jitter_ms:
            self._fault("latency")
            await asyncio.sleep((cfg.latency_ms + roll_pick * cfg.latency_jitter_ms) / 1000)
        if cfg.expire_tokens_after_requests and n % cfg.expire_tokens_after_requests == 0:
            self._fault("expire_tokens")
            for hook in self.on_expire_tokens:
                hook()
        if cfg.rate_limit_every and cfg.rate_limit_burst and \
                (n - 1) % (cfg.rate_limit_every + cfg.rate_limit_burst) >= cfg.rate_limit_every:
            self._fault("rate_limit_429")
            await self._answer(send, path, 429, b'{"error":"too_many_requests","message":"rate limited by the sandbox"}',
                               b"application/json", [(b"retry-after", str(cfg.retry_after_seconds).encode())])
            return
        if roll_error < cfg.error_rate:
            status = cfg.error_statuses[int(roll_pick * len(cfg.error_statuses))]
            self._fault(f"error_{status}")
            # A gateway or load balancer answers these, not the API: plain text, not the API's JSON.
            await self._answer(send, path, status, f"sandbox fault: HTTP {status}".encode(), b"text/plain; charset=utf-8")
            return
        if roll_drop < cfg.drop_after_commit_rate and cfg.is_write(method, path):
            self._fault("drop_after_commit")
            await self._run_then_drop(scope, receive, send, path)
            return
        await self._run(scope, receive, send, path)

    async def _run(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._count(path, message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)

    async def _run_then_drop(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Let the app finish (so the write is committed), then send only the headers and stop.

        Returning with the body promised by Content-Length still owed makes the server close the
        connection; the client sees an incomplete response, as when a proxy dies after the upstream
        committed. (uvicorn logs one line about the incomplete response, which is the point.)
        """
        start: Message | None = None

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                self._count(path, message["status"])

        await self.app(scope, receive, capture)
        if start is not None:
            await send(start)

    async def _answer(self, send: Send, path: str, status: int, body: bytes, content_type: bytes,
                      headers: list[tuple[bytes, bytes]] = ()) -> None:
        self._count(path, status)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})


def fault_config(value: FaultConfig | dict | str | None) -> FaultConfig:
    """A config from a model, a dict, or JSON text (the CLI's ``--faults``)."""
    if value is None:
        return FaultConfig()
    if isinstance(value, FaultConfig):
        return value
    if isinstance(value, str):
        return FaultConfig.model_validate_json(value)
    return FaultConfig.model_validate(value)
