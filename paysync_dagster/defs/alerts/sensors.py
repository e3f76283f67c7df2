"""Alert sensors: a failed run, a failed blocking asset check, the exception queue past its thresholds
and settlement batches not tied out. Each incident is recorded in ``alert_incidents`` and sent once to
every configured channel (lib/alerts); a channel that fails is tried again at the next tick of any of
these sensors, and never stops the other channel or the sensor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timezone

import dagster as dg
from sqlalchemy.exc import SQLAlchemyError

from paysync_dagster.defs.alerts.resources import AlertsResource
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.alerts.detect import Thresholds, batch_incidents, queue_incidents, read_queue, read_untied_batches
from paysync_dagster.lib.alerts.incidents import (BATCH_NOT_TIED, QUEUE_KINDS, RUN_FAILURE, Incident, check_failure_incident,
                                                  run_failure_incident)
from paysync_dagster.lib.alerts.senders import DeliveryError
from paysync_dagster.lib.alerts.store import Delivery, deliver, open_incident, open_rows, resolve, sync
from paysync_dagster.lib.settings import environment, merchant_timezone
from paysync_dagster.lib.timeutil import utcnow, zone

PARTITION_TAG = "dagster/partition"
# Check executions read per check and tick: a page, and at most this many pages after the cursor.
CHECK_PAGE, CHECK_PAGES = 100, 10
# A check still planned this long after it was planned (its run died first) no longer holds the cursor.
PLANNED_GRACE_SECONDS = 3600


def _deliver(context: dg.SensorEvaluationContext, warehouse: WarehouseResource, alerts: AlertsResource) -> Delivery:
    delivery = deliver(warehouse.engine, alerts.channels(), utcnow(), alerts.secret_values())
    if delivery.sent or delivery.failed:
        context.log.info(f"alerts {delivery.summary()}")
    return delivery


def _send_unrecorded(context: dg.SensorEvaluationContext, alerts: AlertsResource, incident: Incident) -> None:
    """The warehouse is unreachable: send once without the record, rather than not at all (this
    failure is not seen again by the run-failure sensor)."""
    for channel in alerts.channels():
        try:
            channel.send(incident.title, incident.text)
        except DeliveryError as exc:
            context.log.warning(f"alert {incident.key} not delivered by {channel.name}: {exc.reason}")


def _root_error(error) -> str | None:  # noqa: ANN001 - SerializableErrorInfo
    """The innermost cause of a step's error (the user code's own exception), as ``Class: message``."""
    while error is not None and error.cause is not None:
        error = error.cause
    return f"{error.cls_name}: {error.message}" if error is not None else None


@dg.run_failure_sensor(
    name="paysync_run_failure_alerts",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed run notifies once per job and date (Slack-compatible webhook and e-mail, from the "
                "environment), until a later run of it succeeds.",
)
def paysync_run_failure_alerts(context: dg.RunFailureSensorContext, warehouse: WarehouseResource,
                               alerts: AlertsResource) -> None:
    run = context.dagster_run
    failures = context.get_step_failure_events()
    error = next((_root_error(e.event_specific_data.error) for e in failures
                  if getattr(e.event_specific_data, "error", None) is not None), None)
    incident = run_failure_incident(
        job_name=run.job_name, run_id=run.run_id, partition=run.tags.get(PARTITION_TAG),
        steps_failed=[e.step_key for e in failures if e.step_key], error=error or context.failure_event.message,
        ui_base_url=alerts.ui_base_url, secrets=alerts.secret_values(), environment=environment())
    try:
        if open_incident(warehouse.engine, incident, utcnow()):
            context.log.info(f"incident {incident.key} opened")
        _deliver(context, warehouse, alerts)
    except SQLAlchemyError as exc:
        context.log.warning(f"the warehouse is unreachable ({type(exc).__name__}); alert sent unrecorded")
        _send_unrecorded(context, alerts, incident)


def _blocking_checks(context: dg.SensorEvaluationContext) -> dict[dg.AssetCheckKey, dg.AssetCheckSpec]:
    graph = context.repository_def.asset_graph
    specs = {k: graph.get_check_spec(k) for k in graph.asset_check_keys}
    return {k: spec for k, spec in sorted(specs.items(), key=lambda kv: kv[0].to_user_string()) if spec.blocking}


def _new_executions(storage, key: dg.AssetCheckKey, after: int | None) -> list:  # noqa: ANN001
    """The check's executions after the id ``after`` (the latest page when None), oldest first."""
    found, cursor = [], None
    for _ in range(CHECK_PAGES):
        page = storage.get_asset_check_execution_history(key, limit=CHECK_PAGE, cursor=cursor)
        found += [r for r in page if after is None or r.id > after]
        if after is None or len(page) < CHECK_PAGE or page[-1].id <= after:
            break
        cursor = page[-1].id
    return sorted(found, key=lambda r: r.id)


