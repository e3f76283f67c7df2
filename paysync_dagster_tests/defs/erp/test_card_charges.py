"""`<erp>_card_charges` against the composed sandbox (PayTrace, Oracle, Sage) with its card-on-file
invoices: a dry run lists and sends nothing; a run charges each installment due once, however often
it is redelivered; the charge comes back through the normal receipt path and is applied to its
invoice; the expired card is declined on every dunning date and ends as one exception with PayTrace's
reason while its invoice stays open."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import dagster as dg
import pytest
from sqlalchemy import Engine, func, select

from paysync_dagster.defs.erp.charges import charges_on
from paysync_dagster.defs.erp.connectors import ErpSettingError
from paysync_dagster.defs.erp.factory import erp_assets
from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.outbound.charges import LEDGER_SYSTEM, charge_token, reference
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.lib.outbound.due import DueInstallment
from paysync_dagster.lib.outbound.recurring import recurring_installments
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.warehouse.tables import card_charges, payment_exceptions, posting_ledger
from paysync_dagster.lib.warehouse.tables import oracle_cash_receipts as ORACLE_RECEIPTS
from paysync_dagster.sandbox.card_on_file import RECEIPT_METHOD, expired_card_account
from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME, FakeClock
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import oracle_resource, paytrace_resource
from paysync_dagster_tests.defs.erp.outbound_support import END, START, evening, materialize, world  # noqa: F401 (a fixture)

ORACLE = erp_assets("oracle")
RECEIPT_PATH = [paytrace_transactions, paytrace_settlement_batches, ORACLE.customer_accounts, normalized_payments,
                ORACLE.open_invoices, ORACLE.cash_receipts]


def _due(url: str, day: date) -> list[DueInstallment]:
    """The ERP's card-on-file installments due (the adapter's own tests check it against the sandbox)."""
    with oracle_resource(url).client() as client:
        return oracle_resource(url).adapter(client, MAPPING).card_on_file_installments(RECEIPT_METHOD, day)


def _recurring(day: date) -> list[DueInstallment]:
    """The sample mapping's recurring contracts billed within the dunning window of ``day``."""
    return recurring_installments(MAPPING.charges.recurring, "oracle", day,
                                  within_days=max(MAPPING.charges.retry_after_days) + 1)


def _charge_sales(url: str, vaults: set[str]) -> Counter:
    """(reference, approved?) of every PaySync charge PayTrace holds, read from its export."""
    seen: Counter = Counter()
    with PayTraceClient(url, DEFAULT_USERNAME, DEFAULT_PASSWORD, DEFAULT_INTEGRATOR_ID) as client:
        for vault in vaults:
            for r in client.export_transactions(START - timedelta(days=1), END + timedelta(days=30), customer_id=vault):
                if str(r.get("description") or "").startswith("PaySync charge "):
                    seen[(r["description"].removeprefix("PaySync charge "), bool(r.get("approval_code")))] += 1
    return seen


def _rows(engine: Engine, day: date) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r.invoice_number + ":" + r.installment_id: dict(r._mapping) for r in
                conn.execute(select(card_charges).where(card_charges.c.business_date == day))}


def test_the_switch_names_erps_it_knows() -> None:
    assert charges_on("") == [] and charges_on("Oracle, sage") == ["oracle", "sage"]
    with pytest.raises(ErpSettingError, match="unknown ERP netsuite"):
        charges_on("oracle,netsuite")


