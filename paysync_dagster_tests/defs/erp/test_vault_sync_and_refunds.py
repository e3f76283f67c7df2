"""`<erp>_vault_sync` and `<erp>_card_refunds` materialized against the composed sandbox (PayTrace, Oracle,
Sage): their switches, dry runs, the tables and exceptions they write, and the round trip of an
ERP-initiated refund (the refund PayTrace made comes back through the receipt path, and the ERP that
asked for it records nothing more)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import Engine, func, select

from paysync_dagster.defs.erp.connectors import ErpSettingError
from paysync_dagster.defs.erp.factory import erp_assets
from paysync_dagster.defs.erp.refunds import erp_refunds_on
from paysync_dagster.defs.erp.vault_sync import vault_sync_on
from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.warehouse.tables import (card_refunds, customer_sync, customer_sync_links, payment_exceptions,
                                                  posting_ledger)
from paysync_dagster.lib.warehouse.tables import sage_cash_receipts as SAGE_RECEIPTS
from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME, FakeClock
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import oracle_resource, sage_resource
from paysync_dagster_tests.defs.erp.outbound_support import END, START, evening, materialize, world  # noqa: F401 (a fixture)

SAGE = erp_assets("sage")
SAGE_RECEIPT_PATH = [paytrace_transactions, paytrace_settlement_batches, SAGE.customer_accounts, normalized_payments,
                     SAGE.open_invoices, SAGE.cash_receipts]


def _paytrace(url: str) -> PayTraceClient:
    return PayTraceClient(url, DEFAULT_USERNAME, DEFAULT_PASSWORD, DEFAULT_INTEGRATOR_ID)


def test_the_switches_name_erps_they_know() -> None:
    assert vault_sync_on("") == [] and vault_sync_on("Sage") == ["sage"]
    assert erp_refunds_on("oracle, sage") == ["oracle", "sage"]
    with pytest.raises(ErpSettingError, match="PAYSYNC_ERP_REFUNDS.*unknown ERP netsuite"):
        erp_refunds_on("netsuite")


def test_the_vault_sync_writes_its_table_and_links_and_a_conflict_is_one_exception_with_both_versions(
        world: tuple[ServerThread, FakeClock], sqlite_url: str, sqlite_engine: Engine) -> None:
    server, _clock = world
    url, day = server.url, START + timedelta(days=4)

    dry = materialize(url, sqlite_url, day, [SAGE.vault_sync], {"ops": {"sage_vault_sync": {"config": {"dry_run": True}}}})
    meta = dry.asset_materializations_for_node("sage_vault_sync")[0].metadata
    assert meta["dry_run"].value is True and meta.get("outcome_would_updated_in_paytrace") is not None
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customer_sync)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(posting_ledger)).scalar_one() == 0

    first = materialize(url, sqlite_url, day, [SAGE.vault_sync])
    meta = first.asset_materializations_for_node("sage_vault_sync")[0].metadata
    assert meta["outcome_updated_in_paytrace"].value >= 1 and "| account |" in meta["preview"].value
    materialize(url, sqlite_url, day, [SAGE.vault_sync])  # redelivered: the same date, the same table
    with sqlite_engine.connect() as conn:
        rows = conn.execute(select(customer_sync.c.account, customer_sync.c.outcome)
                            .where(customer_sync.c.business_date == day)).all()
        links = conn.execute(select(customer_sync_links)).mappings().all()
    assert rows and {o for _a, o in rows} == {"in_step"}, "the redelivery found everything in step"
    assert {r.account for r in rows} == {link["account"] for link in links}
    account = sorted(link["account"] for link in links)[0]
    base = json.loads(next(link["base"] for link in links if link["account"] == account))

    # A person changes the e-mail in Sage and, differently, in PayTrace.
    with sage_resource(url).client() as client:
        sage_resource(url).adapter(client, MAPPING).update_customer(account, {"email": "ap@erp.example"})
    with _paytrace(url) as pt:
        pt.update_customer(account, email="cards@paytrace.example")
    next_day = day + timedelta(days=1)
    for d in (next_day, next_day + timedelta(days=1)):
        materialize(url, sqlite_url, d, [SAGE.vault_sync])
    with sqlite_engine.connect() as conn:
        found = conn.execute(select(payment_exceptions).where(payment_exceptions.c.stage == "sage_vault_sync")
                             ).mappings().all()
    assert [(e["business_date"], e["reason_code"]) for e in found] == [(next_day, "vault_sync_conflict")]
    details = json.loads(found[0]["details"])
    assert details["erp_version"]["email"] == "ap@erp.example"
    assert details["paytrace_version"]["email"] == "cards@paytrace.example"
    assert details["last_synced"]["email"] == base["email"] and details["fields"] == ["email"]
    with _paytrace(url) as pt:
        assert next(p for p in pt.export_customers() if p["customer_id"] == account)["email"] == "cards@paytrace.example"


def _clerk_refund(url: str, account: str, amount_minor: int, transaction_id: int, on: date) -> None:
    httpx.post(f"{url}/_sandbox/sage/card_refund", json={
        "customer": account, "amount_minor": amount_minor, "transaction_id": str(transaction_id),
        "payment_code": MAPPING.refunds.card_refund["sage"], "date": on.isoformat()}, timeout=30).raise_for_status()


def test_an_erp_refund_is_made_once_written_back_and_not_recorded_again_when_it_comes_back(
        world: tuple[ServerThread, FakeClock], sqlite_url: str, sqlite_engine: Engine) -> None:
    server, clock = world
    url, day = server.url, START + timedelta(days=1)
    materialize(url, sqlite_url, day, SAGE_RECEIPT_PATH)
    with sqlite_engine.connect() as conn:
        paid = conn.execute(select(SAGE_RECEIPTS.c.transaction_id, SAGE_RECEIPTS.c.customer_account,
                                   SAGE_RECEIPTS.c.amount_minor).where(
            SAGE_RECEIPTS.c.business_date == day, SAGE_RECEIPTS.c.outcome == "applied", SAGE_RECEIPTS.c.kind == "sale")
            .order_by(SAGE_RECEIPTS.c.transaction_id)).first()
    assert paid is not None
    original, account, amount = int(paid.transaction_id), paid.customer_account, int(paid.amount_minor)
    refund_day = END  # the clock's date: PayTrace dates the refund then
    _clerk_refund(url, account, amount // 2, original, refund_day)

    clock.epoch = evening(refund_day)
    for _ in range(2):  # redelivered
        result = materialize(url, sqlite_url, refund_day, [SAGE.card_refunds])
    meta = result.asset_materializations_for_node("sage_card_refunds")[0].metadata
    assert meta["records_marked"].value == 1
    with sqlite_engine.connect() as conn:
        row = conn.execute(select(card_refunds).where(card_refunds.c.business_date == refund_day)).mappings().one()
    assert (row["outcome"], row["original_transaction_id"], row["amount_minor"], row["written_back"]) == \
        ("refunded", original, amount // 2, True)
    refund_id = int(row["paytrace_transaction_id"])
    with sage_resource(url).client() as client:
        marked = sage_resource(url).adapter(client, MAPPING).card_refunds(MAPPING.refunds.card_refund["sage"])
    assert [r.written_back for r in marked] == [f"PayTrace refund {refund_id} of transaction {original}"]

    # The refund comes back from PayTrace through the receipt path: Sage holds it already.
    materialize(url, sqlite_url, refund_day, SAGE_RECEIPT_PATH)
    with sqlite_engine.connect() as conn:
        back = conn.execute(select(SAGE_RECEIPTS.c.outcome, SAGE_RECEIPTS.c.reason).where(
            SAGE_RECEIPTS.c.transaction_id == refund_id)).one()
        marks = conn.execute(select(func.count()).select_from(posting_ledger).where(
            posting_ledger.c.erp == "sage", posting_ledger.c.transaction_id == refund_id)).scalar_one()
    assert back.outcome == "skipped" and "made by PaySync for sage refund" in back.reason
    assert marks == 0, "no refund recorded in Sage a second time"


def test_an_oracle_credit_memo_marked_for_a_card_refund_is_voided_or_refunded_once_and_written_back(
        world: tuple[ServerThread, FakeClock], sqlite_url: str, sqlite_engine: Engine) -> None:
    server, clock = world
    url, day = server.url, END
    clock.epoch = evening(day)
    with _paytrace(url) as pt:
        settled = next(r for r in pt.export_transactions(START, START + timedelta(days=2))
                       if r["transaction_type"] == "SALE" and r["approval_code"] and r["settled"])
        fresh = pt.sale_keyed(2_500, "4012000098765439", 12, 2030, invoice_id="INV-777002")
    method = MAPPING.refunds.card_refund["oracle"]
    memos = [{"account_number": "C10001", "amount_minor": 1_000, "currency": "USD", "receipt_method": method,
              "cross_reference": str(settled["transaction_id"]), "transaction_date": day.isoformat()},
             {"account_number": "C10002", "amount_minor": 2_500, "currency": "USD", "receipt_method": method,
              "cross_reference": str(fresh["transaction_id"]), "transaction_date": day.isoformat()},
             {"account_number": "C10003", "amount_minor": 700, "currency": "USD", "receipt_method": "Check",
              "cross_reference": str(settled["transaction_id"]), "transaction_date": day.isoformat()}]
    httpx.post(f"{url}/_sandbox/oracle/seed", json={"credit_memos": memos}, timeout=30).raise_for_status()
    oracle = erp_assets("oracle")
    for _ in range(2):
        materialize(url, sqlite_url, day, [oracle.card_refunds])
    with sqlite_engine.connect() as conn:
        rows = {r["original_transaction_id"]: r for r in conn.execute(
            select(card_refunds).where(card_refunds.c.erp == "oracle")).mappings()}
    assert {t: (r["outcome"], r["kind"], r["written_back"]) for t, r in rows.items()} == {
        int(settled["transaction_id"]): ("refunded", "refund", True),
        int(fresh["transaction_id"]): ("voided", "void", True)}, "the Check credit memo is not PaySync's to refund"
    with oracle_resource(url).client() as client:
        written = {r.original_transaction_id: r.written_back
                   for r in oracle_resource(url).adapter(client, MAPPING).card_refunds(method)}
    assert written[int(fresh["transaction_id"])] == f"PayTrace void of transaction {fresh['transaction_id']}"
    refund_id = rows[int(settled["transaction_id"])]["paytrace_transaction_id"]
    assert written[int(settled["transaction_id"])] == f"PayTrace refund {refund_id} of transaction {settled['transaction_id']}"


def test_a_refund_that_names_no_payment_is_one_exception_not_one_a_date(
        world: tuple[ServerThread, FakeClock], sqlite_url: str, sqlite_engine: Engine) -> None:
    server, _clock = world
    url, day = server.url, START + timedelta(days=2)
    with sage_resource(url).client() as client:
        account = sage_resource(url).adapter(client, MAPPING).customer_master()[0]["account_number"]
    httpx.post(f"{url}/_sandbox/sage/card_refund", json={
        "customer": account, "amount_minor": 1_200, "transaction_id": "see-email",
        "payment_code": MAPPING.refunds.card_refund["sage"], "date": day.isoformat()}, timeout=30).raise_for_status()
    for d in (day, day + timedelta(days=1), day + timedelta(days=2)):
        materialize(url, sqlite_url, d, [SAGE.card_refunds])
    with sqlite_engine.connect() as conn:
        found = conn.execute(select(payment_exceptions.c.business_date, payment_exceptions.c.reason_code).where(
            payment_exceptions.c.stage == "sage_card_refunds")).all()
        outcomes = conn.execute(select(card_refunds.c.outcome).where(card_refunds.c.erp == "sage")).scalars().all()
    assert [tuple(r) for r in found] == [(day, "card_refund_no_original")]
    assert outcomes == ["no_original_payment"] * 3, "each date still shows it"
