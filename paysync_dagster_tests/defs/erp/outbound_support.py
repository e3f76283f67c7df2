"""What the outbound flows' asset tests share: the composed sandbox (PayTrace, Oracle, Sage) with two weeks of
history and the card-on-file seed on a clock the test moves, and a materialization with every resource."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timezone

import dagster as dg
import pytest

from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.sandbox.paytrace.state import FakeClock, HistorySpec
from paysync_dagster.sandbox.server import ServerThread, build_app
from paysync_dagster_tests.conftest import SANDBOX_TZ, oracle_resource, paytrace_resource, sage_resource

START, END = date(2026, 3, 2), date(2026, 3, 13)


def evening(day: date) -> float:
    """18:30 UTC: 10:30 or 11:30 in Los Angeles, so PayTrace dates what is made then on ``day``."""
    return datetime.combine(day, time(18, 30), tzinfo=timezone.utc).timestamp()


@pytest.fixture
def world() -> Iterator[tuple[ServerThread, FakeClock]]:
    clock = FakeClock(evening(START))
    history = HistorySpec(seed=11, start_date=START, end_date=END, per_day=20, card_on_file=True)
    with ServerThread(build_app(history=history, tz_name=SANDBOX_TZ, clock=clock)) as server:
        yield server, clock


def materialize(url: str, database_url: str, day: date, assets: list, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets, partition_key=day.isoformat(), raise_on_error=False, run_config=run_config, resources={
        "warehouse": WarehouseResource(database_url=database_url), "paytrace": paytrace_resource(url),
        "oracle": oracle_resource(url), "sage": sage_resource(url)})
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result
