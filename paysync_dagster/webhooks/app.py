"""The webhook receiver: a signed event in, one landing row committed, then (and only then) 2xx.

Answers, checked in this order so that a refusal costs as little as possible and never reveals more
than the sender is entitled to:

    415  Content-Type is not application/json
    413  body over ``max_body_bytes`` (declared Content-Length, or counted while streaming)
    431  more than ``max_headers`` request headers, or more than ``max_header_bytes`` of them
    408  the body did not arrive within ``body_timeout`` seconds (a slow or stalled sender)
    401  PaySync-Signature missing, malformed, stale, or matching no current secret
    400  malformed JSON or an envelope that breaks the contract; the JSON answer names the field
    503  the warehouse cannot be reached (nothing stored; the sender retries)
    200  {"accepted": true, "duplicate": false, "landing_id": N}   the row is committed
    200  {"accepted": true, "duplicate": true}                      the event or state was already landed

``GET /metrics`` serves the counts of those answers, the commit latency and the pipeline's figures in
Prometheus' text format (webhooks/metrics.py).

Card data is scrubbed before anything is stored. Logs carry ids, statuses and timings, never bodies
or signatures. Each event is judged alone: a row the warehouse refuses fails only its own request,
whatever else was committed with it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysync_dagster.lib.paytrace.landing import LandingRow, land
from paysync_dagster.lib.scrub import mask_then_cut
from paysync_dagster.lib.timeutil import zone
from paysync_dagster.lib.warehouse import make_engine, migrate, redact_url
from paysync_dagster.lib.warehouse.tables import paytrace_landing
from paysync_dagster.webhooks.envelope import EnvelopeError, parse_body
from paysync_dagster.webhooks.metrics import ReceiverMetrics
from paysync_dagster.webhooks.signing import HEADER, SignatureError, verify

log = logging.getLogger("paysync.webhooks")

PATH = "/webhooks/paytrace"
METRICS_PATH = "/metrics"
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_BODY_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_HEADERS = 64
DEFAULT_MAX_HEADER_BYTES = 16 * 1024


class RowRefused(Exception):
    """The warehouse refused this one row (a value it cannot hold): the event's own fault, not the database's."""


@dataclass
class _Pending:
    """One request's row waiting for a writer; ``result`` is its landing id, None for a duplicate."""

    row: LandingRow
    done: bool = False
    result: int | None = None
    error: BaseException | None = None


