"""The demo's run of the main job and its summary for a finance user."""

from __future__ import annotations

import os
import sys
import time
from datetime import date, timedelta

import httpx

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


def launch_backfill(ui_url: str, start: date, end: date) -> str:
    """Ask the running webserver for a backfill of every asset over the demo week; returns its id."""
    from paysync_dagster.definitions import defs

    keys = [{"path": k.path} for k in defs().resolve_asset_graph().get_all_asset_keys()]
    params = {"partitionNames": _days(start, end), "assetSelection": keys, "fromFailure": False, "title": "PaySync demo week"}
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
    with dg.DagsterInstance.get() as instance:
        for i, day in enumerate(days, 1):
            t0 = time.monotonic()
            result = job.execute_in_process(
                partition_key=day, instance=instance, raise_on_error=False,
                # The event log keeps every detail; the terminal shows one line per date.
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            checks = [e for e in result.get_asset_check_evaluations()]
            failed_checks = [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in checks if not c.passed]
            status = "ok" if result.success and not failed_checks else "FAILED"
            if status != "ok":
                failures.append(day)
            print(f"  [{i}/{len(days)}] {day}  run {result.run_id[:8]}  {status}  "
                  f"{len(checks) - len(failed_checks)}/{len(checks)} checks passed  ({time.monotonic() - t0:.1f}s)"
                  + (f"  failed: {', '.join(failed_checks)}" if failed_checks else ""), flush=True)
    print_summary(env["PAYSYNC_DATABASE_URL"], start, end)
    print(f"\n{len(days) - len(failures)}/{len(days)} business dates ran clean in {time.monotonic() - began:.0f}s."
          f" Runs are in the Dagster instance at {env['DAGSTER_HOME']} (open them with `make demo`).")
    if failures:
        print(f"FAILED dates: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def print_summary(database_url: str, start: date, end: date) -> None:
    from paysync_dagster.lib.reports import week_summary

    print()
    print(week_summary(database_url, start, end))
