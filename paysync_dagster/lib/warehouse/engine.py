"""Engines for the warehouse URL, with the settings concurrent writers need, and the schema."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, Table, create_engine, delete, event, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.tables import SCHEMA_VERSION, metadata, schema_version

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
            # WAL lets readers (sensors, the UI) run beside one writer; NORMAL is durable in WAL.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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


def begin_write(engine: Engine):
    """A transaction that will write: on SQLite it takes the write lock up front."""
    return engine.execution_options(**{WRITE_OPTION: True}).begin()


def migrate(engine: Engine) -> int:
    """Create missing tables and record the schema version, in one write transaction: two processes
    starting at once on a fresh warehouse queue on the write lock (SQLite's, or an advisory lock on
    PostgreSQL) instead of one failing on ``CREATE TABLE``. Safe to call at every start."""
    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('paysync_schema'))"))
        metadata.create_all(conn)
        _add_missing_columns(conn)
        current = conn.execute(select(schema_version.c.version).order_by(schema_version.c.version.desc())).first()
        if current is None or current[0] < SCHEMA_VERSION:
            conn.execute(insert(schema_version).values(version=SCHEMA_VERSION, applied_at=utcnow()))
    return SCHEMA_VERSION


def _add_missing_columns(conn) -> None:  # noqa: ANN001
    """Columns a release added to an existing table (each with a server default, so the rows already
    there get it): ``create_all`` creates missing tables only."""
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if column.server_default is None and not column.nullable:
                raise RuntimeError(f"{table.name}.{column.name}: a column added to an existing table needs a server default")
            kind = column.type.compile(dialect=conn.dialect)
            default = f" DEFAULT '{column.server_default.arg}'" if column.server_default is not None else ""
            null = "" if column.nullable else " NOT NULL"
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}{null}{default}'))


def schema_is_current(engine: Engine) -> bool:
    """Whether the warehouse holds this release's schema: one read, no lock, nothing written."""
    try:
        with engine.connect() as conn:
            version = conn.execute(select(func.max(schema_version.c.version))).scalar()
    except (OperationalError, ProgrammingError):  # no schema table yet
        return False
    return version is not None and version >= SCHEMA_VERSION


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
