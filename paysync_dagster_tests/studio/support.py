"""A warehouse with a real day of payments, and the studio served by `paysync studio` as a process.

The day is landed, normalized and posted by the pipeline's own assets against the composed sandbox
(PayTrace and Oracle) on a free loopback port, so the studio previews what a run really left.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import httpx

from paysync_dagster.defs.erp.factory import erp_assets
from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.mapping import SAMPLE_MAPPING
from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME, HistorySpec
from paysync_dagster.sandbox.server import ServerThread, build_app
from paysync_dagster_tests.conftest import SANDBOX_TZ, oracle_resource, paytrace_resource
from paysync_dagster_tests.support import free_port, start_process, stop_process, wait_for

DAY = date(2026, 3, 10)
DAYS = (date(2026, 3, 9), DAY)


def build_warehouse(sandbox_url: str, database_url: str) -> None:
    """Two days through the Oracle path: transactions, batches, customers, payments, open invoices, receipts."""
    oracle = erp_assets("oracle")
    assets = [paytrace_transactions, paytrace_settlement_batches, oracle.customer_accounts, normalized_payments,
              oracle.open_invoices, oracle.cash_receipts]
    for day in DAYS:
        result = dg.materialize(assets, partition_key=day.isoformat(), raise_on_error=False, resources={
            "warehouse": WarehouseResource(database_url=database_url), "paytrace": paytrace_resource(sandbox_url),
            "oracle": oracle_resource(sandbox_url)})
        assert result.success, [e.message for e in result.all_events if e.is_failure]


@contextmanager
def sandbox() -> Iterator[ServerThread]:
    history = HistorySpec(seed=11, start_date=date(2026, 3, 4), end_date=DAY, per_day=40)
    with ServerThread(build_app(history=history, tz_name=SANDBOX_TZ)) as server:
        yield server


@dataclass(frozen=True)
class Studio:
    url: str
    mapping_file: Path
    database_url: str
    log: Path


def studio_env(home: Path, mapping_file: Path, database_url: str, sandbox_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PAYTRACE_", "ORACLE_", "SAGE300_"))}
    env.update({"PAYSYNC_HOME": str(home), "PAYSYNC_MAPPING_FILE": str(mapping_file), "PAYSYNC_DATABASE_URL": database_url,
                "PAYSYNC_ERPS": "oracle", "PAYSYNC_ACTOR": "maria.finance", "PAYTRACE_BASE_URL": sandbox_url,
                "PAYTRACE_USERNAME": DEFAULT_USERNAME, "PAYTRACE_PASSWORD": DEFAULT_PASSWORD,
                "PAYTRACE_INTEGRATOR_ID": DEFAULT_INTEGRATOR_ID, **extra})
    return env


@contextmanager
def serve_studio(home: Path, database_url: str, sandbox_url: str, *, host: str = "127.0.0.1",
                 **extra: str) -> Iterator[Studio]:
    """`paysync studio` on a free port, editing a copy of the sample mapping; stopped on exit."""
    mapping_file = home / "mapping.yaml"
    home.mkdir(parents=True, exist_ok=True)
    if not mapping_file.exists():
        shutil.copyfile(SAMPLE_MAPPING, mapping_file)
    port = free_port()
    log = home / f"studio-{port}.log"
    env = studio_env(home, mapping_file, database_url, sandbox_url, **extra)
    paysync = str(Path(sys.executable).with_name("paysync"))
    proc = start_process([paysync, "studio", "--host", host, "--port", str(port)], env=env, log_path=str(log))
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the studio exited with {proc.returncode}: {log.read_text()}")
            try:
                return httpx.get(f"{url}/login", timeout=2).status_code < 500
            except httpx.TransportError:
                return False
        wait_for(up, timeout=60, what="the studio answering")
        yield Studio(url, mapping_file, database_url, log)
    finally:
        stop_process(proc)
