"""A migrated warehouse on each database the suite runs (``database_url``: SQLite and PostgreSQL)."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.warehouse import make_engine, migrate


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()
