"""One ASGI app and one port for every sandbox, and a background server for tests and ``paysync sandbox``.

Dispatch is by path, so that the ERP sandboxes share one port: PayTrace owns ``/oauth/token`` and
``/v1/``; Oracle Fusion owns ``/fscmRestApi/`` and ``/oauth2/`` (its control API is
``/_sandbox/oracle/...``, see :mod:`.oracle.control`); Sage 300 owns ``/Sage300WebApi/`` (its control
API is ``/_sandbox/sage/...``, see :mod:`.sage.control`). The whole app sits behind
:class:`~paysync_dagster.sandbox.faults.FaultInjector`, and ``/_sandbox/`` is the control API
(loopback use, no auth, never faulted):

- ``GET /_sandbox/faults`` -> the fault config; ``POST /_sandbox/faults`` (a full config, missing
  keys default) replaces it and restarts its random stream.
- ``POST /_sandbox/reset`` -> empty every store, drop tokens, clear faults and statistics, then
  generate the startup history again (if there was one) and seed Oracle and Sage with its invoice
  catalogue (Sage keeps its chart of accounts and banks; its cookie sessions end).
- ``POST /_sandbox/generate`` ``{"seed", "start_date": "YYYY-MM-DD", "end_date" | "days", "per_day",
  "card_on_file"?}`` -> replace the history (tokens stay valid); answers the counts and the seconds it
  took. ``card_on_file: true`` also seeds the card-on-file invoices of :mod:`.card_on_file`.
- ``POST /_sandbox/expire_tokens`` -> ``{"expired": n}``.
- ``GET /_sandbox/stats`` -> ``{"paytrace": {"transactions", "batches", "open_batch", "customers",
  "tokens"}, "requests": {path: {status: n}}, "faults": {kind: n}}``.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from datetime import date, timedelta
from typing import Any, Callable, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE

from .asgi import acknowledge_lifespan
from .faults import FaultConfig, FaultInjector, fault_config
from .oracle import OracleSandbox, SeedSpec, create_oracle_app, seed_from_generator
from .paytrace.app import create_app as create_paytrace_app
from .paytrace.state import HistorySpec, PayTraceState
from .sage import SageSandbox, create_sage_app, seed_chart
from .sage import seed_from_generator as seed_sage_from_generator


class SandboxApp:
    """The composed ASGI app. ``.paytrace`` is the PayTrace store, ``.oracle`` the Oracle Fusion
    sandbox (its control API under ``/_sandbox/oracle/``), ``.sage`` the Sage 300 sandbox (control API
    under ``/_sandbox/sage/``), ``.faults`` the one injector in front of them all (session expiry of
    Sage is one of its ``expire_tokens`` hooks).

    ``mounts`` adds other sandboxes as (path prefix, ASGI app), tried in order after the control API
    and before PayTrace; ``on_expire_tokens`` adds their token-expiry hooks for the fault injector.
    """

    def __init__(self, paytrace: PayTraceState | None = None, faults: FaultConfig | dict | str | None = None,
                 oracle: OracleSandbox | None = None, *, sage: SageSandbox | None = None,
                 mounts: Sequence[tuple[str, Any]] = (), on_expire_tokens: Sequence[Callable[[], object]] = ()):
        self.paytrace = paytrace or PayTraceState()
        # The composed app has one injector for every sandbox, so Oracle's own is left out.
        self.oracle = oracle or create_oracle_app(fault_injection=False, control_prefix="/_sandbox/oracle")
        self.sage = sage or create_sage_app(control_prefix="/_sandbox/sage")
        paytrace_app = create_paytrace_app(self.paytrace)
        self._mounts: list[tuple[str, Any]] = [
            ("/_sandbox/oracle/", self.oracle.control),  # before the generic control API below
            ("/_sandbox/sage/", self.sage.control),
            ("/_sandbox/", self._control_app()),
            *mounts,
            ("/oauth/", paytrace_app),
            ("/v1/", paytrace_app),
            ("/fscmRestApi/", self.oracle.api),
            ("/oauth2/", self.oracle.api),
            ("/Sage300WebApi/", self.sage.api),
        ]
        self.faults = FaultInjector(self._dispatch, fault_config(faults),
                                    on_expire_tokens=[self.paytrace.expire_tokens, self.oracle.state.expire_tokens,
                                                      self.sage.state.expire_sessions, *on_expire_tokens])

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await acknowledge_lifespan(receive, send)
            return
        await self.faults(scope, receive, send)

    async def _dispatch(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        for prefix, app in self._mounts:
            if path.startswith(prefix):
                await app(scope, receive, send)
                return
        await JSONResponse({"error": "not_found", "path": path}, 404)(scope, receive, send)

    # -- control API ----------------------------------------------------------------------

    def _control_app(self) -> Starlette:
        async def get_faults(request: Request) -> JSONResponse:
            return JSONResponse(self.faults.config.model_dump(mode="json"))

        async def set_faults(request: Request) -> JSONResponse:
            try:
                config = FaultConfig.model_validate_json(await request.body() or b"{}")
            except ValueError as exc:
                return JSONResponse({"error": "invalid_fault_config", "detail": str(exc)}, 400)
            self.faults.configure(config)
            return JSONResponse(config.model_dump(mode="json"))

        async def reset(request: Request) -> JSONResponse:
            self.faults.configure(FaultConfig())
            self.faults.reset_stats()
            paytrace = await run_in_threadpool(self.paytrace.reset)
            await run_in_threadpool(self.oracle.state.reset)
            self.oracle.reset_statistics()
            await run_in_threadpool(self.sage.state.reset)
            self.sage.reset_statistics()
            return JSONResponse({"paytrace": paytrace, "oracle": self.oracle.state.counts(),
                                 "sage": self.sage.state.counts()})

        async def generate(request: Request) -> JSONResponse:
            try:
                spec = history_spec(await request.json())
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"error": "invalid_history", "detail": str(exc)}, 400)
            began = time.perf_counter()
            counts = await run_in_threadpool(self.paytrace.generate, spec)
            oracle = await run_in_threadpool(self._reseed_oracle, spec)
            sage = await run_in_threadpool(self._reseed_sage, spec)
            return JSONResponse({"paytrace": counts, "oracle": oracle, "sage": sage,
                                 "seconds": round(time.perf_counter() - began, 3)})

        async def expire_tokens(request: Request) -> JSONResponse:
            return JSONResponse({"expired": self.paytrace.expire_tokens()})

        async def stats(request: Request) -> JSONResponse:
            return JSONResponse({"paytrace": self.paytrace.counts(), "oracle": self.oracle.statistics()["oracle"],
                                 "sage": self.sage.state.counts(), **self.faults.stats()})

        return Starlette(routes=[
            Route("/_sandbox/faults", get_faults, methods=["GET"]),
            Route("/_sandbox/faults", set_faults, methods=["POST"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
            Route("/_sandbox/generate", generate, methods=["POST"]),
            Route("/_sandbox/expire_tokens", expire_tokens, methods=["POST"]),
            Route("/_sandbox/stats", stats, methods=["GET"]),
        ])


    def _reseed_oracle(self, spec: HistorySpec) -> dict:
        """Oracle holds the invoice catalogue of the new history instead (like PayTrace, ``reset``
        still goes back to the startup seed)."""
        state = self.oracle.state
        with state.lock:
            state.reset(empty=True)
            seed_from_generator(state, SeedSpec(spec.seed, spec.start_date, spec.end_date, spec.per_day,
                                                self.paytrace.tz_name, card_on_file=spec.card_on_file))
            return state.counts()

    def _reseed_sage(self, spec: HistorySpec) -> dict:
        """Sage likewise: the new history's customers and invoices, on its chart and banks."""
        state = self.sage.state
        with state.lock:
            state.reset(empty=True)
            seed_chart(state)
            seed_sage_from_generator(state, SeedSpec(spec.seed, spec.start_date, spec.end_date, spec.per_day,
                                                     self.paytrace.tz_name, card_on_file=spec.card_on_file))
            return state.counts()


