"""Webhook-to-run-start latency with the daemon running.

Real processes: ``dagster dev`` (webserver + daemon, landing sensor at its default interval), the
webhook receiver, and the sandbox (for the export poller). Signed events are posted one at a time;
each event's latency runs from the receiver's 2xx to the start of the run the landing sensor
requested for the batch of landing rows holding it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from statistics import quantiles

import httpx

from bench.run import BenchContext, Figure
from paysync_dagster.demo import wait_http
from paysync_dagster.lib.timeutil import format_paytrace_timestamp
from paysync_dagster.webhooks.signing import HEADER, sign

REPO = Path(__file__).resolve().parents[2]
SECRET = "bench-secret"
TZ = "America/Los_Angeles"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record(txn_id: int) -> dict:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return {
        "transaction_id": txn_id, "transaction_type": "SALE", "amount": 42.5, "tax_amount": "", "invoice_id": "INV-000101",
        "credit_card": {"masked_number": "************5439", "expiration_month": 12, "expiration_year": 30},
        "approval_code": "TAS610", "approval_message": "  APPROVAL - Approved and completed", "settled": "",
        "created": {"through": "API", "at": format_paytrace_timestamp(now, TZ), "by": "bench", "from_ip": "127.0.0.1"},
        "customer_id": "", "description": "bench", "billing_address": {"name": "Bench", "street_address": "", "street_address2": "",
                                                                      "city": "", "state": "", "zip": "", "country": "US"},
    }


def _runs(ui: str) -> list[dict]:
    query = "{ runsOrError { ... on Runs { results { runId startTime status tags { key value } } } } }"
    data = httpx.post(f"{ui}/graphql", json={"query": query}, timeout=30).json()["data"]["runsOrError"]["results"]
    out = []
    for r in data:
        tags = {t["key"]: t["value"] for t in r["tags"]}
        key = tags.get("dagster/run_key", "")
        if key.startswith("landing-") and r["startTime"]:
            _, after, cursor, _day = key.split("-", 3)
            out.append({"after": int(after), "cursor": int(cursor), "start": float(r["startTime"])})
    return out


def run(ctx: BenchContext) -> list[Figure]:
    events = 6 if ctx.quick else 20
    home = ctx.workdir
    (home / "dagster_home").mkdir(parents=True)
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster_home" / "dagster.yaml")
    ui_port, receiver_port, sandbox_port = _port(), _port(), _port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PAYTRACE_", "DAGSTER_"))},
           "PAYSYNC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
           "PAYSYNC_DATABASE_URL": f"sqlite:///{home / 'warehouse.db'}", "PAYSYNC_WEBHOOK_SECRET": SECRET,
           "PAYTRACE_BASE_URL": f"http://127.0.0.1:{sandbox_port}", "PAYTRACE_USERNAME": "paysync-demo",
           "PAYTRACE_PASSWORD": "paysync-demo-password", "PAYTRACE_INTEGRATOR_ID": "9575315uXt4u",
           # The posting path now reaches Oracle: its runs need the sandbox's Oracle credentials too.
           "ORACLE_FUSION_BASE_URL": f"http://127.0.0.1:{sandbox_port}", "ORACLE_FUSION_USERNAME": "paysync.integration",
           "ORACLE_FUSION_PASSWORD": "paysync-demo-password"}
    procs: list[subprocess.Popen] = []

    def start(args: list[str], name: str) -> subprocess.Popen:
        log = open(home / f"{name}.log", "ab")  # noqa: SIM115
        p = subprocess.Popen(args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    paysync = [sys.executable, "-m", "paysync_dagster.cli"]
    try:
        sandbox = start([*paysync, "sandbox", "--port", str(sandbox_port), "--days", "1", "--per-day", "5"], "sandbox")
        receiver = start([*paysync, "webhooks", "serve", "--port", str(receiver_port)], "receiver")
        dagster = start([str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"),
                         "-h", "127.0.0.1", "-p", str(ui_port)], "dagster")
        ui = f"http://127.0.0.1:{ui_port}"
        wait_http(f"http://127.0.0.1:{sandbox_port}/v1/ping", "the sandbox", sandbox, timeout=240)
        wait_http(f"http://127.0.0.1:{receiver_port}/healthz", "the receiver", receiver, timeout=240)
        wait_http(f"{ui}/server_info", "dagster dev", dagster, timeout=240)
        ctx.say("dagster dev, receiver and sandbox are up; posting events")
        sent: list[tuple[int, float]] = []
        with httpx.Client(timeout=30) as http:
            for i in range(events):
                body = json.dumps({"event_id": f"bench-{i}", "event_type": "transaction.approved",
                                   "occurred_at": datetime.now(timezone.utc).isoformat(), "transaction": _record(900_000 + i)}).encode()
                answer = http.post(f"http://127.0.0.1:{receiver_port}/webhooks/paytrace", content=body,
                                   headers={"Content-Type": "application/json", HEADER: sign(body, SECRET)})
                acked = time.time()
                sent.append((answer.json()["landing_id"], acked))
                time.sleep(2.5)  # pacing between events, not a wait for a condition
        deadline = time.monotonic() + 300
        latencies: list[float] = []
        while time.monotonic() < deadline:
            runs = _runs(ui)
            latencies = []
            for landing_id, acked in sent:
                starts = [r["start"] for r in runs if r["after"] < landing_id <= r["cursor"]]
                if starts:
                    latencies.append(min(starts) - acked)
            if len(latencies) == len(sent):
                break
            time.sleep(1)
        ctx.say(f"{len(latencies)}/{len(sent)} events reached a started run")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 15)
                p.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass
    if len(latencies) < 2:
        raise RuntimeError(f"only {len(latencies)} events reached a run; see {home}")
    cuts = quantiles(latencies, n=20)
    return [
        Figure("webhook_latency", "webhook 2xx -> run start, p50", cuts[9], "s", note=f"{len(latencies)} events, sensor interval 5 s"),
        Figure("webhook_latency", "webhook 2xx -> run start, p95", cuts[18], "s"),
    ]
