"""Fetch and land one day of PayTrace transactions from the sandbox.

Side by side in one run: a bare httpx client asking the same sandbox for the same export (token,
one POST, JSON decode), against PaySync's client pulling it and landing every record in a SQLite
warehouse (parse, scrub, dedup key, insert) the way ``pull_export_into_landing`` does, with
``land_records``. The warehouse's schema is created before the clock starts (a deployment creates it
once, not per pull). The ratio says what PaySync's own work costs.
"""

from __future__ import annotations

import time
from datetime import date

import httpx
from sqlalchemy import Engine

from bench.run import BenchContext, Figure
from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.paytrace.landing import land_records
from paysync_dagster.lib.timeutil import format_paytrace_date
from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME, HistorySpec
from paysync_dagster.sandbox.server import ServerThread, build_app

TZ = "America/Los_Angeles"
DAY = date(2026, 10, 14)


def _bare(url: str) -> int:
    with httpx.Client(base_url=url, timeout=600) as client:
        token = client.post("/oauth/token", data={"grant_type": "password", "username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD}).json()["access_token"]
        body = {"start_date": format_paytrace_date(DAY), "end_date": format_paytrace_date(DAY), "integrator_id": DEFAULT_INTEGRATOR_ID}
        answer = client.post("/v1/transactions/export/by_date_range", json=body, headers={"Authorization": f"Bearer {token}"})
        return len(answer.json()["transactions"])


def _paysync(url: str, engine: Engine) -> tuple[int, int]:
    with PayTraceClient(url, DEFAULT_USERNAME, DEFAULT_PASSWORD, DEFAULT_INTEGRATOR_ID, timeout=600, retry=RetryPolicy(max_attempts=2)) as client:
        records = client.export_transactions(DAY, DAY)
    result, refused = land_records(engine, records, source="export", tz_name=TZ)
    assert not refused, refused[:3]  # the sandbox's records are all readable: every one must land
    assert result.landed == len(records), (result.landed, len(records))  # a fresh warehouse: every record lands once
    return len(records), result.landed


def run(ctx: BenchContext) -> list[Figure]:
    per_day = 10_000 if ctx.quick else 100_000
    ctx.say(f"generating {per_day:,} transactions for {DAY}")
    app = build_app(history=HistorySpec(seed=5, start_date=DAY, end_date=DAY, per_day=per_day), tz_name=TZ)
    figures = []
    with ServerThread(app) as server:
        _bare(server.url)  # warm the sandbox's export path once, for both
        bare_times, paysync_times = [], []
        for i in range(3):
            t0 = time.perf_counter()
            n_bare = _bare(server.url)
            bare_times.append(time.perf_counter() - t0)
            engine = make_engine(f"sqlite:///{ctx.workdir / f'warehouse-{i}.db'}")
            migrate(engine)
            t0 = time.perf_counter()
            n_records, landed = _paysync(server.url, engine)
            paysync_times.append(time.perf_counter() - t0)
            engine.dispose()
            ctx.say(f"round {i + 1}: bare {n_bare:,} in {bare_times[-1]:.2f}s; PaySync {n_records:,} fetched, {landed:,} landed in {paysync_times[-1]:.2f}s")
    bare, ours = min(bare_times), min(paysync_times)
    figures.append(Figure("paytrace_fetch", f"fetch+land one day ({n_records:,} txns), txns/s", n_records / ours, "txn/s",
                          baseline=n_bare / bare, baseline_label="bare httpx export, txns/s",
                          note="best of 3; ratio = PaySync rate / bare rate"))
    figures.append(Figure("paytrace_fetch", "fetch+land wall time", ours, "s", baseline=bare, baseline_label="bare export, s"))
    return figures
