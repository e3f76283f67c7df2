"""SageAdapter.customer_master against the composed sandbox's Sage 300 Web API over real HTTP: every
customer but the suspense one, with the AR/ARCustomers fields the spec names, in ``paysync erp
customers``' columns."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from paysync_dagster.cli.suggest import ERP_ACCOUNT_COLUMNS
from paysync_dagster.sandbox.server import SandboxApp, ServerThread
from paysync_dagster_tests.lib.sage.sage_support import adapter, control, sage_client


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with ServerThread(SandboxApp()) as running:
        httpx.post(f"{running.url}/_sandbox/reset", timeout=30).raise_for_status()
        control(running.url, "seed", {"customers": [
            {"account": "SUSPENSE", "company": "Unidentified card receipts"},
            {"account": "C1", "company": "Pioneer Office Systems Inc.", "email": "ap@pioneer.example",
             "phone": "(206) 555-0100",
             "billing": ["Pioneer", "6561 Oak Ave", "Suite 202", "Boston", "MA", "02124", "US"]},
        ], "invoices": []})
        yield running.url


def test_every_customer_but_suspense_in_the_csv_columns(url: str) -> None:
    with sage_client(url) as client:
        # AddressLine2 empty, 3 and 4 set; no phone, no e-mail, no region.
        client.create_customer({"CustomerNumber": "C2", "CustomerName": "  Harbor Freight Lines ",
                                "AddressLine1": "1 Pier Rd", "AddressLine3": "Dock 4", "AddressLine4": "Gate B",
                                "City": "Leeds", "ZipPostalCode": "LS1 4AB", "Country": "GB"})
        rows = adapter(client).customer_master()
        accounts = adapter(client).customer_accounts()
    assert all(tuple(r) == ERP_ACCOUNT_COLUMNS for r in rows)
    assert rows == [
        {"account_number": "C1", "name": "Pioneer Office Systems Inc.", "email": "ap@pioneer.example",
         "phone": "(206) 555-0100", "address_line1": "6561 Oak Ave", "address_line2": "Suite 202", "city": "Boston",
         "state": "MA", "postal_code": "02124", "country": "US"},
        {"account_number": "C2", "name": "Harbor Freight Lines", "email": "", "phone": "", "address_line1": "1 Pier Rd",
         "address_line2": "Dock 4, Gate B", "city": "Leeds", "state": "", "postal_code": "LS1 4AB", "country": "GB"},
    ]
    # customer_accounts is unchanged: the posting path's three keys.
    assert [sorted(a) for a in accounts] == [["account_number", "email", "name"]] * 2


def test_the_suspense_customer_is_the_settings_one(url: str) -> None:
    with sage_client(url) as client:
        numbers = [r["account_number"] for r in adapter(client, suspense_customer="C1").customer_master()]
    assert "SUSPENSE" in numbers and "C1" not in numbers