def history_spec(raw: dict) -> HistorySpec:
    """``{"seed", "start_date", "end_date" or "days", "per_day", "card_on_file"?}`` (dates ISO) -> HistorySpec."""
    start = date.fromisoformat(str(raw["start_date"]))
    end = date.fromisoformat(str(raw["end_date"])) if raw.get("end_date") else \
        start + timedelta(days=int(raw.get("days", 7)) - 1)
    per_day = int(raw.get("per_day", 300))
    if end < start or per_day < 0:
        raise ValueError("need start_date <= end_date and per_day >= 0")
    return HistorySpec(seed=int(raw.get("seed", 7)), start_date=start, end_date=end, per_day=per_day,
                       card_on_file=bool(raw.get("card_on_file", False)))


def build_app(*, history: HistorySpec | None = None, faults: FaultConfig | dict | str | None = None,
              mounts: Sequence[tuple[str, Any]] = (), **state_options: Any) -> SandboxApp:
    """The sandbox app; ``state_options`` go to :class:`PayTraceState` (username, password,
    integrator_id, tz_name, clock, token_ttl, seed). Oracle is seeded with the invoice catalogue the
    same history pays, so the sandboxes agree, and Sage the same way; ``reset`` returns both to that seed.
    ``history.card_on_file`` adds the card-on-file invoices and the expired vault card of
    :mod:`.card_on_file` to all three."""
    app = SandboxApp(PayTraceState(history=history, **state_options), faults, mounts=mounts)
    if history is not None:
        tz_name = state_options.get("tz_name") or DEFAULT_MERCHANT_TIMEZONE
        seed_from_generator(app.oracle.state, SeedSpec(history.seed, history.start_date, history.end_date,
                                                       history.per_day, tz_name, card_on_file=history.card_on_file))
        app.oracle.state.mark_baseline()
        seed_sage_from_generator(app.sage.state, SeedSpec(history.seed, history.start_date, history.end_date,
                                                          history.per_day, tz_name,
                                                          card_on_file=history.card_on_file))
        app.sage.state.mark_baseline()
    return app


