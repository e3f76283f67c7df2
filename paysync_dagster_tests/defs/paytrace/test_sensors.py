"""The landing sensor over a real warehouse, evaluated with build_sensor_context."""

import random
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import dagster as dg

from paysync_dagster.definitions import defs
from paysync_dagster.defs.paytrace.sensors import paytrace_landing_sensor
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.paytrace.landing import land, landing_row_for_record
from paysync_dagster.lib.timeutil import format_paytrace_timestamp, zone
from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster_tests.lib.paytrace.records_fixtures import record

LA = "America/Los_Angeles"


def _local_noon(days_ago: int) -> datetime:
    local = datetime.now(timezone.utc).astimezone(zone(LA)).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def _land(url: str, txn_ids: range, days_ago: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    stamp = format_paytrace_timestamp(_local_noon(days_ago), LA)
    land(engine, [landing_row_for_record(record(transaction_id=t, created__at=stamp), source="webhook", tz_name=LA, event_id=f"e{t}") for t in txn_ids])
    engine.dispose()


DEFINITIONS = defs()


def _tick(instance: dg.DagsterInstance, url: str, cursor: str | None):  # noqa: ANN202
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=DEFINITIONS,
                                 resources={"warehouse": WarehouseResource(database_url=url)}) as ctx:
        return paytrace_landing_sensor.evaluate_tick(ctx)


def _evaluate(url: str, cursor: str | None):  # noqa: ANN202
    with dg.instance_for_test() as instance:
        return _tick(instance, url, cursor)


def _day(days_ago: int) -> str:
    return (datetime.now(timezone.utc).astimezone(zone(LA)).date() - timedelta(days=days_ago)).isoformat()


def test_requests_one_run_per_touched_date_then_nothing(database_url: str) -> None:
    _land(database_url, range(1, 6), days_ago=2)
    _land(database_url, range(6, 9), days_ago=0)
    first = _evaluate(database_url, None)
    assert sorted(r.partition_key for r in first.run_requests) == [_day(2), _day(0)]
    assert int(first.cursor) == 8
    assert all(r.run_key for r in first.run_requests)

    again = _evaluate(database_url, first.cursor)
    assert again.run_requests == [] and again.skip_message and first.cursor in again.skip_message

    _land(database_url, range(9, 10), days_ago=2)
    third = _evaluate(database_url, first.cursor)
    assert [r.partition_key for r in third.run_requests] == [_day(2)]
    assert int(third.cursor) == 9
    # A new batch for a day already seen gets a new run key; the same batch re-evaluated gets the same one.
    assert third.run_requests[0].run_key not in {r.run_key for r in first.run_requests}
    assert _evaluate(database_url, first.cursor).run_requests[0].run_key == third.run_requests[0].run_key


def test_a_landing_row_outside_the_partitions_moves_the_cursor_without_a_run(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate(engine)
    land(engine, [landing_row_for_record(record(transaction_id=77, created__at="1/5/2015 10:00:00 AM"), source="export", tz_name=LA)])
    result = _evaluate(sqlite_url, None)
    assert result.run_requests == [] and int(result.cursor) == 1


# --- coalescing: at most one waiting run per date, every event covered


def _waiting_run(instance: dg.DagsterInstance, day: str, request: dg.RunRequest) -> dg.DagsterRun:
    """A run the daemon created and has not started (NOT_STARTED stands in for QUEUED, which needs a code location)."""
    run = dg.DagsterRun(job_name="paysync_live_job", run_id=str(uuid.uuid4()),
                        status=dg.DagsterRunStatus.NOT_STARTED,
                        tags={"dagster/partition": day, **request.tags})
    instance.add_run(run)
    return run


def test_events_over_many_ticks_give_one_waiting_run_per_date_and_every_event_is_covered(sqlite_url: str) -> None:
    """The queue as the daemon keeps it, played through: events land, the sensor ticks, a waiting run
    starts now and then (taking its watermark: the landing rows there when it starts) and finishes."""
    rng = random.Random(5)
    days = {0: _day(0), 1: _day(1)}
    landed: dict[int, str] = {}  # landing id -> date
    covered: set[int] = set()
    next_id, cursor = 1, None
    with dg.instance_for_test() as instance:
        for _round in range(40):
            for _ in range(rng.randint(0, 4)):  # events arrive
                ago = rng.choice([0, 1])
                _land(sqlite_url, range(next_id, next_id + 1), days_ago=ago)
                landed[next_id] = days[ago]
                next_id += 1
            result = _tick(instance, sqlite_url, cursor)
            cursor = result.cursor or cursor
            for request in result.run_requests:
                _waiting_run(instance, request.partition_key, request)
            waiting = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.NOT_STARTED]))
            per_date = Counter(r.tags["dagster/partition"] for r in waiting)
            assert max(per_date.values(), default=0) <= 1, per_date
            for run in waiting:  # the daemon starts some: each reads its date up to the rows there now
                if rng.random() < 0.5:
                    day = run.tags["dagster/partition"]
                    covered |= {i for i, d in landed.items() if d == day}
                    instance.delete_run(run.run_id)
                    instance.add_run(run.with_status(dg.DagsterRunStatus.SUCCESS))
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.NOT_STARTED])):  # the queue drains
            covered |= {i for i, d in landed.items() if d == run.tags["dagster/partition"]}
    assert landed and set(landed) == covered


def test_sensor_ticks_never_fail_beside_concurrent_writers_on_sqlite(tmp_path) -> None:  # noqa: ANN001
    """A fresh SQLite warehouse, a writer landing rows as fast as it can and processes creating the
    schema at the same time: every tick answers (a skip before the tables exist), none raises."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    migrators = [subprocess.Popen([sys.executable, "-c", "import sys; from paysync_dagster.lib.warehouse import make_engine, "
                                   "ensure_schema; ensure_schema(make_engine(sys.argv[1]))", url]) for _ in range(4)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        t = 1
        while not stop.is_set():
            try:
                _land(url, range(t, t + 5), days_ago=0)
                t += 5
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    try:
        assert all(p.wait(timeout=120) == 0 for p in migrators)
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        cursor = None
        with dg.instance_for_test() as instance:
            for _ in range(30):
                result = _tick(instance, url, cursor)
                cursor = result.cursor or cursor
    finally:
        stop.set()
        for p in migrators:
            if p.poll() is None:
                p.kill()
    assert not errors, errors
    assert cursor is not None and int(cursor) > 0


def test_a_tick_on_a_warehouse_without_tables_skips_and_creates_nothing(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    result = _evaluate(url, None)
    assert result.run_requests == [] and "no tables yet" in result.skip_message
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE type = 'table'").scalar() == 0
    engine.dispose()
