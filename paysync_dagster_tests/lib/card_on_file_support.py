"""The composed sandbox seeded with its card-on-file invoices, for the ERP adapters' tests (import the
fixtures into a test module: ``from ...card_on_file_support import app, sandbox, url``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import httpx
import pytest

from paysync_dagster.lib.timeutil import zone
from paysync_dagster.sandbox.paytrace.state import FakeClock, HistorySpec
from paysync_dagster.sandbox.server import SandboxApp, ServerThread, build_app

TZ = "America/Los_Angeles"
HISTORY = HistorySpec(seed=11, start_date=date(2026, 3, 4), end_date=date(2026, 3, 10), per_day=20, card_on_file=True)
DAY = HISTORY.end_date
# PayTrace's clock: the morning after the history (card expiries are judged against it).
NOW = datetime(2026, 3, 11, 10, tzinfo=zone(TZ)).timestamp()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxApp, str]]:
    app = build_app(history=HISTORY, tz_name=TZ, clock=FakeClock(NOW))
    with ServerThread(app) as server:
        yield app, server.url


@pytest.fixture
def url(sandbox: tuple[SandboxApp, str]) -> str:
    """The sandbox back to its startup seed (each test may pay invoices, add them or change customers)."""
    httpx.post(f"{sandbox[1]}/_sandbox/reset", timeout=60).raise_for_status()
    return sandbox[1]


@pytest.fixture
def app(sandbox: tuple[SandboxApp, str], url: str) -> SandboxApp:
    return sandbox[0]
