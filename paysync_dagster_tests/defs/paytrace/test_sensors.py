"""The landing sensor over a real warehouse, evaluated with build_sensor_context."""

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


def _evaluate(url: str, cursor: str | None):  # noqa: ANN202
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs(), resources={"warehouse": WarehouseResource(database_url=url)}
        ) as ctx:
            return paytrace_landing_sensor.evaluate_tick(ctx)


def _day(days_ago: int) -> str:
    return (datetime.now(timezone.utc).astimezone(zone(LA)).date() - timedelta(days=days_ago)).isoformat()


def test_requests_one_run_per_touched_date_then_nothing(database_url: str) -> None:
    _land(database_url, range(1, 6), days_ago=2)
    _land(database_url, range(6, 9), days_ago=0)
    first = _evaluate(database_url, None)
    assert sorted(r.partition_key for r in first.run_requests) == [_day(2), _day(0)]
    assert int(first.cursor) == 8
    for request in first.run_requests:
        assert request.run_key and request.run_config["ops"]["paytrace_transactions"]["config"]["pull_export"] is False

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
