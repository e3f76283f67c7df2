"""Card-on-file charges against the PayTrace sandbox over real HTTP: one approved charge per installment
whatever is retried, redelivered or cut off after PayTrace committed; an expired card is tried again
on the dunning dates and then becomes an exception with PayTrace's reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.outbound.charges import (ALREADY_CHARGED, CHARGED, DECLINED_RETRY, DUNNING_EXHAUSTED, LEDGER_SYSTEM,
                                                  NO_VAULT, WAITING, WOULD_CHARGE, ChargeRules, Charger, charge_token,
                                                  reference)
from paysync_dagster.lib.outbound.due import DueInstallment
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.posting.ledger import Ledger
from paysync_dagster.lib.warehouse.tables import posting_ledger
from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import start_paytrace_sandbox

DUE = date(2026, 12, 1)
TODAY = max(DUE, date.today())  # PayTrace dates a charge by the clock, whatever business date it is for
EXPIRED = "EXPIRED-CARD-1"
FAULTS = {"seed": 5, "drop_after_commit_rate": 0.4, "error_rate": 0.15, "error_statuses": [502, 503]}


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    with start_paytrace_sandbox(faults=FAULTS) as server:
        yield server


def _client(url: str) -> PayTraceClient:
    return PayTraceClient(url, DEFAULT_USERNAME, DEFAULT_PASSWORD, DEFAULT_INTEGRATOR_ID,
                          retry=RetryPolicy(max_attempts=8, base_delay_s=0.01, max_delay_s=0.05))


def _installments(vault_ids: list[str]) -> list[DueInstallment]:
    return [DueInstallment("oracle", f"INV-0090{i:02d}", "1", vault, 10_000 + i, "USD", DUE)
            for i, vault in enumerate(vault_ids)]


def _charger(engine: Engine, client: PayTraceClient) -> Charger:
    return Charger(Ledger(engine, LEDGER_SYSTEM), client, ChargeRules(retry_after_days=(3, 7)),
                   vault_of=lambda inst: None if inst.customer_account == "NOBODY" else inst.customer_account)


def _sales_by_description(client: PayTraceClient, vaults: list[str]) -> Counter:
    """Approved and declined sales PayTrace holds for each charge reference, read from its export."""
    seen: Counter = Counter()
    for vault in vaults:
        for r in client.export_transactions(DUE - timedelta(days=2), TODAY + timedelta(days=2), customer_id=vault):
            if str(r.get("description") or "").startswith("PaySync charge "):
                seen[(r["description"].removeprefix("PaySync charge "), "approved" if r.get("approval_code") else "declined")] += 1
    return seen


def test_each_installment_is_charged_once_through_faults_and_redelivery(engine: Engine, sandbox: ServerThread) -> None:
    with _client(sandbox.url) as client:
        vaults = [c["customer_id"] for c in client.export_customers()][:6]
        installments = _installments(vaults)
        charger = _charger(engine, client)
        outcomes = [o for _ in range(3) for o in charger.run(installments, DUE)]  # the date redelivered twice
        # Every installment ends charged: on the first pass, or found in PayTrace's export on a later one.
        last = {o.installment.invoice_number: o for o in outcomes}
        assert {o.outcome for o in last.values()} <= {CHARGED, ALREADY_CHARGED}
        sales = _sales_by_description(client, vaults)
        for inst in installments:
            assert sales[(charge_token(reference(inst, 1)), "approved")] == 1, (inst, sales)
        assert sum(sales.values()) == len(installments)
        assert {last[i.invoice_number].paytrace_transaction_id for i in installments} == {
            int(r["transaction_id"]) for v in vaults
            for r in client.export_transactions(DUE - timedelta(days=2), TODAY + timedelta(days=2), customer_id=v)
            if str(r.get("description") or "").startswith("PaySync charge ")}
    fired = sandbox.app.faults.stats()["faults"]
    assert fired.get("drop_after_commit", 0) > 0, fired  # answers were lost after PayTrace committed the sale


def test_an_expired_card_is_retried_on_the_dunning_dates_then_an_exception(engine: Engine) -> None:
    with start_paytrace_sandbox() as server, _client(server.url) as client:
        client.create_customer(EXPIRED, "4111111111111111", 1, 2020, billing_address={"name": "Old Card Co"})
        inst = DueInstallment("sage", "SI-7001", "1", EXPIRED, 25_000, "USD", DUE)
        nobody = DueInstallment("sage", "SI-7002", "1", "NOBODY", 5_000, "USD", DUE)
        steps = {}
        for day in (DUE, DUE + timedelta(days=1), DUE + timedelta(days=3), DUE + timedelta(days=7), DUE + timedelta(days=9)):
            outcome, missing = _charger(engine, client).run([inst, nobody], day)
            steps[day] = outcome
            assert missing.outcome == NO_VAULT and missing.is_exception_on(day)
        assert [(o.outcome, o.attempt, o.next_attempt) for o in steps.values()] == [
            (DECLINED_RETRY, 1, DUE + timedelta(days=3)), (WAITING, 1, DUE + timedelta(days=3)),
            (DECLINED_RETRY, 2, DUE + timedelta(days=7)), (DUNNING_EXHAUSTED, 3, None), (DUNNING_EXHAUSTED, 3, None)]
        final = steps[DUE + timedelta(days=9)]
        assert final.reason == "EXPIRED CARD - Expired card"
        assert steps[DUE + timedelta(days=7)].is_exception_on(DUE + timedelta(days=7))  # reported once: on the last try
        assert not final.is_exception_on(DUE + timedelta(days=9))
        sales = _sales_by_description(client, [EXPIRED])
        assert sales == Counter({(charge_token(reference(inst, k)), "declined"): 1 for k in (1, 2, 3)})


def test_a_dry_run_sends_and_records_nothing(engine: Engine) -> None:
    with start_paytrace_sandbox() as server, _client(server.url) as client:
        vaults = [c["customer_id"] for c in client.export_customers()][:3]
        before = server.app.faults.stats()["received"]
        outcomes = _charger(engine, client).run(_installments(vaults), DUE, dry_run=True)
        assert [o.outcome for o in outcomes] == [WOULD_CHARGE] * 3
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(posting_ledger)).scalar_one() == 0
        assert _sales_by_description(client, vaults) == Counter()
        sent = {p: n for p, n in server.app.faults.stats()["received"].items() if n != before.get(p)}
        assert not any("sale" in p for p in sent), sent  # nothing but the test's own exports reached PayTrace


def test_an_invoice_a_card_payment_already_names_is_not_charged(engine: Engine) -> None:
    with start_paytrace_sandbox() as server, _client(server.url) as client:
        vaults = [c["customer_id"] for c in client.export_customers()][:2]
        named, other = _installments(vaults)
        outcomes = _charger(engine, client).run([named, other], DUE, paid_by_card={named.invoice_number: 365400001})
        assert [(o.outcome, o.paytrace_transaction_id) for o in outcomes][0] == ("paid_by_card", 365400001)
        assert outcomes[1].outcome == CHARGED
        assert set(_sales_by_description(client, vaults)) == {(charge_token(reference(other, 1)), "approved")}
