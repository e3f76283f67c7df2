"""A throw-away PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, on a free port.

The server itself is product code (:mod:`paysync_dagster.lib.local_postgres`, which ``paysync demo --db
postgres`` uses too); the tests use these names for it.
"""

from __future__ import annotations

from paysync_dagster.lib.local_postgres import LocalPostgresError, PostgresServer, find_pg_bin
from paysync_dagster.lib.local_postgres import start_postgres as _start


def start_postgres() -> PostgresServer:
    """A started server in a new temporary folder, role and password ``paysync``; stop it with ``.stop()``."""
    return _start()


__all__ = ["LocalPostgresError", "PostgresServer", "find_pg_bin", "start_postgres"]
