"""Shared fixtures: a real PostgreSQL server for the session, warehouses on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from paysync_dagster_tests.postgres import PostgresServer, start_postgres

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "samples"

# Tests never read the developer's own settings.
for _name in list(os.environ):
    if _name.startswith(("PAYSYNC_", "PAYTRACE_", "ORACLE_FUSION_", "SAGE300_")) and _name != "PAYSYNC_TEST_ARTIFACTS":
        del os.environ[_name]

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database(f"paysync_test_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty warehouse URL; each test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_engine(sqlite_url: str):  # noqa: ANN201
    """A migrated, empty SQLite warehouse engine, disposed after the test."""
    from paysync_dagster.lib.warehouse import make_engine, migrate

    engine = make_engine(sqlite_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def samples_dir() -> Path:
    assert SAMPLES.is_dir(), f"the shared samples are expected beside the repository at {SAMPLES}"
    return SAMPLES


# A week of PayTrace activity around the March 2026 DST change, in the sandbox.
SANDBOX_TZ = "America/Los_Angeles"
SANDBOX_WEEK = ("2026-03-04", "2026-03-10")


def start_paytrace_sandbox(*, seed: int = 11, per_day: int = 40, faults: dict | None = None):  # noqa: ANN201
    """A PayTrace sandbox with a generated week, on a free loopback port (a context manager)."""
    from datetime import date

    from paysync_dagster.sandbox.paytrace.state import HistorySpec
    from paysync_dagster.sandbox.server import ServerThread, build_app

    history = HistorySpec(seed=seed, start_date=date.fromisoformat(SANDBOX_WEEK[0]), end_date=date.fromisoformat(SANDBOX_WEEK[1]), per_day=per_day)
    return ServerThread(build_app(history=history, faults=faults, tz_name=SANDBOX_TZ))


@pytest.fixture(scope="module")
def paytrace_sandbox():  # noqa: ANN201
    with start_paytrace_sandbox() as server:
        yield server


def paytrace_resource(url: str, **overrides):  # noqa: ANN201
    from paysync_dagster.defs.paytrace.resources import PayTraceResource
    from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME

    options = {"base_url": url, "username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD, "integrator_id": DEFAULT_INTEGRATOR_ID,
               "base_delay_s": 0.05, "max_delay_s": 0.5, "max_attempts": 8}
    options.update(overrides)
    return PayTraceResource(**options)


def sage_resource(url: str, **overrides):  # noqa: ANN201
    """The Sage 300 resource pointed at a (composed) sandbox's company with its Web API user; quick retries."""
    from paysync_dagster.defs.sage.resources import Sage300Resource

    options = {"base_url": f"{url}/Sage300WebApi/v1.0/-", "company": "SAMLTD", "username": "PAYSYNC",
               "password": "PAYSYNC", "base_delay_s": 0.01, "max_delay_s": 0.2, "max_attempts": 8}
    options.update(overrides)
    return Sage300Resource(**options)


def oracle_resource(url: str, **overrides):  # noqa: ANN201
    """The Oracle resource pointed at a (composed) sandbox with its demo user; quick retries for tests."""
    from paysync_dagster.defs.oracle.resources import OracleFusionResource
    from paysync_dagster.sandbox.oracle.state import DEFAULT_USERS

    username, password = next(iter(DEFAULT_USERS.items()))
    options = {"base_url": url, "username": username, "password": password,
               "base_delay_s": 0.01, "max_delay_s": 0.2, "max_attempts": 8}
    options.update(overrides)
    return OracleFusionResource(**options)
