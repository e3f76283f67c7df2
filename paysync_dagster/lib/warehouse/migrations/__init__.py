"""The warehouse schema as Alembic revisions (``versions/``), configured here in code: no ``alembic.ini``.

Only these migrations create or alter tables. :func:`upgrade` brings a warehouse to the head revision
on the caller's engine, in one write transaction under the schema lock (SQLite's write lock, an
advisory lock on PostgreSQL), so two processes starting at once never both run DDL: the second waits,
then finds the head and does nothing.

A warehouse from before migrations has the tables and ``paysync_schema_version`` but no revision. It
is stamped first with the revision its tables match (schema version 2: ``0001``; version 3, or 2 with
the cash-application columns already there: ``0002``), then upgraded like any other.

The revision is kept in ``paysync_alembic_version``, not Alembic's default ``alembic_version``: the
warehouse may share a PostgreSQL database with Dagster's own storage, which keeps its revision there.
"""

from __future__ import annotations

import functools
import re
import tempfile
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, column, func, inspect, select, table, text
from sqlalchemy.exc import OperationalError, ProgrammingError

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "paysync_alembic_version"
BASELINE = "0001"
SCHEMA_LOCK = "paysync_schema"  # PostgreSQL advisory lock key (hashed)

# The schema before migrations: ``paysync_schema_version`` held a number, the release's SCHEMA_VERSION.
LEGACY_TABLE = "paysync_schema_version"
LEGACY_VERSIONS = (2, 3)
# Added to oracle_cash_receipts by schema version 3 (revision 0002).
CASH_APPLICATION_COLUMNS = ("customer_account", "match_tokens", "match_rejected")

_version_table = table(VERSION_TABLE, column("version_num"))


class MigrationError(RuntimeError):
    """The warehouse cannot be brought to this release's schema as it is; the message says why."""


@dataclass(frozen=True)
class Upgraded:
    before: str | None  # the revision found; None for a new warehouse or one from before migrations
    after: str
    legacy_version: int | None = None  # the schema version of a warehouse from before migrations
    stamped: str | None = None  # the revision it was stamped with

    @property
    def changed(self) -> bool:
        return self.stamped is not None or self.before != self.after


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, from the package's path; ``connection`` is what env.py migrates."""
    cfg = Config(cmd_opts=Namespace(quiet=True))  # callers print what happened themselves
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """This release's schema: the head revision."""
    found = scripts().get_current_head()
    assert found is not None, "no revisions"
    return found


def known(revision: str) -> bool:
    return any(s.revision == revision for s in scripts().walk_revisions())


def current(conn: Connection) -> str | None:
    """The warehouse's revision (None when it has none), without failing a transaction when the
    revision table does not exist yet."""
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def read_revision(engine: Engine) -> str | None:
    """The revision in one read on a connection of its own, no lock (None when there is none)."""
    try:
        with engine.connect() as conn:
            return conn.execute(select(_version_table.c.version_num)).scalar()
    except (OperationalError, ProgrammingError):  # no revision table yet
        return None


def is_legacy(conn: Connection) -> bool:
    """Whether this is a warehouse from before migrations: a schema version table, no revision table."""
    inspector = inspect(conn)
    return inspector.has_table(LEGACY_TABLE) and not inspector.has_table(VERSION_TABLE)


def legacy_version(conn: Connection) -> int | None:
    """The highest ``paysync_schema_version`` recorded (None when it holds no row)."""
    return conn.execute(select(func.max(column("version"))).select_from(table(LEGACY_TABLE))).scalar()