class Warehouse:
    """The receiver's one engine and how it writes.

    The schema is made sure of at startup, or at first use when the database was down then, so a
    receiver started before its database recovers by itself.

    On SQLite, writes are group-committed: SQLite takes one writer at a time, and a writer that
    finds the lock taken backs off in sleeps of up to 100 ms, which starves request threads for
    seconds under load. So each request thread queues its row and waits for an in-process lock;
    whoever holds it lands every queued row in one transaction and hands each its outcome. Every
    request still returns only after the commit that holds its row. PostgreSQL takes concurrent
    writers, so there each request lands its own row.
    """

    def __init__(self, database_url: str):
        self.url = redact_url(database_url)
        self.engine: Engine = make_engine(database_url)
        self.metrics: ReceiverMetrics | None = None  # set by the app: each commit's time and rows
        self.group_commit = self.engine.dialect.name == "sqlite"
        self._ready = False
        self._schema_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []

    def ensure_schema(self) -> None:
        if self._ready:
            return
        with self._schema_lock:
            if not self._ready:
                migrate(self.engine)
                self._ready = True

    def ping(self) -> None:
        self.ensure_schema()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def land(self, row: LandingRow) -> int | None:
        """Commit the row; its landing id, or None when the event or the state was landed before.
        Raises ``RowRefused`` when the warehouse refuses this row's values, ``SQLAlchemyError`` when
        the warehouse cannot be reached."""
        if not self.group_commit:
            self.ensure_schema()
            mine = _Pending(row)
            with self._timed(1):
                self._land_alone(mine)
            if mine.error is not None:
                raise mine.error
            return mine.result
        mine = _Pending(row)
        with self._queue_lock:
            self._queue.append(mine)
        with self._write_lock:
            if not mine.done:  # else an earlier holder of the lock landed it with its own
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                with self._timed(len(batch)):
                    self._land_batch(batch)
        if mine.error is not None:
            raise mine.error
        return mine.result

    @contextmanager
    def _timed(self, rows: int) -> Iterator[None]:
        """Each commit attempt's time, and how many requests' rows it carried."""
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.metrics is not None:
                self.metrics.observe_commit(time.perf_counter() - started, rows)

    def _land_one(self, row: LandingRow) -> int | None:
        if land(self.engine, [row]).landed == 0:
            return None
        return self._ids_of([row.event_id])[row.event_id]

    def _ids_of(self, event_ids: list[str | None]) -> dict[str, int]:
        t = paytrace_landing
        with self.engine.connect() as conn:
            return {e: i for e, i in conn.execute(select(t.c.event_id, t.c.id).where(t.c.event_id.in_(event_ids)))}

    def _land_batch(self, batch: list[_Pending]) -> None:
        try:
            self.ensure_schema()
            if len(batch) == 1:
                self._land_alone(batch[0])
            else:
                try:
                    self._land_many(batch)
                except OperationalError:
                    raise  # the database itself: every row of the batch shares the outcome
                except Exception:  # noqa: BLE001 - one row's value; find it by landing each row alone
                    for p in batch:
                        self._land_alone(p)
        except BaseException as exc:  # noqa: BLE001 - every waiting request must learn of it
            for p in batch:
                if p.result is None and p.error is None:
                    p.error = exc
        finally:
            for p in batch:
                p.done = True

    def _land_alone(self, p: _Pending) -> None:
        try:
            p.result = self._land_one(p.row)
        except OperationalError:
            raise
        except (DBAPIError, ValueError, OverflowError) as exc:
            p.error = RowRefused(_db_reason(exc) if isinstance(exc, SQLAlchemyError) else type(exc).__name__)

    def _land_many(self, batch: list[_Pending]) -> None:
        # Which ids were there before tells a new row from a redelivery. Sound because only this
        # process writes webhook event ids into this SQLite file, under this lock (the export
        # poller writes rows without one).
        already = set(self._ids_of([p.row.event_id for p in batch]))
        first: dict[str, _Pending] = {}
        for p in batch:
            event_id = p.row.event_id or ""
            if event_id not in already and event_id not in first:
                first[event_id] = p
        if not first:
            return
        land(self.engine, [p.row for p in first.values()])
        landed = self._ids_of(list(first))
        for event_id, p in first.items():
            # Absent: the same transaction state was there already, or came earlier in this batch.
            p.result = landed.get(event_id)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    log: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # a refusal's label in /metrics (metrics.REJECT_REASONS)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status)


class _TooLarge(Exception):
    pass


def _is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


async def _read_limited(request: Request, limit: int, timeout: float) -> bytes:
    """The body, at most ``limit`` bytes, arrived in full within ``timeout`` seconds (else TimeoutError):
    a sender that stops sending does not hold a connection and a worker thread indefinitely."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _TooLarge
    buf = bytearray()
    async with asyncio.timeout(timeout):
        async for chunk in request.stream():
            # Checked before appending: the buffer never grows past the limit.
            if len(buf) + len(chunk) > limit:
                raise _TooLarge
            buf += chunk
    return bytes(buf)


def _loggable_id(value: Any) -> str | None:
    """An event id from a body that failed checks: maybe hostile, so masked, then bounded."""
    return mask_then_cut(value, 200) if isinstance(value, str) else None


@dataclass(frozen=True)
class ReceiverLimits:
    """What one request may cost the receiver (documented in docs/webhooks.md, set by ``paysync webhooks serve``)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout: float = DEFAULT_BODY_TIMEOUT_SECONDS
    max_headers: int = DEFAULT_MAX_HEADERS
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "body_timeout", "max_headers", "max_header_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


