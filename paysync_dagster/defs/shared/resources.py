"""The warehouse resource every asset writes its tables through."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from paysync_dagster.lib.warehouse import ensure_schema, make_engine, redact_url
from paysync_dagster.lib.warehouse.engine import schema_is_current


class WarehouseResource(dg.ConfigurableResource):
    """The PaySync warehouse: landing table, each asset's tables, ledgers and audit log.

    One SQLAlchemy URL, SQLite by default and PostgreSQL in production. A run creates or brings the
    schema up to date when it finds it missing or older (one read otherwise); a sensor only reads,
    and its tick skips while the warehouse has no schema yet (``has_schema``).
    """

    database_url: str = Field(description="SQLAlchemy URL, e.g. sqlite:////srv/paysync/warehouse.db or postgresql+psycopg://...")

    _engine: Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = make_engine(self.database_url)
        if context.run is not None:  # a run; a sensor tick only reads (see has_schema)
            ensure_schema(self._engine)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:  # a sensor, or direct use outside a run: reads only
            self._engine = make_engine(self.database_url)
        return self._engine

    def has_schema(self) -> bool:
        return schema_is_current(self.engine)

    @property
    def display_url(self) -> str:
        return redact_url(self.database_url)