def test_charges_once_each_come_back_as_receipts_and_the_expired_card_ends_in_dunning(
        world: tuple[ServerThread, FakeClock], sqlite_url: str, sqlite_engine: Engine) -> None:
    server, clock = world
    url = server.url
    expired = expired_card_account(11, 20, START.year)
    day = START + timedelta(days=5)
    clock.epoch = evening(day)
    recurring = _recurring(day)
    due = _due(url, day) + recurring
    assert {i.customer_account for i in due} >= {expired} and len(due) >= 4 and recurring

    # A dry run lists what would be charged and sends, records and writes nothing.
    dry = materialize(url, sqlite_url, day, [ORACLE.card_charges],
                       {"ops": {"oracle_card_charges": {"config": {"dry_run": True}}}})
    meta = dry.asset_materializations_for_node("oracle_card_charges")[0].metadata
    assert meta["outcome_would_charge"].value == len(due) and meta["dry_run"].value is True
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(posting_ledger)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(card_charges)).scalar_one() == 0
    vaults = {i.customer_account for i in due}
    assert _charge_sales(url, vaults) == Counter()

    # The run, redelivered twice: one sale per installment.
    for _ in range(3):
        materialize(url, sqlite_url, day, [ORACLE.card_charges])
    rows = _rows(sqlite_engine, day)
    assert set(rows) == {f"{i.invoice_number}:{i.installment_id}" for i in due}
    charged = [i for i in due if i.customer_account != expired]
    assert {rows[f"{i.invoice_number}:{i.installment_id}"]["outcome"] for i in charged} == {"already_charged"}
    declined = [i for i in due if i.customer_account == expired]
    # declined on the first delivery; the redeliveries find the decline and wait for the next try
    assert {rows[f"{i.invoice_number}:{i.installment_id}"]["outcome"] for i in declined} == {"waiting_for_retry"}
    assert all(rows[f"{i.invoice_number}:{i.installment_id}"]["reason"] == "EXPIRED CARD - Expired card" and
               rows[f"{i.invoice_number}:{i.installment_id}"]["next_attempt"] == max(i.due_date + timedelta(days=3),
                                                                                    day + timedelta(days=1))
               for i in declined)
    sales = _charge_sales(url, vaults)
    assert sales == Counter({**{(charge_token(reference(i, 1)), True): 1 for i in charged},
                             **{(charge_token(reference(i, 1)), False): 1 for i in declined}})

    # The approved charges come back through the normal receipt path and pay their invoices; a recurring
    # charge names no invoice and its receipt stays on the customer's account.
    materialize(url, sqlite_url, day, RECEIPT_PATH)
    still_due = {(i.invoice_number, i.installment_id) for i in _due(url, day)}
    assert not still_due & {(i.invoice_number, i.installment_id) for i in charged}
    monthly = {rows[f"{i.invoice_number}:{i.installment_id}"]["paytrace_transaction_id"]: i for i in recurring}
    with sqlite_engine.connect() as conn:
        receipts = conn.execute(select(ORACLE_RECEIPTS.c.transaction_id, ORACLE_RECEIPTS.c.outcome,
                                       ORACLE_RECEIPTS.c.customer_account)
                                .where(ORACLE_RECEIPTS.c.transaction_id.in_(list(monthly)))).all()
    assert {(int(t), o, a) for t, o, a in receipts} == {(t, "on_account", i.customer_account) for t, i in monthly.items()}
    assert {(i.invoice_number, i.installment_id) for i in declined} <= still_due

    # Dunning: the expired card on the retry days, then one exception with PayTrace's reason.
    for retry_day, outcome in ((day + timedelta(days=3), "declined_retry_scheduled"),
                               (day + timedelta(days=7), "dunning_exhausted"),
                               (day + timedelta(days=8), "dunning_exhausted")):
        clock.epoch = evening(retry_day)
        materialize(url, sqlite_url, retry_day, [ORACLE.card_charges])
        after = _rows(sqlite_engine, retry_day)
        for i in declined:
            assert after[f"{i.invoice_number}:{i.installment_id}"]["outcome"] == outcome
    with sqlite_engine.connect() as conn:
        exceptions = conn.execute(select(payment_exceptions).where(payment_exceptions.c.stage == "oracle_charges",
                                                                   payment_exceptions.c.reason_code == "charge_declined")
                                  ).mappings().all()
        attempts = conn.execute(select(func.count()).select_from(posting_ledger).where(
            posting_ledger.c.erp == LEDGER_SYSTEM,
            posting_ledger.c.reference.in_([reference(i, k) for i in declined for k in range(1, 6)]))).scalar_one()
    assert [(e["business_date"], "EXPIRED CARD - Expired card" in e["reason"]) for e in exceptions] == \
        [(day + timedelta(days=7), True)] * len(declined)  # one exception, on the date of the last try
    assert attempts == 3 * len(declined)  # three tries each, none more
    theirs = {charge_token(reference(i, k)) for i in declined for k in range(1, 6)}
    assert Counter({k: n for k, n in _charge_sales(url, {expired}).items() if k[0] in theirs}) == \
        Counter({(charge_token(reference(i, k)), False): 1 for i in declined for k in (1, 2, 3)})
    assert {(i.invoice_number, i.installment_id) for i in declined} <= {
        (i.invoice_number, i.installment_id) for i in _due(url, day + timedelta(days=8))}  # the invoice stays open


def test_sage_charges_its_card_on_file_customers_once_each(world: tuple[ServerThread, FakeClock], sqlite_url: str,
                                                           sqlite_engine: Engine) -> None:
    from paysync_dagster.sandbox.card_on_file import PAYMENT_CODE
    from paysync_dagster_tests.conftest import sage_resource

    server, clock = world
    sage = erp_assets("sage")
    day = START + timedelta(days=5)
    clock.epoch = evening(day)
    with sage_resource(server.url).client() as client:
        from paysync_dagster.defs.normalize.rules import MAPPING

        due = sage_resource(server.url).adapter(client, MAPPING).card_on_file_installments(PAYMENT_CODE, day)
    expired = expired_card_account(11, 20, START.year)
    assert due and {i.erp for i in due} == {"sage"}
    for _ in range(2):
        result = dg.materialize([sage.card_charges], partition_key=day.isoformat(), raise_on_error=False, resources={
            "warehouse": WarehouseResource(database_url=sqlite_url), "paytrace": paytrace_resource(server.url),
            "sage": sage_resource(server.url)})
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    sales = _charge_sales(server.url, {i.customer_account for i in due})
    assert sales == Counter({(charge_token(reference(i, 1)), i.customer_account != expired): 1 for i in due})
    with sqlite_engine.connect() as conn:
        outcomes = dict(conn.execute(select(card_charges.c.invoice_number, card_charges.c.outcome)
                                     .where(card_charges.c.erp == "sage", card_charges.c.business_date == day)).all())
    assert outcomes == {i.invoice_number: "already_charged" if i.customer_account != expired else "waiting_for_retry"
                        for i in due}
