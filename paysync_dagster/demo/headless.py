"""The demo's run of the main job and its summary for a finance user."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from paysync_dagster.defs.erp.connectors import ErpConnector

_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on UnauthorizedError { message }
  }
}
"""


def _days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def launch_backfill(ui_url: str, start: date, end: date, *, title: str = "PaySync demo week",
                    assets: Sequence[str] | None = None) -> str:
    """Ask the running webserver for a backfill of every asset (or of ``assets``) over the dates; returns its id."""
    from paysync_dagster.definitions import defs

    keys = [{"path": k.path} for k in defs().resolve_asset_graph().get_all_asset_keys()
            if assets is None or k.to_user_string() in assets]
    params = {"partitionNames": _days(start, end), "assetSelection": keys, "fromFailure": False, "title": title}
    answer = httpx.post(f"{ui_url}/graphql", json={"query": _BACKFILL, "variables": {"params": params}}, timeout=60).json()
    result = (answer.get("data") or {}).get("launchPartitionBackfill") or {}
    if result.get("__typename") != "LaunchBackfillSuccess":
        raise RuntimeError(f"the backfill was not accepted: {answer}")
    return result["backfillId"]


def run_headless(env: dict[str, str], start: date, end: date) -> int:
    """Run the main job once per business date of the week, in this process, on the demo's instance."""
    os.environ.update(env)  # before the definitions load: partitions and resources read it
    import dagster as dg

    from paysync_dagster.definitions import defs

    job = defs().resolve_job_def("paysync_daily_job")
    days = _days(start, end)
    failures: list[str] = []
    began = time.monotonic()
    from paysync_dagster.cli.progress import Steps

    # A bar on stderr at a terminal; the line per date below is the progress elsewhere.
    with dg.DagsterInstance.get() as instance, Steps(len(days), "main job", lines=False) as steps:
        for i, day in enumerate(days, 1):
            steps.start(f"running {day}")
            t0 = time.monotonic()
            result = job.execute_in_process(
                partition_key=day, instance=instance, raise_on_error=False,
                # The event log keeps every detail; the terminal shows one line per date.
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            checks = [e for e in result.get_asset_check_evaluations()]
            failed = [c for c in checks if not c.passed]
            # A warning check (a batch that does not tie out) is for finance to read, not a failed run.
            failed_checks = [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed
                             if c.severity != dg.AssetCheckSeverity.WARN]
            warnings = [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed
                        if c.severity == dg.AssetCheckSeverity.WARN]
            status = "ok" if result.success and not failed_checks else "FAILED"
            if status != "ok":
                failures.append(day)
            steps.advance()
            steps.say(f"  [{i}/{len(days)}] {day}  run {result.run_id[:8]}  {status}  "
                      f"{len(checks) - len(failed)}/{len(checks)} checks passed  ({time.monotonic() - t0:.1f}s)"
                      + (f"  failed: {', '.join(failed_checks)}" if failed_checks else "")
                      + (f"  warning: {', '.join(warnings)}" if warnings else ""))
        steps.close()
        from paysync_dagster.demo import o2c

        order_to_cash_ok = o2c.headless(env, job, instance)
        if "sagepro" in env.get("PAYSYNC_ERPS", ""):
            from paysync_dagster.demo import sagepro_loop

            order_to_cash_ok = sagepro_loop.headless(env, job, instance, end) and order_to_cash_ok
    print_summary(env["PAYSYNC_DATABASE_URL"], start, end)
    where = (f"in PostgreSQL (database {env['DAGSTER_PG_DB']}; the server's data stays under "
             f"{env['PAYSYNC_HOME']}/postgres until the next demo on PostgreSQL)" if env.get("DAGSTER_PG_DB")
             else f"in the Dagster instance at {env['DAGSTER_HOME']} (open them with `make demo`)")
    print(f"\n{len(days) - len(failures)}/{len(days)} business dates ran clean in {time.monotonic() - began:.0f}s."
          f" Runs are {where}.")
    if failures:
        print(f"FAILED dates: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0 if order_to_cash_ok else 1


def print_summary(database_url: str, start: date, end: date) -> None:
    from paysync_dagster.lib.reports import week_summary

    print()
    print(week_summary(database_url, start, end))
    from paysync_dagster.defs.erp.connectors import erps_on

    for c in erps_on():
        print()
        print(erp_summary(database_url, start, end, c))
    from paysync_dagster.lib.reconciliation.summary import range_summary
    from paysync_dagster.lib.settings import reports_dir

    print()
    print(range_summary(database_url, start, end, reports_dir()))


def erp_summary(database_url: str, start: date, end: date, c: ErpConnector) -> str:
    """What became of the week's payments in one ERP: outcomes with amounts, and what needs a person."""
    from sqlalchemy import func, select

    from paysync_dagster.lib.money import format_amount
    from paysync_dagster.lib.warehouse import make_engine
    from paysync_dagster.lib.warehouse.tables import payment_exceptions as x

    t = c.cash_receipts
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            outcomes = conn.execute(select(t.c.outcome, func.count(), func.sum(t.c.amount_minor), func.sum(t.c.applied_minor))
                                    .where(t.c.business_date.between(start, end)).group_by(t.c.outcome)
                                    .order_by(t.c.outcome)).all()
            reasons = conn.execute(select(x.c.reason_code, func.count()).where(x.c.stage == c.name,
                                   x.c.business_date.between(start, end)).group_by(x.c.reason_code)
                                   .order_by(x.c.reason_code)).all()
    finally:
        engine.dispose()
    lines = [*charges_summary(engine_url=database_url, start=start, end=end, c=c),
             *vault_sync_summary(engine_url=database_url, start=start, end=end, c=c),
             *refunds_summary(engine_url=database_url, start=start, end=end, c=c),
             f"{c.title} cash receipts (one outcome per payment)",
             f"{'outcome':<12}{'payments':>9}{'amount':>18}{'applied':>18}"]
    lines += [f"{o:<12}{n:>9}{format_amount(int(a or 0)):>18}{format_amount(int(ap or 0)):>18}" for o, n, a, ap in outcomes]
    if reasons:
        lines.append("for review: " + ", ".join(f"{n} {r}" for r, n in reasons))
    return "\n".join(lines)


def _week_rows(engine_url: str, table_name: str, columns: Sequence[str], start: date, end: date,
               c: ErpConnector) -> list:
    """An outbound flow's table rows of the week for one ERP (dry runs left out), in date order."""
    from sqlalchemy import select

    from paysync_dagster.lib.warehouse import make_engine
    from paysync_dagster.lib.warehouse.tables import metadata

    t = metadata.tables[table_name]
    engine = make_engine(engine_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(*(t.c[name] for name in columns))
                                .where(t.c.erp == c.name, t.c.business_date.between(start, end), t.c.dry_run.is_(False))
                                .order_by(t.c.business_date)).all()
    finally:
        engine.dispose()


def _last_by_outcome(rows: Sequence, key: Callable[[Any], Any]) -> dict[str, list]:
    """Each item (``key``) as the week's last run left it, grouped by that run's outcome."""
    last = {key(r): r for r in rows}
    by_outcome: dict[str, list] = {}
    for r in last.values():
        by_outcome.setdefault(r.outcome, []).append(r)
    return dict(sorted(by_outcome.items()))


def charges_summary(*, engine_url: str, start: date, end: date, c: ErpConnector) -> list[str]:
    """The week's card-on-file charges in one ERP: each installment as its last run left it (none when off)."""
    from paysync_dagster.lib.money import format_amount

    rows = _week_rows(engine_url, "card_charges", ("invoice_number", "installment_id", "outcome", "amount_minor",
                                                   "currency"), start, end, c)
    by_outcome = _last_by_outcome(rows, lambda r: (r.invoice_number, r.installment_id))
    if not by_outcome:
        return []
    lines = [f"{c.title} card-on-file charges (each installment as its last run left it)",
             f"{'outcome':<26}{'installments':>13}{'amount':>18}"]
    lines += [f"{o:<26}{len(rs):>13}{format_amount(sum(r.amount_minor for r in rs), rs[0].currency):>18}"
              for o, rs in by_outcome.items()]
    return [*lines, ""]


def vault_sync_summary(*, engine_url: str, start: date, end: date, c: ErpConnector) -> list[str]:
    """The week's customer vault sync in one ERP: each link as its last run left it (none when off)."""
    rows = _week_rows(engine_url, "customer_sync", ("account", "outcome", "business_date"), start, end, c)
    if not rows:
        return []
    # a link's effect on the date it happened, and how the last run left it
    changed = Counter(r.outcome for r in rows if r.outcome != "in_step")
    last = {r.account: r.outcome for r in rows}
    lines = [f"{c.title} customer vault sync ({len(last)} accounts; what the week's runs did)",
             f"{'outcome':<26}{'times':>7}"]
    lines += [f"{o:<26}{n:>7}" for o, n in sorted(changed.items())]
    lines.append(f"{'in step at the end':<26}{sum(1 for o in last.values() if o == 'in_step'):>7}")
    return [*lines, ""]


def refunds_summary(*, engine_url: str, start: date, end: date, c: ErpConnector) -> list[str]:
    """The week's ERP-initiated card refunds in one ERP: each record as its last run left it (none when off)."""
    from paysync_dagster.lib.money import format_amount

    rows = _week_rows(engine_url, "card_refunds", ("record_key", "outcome", "amount_minor", "currency", "written_back"),
                      start, end, c)
    by_outcome = _last_by_outcome(rows, lambda r: r.record_key)
    if not by_outcome:
        return []
    lines = [f"{c.title} card refunds asked for in the ERP (each record as its last run left it)",
             f"{'outcome':<26}{'records':>8}{'amount':>18}{'written back':>14}"]
    lines += [f"{o:<26}{len(rs):>8}{format_amount(sum(r.amount_minor for r in rs), rs[0].currency):>18}"
              f"{sum(1 for r in rs if r.written_back):>14}" for o, rs in by_outcome.items()]
    return [*lines, ""]
