"""Sage 300 posting throughput against a sandbox capped at a fixed request rate.

The composed sandbox's Sage 300 Web API is served behind :class:`~bench.rate_cap.RateCap`. The same
workload as ``oracle_posting`` (N sales, each paying one open invoice in full) is posted by PaySync's
Poster and Sage adapter, each way on a fresh sandbox and warehouse, side by side in one run:

- single calls (batch size 1): each receipt its own insert into the date's PaySync batch (Sage applies
  with the receipt, so one write per receipt), look-ups one number at a time;
- batches of 50: fifty receipt entries per insert, look-ups fifty numbers per request.

Then the date's batch is set Ready to Post, posted and carried to the GL (not timed). Figures:
receipts posted per second against the request limit (the ratio column), and for single calls the
requests actually sent per second (how well the poster keeps the capped API busy). The open-invoice
read each run starts with is included. The sandbox checks every receipt is there and every invoice
fully paid once posted.
"""

from __future__ import annotations

import random
import time
from datetime import date
from typing import Any

from bench.rate_cap import RateCap
from bench.run import BenchContext, Figure
from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.posting import Ledger, Poster, ReferenceRules, Rules
from paysync_dagster.lib.sage.adapter import SageAdapter, SageReceiptSettings
from paysync_dagster.lib.sage.client import Sage300Client
from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster.sandbox.sage import create_sage_app
from paysync_dagster.sandbox.sage.seed import seed_from_catalogue
from paysync_dagster.sandbox.sage.state import DEFAULT_USERS, SUSPENSE_CUSTOMER
from paysync_dagster.sandbox.server import SandboxApp, ServerThread

CASE = "sage_posting"
DAY = date(2026, 3, 5)
CUSTOMERS = 20
COMPANY = "SAMLTD"


def _catalogue(n: int) -> list[dict[str, Any]]:
    return [{"invoice_number": f"INV-{100000 + i:06d}", "customer_account": f"C{10000 + i % CUSTOMERS}",
             "customer_name": f"Customer {i % CUSTOMERS}", "customer_email": None, "amount_minor": 1_000 + i,
             "currency": "USD", "invoice_date": "2026-03-01", "due_date": "2026-03-31"} for i in range(n)]


def _payment(i: int) -> dict[str, Any]:
    return {"transaction_id": 900_000_000 + i, "business_date": DAY, "kind": "sale", "status": "settled",
            "paytrace_state": "settled", "amount_minor": 1_000 + i, "currency": "USD",
            "invoice_reference_raw": f"INV-{100000 + i:06d}", "invoice_reference": f"INV-{100000 + i:06d}",
            "description": "Invoice payment", "sage_customer_account": f"C{10000 + i % CUSTOMERS}"}


def _post(ctx: BenchContext, label: str, n: int, rate: float, *, batch_size: int) -> tuple[int, float]:
    sage = create_sage_app(control_prefix="/_sandbox/sage")
    seed_from_catalogue(sage.state, _catalogue(n), [{"account": SUSPENSE_CUSTOMER, "company": "Unidentified"}])
    cap = RateCap(SandboxApp(sage=sage), rate, prefix="/Sage300WebApi/")
    engine = make_engine(f"sqlite:///{ctx.workdir / f'sage-{label}.db'}")
    migrate(engine)
    user, password = next(iter(DEFAULT_USERS.items()))
    retry = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.1, rng=random.Random(1))
    with ServerThread(cap) as server, Sage300Client(f"{server.url}/Sage300WebApi/v1.0/-", COMPANY, user, password,
                                                    retry=retry) as client:
        adapter = SageAdapter(client, SageReceiptSettings(), batch_size=batch_size, today=lambda: DAY)

        def open_invoices() -> dict:
            return {f.invoice.number: f.invoice for f in adapter.open_invoices(DAY)[0]}

        poster = Poster(adapter, Ledger(engine, "sage"), Rules("PT-", ReferenceRules("INV-", 6)), open_invoices)
        before, began = cap.passed, time.perf_counter()
        outcomes = poster.post_all([_payment(i) for i in range(n)])
        seconds = time.perf_counter() - began
        requests = cap.passed - before
        adapter.post_date(DAY)  # not timed: posting is Sage's own process
    engine.dispose()
    applied = sum(1 for o in outcomes if o.outcome == "applied")
    paid = sum(1 for d in sage.state.store.documents.values() if d["DocumentType"] == "Invoice" and d["FullyPaid"] == "Yes")
    receipts = len(sage.state.store.receipts)
    if applied != n or receipts != n or paid != n:
        raise RuntimeError(f"{label}: {applied} of {n} applied, {receipts} posted receipts in the sandbox, {paid} "
                           "invoices fully paid there")
    ctx.say(f"{label}: {n} receipts applied in {seconds:.2f}s with {requests} requests "
            f"({n / seconds:.1f} receipts/s, {requests / seconds:.1f} requests/s, limit {rate:g}/s)")
    return requests, seconds


def run(ctx: BenchContext) -> list[Figure]:
    n, rate = (120, 40.0) if ctx.quick else (400, 50.0)
    single_requests, single = _post(ctx, "single", n, rate, batch_size=1)
    batched_requests, batched = _post(ctx, "batched", n, rate, batch_size=50)
    limit = f"request limit, {rate:g} requests/s"
    return [
        Figure(CASE, "single calls: requests sent per second", single_requests / single, "req/s", baseline=rate,
               baseline_label=limit, goal=">= 0.9 of the limit", note=f"{single_requests} requests for {n} receipts"),
        Figure(CASE, "single calls: receipts per second", n / single, "receipts/s", baseline=rate,
               baseline_label=limit, note="one insert per receipt, applied with it; look-ups one number at a time"),
        Figure(CASE, "batches of 50: receipts per second", n / batched, "receipts/s", baseline=rate,
               baseline_label=limit, goal="> 1.0 of the limit", note=f"{batched_requests} requests for {n} receipts"),
    ]