class ServerThread:
    """uvicorn serving ``app`` on ``host`` and ``port`` (0 = a free one) in a background thread.

    The socket is bound here before the thread starts, so ``.url`` is known at once and no other
    process can take the port in between; ``__enter__`` returns when the server accepts connections.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, startup_timeout: float = 60.0,
                 log_level: str = "warning"):
        self.app, self.host, self.startup_timeout = app, host, startup_timeout
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5, timeout_keep_alive=5)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name=f"sandbox-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"sandbox server on {self.url} exited during startup")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"sandbox server on {self.url} did not start within {self.startup_timeout}s")
            self._thread.join(0.01)  # wait on the thread, a few ms at a time, until it reports started
        with socket.create_connection((self.host, self.port), timeout=self.startup_timeout):
            pass
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout / 2)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(timeout / 2)
        self._sock.close()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_until_stopped(server: ServerThread, ready: Callable[[], object] = lambda: None, poll: float = 0.5) -> bool:
    """Calls ``ready``, waits until SIGINT or SIGTERM, then stops ``server``; False when the server
    stopped on its own first.

    uvicorn runs in a thread here, so the signals are ours: they end the wait, then the server stops
    cleanly and the previous handlers come back (the caller may be a test, in-process). ``ready`` runs
    once they are ours, so whoever it tells the server is up may stop it at once."""
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        ready()
        while not stop.wait(poll):
            if not server.is_alive():
                return False
        return True
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
