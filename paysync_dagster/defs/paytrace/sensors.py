"""Near-real-time: the export poller fills the landing table, the landing sensor turns new rows into runs."""

import os
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from paysync_dagster.defs.paytrace.assets import PayTraceTransactionsConfig, paytrace_transactions, pull_export_into_landing
from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.oracle.assets import oracle_cash_receipts
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.paytrace.resources import PayTraceResource
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


# The posting path: what a new payment must flow through (later stages join this selection).
POSTING_PATH = [paytrace_transactions, normalized_payments, oracle_cash_receipts]


@dg.sensor(
    target=POSTING_PATH,
    minimum_interval_seconds=_interval("PAYSYNC_LANDING_SENSOR_INTERVAL_SECONDS", 5),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests one run per business date touched by new landing rows (webhooks or the export poller).",
)
def paytrace_landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult | dg.SkipReason:
    after = int(context.cursor or 0)
    touched = landing_dates_after(warehouse.engine, after, LANDING_BATCH_ROWS)
    if not touched:
        return dg.SkipReason(f"no landing rows after id {after}")
    cursor = max(t["max_id"] for t in touched)
    requests, outside = [], []
    for t in touched:
        key = t["business_date"].isoformat() if isinstance(t["business_date"], date) else str(t["business_date"])
        if not daily_partitions.has_partition_key(key):
            outside.append(key)
            continue
        requests.append(dg.RunRequest(
            partition_key=key,
            # The cursor position makes the key unique per batch, so a later event for the same
            # day still gets its run, and a re-evaluated batch is a no-op.
            run_key=f"landing-{after}-{cursor}-{key}",
            run_config=dg.RunConfig(ops={"paytrace_transactions": PayTraceTransactionsConfig(pull_export=False)}),
            tags={"paysync/trigger": "landing", "paysync/landing_rows": str(t["rows"])},
        ))
    if outside:
        context.log.warning(f"landing rows for dates outside the partitions were not scheduled: {', '.join(outside)} "
                            "(check PAYSYNC_PARTITIONS_START)")
    return dg.SensorResult(run_requests=requests, cursor=str(cursor))


@dg.sensor(
    minimum_interval_seconds=_interval("PAYSYNC_EXPORT_POLL_SECONDS", 120),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Pulls PayTrace's export for today and yesterday into the landing table, so a lost webhook is caught.",
)
def paytrace_export_poller(context: dg.SensorEvaluationContext, warehouse: WarehouseResource, paytrace: PayTraceResource) -> dg.SkipReason:
    tz_name = merchant_timezone()
    today = datetime.now(timezone.utc).astimezone(zone(tz_name)).date()
    landed = 0
    # Yesterday too: voids, captures and the 8 pm settlement change records after midnight UTC.
    for day in (today - timedelta(days=1), today):
        landed += pull_export_into_landing(warehouse.engine, paytrace, day, tz_name, context.log)["landed"]
    # The landing sensor turns what landed into runs; this sensor only fills the table.
    return dg.SkipReason(f"export poll of {today - timedelta(days=1)}..{today}: {landed} new landing rows")
