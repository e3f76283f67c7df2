"""`paysync kpis` run as a process against a SQLite warehouse: a range's rates are sums, not averages."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import insert

from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster.lib.warehouse.tables import reconciliation_kpis

PAYSYNC = str(Path(sys.executable).with_name("paysync"))
D1, D2 = date(2026, 3, 2), date(2026, 3, 3)


def kpis(url: str, *args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAYSYNC_DATABASE_URL": url, "PAYSYNC_REPORTS_DIR": str(tmp / "reports")}
    return subprocess.run([PAYSYNC, "kpis", *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_date_and_a_range(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(insert(reconciliation_kpis), [
            {"business_date": D1, "kpi": "payment_auto_match", "numerator": 9, "denominator": 10, "currency": ""},
            {"business_date": D2, "kpi": "payment_auto_match", "numerator": 1, "denominator": 90, "currency": ""},
            {"business_date": D1, "kpi": "unapplied_cash", "numerator": 1_250, "denominator": 10_000, "currency": "USD"},
            {"business_date": D2, "kpi": "unapplied_cash", "numerator": 0, "denominator": 10_000, "currency": "USD"}])
    engine.dispose()

    one = kpis(url, "--date", "2026-03-02", tmp=tmp_path)
    assert one.returncode == 0, one.stderr
    assert "auto-match rate (payments): 90.0% (9 of 10)" in one.stdout
    both = kpis(url, "--from", "2026-03-02", "--to", "2026-03-03", tmp=tmp_path)
    assert "auto-match rate (payments): 10.0% (10 of 100)" in both.stdout  # not (90% + 1.1%) / 2
    assert "unapplied cash: 12.50 USD (6.2% of 200.00 USD)" in both.stdout
    assert "no report files under" in both.stdout  # the KPIs alone were stored here, no files written
    assert "no reconciliation report yet" in kpis(url, "--date", "2026-04-01", tmp=tmp_path).stdout
    bad = kpis(url, "--from", "2026-03-03", "--to", "2026-03-02", tmp=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == ["paysync kpis: --from 2026-03-03 is after --to 2026-03-02; swap them"]
