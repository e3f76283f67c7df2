"""Acceptance, for every ERP: a week posted through 20 % 5xx, 429 bursts and 10 % answers dropped after
the commit, each date delivered three times, ends exactly as a clean run does: one receipt per
approved sale, the right applications and invoice balances (Sage: amounts due and FullyPaid once
its batches are posted), and the ledger equal to what the sandbox holds (read over its API)."""

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from paysync_dagster.lib.posting.matching import MATCH_RULES
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import normalized_payments
from paysync_dagster.sandbox.paytrace.generator import open_invoices
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import SANDBOX_TZ, SANDBOX_WEEK, start_paytrace_sandbox
from paysync_dagster_tests.defs.erp.support import ERPS, ErpUnderTest, checks, materialize

SEED, PER_DAY = 11, 20
WEEK = [(date.fromisoformat(SANDBOX_WEEK[0]) + timedelta(days=i)).isoformat() for i in range(7)]
FAULTS = {"seed": 5, "error_rate": 0.2, "error_statuses": [500, 502, 503], "rate_limit_every": 20, "rate_limit_burst": 3,
          "retry_after_seconds": 0, "drop_after_commit_rate": 0.1}


@pytest.fixture
def sandboxes() -> Iterator[tuple[ServerThread, ServerThread]]:
    with start_paytrace_sandbox(seed=SEED, per_day=PER_DAY) as faulty, start_paytrace_sandbox(seed=SEED, per_day=PER_DAY) as clean:
        yield faulty, clean


def read(url: str, table) -> pd.DataFrame:  # noqa: ANN001
    engine = make_engine(url)
    with engine.connect() as conn:
        df = pd.read_sql_table(table.name, conn)
    engine.dispose()
    return df


@pytest.mark.parametrize("erp", [ERPS["oracle"], ERPS["sage"]], ids=lambda e: e.name)
def test_a_faulty_week_delivered_three_times_ends_like_a_clean_one(erp: ErpUnderTest,
                                                                   sandboxes: tuple[ServerThread, ServerThread],
                                                                   tmp_path: Path) -> None:
    faulty, clean = sandboxes
    faulty_db, clean_db = f"sqlite:///{tmp_path / 'faulty.db'}", f"sqlite:///{tmp_path / 'clean.db'}"
    httpx.post(f"{faulty.url}/_sandbox/faults", json={**FAULTS, "paths": list(erp.api_paths)}).raise_for_status()
    for day in WEEK:
        reference = materialize(clean.url, clean_db, day, erp.upstream + erp.posting, erp=erp.name)
        assert reference.success and all(checks(reference).values()), (day, checks(reference))
        runs = [materialize(faulty.url, faulty_db, day, erp.upstream + erp.posting, erp=erp.name)]
        runs += [materialize(faulty.url, faulty_db, day, erp.posting[1:], erp=erp.name) for _ in range(2)]  # twice more
        for run in runs:
            assert run.success and all(checks(run).values()), (day, checks(run))
    injected = httpx.get(f"{faulty.url}/_sandbox/stats").json()["faults"]
    assert injected["drop_after_commit"] and injected["rate_limit_429"] and injected["error_500"], injected

    # Exactly one receipt per approved sale, and nothing else.
    payments = read(faulty_db, normalized_payments)
    approved = payments[payments["kind"].isin(["sale", "capture"])]
    state = erp.final_state(faulty.url)
    assert set(state["receipt_numbers"].values()) == {1}
    assert set(state["receipt_numbers"]) == {f"PT-{t}" for t in approved["transaction_id"]}
    # The same receipts, applications, refunds, reversals and invoice balances as the clean single run.
    assert state == erp.final_state(clean.url)
    # The ledger is what the sandbox holds: every posted receipt under its id, every application.
    engine = make_engine(faulty_db)
    erp.assert_ledger_equals_sandbox(engine, faulty.url)
    engine.dispose()
    # Nothing left waiting for the ERP, and every receipt says which rule matched it.
    rows = read(faulty_db, erp.connector.cash_receipts)
    # (Sage's Web API leaves some effects on posted documents to a person: those exceptions say what to do.)
    by_design = rows["reason"].str.contains("|".join(erp.left_to_a_person)) if erp.left_to_a_person else False
    waiting = rows[rows["exception_code"].isin(["erp_unreachable", "erp_rejected"]) & ~by_design]
    assert waiting.empty, waiting[["transaction_id", "kind", "exception_code", "reason"]].to_dict("records")
    own = rows[rows["owns_receipt"].astype(bool)]
    assert own["match_rule"].isin(MATCH_RULES).all()
    # Right applications: cash went to the invoices the generator says the sale paid, whatever the rule.
    paid_by = {i["invoice_number"]: set(i["paid_by"]) for i in open_invoices(
        SEED, date.fromisoformat(WEEK[0]), date.fromisoformat(WEEK[-1]), PER_DAY, SANDBOX_TZ)}
    rule = dict(zip("PT-" + own["transaction_id"].astype(str), own["match_rule"]))
    checked = 0
    for number, receipt in state["receipts"].items():
        for target, _amount in receipt["applied"]:
            invoice = target.split("#")[0]
            assert int(number[3:]) in paid_by[invoice], (number, invoice, rule[number])
            checked += 1
    assert checked >= len(approved) // 2
    if "invoices" in state:  # Sage: the batches were posted after each run, so invoices show what was paid
        assert all(fully_paid == (due == 0) for _type, due, fully_paid in state["invoices"].values())
        assert sum(1 for _type, due, _paid in state["invoices"].values() if due == 0) >= checked // 2

