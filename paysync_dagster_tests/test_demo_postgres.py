"""`paysync demo --headless --db postgres`: the Dagster instance and the warehouse on a throw-away
PostgreSQL the demo starts itself, and stops at the end."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from paysync_dagster.lib.local_postgres import PostgresServer, find_pg_bin, server_user
from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.migrations import head, read_revision
from paysync_dagster_tests.support import demo_env, free_port, port_open

REPO = Path(__file__).resolve().parents[1]
PAYSYNC = [sys.executable, "-m", "paysync_dagster.cli"]


def _processes_using(path: Path) -> list[str]:
    """Command lines of running processes that name ``path`` (a postmaster names its data folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def _trusting(server: PostgresServer) -> None:
    """Let the test in without the demo's password (which it never printed): loopback connections trusted."""
    (server.data_dir / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")


@pytest.mark.postgres
@pytest.mark.slow
def test_headless_demo_on_postgres_keeps_runs_and_warehouse_there_and_stops_the_server() -> None:
    # The server runs as another user when the tests run as root: its folder must be one that user can reach.
    root = Path(tempfile.mkdtemp(prefix="paysync-demo-pg-"))
    os.chmod(root, 0o755)
    home = root / "home"
    data_dir = home / "postgres" / "data"
    looked: PostgresServer | None = None
    try:
        result = subprocess.run(
            [*PAYSYNC, "demo", "--headless", "--db", "postgres", "--days", "2", "--per-day", "40",
             "--sandbox-port", str(free_port()), "--home", str(home)],
            cwd=REPO, env=demo_env(home), capture_output=True, text=True, timeout=900,
        )
        out = result.stdout
        assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
        assert "2/2 business dates ran clean" in out and "Runs are in PostgreSQL" in out, out
        assert re.search(r"^total\s+80\s", out, re.MULTILINE), out
        assert "Oracle Fusion cash receipts" in out and "Sage 300 cash receipts" in out
        run_prefixes = re.findall(r"^\s+\[\d/2\] \S+\s+run ([0-9a-f]{8})\s+ok", out, re.MULTILINE)
        assert len(run_prefixes) == 2, out
        port = int(re.search(r"postgresql\s+127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
        assert "paysync:***@" in out and "postgresql      stopped" in out, out

        # Stopped at the end: nothing listens on its port, no process serves its data.
        assert not port_open(port)
        assert not _processes_using(data_dir), _processes_using(data_dir)
        # Nothing went to the embedded default instead.
        assert not (home / "warehouse.db").exists()
        assert not (home / "dagster_home" / "history").exists()

        # What the demo left in PostgreSQL: its runs in the instance database, its tables in the warehouse.
        bin_dir = find_pg_bin()
        assert bin_dir is not None
        looked = PostgresServer(bin_dir=bin_dir, root=home / "postgres", port=free_port(), user=server_user())
        _trusting(looked)
        looked.resume()
        with psycopg.connect(host="127.0.0.1", port=looked.port, user="paysync", dbname="dagster") as conn:
            runs = conn.execute("SELECT run_id, pipeline_name, status FROM runs").fetchall()
        daily = {run_id[:8]: status for run_id, job, status in runs if job == "paysync_daily_job"}
        assert set(run_prefixes) <= set(daily), (run_prefixes, runs)
        assert all(daily[p] == "SUCCESS" for p in run_prefixes), daily
        with psycopg.connect(host="127.0.0.1", port=looked.port, user="paysync", dbname="paysync_warehouse") as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
            assert {"paytrace_transactions", "normalized_payments", "posting_ledger", "reconciliation_kpis"} <= tables
            per_day = conn.execute("SELECT business_date, count(*) FROM paytrace_transactions "
                                   "GROUP BY business_date ORDER BY business_date").fetchall()
            posted = conn.execute("SELECT erp, count(*) FROM posting_ledger GROUP BY erp ORDER BY erp").fetchall()
        assert sum(n for _, n in per_day) >= 80 and len(per_day) >= 2, per_day
        # both ERPs' receipts, the demo's card-on-file charges, profile updates and card refunds (the ledger's
        # system ``paytrace``), and the Sage Pro receipts the demo's clerk keyed (seen keyed, never written)
        assert [erp for erp, n in posted if n > 0] == ["oracle", "paytrace", "sage", "sagepro"], posted
        # ... at this release's schema revision.
        engine = make_engine(f"postgresql+psycopg://paysync@127.0.0.1:{looked.port}/paysync_warehouse")
        try:
            assert read_revision(engine) == head()
        finally:
            engine.dispose()
    finally:
        if looked is not None:
            looked.stop(remove=False)
        elif data_dir.exists():
            PostgresServer(bin_dir=find_pg_bin() or Path("/usr/bin"), root=home / "postgres", port=0,
                           user=server_user()).stop(remove=False)
        shutil.rmtree(root, ignore_errors=True)
