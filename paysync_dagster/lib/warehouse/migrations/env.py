"""Alembic's environment for the warehouse, run by :mod:`paysync_dagster.lib.warehouse.migrations`.

Always on a connection the caller opened and holds the schema lock on (``config.attributes
["connection"]``), inside its transaction: the engine's SQLite pragmas (WAL, busy timeout) hold,
nothing re-parses a URL, and the whole upgrade commits or rolls back at once. There is no offline
(``--sql``) mode and no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context

from paysync_dagster.lib.warehouse.migrations import VERSION_TABLE, MigrationError
from paysync_dagster.lib.warehouse.tables import metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or connection is None:
        raise MigrationError("warehouse migrations run on a connection: use paysync_dagster.lib.warehouse.migrate "
                             "or `paysync db upgrade`, not the alembic command")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite alters little in place: autogenerate writes batch operations (copy and move), which
        # PostgreSQL runs as plain ALTERs.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():  # the caller's transaction: nothing is committed here
        context.run_migrations()


run()