def _legacy_stamp(conn: Connection, version: int | None) -> str:
    """The revision whose schema a warehouse from before migrations holds, judged by its tables."""
    if version not in LEGACY_VERSIONS:
        found = f"schema version {version}" if version is not None else "an empty paysync_schema_version table"
        raise MigrationError(
            f"the warehouse has {found} from before migrations, and only schema versions "
            f"{' and '.join(map(str, LEGACY_VERSIONS))} can be stamped; start a release of schema version "
            f"{LEGACY_VERSIONS[0]} on it once (it adds the tables it lacks), or use a new warehouse")
    present = {c["name"] for c in inspect(conn).get_columns("oracle_cash_receipts")} & set(CASH_APPLICATION_COLUMNS)
    if not present:
        return BASELINE
    if present == set(CASH_APPLICATION_COLUMNS):
        return "0002"
    raise MigrationError(f"the warehouse (schema version {version}) has only some of oracle_cash_receipts' "
                         f"{', '.join(CASH_APPLICATION_COLUMNS)}: {', '.join(sorted(present))}; "
                         "add the others by hand or use a new warehouse")


def upgrade_connection(conn: Connection) -> Upgraded:
    """Stamp a warehouse from before migrations, then upgrade to head, on ``conn`` in its transaction
    (the caller holds the schema lock and commits)."""
    target = head()
    before = current(conn)
    if before == target:
        return Upgraded(before, target)
    if before is not None and not known(before):
        raise MigrationError(f"the warehouse is at revision {before}, which this release does not know (a newer "
                             f"release migrated it; this one's head is {target})")
    version = stamped = None
    if before is None:
        if is_legacy(conn):
            version = legacy_version(conn)
            stamped = _legacy_stamp(conn, version)
            command.stamp(config(conn), stamped)
        else:
            _refuse_foreign_tables(conn)
    command.upgrade(config(conn), "head")
    return Upgraded(before, current(conn) or "", version, stamped)


def _refuse_foreign_tables(conn: Connection) -> None:
    """A database without a revision or a schema version, but with warehouse tables: not ours to guess."""
    from paysync_dagster.lib.warehouse.tables import metadata

    found = sorted(set(metadata.tables) & set(inspect(conn).get_table_names()))
    if found:
        raise MigrationError(f"the database holds warehouse tables ({', '.join(found[:3])}{', ...' if len(found) > 3 else ''}) "
                             "but neither a revision nor a schema version; use a new database, or stamp it by hand")


def upgrade(engine: Engine) -> Upgraded:
    """:func:`upgrade_connection` in one write transaction under the schema lock."""
    from paysync_dagster.lib.warehouse.engine import begin_write

    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": SCHEMA_LOCK})
        return upgrade_connection(conn)


def describe(engine: Engine) -> str:
    """The warehouse's revision for a person, read without writing or locking."""
    with engine.connect() as conn:
        revision = current(conn)
        legacy = revision is None and is_legacy(conn)
        version = legacy_version(conn) if legacy else None
        tables = inspect(conn).get_table_names() if revision is None and not legacy else []
    target = head()
    if revision == target:
        return f"revision {revision} (head)"
    if revision is not None and not known(revision):
        return f"revision {revision}, unknown to this release (head {target}): a newer release migrated it"
    if revision is not None:
        return f"revision {revision}, head is {target}: `paysync db upgrade` brings it up"
    if legacy:
        return (f"no revision: schema version {version} from before migrations; `paysync db upgrade` stamps it "
                f"and brings it to {target}")
    return f"no revision ({'an empty database' if not tables else 'no warehouse schema'}): `paysync db upgrade` creates it"


def next_revision_id() -> str:
    numbers = [int(s.revision) for s in scripts().walk_revisions() if re.fullmatch(r"\d+", s.revision)]
    return f"{max(numbers, default=0) + 1:04d}"


def new_revision(message: str) -> Path:
    """A new revision file in ``versions/``, autogenerated against a throw-away SQLite warehouse at head:
    what tables.py holds that the migrations do not yet create. Review it before committing."""
    from paysync_dagster.lib.warehouse.engine import begin_write, make_engine

    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            with begin_write(engine) as conn:
                upgrade_connection(conn)
                written = command.revision(config(conn), message=message, autogenerate=True, rev_id=next_revision_id())
        finally:
            engine.dispose()
    scripts.cache_clear()
    assert written is not None and not isinstance(written, list)
    return Path(written.path)
