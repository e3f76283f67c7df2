"""Webhook to receipt: from the receiver's 2xx to the receipt being readable in the ERP, on the embedded
default (SQLite warehouse and instance, ``dagster dev``, the sandbox, the receiver: all real processes).

PaySync. ``paysync sandbox``, ``paysync webhooks serve`` and ``dagster dev`` (the repo's workspace
and ``dagster.yaml``, the landing sensor at its default interval) each in its own process group on
free loopback ports. Signed ``transaction.approved`` SALE events for today's business date in
America/Los_Angeles (unique transaction ids, invoice ids of the sandbox's open invoices) are posted
by a paced sender (event i at t0 + i/rate, by the wall clock, from a thread pool): 10 events/s for
120 s, then 1 event/s for 60 s (quick: 20 s and 10 s); then, once the instance is quiet, a spike of
5,000 events in 10 s (quick: 500 in 5 s).

- Latency of an event: its 2xx answer from the receiver -> the first poll of the ERP sandbox's
  Oracle Fusion REST API (as the integration user) that returns its receipt ``PT-<transaction id>``.
  The poller reads new receipts every 0.5 s by paging ``standardReceipts`` in creation order
  (``offset``/``limit``, ``fields=ReceiptNumber``): every new receipt is read once, whatever the
  number of events outstanding. (A ``q=ReceiptNumber in (...)`` over 500 numbers costs the sandbox
  seconds per request at a few thousand receipts, since ``in`` is evaluated per receipt and value;
  that poller would have been the bottleneck.) At the end, events still missing are looked up one
  by one with ``q=ReceiptNumber='PT-<id>'``, and a few seen receipts are read back the same way.
- Runs, sampled every second through GraphQL ``runsOrError``: requested (runs tagged
  ``paysync/trigger=landing``), failed (status FAILURE, any run of the instance), queued (QUEUED or
  NOT_STARTED) per ``dagster/partition`` and overall. Counts are differences over a window, peaks
  the maxima of its samples; a window runs from its first event until, after its last receipt, no
  run is queued or in progress (so a run that fails after posting still counts).
- Events without a receipt by the deadline (steady: 180 s after the last event, quick 120 s; spike:
  300 s, quick 180 s) are counted, and enter the percentiles at their censored latency (a lower bound).

The floor, in the same run, right after (not at the same time: two instances on two cores would
slow each other): ``bench/floor_location.py`` under its own ``dagster dev`` and DAGSTER_HOME (the
same ``dagster.yaml``), one sensor at the landing sensor's interval (as the running PaySync instance
reports it) that turns new rows of a SQLite table into one trivial run per tick, whose one op marks
them "done". Rows are inserted at the same rates for the same durations; latency is insert commit ->
the first 0.5 s poll that reads the row "done". PaySync's p50/p95 per rate use the floor's as baseline.

Measurement and pacing data, and every process's log, are kept in ``bench/results/webhook_to_receipt/``
(the case's temporary workdir goes away with the bench run).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from bench.processes import Processes, free_port
from bench.run import BenchContext, Figure
from paysync_dagster.lib.timeutil import format_paytrace_timestamp, zone
from paysync_dagster.webhooks.signing import HEADER, sign

CASE = "webhook_to_receipt"
REPO = Path(__file__).resolve().parents[2]
KEEP = REPO / "bench" / "results" / CASE
TZ = "America/Los_Angeles"
SECRET = "bench-secret-5f0c2d9a7e3b41c68d2f0a9e7b6c5d4e"
ORACLE_USER, ORACLE_PASSWORD = "paysync.integration", "paysync-demo-password"  # the sandbox's own demo user
API_ROOT = "/fscmRestApi/resources/11.13.18.05"
LANDING_TAG = {"key": "paysync/trigger", "value": "landing"}
FLOOR_TAG = {"key": "bench/trigger", "value": "floor"}
FIRST_TXN_ID = 800_000_000  # far above the sandbox generator's ids (500,000,000 and up)
POLL_S = 0.5
SAMPLE_S = 1.0


@dataclass
class Plan:
    steady: list[tuple[str, float, float]]  # (phase, events per second, seconds)
    spike_events: int
    spike_seconds: float
    drain_s: float  # after the last event of a window, how long to wait for the rest
    spike_drain_s: float
    settle_s: float  # how long to wait for the instance to be quiet (no run queued or in progress)
    warmup_s: float  # the first event's deadline (code location loading, first run)

    @staticmethod
    def of(quick: bool) -> Plan:
        if quick:
            return Plan([("10/s", 10, 20), ("1/s", 1, 10)], 500, 5, drain_s=120, spike_drain_s=180, settle_s=120,
                        warmup_s=300)
        return Plan([("10/s", 10, 120), ("1/s", 1, 60)], 5_000, 10, drain_s=180, spike_drain_s=300, settle_s=180,
                    warmup_s=300)


@dataclass
class Sent:
    i: int
    phase: str
    key: int | None = None  # transaction id (PaySync) or row id (floor)
    due: float = 0.0
    started: float = 0.0
    acked: float | None = None  # 2xx answer received / row committed
    error: str = ""


# -- pacing ----------------------------------------------------------------------------------------------

def paced(due: list[float], phases: list[str], fire: Callable[[int], tuple[int, float]], threads: int) -> list[Sent]:
    """Call ``fire(i)`` at wall-clock time ``due[i]`` from ``threads`` workers (late calls go at once,
    so the schedule never drifts); ``fire`` returns (key, acked time) or raises."""
    out = [Sent(i, phases[i], due=due[i]) for i in range(len(due))]
    lock = threading.Lock()
    nxt = iter(range(len(due)))

    def worker() -> None:
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            wait = due[i] - time.time()
            if wait > 0:
                time.sleep(wait)  # pacing, not a wait for a condition
            s = out[i]
            s.started = time.time()
            try:
                s.key, s.acked = fire(i)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the schedule goes on
                s.error = f"{type(exc).__name__}: {exc}"[:300]

    pool = [threading.Thread(target=worker, daemon=True, name=f"sender-{n}") for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return out


def schedule(steps: Iterable[tuple[str, float, float]], t0: float) -> tuple[list[float], list[str]]:
    due, phases, offset = [], [], 0.0
    for phase, rate, seconds in steps:
        n = int(round(rate * seconds))
        due += [t0 + offset + k / rate for k in range(n)]
        phases += [phase] * n
        offset += seconds
    return due, phases


# -- watchers: first time each key is seen ------------------------------------------------------------------

class Watcher:
    """A thread that calls ``poll()`` every ``interval`` seconds and records when each key first appeared."""

    def __init__(self, name: str, poll: Callable[[], Iterable[Any]], interval: float):
        self.name, self._poll, self.interval = name, poll, interval
        self.seen: dict[Any, float] = {}
        self.errors: Counter[str] = Counter()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        tick = time.monotonic()
        while not self._stop.is_set():
            try:
                keys = list(self._poll())
                now = time.time()
                for k in keys:
                    self.seen.setdefault(k, now)
                self.polls += 1
            except Exception as exc:  # noqa: BLE001 - a failed poll is counted; the next one tries again
                self.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
            tick += self.interval
            self._stop.wait(max(0.0, tick - time.monotonic()))


class ReceiptPager:
    """New receipts of the Oracle sandbox, read as a REST client would: ``standardReceipts`` paged in
    creation order, ``fields=ReceiptNumber``; each poll starts one item before where the last ended and
    checks that item, so a collection that changed under it is read again from the start."""

    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url + API_ROOT, auth=(ORACLE_USER, ORACLE_PASSWORD), timeout=30,
                                 headers={"REST-Framework-Version": "4", "Accept": "application/json"})
        self.position = 0  # receipts read so far, in collection order
        self.last: str | None = None
        self.rescans = 0

    def poll(self) -> list[str]:
        new: list[str] = []
        offset = max(0, self.position - 1)
        while True:
            answer = self.http.get("/standardReceipts", params={"offset": offset, "limit": 500, "fields": "ReceiptNumber",
                                                                "onlyData": "true"})
            answer.raise_for_status()
            body = answer.json()
            items = [item.get("ReceiptNumber") for item in body["items"]]
            if offset == self.position - 1 and offset >= 0 and self.position > 0:
                if not items or items[0] != self.last:
                    self.rescans += 1
                    self.position, self.last = 0, None
                    offset = 0
                    continue
                items = items[1:]
            new += [n for n in items if n]
            self.position += len(items)
            if items:
                self.last = body["items"][-1].get("ReceiptNumber")
            if not body.get("hasMore"):
                return new
            offset = self.position

    def lookup(self, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` ``q=ReceiptNumber='...'`` finds, one request each (the way PaySync looks one up)."""
        found = set()
        for n in numbers:
            answer = self.http.get("/standardReceipts", params={"q": f"ReceiptNumber='{n}'", "fields": "ReceiptNumber",
                                                                "onlyData": "true"})
            answer.raise_for_status()
            if any(item.get("ReceiptNumber") == n for item in answer.json()["items"]):
                found.add(n)
        return found

    def close(self) -> None:
        self.http.close()


