"""Oracle posting throughput against a sandbox capped at a fixed request rate.

The composed sandbox is served behind :class:`RateCap`, an ASGI token bucket on the Oracle REST paths
that holds each request until its turn (a server-side throttle that queues instead of answering 429:
Retry-After counts whole seconds, which would measure the client's sleeping, not its calls). The same
workload (N sales, each paying one open invoice in full) is posted by PaySync's Poster and Oracle
adapter three ways, each on a fresh sandbox and warehouse, side by side in one run:

- single calls (batch size 1): a create and an applyReceipt per receipt;
- single calls applying with the receipt: one create per receipt carrying its remittance references,
  applied afterwards by the sandbox's AutoMatch (Oracle's own process, not timed: it sends no request);
- batch requests (50 per batch) for creates and look-ups, applications one call each: what Oracle
  allows when ``applyReceipt`` is not enabled for batch execution (the sandbox's default);
- batch requests for applications too, on a sandbox that enables ``applyReceipt`` in batches.

Figures: receipts posted per second as a fraction of the request limit (the ratio column), and for
single calls also the requests per second actually sent, as a fraction of the limit (how well the
poster keeps the capped API busy). The open-invoice read each run starts with is included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from bench.rate_cap import RateCap
from bench.run import BenchContext, Figure
from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster.sandbox.oracle import create_oracle_app, seed_from_catalogue
from paysync_dagster.sandbox.oracle.control import automatch
from paysync_dagster.sandbox.oracle.state import OracleState
from paysync_dagster.sandbox.server import SandboxApp, ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import oracle_client, payment, poster

CASE = "oracle_posting"
DAY = date(2026, 3, 5)
CUSTOMERS = 20


@dataclass
class Run:
    label: str
    receipts: int
    requests: int
    seconds: float


def _catalogue(n: int) -> list[dict[str, Any]]:
    return [{"invoice_number": f"INV-{100000 + i:06d}", "customer_account": f"C{10000 + i % CUSTOMERS}",
             "customer_name": f"Customer {i % CUSTOMERS}", "customer_email": None, "amount_minor": 1_000 + i,
             "currency": "USD", "invoice_date": "2026-03-01", "due_date": "2026-03-31"} for i in range(n)]


def _post(ctx: BenchContext, label: str, n: int, rate: float, *, batch_size: int, batch_actions: bool,
          application_method: str = "apply_receipt") -> Run:
    state = OracleState(batch_actions=("applyReceipt",) if batch_actions else ())
    seed_from_catalogue(state, _catalogue(n))
    oracle = create_oracle_app(state, fault_injection=False, control_prefix="/_sandbox/oracle")
    cap = RateCap(SandboxApp(oracle=oracle), rate)
    payments = [payment(900_000_000 + i, 1_000 + i, ref=f"INV-{100000 + i:06d}", day=DAY) for i in range(n)]
    engine = make_engine(f"sqlite:///{ctx.workdir / f'{label}.db'}")
    migrate(engine)
    with ServerThread(cap) as server, oracle_client(server.url) as client:
        p = poster(client, engine, batch_size=batch_size, batch_actions=batch_actions, application_method=application_method)
        before, began = cap.passed, time.perf_counter()
        outcomes = p.post_all(payments)
        seconds = time.perf_counter() - began
        requests = cap.passed - before
    engine.dispose()
    if application_method == "remittance_reference":
        automatch(state)
    applied = sum(1 for o in outcomes if o.outcome == "applied")
    in_oracle = sum(1 for r in state.store.receipts.values() if r.unapplied_minor == 0)
    if applied != n or len(state.store.receipts) != n or in_oracle != n:
        raise RuntimeError(f"{label}: {applied} of {n} applied, {len(state.store.receipts)} receipts in the sandbox, "
                           f"{in_oracle} fully applied there")
    run = Run(label, n, requests, seconds)
    ctx.say(f"{label}: {n} receipts applied in {seconds:.2f}s with {requests} requests "
            f"({n / seconds:.1f} receipts/s, {requests / seconds:.1f} requests/s, limit {rate:g}/s)")
    return run


def run(ctx: BenchContext) -> list[Figure]:
    n, rate = (120, 40.0) if ctx.quick else (400, 50.0)
    single = _post(ctx, "single", n, rate, batch_size=1, batch_actions=False)
    with_receipt = _post(ctx, "single_with_receipt", n, rate, batch_size=1, batch_actions=False,
                         application_method="remittance_reference")
    batched = _post(ctx, "batched", n, rate, batch_size=50, batch_actions=False)
    both = _post(ctx, "batched_actions", n, rate, batch_size=50, batch_actions=True)
    limit = f"request limit, {rate:g} requests/s"
    return [
        Figure(CASE, "single calls: requests sent per second", single.requests / single.seconds, "req/s",
               baseline=rate, baseline_label=limit, goal=">= 0.9 of the limit",
               note=f"{single.requests} requests for {n} receipts"),
        Figure(CASE, "single calls: receipts per second", n / single.seconds, "receipts/s", baseline=rate,
               baseline_label=limit, goal=">= 0.9 of the limit",
               note="a create and an applyReceipt per receipt: at most 0.5 of the limit"),
        Figure(CASE, "single calls applying with the receipt: receipts per second", n / with_receipt.seconds,
               "receipts/s", baseline=rate, baseline_label=limit, goal=">= 0.9 of the limit",
               note=f"{with_receipt.requests} requests for {n} receipts; remittance references applied by AutoMatch"),
        Figure(CASE, "batched creates, single applications: receipts per second", n / batched.seconds, "receipts/s",
               baseline=rate, baseline_label=limit, note=f"{batched.requests} requests for {n} receipts"),
        Figure(CASE, "batched creates and applications: receipts per second", n / both.seconds, "receipts/s",
               baseline=rate, baseline_label=limit, goal="> 1.0 of the limit",
               note=f"{both.requests} requests for {n} receipts; applyReceipt enabled for batch execution"),
    ]
