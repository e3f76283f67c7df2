"""For every ERP: a posting run killed with SIGKILL in the middle, then run again, ends where an
uninterrupted run ends: the same receipts, applications and balances in the ERP, no duplicates, the
ledger equal to it."""

import os
import signal
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import normalized_payments, posting_ledger
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import SANDBOX_WEEK, start_paytrace_sandbox
from paysync_dagster_tests.defs.erp.support import ERPS, ErpUnderTest, checks, materialize
from paysync_dagster_tests.support import start_process, stop_process, wait_for

REPO = Path(__file__).resolve().parents[3]
DAYS = [(date.fromisoformat(SANDBOX_WEEK[0]) + timedelta(days=i)).isoformat() for i in range(3)]
SLOW = {"latency_ms": 25}  # on the ERP's API: slow enough to be caught mid-way, no errors


@pytest.fixture
def sandboxes() -> Iterator[tuple[ServerThread, ServerThread]]:
    with start_paytrace_sandbox(per_day=25) as killed, start_paytrace_sandbox(per_day=25) as reference:
        yield killed, reference


def posted_receipts(warehouse_url: str) -> int:
    engine = make_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(posting_ledger).where(
                posting_ledger.c.action == "receipt", posting_ledger.c.status == "posted")).scalar_one()
    finally:
        engine.dispose()


def run_posting(erp: ErpUnderTest, url: str, warehouse_url: str, log: Path):  # noqa: ANN201
    return start_process([sys.executable, "-m", "paysync_dagster_tests.defs.erp.posting_run", erp.name, url, warehouse_url,
                          *DAYS, "--batch-size", "1"], cwd=str(REPO), env=dict(os.environ), log_path=str(log))


@pytest.mark.parametrize("erp", [ERPS["oracle"], ERPS["sage"]], ids=lambda e: e.name)
def test_a_killed_posting_run_run_again_ends_like_an_uninterrupted_one(erp: ErpUnderTest,
                                                                        sandboxes: tuple[ServerThread, ServerThread],
                                                                        tmp_path: Path) -> None:
    killed, reference = sandboxes
    killed_db, reference_db = f"sqlite:///{tmp_path / 'killed.db'}", f"sqlite:///{tmp_path / 'reference.db'}"
    for url, db in ((killed.url, killed_db), (reference.url, reference_db)):
        for day in DAYS:
            assert materialize(url, db, day, erp.upstream, erp=erp.name).success
    for day in DAYS:
        run = materialize(reference.url, reference_db, day, erp.posting, erp=erp.name)
        assert run.success and all(checks(run).values())
    engine = make_engine(killed_db)
    with engine.connect() as conn:
        approved = conn.execute(select(func.count()).select_from(normalized_payments).where(
            normalized_payments.c.kind.in_(["sale", "capture"]))).scalar_one()
    engine.dispose()

    httpx.post(f"{killed.url}/_sandbox/faults", json={**SLOW, "paths": list(erp.api_paths)}).raise_for_status()
    log = tmp_path / "posting.log"
    proc = run_posting(erp, killed.url, killed_db, log)
    try:
        wait_for(lambda: posted_receipts(killed_db) >= 5 or proc.poll() is not None, timeout=180, interval=0.02,
                 what="the first receipts to be posted")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop_process(proc)
    assert proc.returncode == -signal.SIGKILL, log.read_text()
    at_kill = posted_receipts(killed_db)
    assert 5 <= at_kill < approved  # killed in the middle of posting

    httpx.post(f"{killed.url}/_sandbox/faults", json={}).raise_for_status()
    again = run_posting(erp, killed.url, killed_db, log)
    try:
        assert again.wait(timeout=300) == 0, log.read_text()
    finally:
        stop_process(again)
    assert posted_receipts(killed_db) == approved
    state = erp.final_state(killed.url)
    assert set(state["receipt_numbers"].values()) == {1}  # no duplicate receipt
    assert state == erp.final_state(reference.url)
    engine = make_engine(killed_db)
    erp.assert_ledger_equals_sandbox(engine, killed.url)
    engine.dispose()