# -- runs, through GraphQL --------------------------------------------------------------------------------------

SAMPLE_QUERY = """query Sample($trigger: [ExecutionTag!]) {
  requested: runsOrError(filter: {tags: $trigger}) { ... on Runs { count } ... on PythonError { message } }
  failed: runsOrError(filter: {statuses: [FAILURE]}) { ... on Runs { count } ... on PythonError { message } }
  active: runsOrError(filter: {statuses: [STARTING, STARTED, CANCELING]}) { ... on Runs { count } ... on PythonError { message } }
  queued: runsOrError(filter: {statuses: [QUEUED, NOT_STARTED]}) {
    ... on Runs { results { tags { key value } } } ... on PythonError { message } }
}"""

DETAIL_QUERY = """query Detail($trigger: [ExecutionTag!]) {
  runsOrError(filter: {tags: $trigger}) {
    ... on Runs { results { runId status creationTime startTime endTime tags { key value } } }
    ... on PythonError { message } }
}"""

INTERVAL_QUERY = """{ repositoriesOrError { ... on RepositoryConnection {
  nodes { name location { name } sensors { name minIntervalSeconds } } } } }"""


def graphql(ui: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    answer = httpx.post(f"{ui}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout)
    answer.raise_for_status()
    body = answer.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors'][:2]}")
    for name, value in body["data"].items():
        if isinstance(value, dict) and "message" in value:
            raise RuntimeError(f"GraphQL {name}: {value['message'][:300]}")
    return body["data"]


@dataclass
class Sample:
    t: float
    requested: int
    failed: int
    active: int
    queued: int
    queued_per_partition: dict[str, int]


class RunSampler:
    """Samples the instance's runs every second (one GraphQL request of counts and the queued runs' tags)."""

    def __init__(self, ui: str, trigger: dict):
        self.ui, self.trigger = ui, trigger
        self.samples: list[Sample] = []
        self.errors: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="run-sampler")

    def sample(self) -> Sample:
        data = graphql(self.ui, SAMPLE_QUERY, {"trigger": [self.trigger]})
        per: Counter[str] = Counter()
        for run in data["queued"]["results"]:
            tags = {t["key"]: t["value"] for t in run["tags"]}
            per[tags.get("dagster/partition", "")] += 1
        s = Sample(time.time(), data["requested"]["count"], data["failed"]["count"], data["active"]["count"],
                   sum(per.values()), dict(per))
        self.samples.append(s)
        return s

    def start(self) -> RunSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        tick = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - a failed sample is counted; the next one tries again
                self.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
            tick += SAMPLE_S
            self._stop.wait(max(0.0, tick - time.monotonic()))

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def window(self, start: float, end: float) -> dict[str, Any]:
        """Runs requested and failed between ``start`` and ``end`` (differences of the counts), peaks queued."""
        before = [s for s in self.samples if s.t <= start]
        inside = [s for s in self.samples if start <= s.t <= end]
        upto = [s for s in self.samples if s.t <= end]
        if not upto:
            return {"requested": 0, "failed": 0, "peak_queued": 0, "peak_queued_per_partition": 0,
                    "peak_partition": "", "samples": 0}
        base = before[-1] if before else upto[0]
        last = upto[-1]
        peak_part, peak_key = 0, ""
        for s in inside:
            for key, n in s.queued_per_partition.items():
                if n > peak_part:
                    peak_part, peak_key = n, key
        return {"requested": last.requested - base.requested, "failed": last.failed - base.failed,
                "peak_queued": max((s.queued for s in inside), default=0), "peak_queued_per_partition": peak_part,
                "peak_partition": peak_key, "samples": len(inside)}


def run_details(ui: str, trigger: dict, start: float, end: float) -> dict[str, Any]:
    """Runs created in [start, end]: created -> started (queue, launch, run worker boot) and started -> ended
    (p50, max), statuses, automatic retries."""
    runs = [r for r in graphql(ui, DETAIL_QUERY, {"trigger": [trigger]}, timeout=120)["runsOrError"]["results"]
            if r["creationTime"] and start <= float(r["creationTime"]) <= end]
    waits = [float(r["startTime"]) - float(r["creationTime"]) for r in runs if r["startTime"]]
    durations = [float(r["endTime"]) - float(r["startTime"]) for r in runs if r["startTime"] and r["endTime"]]
    retries = sum(1 for r in runs if any(t["key"] == "dagster/parent_run_id" for t in r["tags"]))
    return {"runs": len(runs), "ended": len(durations), "statuses": dict(Counter(r["status"] for r in runs)),
            "retries": retries,
            "queue_wait_p50": pct(waits, 50), "queue_wait_max": max(waits, default=0.0),
            "duration_p50": pct(durations, 50), "duration_max": max(durations, default=0.0)}


# -- statistics -------------------------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """The q-th percentile, linear between closest ranks; 0.0 for no values."""
    s = sorted(values)
    if not s:
        return 0.0
    k = (len(s) - 1) * q / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class Latencies:
    sent: int  # events sent in the window
    acked: int  # answered 2xx / committed
    arrived: int  # became receipts / "done" before the deadline
    values: list[float] = field(default_factory=list)  # arrived: exact; missing: censored at the deadline
    errors: Counter = field(default_factory=Counter)
    lag: float = 0.0  # the sender's largest delay behind its schedule

    @property
    def missing(self) -> int:
        return self.acked - self.arrived

    def stats(self) -> dict[str, float]:
        return {"p50": pct(self.values, 50), "p95": pct(self.values, 95), "max": max(self.values, default=0.0)}

    def note(self) -> str:
        parts = [f"{self.arrived}/{self.acked} arrived", f"sender at most {self.lag:.2f}s behind schedule"]
        if self.missing:
            parts.append(f"{self.missing} never did by the deadline and count at the deadline (percentiles are lower bounds)")
        if self.sent != self.acked:
            parts.append(f"{self.sent - self.acked} refused or failed to send: {dict(self.errors.most_common(2))}")
        return "; ".join(parts)


def latencies(events: list[Sent], seen: dict[Any, float], name: Callable[[int], Any], deadline: float) -> Latencies:
    acked = [e for e in events if e.acked is not None]
    out = Latencies(sent=len(events), acked=len(acked), arrived=0,
                    errors=Counter(e.error.split(":")[0] for e in events if e.acked is None),
                    lag=max((e.started - e.due for e in events if e.started), default=0.0))
    for e in acked:
        at = seen.get(name(e.key))
        if at is not None and at <= deadline:
            out.arrived += 1
            out.values.append(at - e.acked)
        else:
            out.values.append(max(0.0, deadline - e.acked))
    return out


# -- helpers -------------------------------------------------------------------------------------------------------

def daemon_loop_note() -> str:
    try:  # Dagster's sensor daemon evaluates a sensor at most once per loop, whatever its interval
        from dagster._daemon.sensor import MIN_INTERVAL_LOOP_TIME
    except ImportError:
        return ""
    return f" (the sensor daemon loops every {MIN_INTERVAL_LOOP_TIME}s at least)"


def today_la() -> str:
    return datetime.now(timezone.utc).astimezone(zone(TZ)).date().isoformat()


def base_env(**extra: str) -> dict[str, str]:
    """The bench's environment without any PaySync, PayTrace, Oracle or Dagster settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PAYTRACE_", "DAGSTER_", "ORACLE_FUSION_"))}
    env.update(extra)
    return env


def dagster_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "dagster.yaml", path / "dagster.yaml")  # the embedded default's instance settings
    return path


def dagster_dev(procs: Processes, name: str, target: list[str], port: int, env: dict[str, str]) -> str:
    procs.start(name, [str(Path(sys.executable).parent / "dagster"), "dev", *target, "-h", "127.0.0.1", "-p", str(port)],
                env=env)
    ui = f"http://127.0.0.1:{port}"
    procs.wait_http(name, f"{ui}/server_info", timeout=240)
    return ui


def wait_until(condition: Callable[[], bool], deadline: float, procs: Processes, every: float = 0.25) -> bool:
    """Poll ``condition`` until true or ``deadline`` (time.time()); the processes must stay up meanwhile."""
    while True:
        procs.check()
        if condition():
            return True
        if time.time() >= deadline:
            return False
        time.sleep(every)


def arrived(wanted: Iterable[Any], seen: dict[Any, float]) -> bool:
    return all(k in seen for k in wanted)  # membership only: safe while the watcher thread adds keys


def quiet(sampler: RunSampler, after: float) -> Callable[[], bool]:
    """No run queued or in progress in a sample taken after ``after``."""
    def check() -> bool:
        s = sampler.latest()
        return s is not None and s.t > after and s.queued == 0 and s.active == 0
    return check


def keep(workdir: Path, data: dict) -> Path:
    """Copy the logs and the measurements to bench/results/<case>/ (the workdir is temporary)."""
    if KEEP.exists():
        shutil.rmtree(KEEP)
    KEEP.mkdir(parents=True)
    for log in workdir.rglob("*.log"):
        shutil.copyfile(log, KEEP / log.name)
    (KEEP / "measurements.json").write_text(json.dumps(data, indent=1, default=str))
    return KEEP


# -- PaySync ---------------------------------------------------------------------------------------------------------

def record(txn_id: int, invoice: str) -> dict:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return {
        "transaction_id": txn_id, "transaction_type": "SALE", "amount": 42.5, "tax_amount": "", "invoice_id": invoice,
        "credit_card": {"masked_number": "************5439", "expiration_month": 12, "expiration_year": 30},
        "approval_code": "TAS610", "approval_message": "  APPROVAL - Approved and completed", "settled": "",
        "created": {"through": "API", "at": format_paytrace_timestamp(now, TZ), "by": "bench", "from_ip": "127.0.0.1"},
        "customer_id": "", "description": "bench", "billing_address": {
            "name": "Bench", "street_address": "", "street_address2": "", "city": "", "state": "", "zip": "", "country": "US"},
    }


def event_body(txn_id: int, invoice: str) -> bytes:
    return json.dumps({"event_id": f"bench-{txn_id}", "event_type": "transaction.approved",
                       "occurred_at": datetime.now(timezone.utc).isoformat(),
                       "transaction": record(txn_id, invoice)}, separators=(",", ":")).encode()


class Sender:
    """Posts signed events to the receiver, one keep-alive HTTP client per sender thread."""

    def __init__(self, url: str):
        self.url = url
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def client(self) -> httpx.Client:
        c = getattr(self._local, "client", None)
        if c is None:
            c = self._local.client = httpx.Client(timeout=60)
            with self._lock:
                self._clients.append(c)
        return c

    def post(self, txn_id: int, body: bytes) -> tuple[int, float]:
        answer = self.client().post(self.url, content=body, headers={"Content-Type": "application/json",
                                                                     HEADER: sign(body, SECRET)})
        acked = time.time()
        if not answer.is_success:
            raise RuntimeError(f"HTTP {answer.status_code} {answer.text[:120]}")
        return txn_id, acked

    def close(self) -> None:
        for c in self._clients:
            c.close()


def open_invoices(sandbox: str) -> list[str]:
    with httpx.Client(base_url=sandbox + API_ROOT, auth=(ORACLE_USER, ORACLE_PASSWORD), timeout=30,
                      headers={"REST-Framework-Version": "4"}) as http:
        answer = http.get("/receivablesInvoices", params={"fields": "TransactionNumber", "onlyData": "true", "limit": 500})
        answer.raise_for_status()
        return sorted({i["TransactionNumber"] for i in answer.json()["items"]
                       if str(i.get("TransactionNumber") or "").startswith("INV-")})


def landing_interval(ui: str) -> int:
    for repo in graphql(ui, INTERVAL_QUERY)["repositoriesOrError"]["nodes"]:
        for sensor in repo["sensors"]:
            if sensor["name"] == "paytrace_landing_sensor":
                return int(sensor["minIntervalSeconds"])
    raise RuntimeError("the running instance has no paytrace_landing_sensor")


def run_paysync(ctx: BenchContext, plan: Plan, data: dict) -> dict[str, Any]:
    home = ctx.workdir / "paysync"
    home.mkdir()
    sandbox_port, receiver_port, ui_port = free_port(), free_port(), free_port()
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    env = base_env(
        PAYSYNC_HOME=str(home), DAGSTER_HOME=str(dagster_home(home / "dagster_home")),
        PAYSYNC_DATABASE_URL=f"sqlite:///{home / 'warehouse.db'}", PAYSYNC_WEBHOOK_SECRET=SECRET,
        PAYSYNC_MERCHANT_TIMEZONE=TZ, PAYSYNC_REPORTS_DIR=str(home / "reports"), PAYSYNC_BANK_FILES_DIR=str(home / "bank"),
        PAYTRACE_BASE_URL=sandbox, PAYTRACE_USERNAME="paysync-demo", PAYTRACE_PASSWORD="paysync-demo-password",
        PAYTRACE_INTEGRATOR_ID="9575315uXt4u",
        ORACLE_FUSION_BASE_URL=sandbox, ORACLE_FUSION_USERNAME=ORACLE_USER, ORACLE_FUSION_PASSWORD=ORACLE_PASSWORD,
    )
    paysync = [sys.executable, "-m", "paysync_dagster.cli"]
    out: dict[str, Any] = {"notes": []}
    with Processes(ctx.workdir, env=env, cwd=home) as procs:
        procs.start("sandbox", [*paysync, "sandbox", "--host", "127.0.0.1", "--port", str(sandbox_port),
                                "--days", "1", "--per-day", "5", "--timezone", TZ])
        procs.start("receiver", [*paysync, "webhooks", "serve", "--host", "127.0.0.1", "--port", str(receiver_port)])
        procs.wait_http("sandbox", f"{sandbox}/v1/ping")
        procs.wait_http("receiver", f"http://127.0.0.1:{receiver_port}/healthz", ok=lambda r: r.status_code == 200)
        ui = dagster_dev(procs, "dagster", ["-w", str(REPO / "workspace.yaml")], ui_port, env)
        invoices = open_invoices(sandbox) or ["INV-000101"]
        ctx.say(f"paysync: sandbox, receiver and dagster dev up; {len(invoices)} open invoices in the sandbox")
        sender = Sender(f"http://127.0.0.1:{receiver_port}/webhooks/paytrace")
        pager = ReceiptPager(sandbox)
        watcher = Watcher("receipt-poller", pager.poll, POLL_S).start()
        sampler = RunSampler(ui, LANDING_TAG).start()
        number = lambda txn_id: f"PT-{txn_id}"  # noqa: E731 - the mapping's receipt_number_prefix + the PayTrace id
        next_id = iter(range(FIRST_TXN_ID, FIRST_TXN_ID + 10_000_000))
        try:
            # Warm-up: one event all the way through (code location loaded, first run done), then a quiet instance.
            warm = next(next_id)
            warm_at = time.time()
            sender.post(warm, event_body(warm, invoices[0]))
            if not wait_until(lambda: number(warm) in watcher.seen, warm_at + plan.warmup_s, procs):
                s = sampler.latest()
                if s is None or s.requested == 0:
                    raise RuntimeError(f"the warm-up event reached no run in {plan.warmup_s:.0f}s: is the landing sensor "
                                       f"running? (run sampler errors: {dict(sampler.errors) or 'none'}; receipt poller "
                                       f"errors: {dict(watcher.errors) or 'none'}; see {procs.log('dagster')})")
                out["notes"].append(f"warm-up event: no receipt within {plan.warmup_s:.0f}s ({s.requested} runs requested, "
                                    f"{s.failed} failed)")
            else:
                ctx.say(f"paysync: warm-up receipt after {watcher.seen[number(warm)] - warm_at:.1f}s")
            out["interval"] = landing_interval(ui)
            settled_from = time.time()
            if not wait_until(quiet(sampler, settled_from), settled_from + plan.settle_s, procs):
                out["notes"].append(f"steady: the instance was not quiet after {plan.settle_s:.0f}s; started anyway")

            # Steady phases.
            t0 = time.time() + 1.0
            due, phases = schedule(plan.steady, t0)
            ids = [next(next_id) for _ in due]
            day = today_la()
            ctx.say(f"paysync: steady {' then '.join(f'{r:g}/s for {s:g}s' for _, r, s in plan.steady)} "
                    f"({len(due)} events, business date {day})")
            sent = paced(due, phases, lambda i: sender.post(ids[i], event_body(ids[i], invoices[i % len(invoices)])),
                         threads=16)
            deadline = due[-1] + plan.drain_s
            wanted = {number(e.key) for e in sent if e.acked is not None}
            wait_until(lambda: arrived(wanted, watcher.seen), deadline, procs, every=0.5)
            steady_end = min(time.time(), deadline)
            if today_la() != day:
                out["notes"].append("the business date changed during the steady phases")
            out["steady"] = {
                "events": sent, "window": (t0, steady_end), "deadline": deadline, "runs_window": (t0, steady_end),
                "phases": {p: latencies([e for e in sent if e.phase == p], watcher.seen, number, deadline)
                           for p, _, _ in plan.steady},
            }
            ctx.say("paysync: steady " + ", ".join(f"{p}: {lat.arrived}/{lat.acked} receipts, p95 {lat.stats()['p95']:.1f}s"
                                                    for p, lat in out["steady"]["phases"].items()))

            # Spike, once the instance is quiet again (until then, runs still count to the steady phases).
            settled_from = time.time()
            if not wait_until(quiet(sampler, settled_from), settled_from + plan.settle_s, procs):
                out["notes"].append(f"spike: runs still queued or running {plan.settle_s:.0f}s after the steady phases; "
                                    "started anyway")
            out["steady"]["runs_window"] = (t0, time.time())
            spike_ids = [next(next_id) for _ in range(plan.spike_events)]
            bodies = [event_body(t, invoices[k % len(invoices)]) for k, t in enumerate(spike_ids)]
            rate = plan.spike_events / plan.spike_seconds
            t1 = time.time() + 1.0
            due, phases = schedule([("spike", rate, plan.spike_seconds)], t1)
            ctx.say(f"paysync: spike of {plan.spike_events} events in {plan.spike_seconds:g}s")
            spike = paced(due, phases, lambda i: sender.post(spike_ids[i], bodies[i]), threads=32)
            acked = [e for e in spike if e.acked is not None]
            deadline = due[-1] + plan.spike_drain_s
            wanted = {number(e.key) for e in acked}
            wait_until(lambda: arrived(wanted, watcher.seen), deadline, procs, every=0.5)
            spike_end = min(time.time(), deadline)
            # The runs the spike caused may still be going (receipts are readable before a run ends, and a
            # run may still fail after): its runs window ends when the instance is quiet.
            settled_from = time.time()
            if not wait_until(quiet(sampler, settled_from), settled_from + plan.settle_s, procs):
                out["notes"].append(f"spike: runs still queued or running {plan.settle_s:.0f}s after the last receipt")
            out["spike"] = {
                "events": spike, "window": (t1, spike_end), "deadline": deadline, "target_rate": rate,
                "runs_window": (t1, time.time()),
                "latencies": latencies(spike, watcher.seen, number, deadline),
                "first_ack": min((e.acked for e in acked), default=None),
                "last_ack": max((e.acked for e in acked), default=None),
                "first_start": min((e.started for e in spike), default=None),
                "last_receipt": max((watcher.seen[number(e.key)] for e in acked if number(e.key) in watcher.seen),
                                    default=None),
                "all_arrived": arrived(wanted, watcher.seen),
            }
            ctx.say(f"paysync: spike {out['spike']['latencies'].arrived}/{len(acked)} receipts")
        finally:
            watcher.stop()
            sampler.stop()
            sender.close()
        # Read back: missing events one by one by number (did the pager miss them?), and a few seen ones.
        everything = out["steady"]["events"] + out["spike"]["events"]
        missing = [number(e.key) for e in everything if e.acked is not None and number(e.key) not in watcher.seen]
        try:
            late = pager.lookup(missing[:100])
            sample = [n for n in (number(e.key) for e in everything[:: max(1, len(everything) // 3)]) if n in watcher.seen]
            confirmed = pager.lookup(sample)
        finally:
            pager.close()
        if late:
            out["notes"].append(f"{len(late)} receipts were found by number after the deadline although the pager never "
                                "returned them (measurement problem)")
        if len(confirmed) != len(sample):
            out["notes"].append(f"only {len(confirmed)}/{len(sample)} seen receipts were found again by q=ReceiptNumber")
        if pager.rescans:
            out["notes"].append(f"the receipt collection changed under the pager {pager.rescans} times (read again)")
        for what, errors in (("receipt poller", watcher.errors), ("run sampler", sampler.errors)):
            if errors:
                out["notes"].append(f"{what}: {sum(errors.values())} failed polls, e.g. {next(iter(errors))}")
        out["missing_after_deadline"] = len(missing) - len(late)
        out["runs"] = {}
        for name in ("steady", "spike"):
            start, end = out[name]["runs_window"]
            out["runs"][name] = sampler.window(start, end)
            try:
                out["runs"][name]["details"] = run_details(ui, LANDING_TAG, start, end)
            except Exception as exc:  # noqa: BLE001 - details are extra
                out["runs"][name]["details"] = {"error": str(exc)[:200]}
        out["receipt_polls"] = watcher.polls
        data["paysync"] = {k: v for k, v in out.items() if k not in ("steady", "spike")}
        data["paysync"]["events"] = {name: [asdict(e) | {"receipt_seen": watcher.seen.get(number(e.key))}
                                            for e in out[name]["events"]] for name in ("steady", "spike")}
        data["paysync"]["samples"] = [asdict(s) for s in sampler.samples]
    return out


# -- the floor ---------------------------------------------------------------------------------------------------------

def run_floor(ctx: BenchContext, plan: Plan, interval: int, data: dict) -> dict[str, Any]:
    home = ctx.workdir / "floor"
    home.mkdir()
    db = home / "floor.db"
    from bench.floor_location import INTERVAL_ENV, SCHEMA, connect

    conn = connect(str(db))
    conn.execute(SCHEMA)
    conn.close()
    env = base_env(DAGSTER_HOME=str(dagster_home(home / "dagster_home")), BENCH_FLOOR_DB=str(db),
                   **{INTERVAL_ENV: str(interval)})
    out: dict[str, Any] = {"notes": []}
    with Processes(ctx.workdir, env=env, cwd=home) as procs:
        ui = dagster_dev(procs, "floor-dagster", ["-f", str(REPO / "bench" / "floor_location.py")], free_port(), env)
        ctx.say(f"floor: dagster dev up (sensor interval {interval}s)")
        local = threading.local()

        def db_conn() -> sqlite3.Connection:
            c = getattr(local, "conn", None)
            if c is None:
                c = local.conn = connect(str(db))
            return c

        def insert(_i: int) -> tuple[int, float]:
            cur = db_conn().execute("INSERT INTO floor_rows (inserted_at) VALUES (?)", (time.time(),))
            return cur.lastrowid, time.time()

        low = {"id": 1}

        def done_rows() -> list[int]:  # runs in the poller's thread, on that thread's own connection
            return [r[0] for r in db_conn().execute("SELECT id FROM floor_rows WHERE done_at IS NOT NULL AND id >= ?",
                                                    (low["id"],))]

        watcher = Watcher("floor-poller", done_rows, POLL_S).start()
        sampler = RunSampler(ui, FLOOR_TAG).start()
        try:
            warm_id, warm_at = insert(0)
            if not wait_until(lambda: warm_id in watcher.seen, warm_at + plan.warmup_s, procs):
                raise RuntimeError(f"the floor's warm-up row was not seen done within {plan.warmup_s:.0f}s "
                                   f"(poller errors: {dict(watcher.errors) or 'none'}; see {procs.log('floor-dagster')})")
            ctx.say(f"floor: warm-up row done after {watcher.seen[warm_id] - warm_at:.1f}s")
            low["id"] = warm_id + 1
            settled_from = time.time()
            if not wait_until(quiet(sampler, settled_from), settled_from + plan.settle_s, procs):
                out["notes"].append("floor: the instance was not quiet before the rows; started anyway")
            t0 = time.time() + 1.0
            due, phases = schedule(plan.steady, t0)
            ctx.say(f"floor: {len(due)} rows at the same rates")
            rows = paced(due, phases, insert, threads=2)
            deadline = due[-1] + plan.drain_s
            wanted = {e.key for e in rows if e.acked is not None}
            wait_until(lambda: arrived(wanted, watcher.seen), deadline, procs, every=0.5)
            settled_from = time.time()
            if not wait_until(quiet(sampler, settled_from), settled_from + plan.settle_s, procs):
                out["notes"].append(f"floor: runs still queued or running {plan.settle_s:.0f}s after the last row")
            end = time.time()
        finally:
            watcher.stop()
            sampler.stop()
        out["phases"] = {p: latencies([e for e in rows if e.phase == p], watcher.seen, lambda k: k, deadline)
                         for p, _, _ in plan.steady}
        out["runs"] = sampler.window(t0, end)
        try:
            out["runs"]["details"] = run_details(ui, FLOOR_TAG, t0, end)
        except Exception as exc:  # noqa: BLE001 - details are extra
            out["runs"]["details"] = {"error": str(exc)[:200]}
        for what, errors in (("floor poller", watcher.errors), ("floor run sampler", sampler.errors)):
            if errors:
                out["notes"].append(f"{what}: {sum(errors.values())} failed polls, e.g. {next(iter(errors))}")
        ctx.say("floor: " + ", ".join(f"{p}: {lat.arrived}/{lat.acked} done, p95 {lat.stats()['p95']:.1f}s"
                                      for p, lat in out["phases"].items()))
        data["floor"] = {"notes": out["notes"], "runs": out["runs"], "interval": interval,
                         "rows": [asdict(e) | {"done_seen": watcher.seen.get(e.key)} for e in rows],
                         "samples": [asdict(s) for s in sampler.samples]}
    return out


# -- the case ------------------------------------------------------------------------------------------------------------

def run(ctx: BenchContext) -> list[Figure]:
    plan = Plan.of(ctx.quick)
    data: dict[str, Any] = {"quick": ctx.quick, "plan": asdict(plan)}
    try:
        paysync = run_paysync(ctx, plan, data)
        floor = run_floor(ctx, plan, paysync["interval"], data)
    except Exception as exc:
        kept = keep(ctx.workdir, data)
        raise RuntimeError(f"{CASE} failed: {exc}; logs in {ctx.workdir} (kept in {kept})") from exc
    kept = keep(ctx.workdir, data)
    ctx.say(f"{CASE}: logs and measurements kept in {kept}")
    return figures(plan, paysync, floor)


def figures(plan: Plan, paysync: dict[str, Any], floor: dict[str, Any]) -> list[Figure]:
    interval = paysync["interval"]
    common = "; ".join(paysync["notes"] + floor["notes"])
    out: list[Figure] = []
    for phase, rate, seconds in plan.steady:
        mine, base = paysync["steady"]["phases"][phase], floor["phases"][phase]
        ms, fs = mine.stats(), base.stats()
        note = (f"{rate:g} events/s for {seconds:g}s; {mine.note()}; floor {base.note()}; receipts polled every {POLL_S}s "
                f"(adds 0-{POLL_S}s to both); sensor interval {interval}s{daemon_loop_note()}")
        goal = "< 10 s" if rate == 10 else ""
        out += [
            Figure(CASE, f"{phase}: webhook 2xx -> receipt readable, p50", ms["p50"], "s", baseline=fs["p50"],
                   baseline_label="floor: bare sensor + trivial run, p50", note=note),
            Figure(CASE, f"{phase}: webhook 2xx -> receipt readable, p95", ms["p95"], "s", baseline=fs["p95"],
                   baseline_label="floor p95", goal=goal, note=note),
            Figure(CASE, f"{phase}: webhook 2xx -> receipt readable, max", ms["max"], "s", baseline=fs["max"],
                   baseline_label="floor max"),
        ]
    steady = paysync["runs"]["steady"]
    details = steady.get("details", {})
    missing = sum(lat.missing for lat in paysync["steady"]["phases"].values())
    run_note = (f"runs: {details.get('statuses')}, automatic retries {details.get('retries')}, created -> started p50 "
                f"{details.get('queue_wait_p50', 0):.1f}s (max {details.get('queue_wait_max', 0):.1f}s), started -> ended p50 "
                f"{details.get('duration_p50', 0):.1f}s (max {details.get('duration_max', 0):.1f}s, {details.get('ended')} ended)"
                if "runs" in details else f"run details: {details.get('error', 'none')}")
    frun = floor["runs"]
    out += [
        Figure(CASE, "steady: events without a receipt by the deadline", missing, "events", goal="0",
               note=f"deadline {plan.drain_s:.0f}s after the last steady event"),
        Figure(CASE, "steady: runs requested (landing sensor)", steady["requested"], "runs", baseline=frun["requested"],
               baseline_label="floor runs requested", note=run_note),
        Figure(CASE, "steady: failed runs", steady["failed"], "runs", goal="0",
               note=f"status FAILURE, any run of the instance, from the first steady event until the instance is quiet "
                    f"after the drain; floor: {frun['failed']}"),
        Figure(CASE, "steady: peak queued runs per date", steady["peak_queued_per_partition"], "runs", goal="<= 1",
               note=f"max over {steady['samples']} one-second samples of QUEUED+NOT_STARTED runs of one dagster/partition"
                    + (f" ({steady['peak_partition']})" if steady["peak_partition"] else "")),
        Figure(CASE, "steady: peak queued runs overall", steady["peak_queued"], "runs", baseline=frun["peak_queued"],
               baseline_label="floor peak queued"),
    ]
    spike = paysync["spike"]
    lat: Latencies = spike["latencies"]
    runs = paysync["runs"]["spike"]
    sdetails = runs.get("details", {})
    if spike["first_ack"] is not None and spike["last_ack"] is not None:
        achieved = len([e for e in spike["events"] if e.acked is not None]) / max(1e-9, spike["last_ack"] - spike["first_start"])
    else:
        achieved = 0.0
    if spike["first_ack"] is None:
        to_last, how = 0.0, "no event was acknowledged"
    elif spike["all_arrived"]:
        to_last, how = spike["last_receipt"] - spike["first_ack"], "every acknowledged event became a receipt"
    else:
        to_last, how = spike["deadline"] - spike["first_ack"], (f"LOWER BOUND: {lat.missing} of {lat.acked} events had no "
                                                                f"receipt {plan.spike_drain_s:.0f}s after the last event")
    spike_note = (f"{plan.spike_events} events scheduled over {plan.spike_seconds:g}s ({spike['target_rate']:.0f}/s target, "
                  f"{achieved:.0f}/s achieved by the sender, 32 threads); {how}")
    out += [
        Figure(CASE, "spike: first 2xx -> last receipt readable", to_last, "s", goal="< 120 s", note=spike_note),
        Figure(CASE, "spike: sender rate achieved", achieved, "events/s",
               note=f"{spike['target_rate']:.0f}/s scheduled; acknowledged events / (last 2xx - first send); "
                    f"{lat.sent - lat.acked} not acknowledged"
                    + (f": {dict(lat.errors.most_common(2))}" if lat.errors else "")),
        Figure(CASE, "spike: webhook 2xx -> receipt readable, p95", lat.stats()["p95"], "s", note=lat.note()),
        Figure(CASE, "spike: failed runs", runs["failed"], "runs", goal="0",
               note=f"runs requested {runs['requested']}, peak queued per date {runs['peak_queued_per_partition']}, "
                    f"overall {runs['peak_queued']}; "
                    + (f"statuses {sdetails.get('statuses')}, retries {sdetails.get('retries')}, started -> ended p50 "
                       f"{sdetails.get('duration_p50', 0):.1f}s (max {sdetails.get('duration_max', 0):.1f}s, "
                       f"{sdetails.get('ended')} ended)"
                       if "runs" in sdetails else f"run details: {sdetails.get('error', 'none')}")
                    + (f"; notes: {common}" if common else "")),
    ]
    return out
