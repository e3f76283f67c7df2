"""Helpers for posting tests against the composed sandbox's Oracle Fusion API over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.oracle.adapter import OracleAdapter, ReceiptSettings
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.posting import Ledger, Poster, ReferenceRules, Rules
from paysync_dagster.sandbox.oracle.state import DEFAULT_USERS

USER, PASSWORD = next(iter(DEFAULT_USERS.items()))
SETTINGS = ReceiptSettings("PayTrace Card", "US1 Business Unit", "PayTrace Clearing - 1021")
RULES = Rules("PT-", ReferenceRules("INV-", 6))
DAY = date(2026, 3, 5)


def control(url: str, what: str, body: dict | None = None) -> Any:
    """The Oracle sandbox's control API (never faulted): GET without a body, POST with one."""
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post(f"/_sandbox/oracle/{what}", json=body) if body is not None else http.get(f"/_sandbox/oracle/{what}")
        r.raise_for_status()
        return r.json()


def seed(url: str, invoices: list[tuple[str, str, int]]) -> None:
    """Customers and open invoices: (invoice number, customer account, amount in cents)."""
    control(url, "seed", {"invoices": [{
        "invoice_number": n, "customer_account": a, "customer_name": f"Customer {a}", "customer_email": None,
        "amount_minor": amt, "currency": "USD", "invoice_date": "2026-03-01", "due_date": "2026-03-31"}
        for n, a, amt in invoices]})


#: the open invoices most posting tests start from: (number, customer account, cents)
INVOICES = [("INV-000101", "C1", 10_000), ("INV-000102", "C1", 5_000), ("INV-000103", "C1", 2_500),
            ("INV-000190", "C2", 7_000)]


def fresh(url: str, invoices: list[tuple[str, str, int]] = INVOICES) -> str:
    """The sandbox emptied (no faults, no receipts) and seeded with ``invoices``; returns its URL."""
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    seed(url, invoices)
    return url


def receipts(url: str) -> dict[str, dict]:
    """The sandbox's receipts by ReceiptNumber (every duplicate would collapse: count them separately)."""
    return {r["ReceiptNumber"]: r for r in control(url, "state")["receipts"]}


def balances(url: str) -> dict[str, int]:
    return {i["TransactionNumber"]: i["balance_minor"] for i in control(url, "state")["invoices"]}


def active(receipt: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in receipt["applications"]:
        if a["status"] == "APP":
            out[a["TransactionNumber"]] = out.get(a["TransactionNumber"], 0) + a["amount_minor"]
    return out


@contextmanager
def oracle_client(url: str, *, attempts: int = 8) -> Iterator[OracleFusionClient]:
    with OracleFusionClient(url, username=USER, password=PASSWORD,
                            retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=0.1)) as client:
        yield client


def poster(client: OracleFusionClient, engine: Any, *, batch_size: int = 50, batch_actions: bool | None = None,
           application_method: str = "apply_receipt") -> Poster:
    adapter = OracleAdapter(client, SETTINGS, batch_size=batch_size, batch_actions=batch_actions,
                            application_method=application_method)

    def invoices() -> dict:
        return {f.invoice.number: f.invoice for f in adapter.open_invoices()[0]}

    return Poster(adapter, Ledger(engine, "oracle"), RULES, invoices)


#: Poster options that apply cash with the receipt (remittance references for AutoMatch)
REMITTANCE = {"application_method": "remittance_reference"}


def post(url: str, engine: Any, payments: list[dict], **options: Any) -> dict[int, Any]:
    """Post payments through a fresh Poster over real HTTP; the outcomes by transaction id."""
    with oracle_client(url) as client:
        return {o.transaction_id: o for o in poster(client, engine, **options).post_all(payments)}


def payment(txn: int, amount: int, *, kind: str = "sale", status: str = "settled", ref: str = "", normalized: str = "",
            description: str = "Invoice payment", account: str = "", day: date = DAY) -> dict[str, Any]:
    return {"transaction_id": txn, "business_date": day, "kind": kind, "status": status, "paytrace_state": status,
            "amount_minor": amount, "currency": "USD", "invoice_reference_raw": ref,
            "invoice_reference": normalized or ref, "description": description, "oracle_customer_account": account}
