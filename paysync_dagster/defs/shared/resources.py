"""The warehouse resource every asset writes its tables through."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from paysync_dagster.lib.warehouse import make_engine, migrate, redact_url


class WarehouseResource(dg.ConfigurableResource):
    """The PaySync warehouse: landing table, each asset's tables, ledgers and audit log.

    One SQLAlchemy URL, SQLite by default and PostgreSQL in production. The schema is created or
    brought up to date when a run or sensor first uses the resource.
    """

    database_url: str = Field(description="SQLAlchemy URL, e.g. sqlite:////srv/paysync/warehouse.db or postgresql+psycopg://...")

    _engine: Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = make_engine(self.database_url)
        migrate(self._engine)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:  # direct use outside a run (tests, CLI)
            self._engine = make_engine(self.database_url)
            migrate(self._engine)
        return self._engine

    @property
    def display_url(self) -> str:
        return redact_url(self.database_url)
