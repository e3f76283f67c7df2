"""Webhook ingest: events accepted per second (signature checked, row committed, SQLite warehouse)
next to a bare Starlette endpoint that answers 200 without storing, both served by uvicorn as a
separate process on the same host, both driven by the same 32 concurrent clients in the same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.run import BenchContext, Figure
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.webhooks.signing import HEADER, SECRET_ENV, sign
from paysync_dagster_tests.lib.paytrace.records_fixtures import record
from paysync_dagster_tests.support import free_port, start_process, stop_process, wait_for

CASE = "webhooks_ingest"
REPO = Path(__file__).resolve().parents[2]
CLIENTS = 32
SECRET = "bench-secret-0123456789abcdef"
PATH = "/webhooks/paytrace"


async def _bare(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"accepted": True})


async def _healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


# Served by `uvicorn bench.cases.webhooks_ingest:bare_app`: the floor any receiver stands on.
bare_app = Starlette(routes=[Route(PATH, _bare, methods=["POST"]), Route("/healthz", _healthz)])


def _events(count: int, prefix: str, first_id: int) -> list[bytes]:
    bodies = []
    for i in range(count):
        envelope = {
            "event_id": f"{prefix}-{i:06d}",
            "event_type": "transaction.approved",
            "occurred_at": "2026-03-02T16:06:30-08:00",
            "transaction": record(transaction_id=first_id + i, invoice_id=f"INV-{i}", created__at="3/2/2026 4:06:30 PM"),
        }
        bodies.append(json.dumps(envelope, separators=(",", ":")).encode())
    return bodies


async def _drive(url: str, bodies: list[bytes]) -> tuple[float, list[float]]:
    """Post every body with CLIENTS concurrent clients; (seconds, per-request latencies). Any non-2xx fails the case."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                # Signed here, not in advance: a bounded run is far inside the 300 s tolerance either way.
                headers = {"Content-Type": "application/json", HEADER: sign(body, SECRET)}
                t0 = time.perf_counter()
                answer = await client.post(url + PATH, content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                if not answer.is_success:
                    raise RuntimeError(f"{url}: HTTP {answer.status_code} {answer.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        return time.perf_counter() - started, latencies


def _start(args: list[str], ctx: BenchContext, name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, SECRET_ENV: SECRET}
    proc = start_process([*args, "--port", str(port)], env=env, cwd=str(REPO), log_path=str(ctx.workdir / f"{name}.log"))
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited; see {ctx.workdir / f'{name}.log'}")
        return httpx.get(url + "/healthz", timeout=5).status_code == 200

    wait_for(healthy, timeout=90, what=name)
    return proc, url


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


def run(ctx: BenchContext) -> list[Figure]:
    count = 1_000 if ctx.quick else 5_000
    warmup = 200
    database_url = f"sqlite:///{ctx.workdir / 'warehouse.db'}"
    py = sys.executable
    bare, bare_url = _start([py, "-m", "uvicorn", "bench.cases.webhooks_ingest:bare_app", "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"], ctx, "bare")
    try:
        receiver, receiver_url = _start([py, "-m", "paysync_dagster.webhooks.cli", "serve", "--host", "127.0.0.1", "--database-url", database_url], ctx, "receiver")
        try:
            asyncio.run(_drive(bare_url, _events(warmup, "warm", 9_000_000)))
            asyncio.run(_drive(receiver_url, _events(warmup, "warm", 9_000_000)))
            bodies = _events(count, "evt", 1_000_000)
            ctx.say(f"{count} events, {CLIENTS} concurrent clients: bare endpoint")
            bare_s, bare_lat = asyncio.run(_drive(bare_url, bodies))
            ctx.say(f"{count} events, {CLIENTS} concurrent clients: receiver")
            recv_s, recv_lat = asyncio.run(_drive(receiver_url, bodies))
        finally:
            stop_process(receiver)
    finally:
        stop_process(bare)

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            landed = conn.exec_driver_sql("SELECT count(*) FROM paytrace_landing WHERE event_id LIKE 'evt-%'").scalar_one()
    finally:
        engine.dispose()
    if landed != count:
        raise RuntimeError(f"{count} events acknowledged but {landed} landing rows")

    bare_rate, recv_rate = count / bare_s, count / recv_s
    ctx.say(f"receiver {recv_rate:,.0f}/s, bare {bare_rate:,.0f}/s, ratio {recv_rate / bare_rate:.2f}")
    note = f"{count} events, {CLIENTS} concurrent httpx clients, loopback, uvicorn (one process each), {os.cpu_count()} CPUs shared with the clients"
    return [
        Figure(CASE, "events accepted per second (signed, committed)", recv_rate, "events/s", baseline=bare_rate,
               baseline_label="bare Starlette 200, same run", goal=">= 0.5 x bare", note=note),
        Figure(CASE, "bare endpoint requests per second", bare_rate, "requests/s", note=note),
        Figure(CASE, "receiver latency p50", _percentile(recv_lat, 50), "ms", baseline=_percentile(bare_lat, 50), baseline_label="bare p50"),
        Figure(CASE, "receiver latency p99", _percentile(recv_lat, 99), "ms", baseline=_percentile(bare_lat, 99), baseline_label="bare p99"),
    ]