class Receiver:
    def __init__(self, warehouse: Warehouse, secrets: list[str], tz_name: str, limits: ReceiverLimits,
                 metrics_token: str | None = None):
        self.warehouse = warehouse
        self.metrics_token = metrics_token
        self.metrics = ReceiverMetrics(warehouse.engine, tz_name)
        warehouse.metrics = self.metrics
        self.secrets = secrets
        self.tz_name = tz_name
        self.limits = limits
        # Keys the digest of an event id that had to be masked (envelope.stored_event_id).
        self.id_key = secrets[0].encode("utf-8")

    async def post(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        error: Exception | None = None
        try:
            answer = await self._handle(request)
        except Exception as exc:  # noqa: BLE001 - the sender gets a 5xx and retries; the log gets no body
            answer = Answer(500, {"error": "internal error"}, {"reason": type(exc).__name__}, "internal_error")
            error = exc
        self.metrics.count_answer(answer.status, answer.reason, answer.body.get("duplicate"))
        log.log(
            logging.ERROR if error else logging.INFO, "webhook %s", answer.status, exc_info=error,
            extra={"status": answer.status, "duration_ms": round((time.perf_counter() - started) * 1000, 2), **answer.log},
        )
        return answer.response()

    async def _handle(self, request: Request) -> Answer:
        limits = self.limits
        raw = request.headers.raw
        if len(raw) > limits.max_headers:
            return Answer(431, {"error": f"more than {limits.max_headers} request headers"}, {"reason": "headers"}, "headers")
        # uvicorn's cap (server_config) holds a head that trickles in; one that arrives whole is measured here.
        if sum(len(k) + len(v) for k, v in raw) > limits.max_header_bytes:
            return Answer(431, {"error": f"request headers larger than {limits.max_header_bytes} bytes"}, {"reason": "headers"},
                          "headers")
        if not _is_json(request.headers.get("content-type", "")):
            return Answer(415, {"error": "Content-Type must be application/json"}, reason="content_type")
        try:
            body = await _read_limited(request, limits.max_body_bytes, limits.body_timeout)
        except _TooLarge:
            return Answer(413, {"error": f"body larger than {limits.max_body_bytes} bytes"}, reason="body_too_large")
        except TimeoutError:
            return Answer(408, {"error": f"the body did not arrive within {limits.body_timeout:g} s"}, {"reason": "body_timeout"},
                          "body_timeout")
        except ClientDisconnect:
            return Answer(400, {"error": "the client went away before the body was complete"}, {"reason": "disconnected"},
                          "disconnected")
        try:
            verify(request.headers.get(HEADER), body, self.secrets)
        except SignatureError as exc:
            return Answer(401, {"error": str(exc), "part": exc.part}, {"reason": f"signature.{exc.part}"}, f"signature.{exc.part}")
        # Parsing and scrubbing are CPU work: off the event loop, a large body does not stall other
        # requests, and concurrent requests reach the group commit together.
        return await run_in_threadpool(self._accept, body)

    def _accept(self, body: bytes) -> Answer:
        try:
            event = parse_body(body, self.tz_name, self.id_key)
        except EnvelopeError as exc:
            return Answer(400, exc.as_json(), {"reason": "envelope", "field": exc.field, **self._logged_ids(body)}, "envelope")
        ids = {"event_id": event.event_id, "event_type": event.event_type}
        try:
            landing_id = self.warehouse.land(event.row)
        except RowRefused as exc:
            return Answer(400, {"error": "the warehouse cannot store this event's values; nothing was stored", "field": "transaction"},
                          {"reason": f"refused.{exc}", **ids}, "refused")
        except SQLAlchemyError as exc:
            return Answer(503, {"error": "warehouse unavailable; nothing was stored, retry later"}, {"reason": _db_reason(exc), **ids},
                          "warehouse_unavailable")
        if landing_id is None:
            return Answer(200, {"accepted": True, "duplicate": True}, {"duplicate": True, **ids})
        return Answer(200, {"accepted": True, "duplicate": False, "landing_id": landing_id}, {"duplicate": False, "landing_id": landing_id, **ids})

    @staticmethod
    def _logged_ids(body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {"event_id": _loggable_id(data.get("event_id")), "event_type": _loggable_id(data.get("event_type"))}

    async def metrics_page(self, request: Request) -> Response:
        """Prometheus' text format; the pipeline figures are read from the warehouse now (off the event loop).
        With a metrics token, only for a request that bears it: the figures are the merchant's cash, and the
        port also faces PayTrace."""
        from prometheus_client import CONTENT_TYPE_LATEST

        if self.metrics_token is not None:
            sent = request.headers.get("authorization", "")
            scheme, _, credentials = sent.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), self.metrics_token.encode()):
                log.warning("metrics: a scrape without the metrics token was refused", extra={"status": 401})
                return JSONResponse({"error": "GET /metrics needs Authorization: Bearer <PAYSYNC_METRICS_TOKEN>"},
                                    status_code=401, headers={"WWW-Authenticate": 'Bearer realm="paysync-metrics"'})
        return Response(await run_in_threadpool(self.metrics.render), media_type=CONTENT_TYPE_LATEST)

    async def healthz(self, request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(self.warehouse.ping)
        except SQLAlchemyError as exc:
            log.warning("healthz: warehouse unreachable", extra={"status": 503, "reason": _db_reason(exc)})
            return JSONResponse({"status": "unavailable", "error": "warehouse unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(self.warehouse.ensure_schema)
            log.info("receiver ready", extra={"database": self.warehouse.url, "path": PATH})
        except SQLAlchemyError as exc:
            log.warning("warehouse unreachable at startup; will retry on use", extra={"database": self.warehouse.url, "reason": _db_reason(exc)})
        try:
            yield
        finally:
            self.warehouse.engine.dispose()


def _db_reason(exc: SQLAlchemyError) -> str:
    # Class names only: SQLAlchemy's message quotes the statement's parameters, i.e. the payload.
    orig = getattr(exc, "orig", None)
    return type(exc).__name__ + (f"/{type(orig).__name__}" if orig is not None else "")


def create_app(database_url: str, secrets: list[str], tz_name: str, limits: ReceiverLimits | None = None, *,
               metrics_token: str | None = None) -> Starlette:
    """The receiver's app. ``metrics_token`` (``PAYSYNC_METRICS_TOKEN``): ``GET /metrics`` then answers only
    a request with ``Authorization: Bearer <token>``; without one it answers anyone who reaches the port."""
    usable = [s for s in secrets if s]
    if not usable:
        raise ValueError("the webhook receiver needs at least one secret (PAYSYNC_WEBHOOK_SECRET)")
    zone(tz_name)  # an unknown zone fails here, not on the first event
    receiver = Receiver(Warehouse(database_url), usable, tz_name, limits or ReceiverLimits(), metrics_token or None)
    app = Starlette(
        routes=[Route(PATH, receiver.post, methods=["POST"]), Route("/healthz", receiver.healthz, methods=["GET"]),
                Route(METRICS_PATH, receiver.metrics_page, methods=["GET"])],
        lifespan=receiver.lifespan,
    )
    app.state.receiver = receiver
    return app


def server_config(app: Starlette, host: str, port: int, **options: Any) -> "uvicorn.Config":
    """How the receiver is served: uvicorn with the request-header size cap of the app's limits
    (h11 answers 400 past it), short keep-alive, and no access log (the app logs each request)."""
    import uvicorn

    limits: ReceiverLimits = app.state.receiver.limits
    settings: dict[str, Any] = {"log_config": None, "access_log": False, "timeout_graceful_shutdown": 10,
                                "timeout_keep_alive": 5, "h11_max_incomplete_event_size": limits.max_header_bytes}
    return uvicorn.Config(app, host=host, port=port, **{**settings, **options})


# uvicorn adds ``color_message``, the same text with terminal escapes.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName", "color_message"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the code path, not the message: a message could quote the payload.
            out["exception"] = record.exc_info[0].__name__
            out["traceback"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(out, default=str)
