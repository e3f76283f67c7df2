"""Helpers for posting tests against the composed sandbox's Sage 300 Web API over real HTTP."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.posting import Ledger, Poster, ReferenceRules, Rules
from paysync_dagster.lib.sage.adapter import SageAdapter, SageReceiptSettings
from paysync_dagster.lib.sage.client import Sage300Client
from paysync_dagster.lib.sage.records import parse_posted_document, parse_receipt_batch

COMPANY, USER, PASSWORD = "SAMLTD", "PAYSYNC", "PAYSYNC"
SETTINGS = SageReceiptSettings(bank_code="PAYTRACE", payment_code="CARD", suspense_customer="SUSPENSE")
RULES = Rules("PT-", ReferenceRules("INV-", 6))
DAY = date(2026, 3, 5)

#: the open invoices most tests start from: (number, customer account, cents)
INVOICES = [("INV-000101", "C1", 10_000), ("INV-000102", "C1", 5_000), ("INV-000103", "C1", 2_500),
            ("INV-000190", "C2", 7_000)]


def control(url: str, what: str, body: dict | None = None) -> Any:
    """The Sage sandbox's control API (never faulted): GET without a body, POST with one."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        r = http.post(f"/_sandbox/sage/{what}", json=body) if body is not None else http.get(f"/_sandbox/sage/{what}")
        r.raise_for_status()
        return json.loads(r.content, parse_float=Decimal)


def seed(url: str, invoices: list[tuple[str, str, int]], customers: tuple[str, ...] = ()) -> None:
    """Customers (with the suspense customer) and open invoices: (number, customer account, cents)."""
    people = [{"account": "SUSPENSE", "company": "Unidentified card receipts"},
              *({"account": a, "company": f"Customer {a}", "email": f"ap@{a.lower()}.example"} for a in customers)]
    control(url, "seed", {"customers": people, "invoices": [{
        "invoice_number": n, "customer_account": a, "customer_name": f"Customer {a}", "customer_email": None,
        "amount_minor": amt, "currency": "USD", "invoice_date": "2026-03-01", "due_date": "2026-03-31"}
        for n, a, amt in invoices]})


def fresh(url: str, invoices: list[tuple[str, str, int]] = INVOICES) -> str:
    """The sandbox back to its chart (no faults, no customers, no batches), seeded with ``invoices``."""
    httpx.post(f"{url}/_sandbox/reset", timeout=30).raise_for_status()
    seed(url, invoices, customers=tuple(sorted({a for _, a, _ in invoices} | {"C1", "C2"})))
    return url


def faults(url: str, **config: Any) -> None:
    httpx.post(f"{url}/_sandbox/faults", json=config, timeout=30).raise_for_status()


@contextmanager
def sage_client(url: str, *, attempts: int = 8) -> Iterator[Sage300Client]:
    retry = RetryPolicy(max_attempts=attempts, base_delay_s=0.001, max_delay_s=0.01, rng=random.Random(3))
    with Sage300Client(f"{url}/Sage300WebApi/v1.0/-", COMPANY, USER, PASSWORD, retry=retry) as client:
        yield client


def adapter(client: Sage300Client, *, today: date = DAY, batch_size: int = 50, **settings: Any) -> SageAdapter:
    options = {**asdict(SETTINGS), **settings}
    return SageAdapter(client, SageReceiptSettings(**options), batch_size=batch_size, today=lambda: today)


def poster(client: Sage300Client, engine: Any, *, today: date = DAY, batch_size: int = 50, **settings: Any) -> Poster:
    a = adapter(client, today=today, batch_size=batch_size, **settings)

    def invoices() -> dict:
        return {f.invoice.number: f.invoice for f in a.open_invoices()[0]}

    return Poster(a, Ledger(engine, "sage"), RULES, invoices)


def post(url: str, engine: Any, payments: list[dict], **options: Any) -> dict[int, Any]:
    """Post payments through a fresh Poster over real HTTP; the outcomes by transaction id."""
    with sage_client(url) as client:
        return {o.transaction_id: o for o in poster(client, engine, **options).post_all(payments)}


def post_date(url: str, day: date = DAY) -> list[int]:
    """Post the date's PaySync batches through the adapter (ReadyToPost, then the posting process)."""
    with sage_client(url) as client:
        return adapter(client).post_date(day)


def payment(txn: int, amount: int, *, kind: str = "sale", status: str = "settled", ref: str = "", normalized: str = "",
            description: str = "Invoice payment", account: str = "", day: date = DAY) -> dict[str, Any]:
    return {"transaction_id": txn, "business_date": day, "kind": kind, "status": status, "paytrace_state": status,
            "amount_minor": amount, "currency": "USD", "invoice_reference_raw": ref,
            "invoice_reference": normalized or ref, "description": description, "sage_customer_account": account}


def batches(url: str) -> list[Any]:
    """Every CA batch Sage holds, parsed (read with a clean client: faults off for this path)."""
    with sage_client(url) as client:
        return [parse_receipt_batch(b) for b in client.receipt_batches()]


def entries(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every receipt entry by CheckReceiptNumber: a list, so a duplicate shows."""
    out: dict[str, list[dict[str, Any]]] = {}
    for b in batches(url):
        for e in b.entries:
            out.setdefault(e.check_receipt_number or "", []).append({
                "batch": b.batch_number, "entry": e.entry_number, "status": b.status, "description": b.description,
                "customer": e.customer_number, "type": e.transaction_type, "amount": e.amount_minor,
                "unapplied": e.unapplied_minor, "document": e.document_number,
                "lines": sorted((line.document_number, line.payment_number, line.amount_minor) for line in e.applied)})
    return out


def documents(url: str) -> dict[str, Any]:
    """Posted documents by number: (type, amount due in cents, fully paid)."""
    out = {}
    for d in control(url, "state")["documents"]:
        doc = parse_posted_document(d)
        out[doc.document_number] = (doc.document_type, doc.amount_due_minor, doc.fully_paid)
    return out
