"""Applying with the receipt: remittance references sent inside the create, applied by the Oracle
sandbox's AutoMatch; one call per receipt, and still exactly once under faults and redelivery."""

import httpx
import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.oracle.adapter import OracleAdapter
from paysync_dagster.lib.posting import Ledger
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import (REMITTANCE, SETTINGS, active, balances, control,
                                                              fresh, oracle_client, payment, post, receipts)



@pytest.fixture
def url(oracle_server: ServerThread) -> str:
    return fresh(oracle_server.url)



def oracle_requests(url: str) -> int:
    return sum(sum(by_status.values()) for path, by_status in httpx.get(f"{url}/_sandbox/stats").json()["requests"].items()
               if "standardReceipts" in path)


def test_one_create_per_receipt_carries_its_references_and_automatch_applies_them(url: str, sqlite_engine: Engine) -> None:
    before = oracle_requests(url)
    outs = post(url, sqlite_engine, [
        payment(1, 15_000, ref="INV-000101", description="Payment for INV-000101, INV-000102"),
        payment(2, 3_000, ref="inv 103", normalized="INV-000103", account="C1"),
        payment(3, 999, description="Counter sale")], batch_size=1, **REMITTANCE)
    assert oracle_requests(url) - before == 3  # a create each: no applyReceipt calls
    assert (outs[1].outcome, outs[1].invoices, outs[1].applied_minor) == ("applied", "INV-000101,INV-000102", 15_000)
    assert "remittance references" in outs[1].reason
    assert (outs[2].outcome, outs[2].unapplied_minor) == ("on_account", 500)
    assert outs[3].exception[0] == "unidentified_payer"
    got = receipts(url)
    assert [(m["ReceiptMatchBy"], m["ReferenceNumber"], m["ReferenceAmount"]) for m in got["PT-1"]["remittanceReferences"]] == \
        [("Transaction Number", "INV-000101", 100), ("Transaction Number", "INV-000102", 50)]  # echoed as numbers
    assert got["PT-3"]["remittanceReferences"] == []
    assert active(got["PT-1"]) == {} and balances(url)["INV-000101"] == 10_000  # Oracle applies later, not at create

    assert control(url, "automatch", {})["applied"] == 3
    got = receipts(url)
    assert active(got["PT-1"]) == {"INV-000101": 10_000, "INV-000102": 5_000}
    assert active(got["PT-2"]) == {"INV-000103": 2_500} and got["PT-2"]["unapplied_minor"] == 500
    assert balances(url) == {"INV-000101": 0, "INV-000102": 0, "INV-000103": 0, "INV-000190": 7_000}
    apps = Ledger(sqlite_engine, "oracle").entries(actions=["application"])
    assert len(apps) == 3 and all(e.posted for e in apps)


@pytest.mark.parametrize("batch", [1, 50], ids=["single-calls", "batched"])
def test_redelivered_under_faults_each_receipt_and_reference_exists_once(url: str, sqlite_engine: Engine, batch: int) -> None:
    faults = {"seed": 5, "error_rate": 0.25, "drop_after_commit_rate": 0.25, "rate_limit_every": 9, "rate_limit_burst": 2,
              "retry_after_seconds": 0, "paths": ["/fscmRestApi/*"]}
    sales = [payment(100, 10_000, ref="INV-000101"), payment(101, 5_000, ref="INV-000102"),
             payment(102, 2_500, ref="INV-000103"), payment(103, 7_000, ref="INV-000190", account="C2"), payment(104, 800)]
    httpx.post(f"{url}/_sandbox/faults", json=faults).raise_for_status()
    try:
        for _ in range(3):
            post(url, sqlite_engine, sales, batch_size=batch, **REMITTANCE)
        injected = httpx.get(f"{url}/_sandbox/stats").json()["faults"]
    finally:
        httpx.post(f"{url}/_sandbox/faults", json={}).raise_for_status()
    assert injected.get("drop_after_commit"), injected
    outs = post(url, sqlite_engine, sales, batch_size=batch, **REMITTANCE)
    assert [o.outcome for o in outs.values()] == ["applied"] * 4 + ["on_account"]
    state = control(url, "state")
    assert sorted(r["ReceiptNumber"] for r in state["receipts"]) == [f"PT-{t}" for t in range(100, 105)]
    assert sum(len(r["remittanceReferences"]) for r in state["receipts"]) == 4
    control(url, "automatch", {})
    assert balances(url) == {"INV-000101": 0, "INV-000102": 0, "INV-000103": 0, "INV-000190": 0}
    posted = {e.reference: e.erp_id for e in Ledger(sqlite_engine, "oracle").entries(actions=["receipt"]) if e.posted}
    assert posted == {r["ReceiptNumber"]: str(r["StandardReceiptId"]) for r in state["receipts"]}


def test_an_unknown_application_method_is_refused_by_name(url: str) -> None:
    with oracle_client(url) as client, pytest.raises(ValueError, match="remittance_reference"):
        OracleAdapter(client, SETTINGS, application_method="autoapply")
