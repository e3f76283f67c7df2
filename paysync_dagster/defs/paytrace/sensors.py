"""Near-real-time: the export poller fills the landing table, the landing sensor turns new rows into runs."""

import os
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from paysync_dagster.defs.paytrace.assets import PayTraceTransactionsConfig, pull_export_into_landing
from paysync_dagster.defs.erp.posting import POSTING_PATH_TAG
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.paytrace.resources import PayTraceResource
from paysync_dagster.defs.shared.live import LANDING, TRIGGER_TAG
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.paytrace.landing import landing_dates_after
from paysync_dagster.lib.settings import merchant_timezone
from paysync_dagster.lib.timeutil import zone

# A tick reads at most this many landing rows (one aggregated, indexed range query): far under the
# 60 s sensor timeout at any backlog, and a backlog drains at this many rows per tick.
LANDING_BATCH_ROWS = 50_000


def _interval(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of seconds, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1 second, got {value}")
    return value


# The posting path: what a new payment must flow through. Each ERP that is on adds its customer
# accounts and cash receipts (tagged by the ERP factory), so the live job covers exactly those ERPs.
POSTING_PATH = (dg.AssetSelection.assets("paytrace_transactions", "normalized_payments")
                | dg.AssetSelection.tag(POSTING_PATH_TAG, "yes"))

# A landing-triggered run: its steps in one process (no worker process per step), the export not
# pulled (the rows it needs are landed), each stage building only what moved on (defs/shared/live.py).
paysync_live_job = dg.define_asset_job(
    "paysync_live_job",
    selection=POSTING_PATH,
    executor_def=dg.in_process_executor,
    tags={TRIGGER_TAG: LANDING},
    config=dg.RunConfig(ops={"paytrace_transactions": PayTraceTransactionsConfig(pull_export=False)}),
    description="Near-real-time: posts the payments that new landing rows brought, for one business date.",
)

_WAITING = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED]


def _dates_with_a_waiting_run(instance: dg.DagsterInstance, job_name: str) -> set[str]:
    """Business dates that have a run of ``job_name`` not started yet. Such a run reads every landing
    row of its date up to where the table stands when it starts, so it covers any number of events
    landed before then: a second one would only wait behind it and do nothing new."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=_WAITING))
    return {r.tags.get("dagster/partition", "") for r in runs}


@dg.sensor(
    job=paysync_live_job,
    minimum_interval_seconds=_interval("PAYSYNC_LANDING_SENSOR_INTERVAL_SECONDS", 2),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a run for each business date touched by new landing rows (webhooks or the export "
                "poller), unless one is already waiting to start for that date. Reads only; writes nothing but its cursor.",
)
def paytrace_landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult | dg.SkipReason:
    if not warehouse.has_schema():
        return dg.SkipReason("the warehouse has no tables yet (the first run, the receiver or `make demo` creates them)")
    after = int(context.cursor or 0)
    # The landing rows first, then the waiting runs: a run seen waiting now starts after these rows
    # landed, so it covers them.
    touched = landing_dates_after(warehouse.engine, after, LANDING_BATCH_ROWS)
    if not touched:
        return dg.SkipReason(f"no landing rows after id {after}")
    cursor = max(t["max_id"] for t in touched)
    waiting = _dates_with_a_waiting_run(context.instance, paysync_live_job.name)
    requests, outside, covered = [], [], []
    for t in touched:
        key = t["business_date"].isoformat() if isinstance(t["business_date"], date) else str(t["business_date"])
        if not daily_partitions.has_partition_key(key):
            outside.append(key)
            continue
        if key in waiting:
            covered.append(key)
            continue
        requests.append(dg.RunRequest(
            partition_key=key,
            # The cursor position makes the key unique per batch, so a later event for the same
            # day still gets its run, and a re-evaluated batch is a no-op.
            run_key=f"landing-{after}-{cursor}-{key}",
            tags={"paysync/landing_rows": str(t["rows"])},
        ))
    if outside:
        context.log.warning(f"landing rows for dates outside the partitions were not scheduled: {', '.join(outside)} "
                            "(check PAYSYNC_PARTITIONS_START)")
    if covered:
        context.log.info(f"covered by a run waiting to start: {', '.join(covered)}")
    return dg.SensorResult(run_requests=requests, cursor=str(cursor))


@dg.op(
    description="Pulls PayTrace's export for yesterday and today (merchant time) into the landing table.",
    tags={"kind": "paytrace"},
)
def pull_paytrace_export(context: dg.OpExecutionContext, warehouse: WarehouseResource, paytrace: PayTraceResource) -> dg.Output:
    tz_name = merchant_timezone()
    today = datetime.now(timezone.utc).astimezone(zone(tz_name)).date()
    pulled = {}
    # Yesterday too: voids, captures and the 8 pm settlement change records after midnight UTC.
    for day in (today - timedelta(days=1), today):
        pulled[str(day)] = pull_export_into_landing(warehouse.engine, paytrace, day, tz_name, context.log)
    return dg.Output(None, metadata={
        **{f"{day} new landing rows": p["landed"] for day, p in pulled.items()},
        **{f"{day} export records": p["exported"] for day, p in pulled.items()},
        **{f"{day} records left out": len(p["refused"]) for day, p in pulled.items()},
    })


@dg.job(executor_def=dg.in_process_executor, tags={TRIGGER_TAG: "export_poll"},
        description="PayTrace's export of yesterday and today into the landing table; the landing sensor turns what lands into runs.")
def paytrace_export_pull_job() -> None:
    pull_paytrace_export()


@dg.sensor(
    job=paytrace_export_pull_job,
    minimum_interval_seconds=_interval("PAYSYNC_EXPORT_POLL_SECONDS", 120),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a pull of PayTrace's export every interval (unless one is still going), so a lost webhook is caught. "
                "The pull runs as its own job, so a large merchant's export never holds up the sensor daemon.",
)
def paytrace_export_poller(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    busy = context.instance.get_runs(filters=dg.RunsFilter(
        job_name=paytrace_export_pull_job.name,
        statuses=[*_WAITING, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]), limit=1)
    if busy:
        return dg.SkipReason(f"the previous export pull ({busy[0].run_id[:8]}) has not finished")
    return dg.RunRequest()
