"""Engines for the warehouse URL, with the settings concurrent writers need, and the schema."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, Table, create_engine, delete, event, insert
from sqlalchemy.engine import make_url

# The receiver and the runs write at once; a writer waits this long for SQLite's lock, not fail.
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "paysync_write"


def paysync_home() -> Path:
    """Where local state lives (warehouse file, Dagster home, reports): ``PAYSYNC_HOME`` or ``./.paysync``."""
    return Path(os.environ.get("PAYSYNC_HOME") or Path.cwd() / ".paysync").resolve()


def default_database_url() -> str:
    return os.environ.get("PAYSYNC_DATABASE_URL") or f"sqlite:///{paysync_home() / 'warehouse.db'}"


def redact_url(url: str) -> str:
    """The URL with its password hidden, for logs and metadata."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    url = url or default_database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # WAL lets readers (sensors, the UI) run beside one writer; NORMAL is durable in WAL.
            _journal_mode_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            # A writer takes the write lock at BEGIN so two writers queue on busy_timeout instead
            # of one failing mid-transaction when it upgrades a read lock; readers stay deferred
            # so that, under WAL, they never wait for a writer.
            immediate = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        # pysqlite's own transaction handling would issue BEGIN itself; let SQLAlchemy's begin hook do it.
        @event.listens_for(engine, "connect")
        def _sqlite_no_autobegin(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None

        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _journal_mode_wal(cur) -> None:  # noqa: ANN001
    """``PRAGMA journal_mode=WAL``. On a new file, connections opening at once (processes starting
    on a fresh warehouse) race to switch it, and SQLite answers the losers "database is locked" at
    once, without waiting out the busy timeout: retry until the winner has switched it (the mode is
    kept in the file)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def begin_write(engine: Engine):
    """A transaction that will write: on SQLite it takes the write lock up front."""
    return engine.execution_options(**{WRITE_OPTION: True}).begin()


def migrate(engine: Engine) -> str:
    """Bring the warehouse to this release's schema, the head revision of the migrations
    (``lib/warehouse/migrations``), and return it. One write transaction under the schema lock
    (SQLite's write lock, an advisory lock on PostgreSQL): two processes starting at once on a fresh
    warehouse queue instead of both running DDL. A warehouse from before migrations is stamped first.
    Safe to call at every start."""
    from paysync_dagster.lib.warehouse.migrations import upgrade

    return upgrade(engine).after


def schema_is_current(engine: Engine) -> bool:
    """Whether the warehouse holds this release's schema (its revision is the head): one read, no
    lock, nothing written."""
    from paysync_dagster.lib.warehouse.migrations import head, read_revision

    return read_revision(engine) == head()


def ensure_schema(engine: Engine) -> None:
    """Migrate only when the schema is missing or older: runs and sensors starting by the dozen pay a
    read, not a write transaction each."""
    if not schema_is_current(engine):
        migrate(engine)


def replace_partition(
    engine: Engine,
    table: Table,
    business_dates: Iterable[date],
    rows: Iterable[Mapping],
    *,
    chunk_size: int = 5_000,
) -> int:
    """Delete the given business dates from ``table`` and insert ``rows``, in one transaction.

    Re-materializing a partition therefore gives the same table whatever ran before, and a failure
    half-way leaves the previous content in place.
    """
    return replace_partitions(engine, business_dates, {table: rows}, chunk_size=chunk_size)[table.name]


def replace_partitions(
    engine: Engine,
    business_dates: Iterable[date],
    tables: Mapping[Table, Iterable[Mapping]],
    *,
    chunk_size: int = 5_000,
) -> dict[str, int]:
    """``replace_partition`` for several tables that must change together (one transaction)."""
    days = sorted(set(business_dates))
    written: dict[str, int] = {}
    with begin_write(engine) as conn:
        for table, rows in tables.items():
            if days:
                conn.execute(delete(table).where(table.c.business_date.in_(days)))
            count = 0
            batch: list[Mapping] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= chunk_size:
                    conn.execute(insert(table), batch)
                    count += len(batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
                count += len(batch)
            written[table.name] = count
    return written
