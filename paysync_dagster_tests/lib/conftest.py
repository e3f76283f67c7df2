"""A composed sandbox (PayTrace + Oracle Fusion) on a free loopback port, shared by a test module; a
migrated warehouse engine, once on SQLite and once on PostgreSQL."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster.sandbox.server import SandboxApp, ServerThread


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def oracle_server() -> Iterator[ServerThread]:
    with ServerThread(SandboxApp()) as server:
        yield server
