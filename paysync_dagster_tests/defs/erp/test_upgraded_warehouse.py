"""A warehouse the release before migrations built, upgraded with ``paysync db upgrade``, runs both ERPs'
paths: its old rows stay, and a date posts and reconciles in Oracle and Sage on it as on a fresh one."""

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import oracle_cash_receipts, payment_customer_accounts, sage_cash_receipts
from paysync_dagster_tests.conftest import SANDBOX_WEEK, start_paytrace_sandbox
from paysync_dagster_tests.defs.erp.support import ERPS, checks, materialize
from paysync_dagster_tests.lib.warehouse.test_migrations import RECEIPT, build_released_warehouse, paysync

DAY = (date.fromisoformat(SANDBOX_WEEK[0]) + timedelta(days=1)).isoformat()


def test_an_upgraded_warehouse_runs_both_erps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'released.db'}"
    build_released_warehouse(url, version=3, with_cash_application_columns=True)
    upgraded = paysync("db", "upgrade", "--database-url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    oracle, sage = ERPS["oracle"], ERPS["sage"]
    assets = [*oracle.upstream, sage.assets.customer_accounts, *oracle.posting, *sage.posting,
              oracle.assets.reconciliation, sage.assets.reconciliation]
    with start_paytrace_sandbox(per_day=20) as sandbox:
        run = materialize(sandbox.url, url, DAY, assets)
    assert run.success and all(ok for (asset, _check), ok in checks(run).items() if "reconciliation" not in asset), \
        [k for k, ok in checks(run).items() if not ok]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            kept = conn.execute(select(oracle_cash_receipts.c.reference).where(
                oracle_cash_receipts.c.transaction_id == RECEIPT["transaction_id"])).scalar_one()
            posted = {t.name: conn.execute(select(func.count()).select_from(t).where(
                t.c.business_date == date.fromisoformat(DAY))).scalar_one() for t in (oracle_cash_receipts, sage_cash_receipts)}
            accounts = conn.execute(select(func.count()).select_from(payment_customer_accounts)).scalar_one()
    finally:
        engine.dispose()
    assert kept == RECEIPT["reference"]  # the old release's row is still there
    assert posted["oracle_cash_receipts"] == posted["sage_cash_receipts"] > 0  # every payment has an outcome in each
    assert accounts > 0
