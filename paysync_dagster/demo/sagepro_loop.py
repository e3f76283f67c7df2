"""The demo's Sage Pro loop for one date: the date's keying worksheet, a clerk (the stand-in) keying it,
the date proposed and reconciled again: its receipts keyed in Sage Pro and matched."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

SAGEPRO_ASSETS = ("sagepro_open_invoices", "sagepro_cash_receipts", "sagepro_reconciliation_report")


def write_standin(data_dir: Path, seed: int, start: date, end: date, per_day: int, tz_name: str) -> int:
    """The Sage Pro stand-in for the demo's week (afresh each demo, like the other sandboxes); its invoices."""
    import shutil

    from paysync_dagster.sandbox.sagepro import StandInSpec, write_company

    if data_dir.exists():
        shutil.rmtree(data_dir)
    written = write_company(data_dir, StandInSpec(seed, start, end, per_day, tz_name))
    return next((n for name, n in written.items() if "armast" in name.lower()), 0)


def _statuses(database_url: str, day: date) -> dict[str, int]:
    from sqlalchemy import func, select

    from paysync_dagster.lib.warehouse import make_engine
    from paysync_dagster.lib.warehouse.tables import reconciliation_transactions as t

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(t.c.status, func.count()).where(
                t.c.erp == "sagepro", t.c.business_date == day).group_by(t.c.status)).all())
    finally:
        engine.dispose()


def headless(env: dict[str, str], job: Any, instance: Any, day: date) -> bool:
    """Key ``day``'s worksheet in the stand-in and run the date's Sage Pro assets again; prints what it did.
    False when a receipt the clerk keyed is not found keyed."""
    import dagster as dg

    from paysync_dagster.lib.settings import reports_dir
    from paysync_dagster.sandbox.sagepro import key_worksheet

    worksheet = Path(reports_dir()) / day.isoformat() / f"sagepro_keying_{day.isoformat()}.csv"
    before = _statuses(env["PAYSYNC_DATABASE_URL"], day)
    with worksheet.open(newline="") as f:
        references = {row["reference"] for row in csv.DictReader(f) if row["batch"] != "total"}
    keyed = key_worksheet(Path(env["SAGEPRO_DATA_DIR"]), worksheet)
    result = job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False,
                                    asset_selection=[dg.AssetKey(a) for a in SAGEPRO_ASSETS],
                                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    meta = next((e.event_specific_data.materialization.metadata for e in result.all_events
                 if e.is_step_materialization and e.asset_key == dg.AssetKey("sagepro_cash_receipts")), {})
    after = _statuses(env["PAYSYNC_DATABASE_URL"], day)
    found = meta["keyed_in_erp"].value if "keyed_in_erp" in meta else 0
    print(f"\nSage Pro loop for {day} (worksheet {worksheet})")
    print(f"  proposed on the worksheet: {len(references)} receipts; reconciliation before keying: "
          + ", ".join(f"{n} {s}" for s, n in sorted(before.items())))
    print(f"  keyed by the clerk (paysync sandbox sagepro key): {keyed['keyed']} lines")
    print(f"  read back from Sage Pro: {found} receipts keyed; reconciliation now: "
          + ", ".join(f"{n} {s}" for s, n in sorted(after.items())))
    return result.success and found == len(references)
