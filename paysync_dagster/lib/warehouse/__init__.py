"""The warehouse: one SQLAlchemy URL (``PAYSYNC_DATABASE_URL``), SQLite by default, PostgreSQL in production."""

from paysync_dagster.lib.warehouse.engine import (
    begin_write,
    default_database_url,
    ensure_schema,
    make_engine,
    migrate,
    redact_url,
    replace_partition,
    replace_partitions,
)
from paysync_dagster.lib.warehouse.tables import metadata

__all__ = ["begin_write", "default_database_url", "ensure_schema", "make_engine", "metadata", "migrate", "redact_url", "replace_partition", "replace_partitions"]
