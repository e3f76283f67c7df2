"""The main job and its nightly schedule."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from paysync_dagster.lib.settings import merchant_timezone

paysync_daily_job = dg.define_asset_job(
    "paysync_daily_job",
    selection=dg.AssetSelection.all(),
    description="Everything for one business date: pull PayTrace, build every table downstream.",
)


@dg.schedule(
    cron_schedule="30 20 * * *",
    execution_timezone=merchant_timezone(),
    job=paysync_daily_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def paysync_nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Half an hour after PayTrace's default 8 pm batch close, run the business date that just closed."""
    scheduled: datetime = context.scheduled_execution_time
    day = scheduled.date().isoformat()
    return dg.RunRequest(run_key=f"nightly-{day}", partition_key=day)
