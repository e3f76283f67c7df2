"""Sage Pro's whole loop through the shared ERP layer, against the PayTrace sandbox and the Sage Pro stand-in's
real Visual FoxPro tables: a date's payments proposed on the keying worksheet (CSV and XLSX), the
reconciliation showing them missing in Sage Pro with their age; a clerk (the stand-in) keys part of the
worksheet; the date again: those receipts keyed and matched, the rest still missing. No PaySync read
changes a byte or a modification time of Sage Pro's tables."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine, select

from paysync_dagster.defs.erp.factory import erp_assets
from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.defs.sagepro.resources import SageProResource
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.warehouse.tables import reconciliation_transactions as RT
from paysync_dagster.lib.warehouse.tables import sagepro_cash_receipts as RECEIPTS
from paysync_dagster.sandbox.paytrace.state import HistorySpec
from paysync_dagster.sandbox.sagepro import StandInSpec, key_worksheet, write_company
from paysync_dagster.sandbox.server import ServerThread, build_app
from paysync_dagster_tests.conftest import SANDBOX_TZ, paytrace_resource

START, END = date(2026, 3, 2), date(2026, 3, 6)
DAY = date(2026, 3, 4)
PRO = erp_assets("sagepro")
PATH = [paytrace_transactions, paytrace_settlement_batches, PRO.customer_accounts, normalized_payments,
        PRO.open_invoices, PRO.cash_receipts, PRO.reconciliation]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    monkeypatch.setenv("PAYSYNC_REPORTS_DIR", str(tmp_path / "reports"))
    company = tmp_path / "sagepro"
    write_company(company, StandInSpec(11, START, END, 20, SANDBOX_TZ))
    history = HistorySpec(seed=11, start_date=START, end_date=END, per_day=20)
    with ServerThread(build_app(history=history, tz_name=SANDBOX_TZ)) as server:
        yield server.url, company


def _run(url: str, database_url: str, company: Path, assets: list) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, partition_key=DAY.isoformat(), raise_on_error=False, resources={
        "warehouse": WarehouseResource(database_url=database_url), "paytrace": paytrace_resource(url),
        "sagepro": SageProResource(data_dir=str(company))})
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def _fingerprints(company: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(company)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(company.rglob("*")) if p.is_file()}


def _statuses(engine: Engine) -> dict[int, tuple[str, str]]:
    with engine.connect() as conn:
        return {int(t): (s, d) for t, s, d in conn.execute(select(RT.c.transaction_id, RT.c.status, RT.c.detail).where(
            RT.c.erp == "sagepro", RT.c.business_date == DAY))}


def test_proposed_keyed_by_the_clerk_and_reconciled(world: tuple[str, Path], sqlite_url: str,
                                                    sqlite_engine: Engine, tmp_path: Path) -> None:
    url, company = world
    before = _fingerprints(company)
    first = _run(url, sqlite_url, company, PATH)
    assert _fingerprints(company) == before, "PaySync's reads changed Sage Pro's files"

    meta = first.asset_materializations_for_node("sagepro_cash_receipts")[0].metadata
    csv_path = Path(meta["worksheet_csv"].value)
    assert csv_path.exists() and Path(meta["worksheet_xlsx"].value).exists()
    with csv_path.open(newline="") as f:
        rows = list(csv.reader(f))
    lines = rows[1:-1]
    assert lines and meta["lines_to_key"].value == len(lines)
    with sqlite_engine.connect() as conn:
        proposals = {int(r.transaction_id): r for r in conn.execute(select(RECEIPTS).where(RECEIPTS.c.business_date == DAY))}
    outcomes = Counter(r.outcome for r in proposals.values())
    assert outcomes["proposed"] >= 5 and {r[5] for r in lines} == {str(t) for t, r in proposals.items() if r.owns_receipt}
    proposed = {t for t, r in proposals.items() if r.owns_receipt}
    missing = {t for t, (s, _d) in _statuses(sqlite_engine).items() if s == "missing_in_erp"}
    assert proposed <= missing | {t for t, (s, _d) in _statuses(sqlite_engine).items() if s == "pending_settlement"}
    assert all("not keyed for" in d for t, (s, d) in _statuses(sqlite_engine).items() if s == "missing_in_erp"
               and t in proposed)

    # The clerk keys the worksheet's first half (whole payments: every line of a reference).
    refs = list(dict.fromkeys(r[5] for r in lines))
    chosen = set(refs[: len(refs) // 2])
    part = tmp_path / "keyed.csv"
    with part.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0], *[r for r in lines if r[5] in chosen]])
    assert key_worksheet(company, part)["keyed"] == sum(1 for r in lines if r[5] in chosen)

    keyed_files = _fingerprints(company)
    again = _run(url, sqlite_url, company, [PRO.open_invoices, PRO.cash_receipts, PRO.reconciliation])
    assert _fingerprints(company) == keyed_files
    meta = again.asset_materializations_for_node("sagepro_cash_receipts")[0].metadata
    assert meta["keyed_in_erp"].value == len(chosen) and meta["lines_to_key"].value == \
        sum(1 for r in lines if r[5] not in chosen)
    statuses = _statuses(sqlite_engine)
    with sqlite_engine.connect() as conn:
        after = {int(r.transaction_id): r.outcome for r in conn.execute(select(RECEIPTS).where(RECEIPTS.c.business_date == DAY))}
    assert {after[int(t)] for t in chosen} == {"keyed"}
    settled = {int(t) for t in chosen if statuses[int(t)][0] != "pending_settlement"}
    assert settled and {statuses[t][0] for t in settled} <= {"matched", "unapplied_in_erp"}
    rest = {int(t) for t in refs if t not in chosen} - {t for t, (s, _d) in statuses.items() if s == "pending_settlement"}
    assert rest and {statuses[t][0] for t in rest} == {"missing_in_erp"}

    # Someone changes a keyed receipt's amount in Sage Pro afterwards: drift, as for the ERPs PaySync posts to.
    import dbf

    changed = sorted(settled)[0]
    path = next(p for p in (company / "ardata").iterdir() if p.name.lower() == "arcash01.dbf")
    with dbf.Table(str(path)) as table:
        for record in table:
            if record.refno.strip() == str(changed):
                with record:
                    record.paidamt = record.paidamt - 1
                break
    _run(url, sqlite_url, company, [PRO.cash_receipts, PRO.reconciliation])
    status, detail = _statuses(sqlite_engine)[changed]
    assert status == "drift" and "but the ERP now shows" in detail, (status, detail)  # a dollar less