def _next_cursor(records: list, after: int | None, now: float) -> int | None:
    """Past every execution seen, except one still planned recently (its result is still to come)."""
    waiting = [r.id for r in records if r.status.value == "PLANNED" and now - r.create_timestamp < PLANNED_GRACE_SECONDS]
    if waiting:
        return min(waiting) - 1 if after is None else max(after, min(waiting) - 1)
    return max([r.id for r in records], default=after)


def _shown(metadata: Mapping[str, object]) -> Iterator[tuple[str, object]]:
    for name, value in metadata.items():
        yield name, getattr(value, "value", value)


@dg.sensor(
    name="paysync_check_failure_alerts",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed blocking asset check (its step failed, what depends on it did not run) notifies once per "
                "check and date, until the check passes again. Reads the instance's check executions; writes "
                "alert_incidents.",
)
def paysync_check_failure_alerts(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                                 alerts: AlertsResource) -> dg.SkipReason:
    if not warehouse.has_schema():
        return dg.SkipReason("the warehouse has no tables yet")
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    storage = context.instance.event_log_storage
    latest: dict[tuple[dg.AssetCheckKey, str | None], object] = {}
    cursor: dict[str, int] = {}
    now = time.time()
    specs = _blocking_checks(context)
    for key in specs:
        name = key.to_user_string()
        records = _new_executions(storage, key, seen.get(name))
        for r in records:
            if r.status.value != "PLANNED":
                latest[(key, r.partition)] = r
        moved = _next_cursor(records, seen.get(name), now)
        if moved is not None:
            cursor[name] = moved
    failing, passing = [], []
    for (key, partition), r in latest.items():
        evaluation = r.event.dagster_event.event_specific_data if r.event is not None and r.event.dagster_event else None
        if evaluation is None:
            continue
        if evaluation.passed:
            passing.append(f"check_failure:{key.asset_key.to_user_string()}:{key.name}:{partition or '-'}")
        elif evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failing.append(check_failure_incident(
                asset_path=key.asset_key.to_user_string(), check_name=key.name, partition=partition, run_id=r.run_id,
                description=evaluation.description or specs[key].description, metadata=dict(_shown(evaluation.metadata)),
                ui_base_url=alerts.ui_base_url, secrets=alerts.secret_values(), environment=environment()))
    stamp = utcnow()
    opened = [i.key for i in failing if open_incident(warehouse.engine, i, stamp)]
    resolved = resolve(warehouse.engine, passing, stamp)
    delivery = _deliver(context, warehouse, alerts)
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    return dg.SkipReason(f"{len(opened)} opened, {len(resolved)} resolved; {delivery.summary()}")


def _merchant_today() -> date:
    return datetime.now(timezone.utc).astimezone(zone(merchant_timezone())).date()


def _resolve_recovered_runs(instance: dg.DagsterInstance, warehouse: WarehouseResource, now: datetime) -> list[str]:
    """Run-failure incidents whose job (and date) has succeeded since the incident opened."""
    recovered = []
    for row in open_rows(warehouse.engine, [RUN_FAILURE]):
        _, job_name, partition = row["incident_key"].split(":", 2)
        runs = instance.get_runs(filters=dg.RunsFilter(
            job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS],
            tags={PARTITION_TAG: partition} if partition != "-" else {},
            updated_after=row["opened_at"].replace(tzinfo=timezone.utc)), limit=1)
        if runs:
            recovered.append(row["incident_key"])
    return resolve(warehouse.engine, recovered, now)


@dg.sensor(
    name="paysync_queue_and_batch_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The exception queue past the mapping file's thresholds (open count, oldest age, amount per "
                "currency) and settlement batches not tied out after N business days notify once each, until they "
                "clear. Also resolves failed-run incidents once their job succeeds, and retries undelivered alerts.",
)
def paysync_queue_and_batch_alerts(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                                   alerts: AlertsResource) -> dg.SkipReason:
    if not warehouse.has_schema():
        return dg.SkipReason("the warehouse has no tables yet")
    limits = Thresholds.of(MAPPING.alerts)
    engine, now, today, env = warehouse.engine, utcnow(), _merchant_today(), environment()
    queue = sync(engine, QUEUE_KINDS,
                 queue_incidents(read_queue(engine, amount_over=limits.max_open_amount_minor), limits, now, env), now)
    batches = sync(engine, [BATCH_NOT_TIED],
                   batch_incidents(read_untied_batches(engine, today, limits.batch_untied_business_days), today, env), now)
    recovered = _resolve_recovered_runs(context.instance, warehouse, now)
    delivery = _deliver(context, warehouse, alerts)
    return dg.SkipReason(f"queue: {len(queue.opened)} opened, {len(queue.resolved)} resolved; batches: "
                         f"{len(batches.opened)} opened, {len(batches.resolved)} resolved; runs recovered: "
                         f"{len(recovered)}; {delivery.summary()}")
