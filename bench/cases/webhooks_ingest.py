"""Webhook ingest: events accepted per second (signature checked, row committed, SQLite warehouse)
next to a bare Starlette endpoint that answers 200 without storing, both served by uvicorn as a
separate process on the same host, both driven by the same 32 concurrent clients in the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.processes import free_port, start_process, stop_process, wait_for
from bench.run import BenchContext, Figure
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.webhooks.signing import HEADER, SECRET_ENV, sign
from paysync_dagster_tests.lib.paytrace.records_fixtures import record

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


def _drive(url: str, bodies: list[bytes]) -> tuple[float, list[float]]:
    """Post every body from CLIENTS threads, one HTTP client (keep-alive connection) each.

    Returns (seconds, per-request latencies); any non-2xx answer fails the case. Threads rather than
    one httpx.AsyncClient: its shared pool, at 32 connections, is slower than the servers measured.
    """
    queue: Queue[bytes] = Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while not failures:
                try:
                    body = queue.get_nowait()
                except Empty:
                    return
                # Signed here, as a sender would; a bounded run is far inside the 300 s tolerance.
                headers = {"Content-Type": "application/json", HEADER: sign(body, SECRET)}
                t0 = time.perf_counter()
                answer = http.post(url + PATH, content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                if not answer.is_success:
                    failures.append(f"{url}: HTTP {answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(failures[0])
    return elapsed, latencies


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux), to compare the servers' cost per request."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(url: str, pid: int, bodies: list[bytes]) -> tuple[float, list[float], float | None]:
    before = _cpu_seconds(pid)
    seconds, latencies = _drive(url, bodies)
    after = _cpu_seconds(pid)
    cpu_ms = (after - before) * 1000 / len(bodies) if before is not None and after is not None else None
    return len(bodies) / seconds, latencies, cpu_ms


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
        receiver, receiver_url = _start([py, "-m", "paysync_dagster.cli", "webhooks", "serve", "--host", "127.0.0.1", "--database-url", database_url], ctx, "receiver")
        try:
            _drive(bare_url, _events(warmup, "warm", 9_000_000))
            _drive(receiver_url, _events(warmup, "warm", 9_000_000))
            bodies = _events(count, "evt", 1_000_000)
            ctx.say(f"{count} events, {CLIENTS} concurrent clients: bare endpoint")
            bare_rate, bare_lat, bare_cpu = _measure(bare_url, bare.pid, bodies)
            ctx.say(f"{count} events, {CLIENTS} concurrent clients: receiver")
            recv_rate, recv_lat, recv_cpu = _measure(receiver_url, receiver.pid, bodies)
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

    ctx.say(f"receiver {recv_rate:,.0f}/s, bare {bare_rate:,.0f}/s, ratio {recv_rate / bare_rate:.2f}")
    note = f"{count} events, {CLIENTS} client threads (httpx), loopback, uvicorn one process each; {os.cpu_count()} CPUs shared by clients and server"
    return [
        Figure(CASE, "events accepted per second (signed, committed)", recv_rate, "events/s", baseline=bare_rate,
               baseline_label="bare Starlette 200, same run", goal=">= 0.5 x bare", note=note),
        Figure(CASE, "bare endpoint requests per second", bare_rate, "requests/s", note=note),
        *([Figure(CASE, "server CPU per event", recv_cpu, "ms", baseline=bare_cpu, baseline_label="bare server CPU per request",
                  note="user+system time of the server process / events")] if recv_cpu is not None and bare_cpu is not None else []),
        Figure(CASE, "receiver latency p50", _percentile(recv_lat, 50), "ms", baseline=_percentile(bare_lat, 50), baseline_label="bare p50"),
        Figure(CASE, "receiver latency p99", _percentile(recv_lat, 99), "ms", baseline=_percentile(bare_lat, 99), baseline_label="bare p99"),
    ]
