"""OracleAdapter.customer_master over real HTTP: against the composed sandbox (accounts from
receivablesCustomerAccountActivities, the bill-to address from receivablesCustomerAccountSiteActivities),
and against an Oracle look-alike serving what the spec leaves open (fields missing or null, several
sites per account, a pod without the site resource)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from paysync_dagster.cli.suggest import ERP_ACCOUNT_COLUMNS
from paysync_dagster.lib.oracle.adapter import OracleAdapter, customer_master
from paysync_dagster.sandbox.server import SandboxApp, ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import SETTINGS, control, oracle_client

ROOT = "/fscmRestApi/resources/11.13.18.05"
EMPTY = {"email": "", "phone": "", "address_line2": "", "city": "", "state": "", "postal_code": "", "country": ""}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with ServerThread(SandboxApp()) as server:
        httpx.post(f"{server.url}/_sandbox/oracle/reset", json={"empty": True}, timeout=30).raise_for_status()
        control(server.url, "seed", {"invoices": [], "customers": [
            {"account": "C1", "company": "Pioneer Office Systems Inc.", "email": "ap@pioneer.example",
             "billing": ["Pioneer", "6561 Oak Ave", "Suite 202", "Boston", "MA", "02124", "US"]},
            {"account": "C2", "company": "Harbor Freight Lines"}]})
        yield server.url


def test_accounts_with_their_bill_to_address_and_nothing_the_spec_does_not_document(url: str) -> None:
    with oracle_client(url) as client:
        rows = OracleAdapter(client, SETTINGS).customer_master()
    held = {c["AccountNumber"] for c in control(url, "state")["customers"]}
    assert {r["account_number"] for r in rows} == held == {"C1", "C2"}
    assert all(tuple(r) == ERP_ACCOUNT_COLUMNS for r in rows)
    by_number = {r["account_number"]: r for r in sorted(rows, key=lambda r: r["account_number"])}
    # The sandbox keeps the e-mail it was seeded with, but no documented Oracle resource serves one.
    assert by_number["C1"] == {"account_number": "C1", "name": "Pioneer Office Systems Inc.",
                               "address_line1": "6561 Oak Ave, Suite 202, Boston MA 02124, US", **EMPTY}
    assert by_number["C2"]["name"] == "Harbor Freight Lines" and by_number["C2"]["address_line1"]


def _look_alike(accounts: list[dict[str, Any]], sites: list[dict[str, Any]] | None) -> ServerThread:
    """An Oracle pod that answers the two collections (one page each); ``sites`` None: no such resource."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    def page(items: list[dict[str, Any]]) -> JSONResponse:
        return JSONResponse({"items": items, "count": len(items), "hasMore": False, "limit": 500, "offset": 0,
                             "links": []})

    async def account_activities(_request: Request) -> JSONResponse:
        return page(accounts)

    async def site_activities(_request: Request) -> JSONResponse | PlainTextResponse:
        return page(sites) if sites is not None else PlainTextResponse("Not Found", 404)

    return ServerThread(Starlette(routes=[
        Route(f"{ROOT}/receivablesCustomerAccountActivities", account_activities),
        Route(f"{ROOT}/receivablesCustomerAccountSiteActivities", site_activities)]))


def test_missing_fields_several_sites_and_no_site_resource_are_tolerated() -> None:
    accounts = [{"AccountId": 1, "AccountNumber": "A-1", "CustomerName": "Acme Corp"},
                {"AccountId": 2, "AccountNumber": "A-2", "CustomerName": None},  # a null name
                {"AccountId": 3, "AccountNumber": "A-3"},  # no name at all
                {"AccountId": 4, "CustomerName": "No number"},  # not an account anyone can post to
                {"AccountId": 1, "AccountNumber": "A-1", "CustomerName": "Acme Corp"}]  # listed twice
    sites = [{"BillToSiteUseId": 30, "AccountNumber": "A-1", "BillToSiteAddress": "2 Second St,\n Springfield"},
             {"BillToSiteUseId": 20, "AccountNumber": "A-1", "BillToSiteAddress": "1 First St, Springfield "},
             {"BillToSiteUseId": 10, "AccountNumber": "A-1", "BillToSiteAddress": None},  # the oldest, no address
             {"BillToSiteUseId": "not a number", "AccountNumber": "A-2", "BillToSiteAddress": "9 Ninth Ave"},
             {"AccountNumber": "A-3"}]  # a site without an address field
    with _look_alike(accounts, sites) as pod, oracle_client(pod.url, attempts=1) as client:
        rows = customer_master(client)
    assert rows == [
        {"account_number": "A-1", "name": "Acme Corp", "address_line1": "1 First St, Springfield", **EMPTY},
        {"account_number": "A-2", "name": "", "address_line1": "9 Ninth Ave", **EMPTY},
        {"account_number": "A-3", "name": "", "address_line1": "", **EMPTY},
    ]
    with _look_alike(accounts[:1], None) as pod, oracle_client(pod.url, attempts=1) as client:
        assert customer_master(client) == [{"account_number": "A-1", "name": "Acme Corp", "address_line1": "", **EMPTY}]
