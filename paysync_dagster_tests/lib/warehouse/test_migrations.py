"""Warehouse migrations (Alembic) on SQLite and on a real PostgreSQL server: a warehouse the last release
before migrations built is stamped and upgraded with its rows kept, a fresh one upgrades to exactly
tables.py, processes starting at once never both run DDL, and upgrading again changes nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Index, MetaData, String, Table, UniqueConstraint, func, insert, inspect, select, text

from paysync_dagster.lib.warehouse import begin_write, ensure_schema, make_engine, metadata, migrate
from paysync_dagster.lib.warehouse import migrations as m
from paysync_dagster.lib.warehouse.engine import schema_is_current
from paysync_dagster.lib.warehouse.tables import audit_log, oracle_cash_receipts, paytrace_landing, posting_ledger

HEAD = m.head()
NEW = m.CASH_APPLICATION_COLUMNS
AT = datetime(2026, 11, 2, 17, 30)
RECEIPT = {"business_date": date(2026, 11, 2), "transaction_id": 7, "kind": "sale", "outcome": "applied", "amount_minor": 12_345,
           "currency": "USD", "reference": "PT-7", "receipt_number": "PT-7", "erp_receipt_id": "300100", "owns_receipt": True,
           "invoices": "INV-000001", "applied_minor": 12_345, "unapplied_minor": 0, "match_rule": "exact",
           "match_score": 1.0, "reason": "", "exception_code": ""}
LANDED = {"dedup_key": "7:settled", "transaction_id": 7, "state": "settled", "source": "webhook", "event_id": "evt-7",
          "event_type": "transaction.settled", "business_date": date(2026, 11, 2), "occurred_at": AT, "landed_at": AT,
          "payload": "{}"}
LEDGER = {"erp": "oracle", "reference": "PT-7", "transaction_id": 7, "action": "receipt", "business_date": date(2026, 11, 2),
          "amount_minor": 12_345, "currency": "USD", "status": "posted", "erp_id": "300100", "detail": "{}", "attempts": 1,
          "created_at": AT, "updated_at": AT}


# What revisions after the release before migrations added: whole tables, and columns of older ones.
LATER_TABLES = {"sage_cash_receipts", "sage_open_invoices", "sage_late_applications", "payment_customer_accounts",
                "mapping_promotions", "alert_incidents", "mapping_versions", "card_charges", "customer_sync_links",
                "customer_sync", "card_refunds", "sagepro_open_invoices", "sagepro_cash_receipts",
                "sagepro_late_applications"}
LATER_COLUMNS = {"reconciliation_transactions": {"erp"}, "reconciliation_batches": {"erp"},
                 "reconciliation_variances": {"erp"}, "reconciliation_kpis": {"erp"},
                 "normalized_payments": {"approval_code"}}
# ... and what they took away: normalized_payments' account per ERP (rows of payment_customer_accounts now),
# after the column named.
EARLIER_COLUMNS = {"normalized_payments": ("paytrace_customer_id", ("oracle_customer_account", "sage_customer_account"))}
# reconciliation_kpis' unique key before it held the ERP
RELEASED_UNIQUE = {"uq_reconciliation_kpis_erp": ("uq_reconciliation_kpis", ("business_date", "kpi", "currency"))}


def released_metadata(*, with_cash_application_columns: bool = False) -> MetaData:
    """The tables as the last release before migrations declared them (schema version 2): tables.py
    without what later revisions added, and without oracle_cash_receipts' cash-application columns
    (with them: schema version 3)."""
    old = MetaData()
    later = {t: set(cols) for t, cols in LATER_COLUMNS.items()}
    if not with_cash_application_columns:
        later[oracle_cash_receipts.name] = set(NEW)
    for table in metadata.sorted_tables:
        if table.name in LATER_TABLES:
            continue
        if table.name not in later and table.name not in EARLIER_COLUMNS:
            table.to_metadata(old)
            continue
        gone = later.get(table.name, set())
        uniques = []
        for u in table.constraints:
            if isinstance(u, UniqueConstraint):
                name, cols = RELEASED_UNIQUE.get(u.name, (u.name, tuple(c.name for c in u.columns)))
                uniques.append(UniqueConstraint(*cols, name=name))
        columns = [Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key,
                          server_default=c.server_default.arg if c.server_default is not None else None)
                   for c in table.columns if c.name not in gone]
        if table.name in EARLIER_COLUMNS:
            after, names = EARLIER_COLUMNS[table.name]
            at = [c.name for c in columns].index(after) + 1
            columns[at:at] = [Column(name, String(100), nullable=False) for name in names]
        copy = Table(table.name, old, *columns, *uniques)
        for ix in table.indexes:
            Index(ix.name, *(copy.c[c.name] for c in ix.columns), unique=ix.unique)
    return old


def build_released_warehouse(url: str, *, version: int = 2, with_cash_application_columns: bool = False) -> None:
    """What the release before migrations did at start (``metadata.create_all`` and a schema version row
    in one write transaction), then a day's rows in several tables."""
    old = released_metadata(with_cash_application_columns=with_cash_application_columns)
    engine = make_engine(url)
    try:
        with begin_write(engine) as conn:
            old.create_all(conn)
            conn.execute(insert(old.tables[m.LEGACY_TABLE]).values(version=version, applied_at=AT))
        with begin_write(engine) as conn:
            conn.execute(insert(old.tables[oracle_cash_receipts.name]), [RECEIPT])
            conn.execute(insert(old.tables[paytrace_landing.name]), [LANDED])
            conn.execute(insert(old.tables[posting_ledger.name]), [LEDGER])
            conn.execute(insert(old.tables[audit_log.name]).values(at=AT, actor="ops", action="resolve", subject="exception 1"))
        assert not inspect(engine).has_table(m.VERSION_TABLE)
    finally:
        engine.dispose()


def schema_differences(engine: Engine) -> list:
    """What autogenerate would write: differences between the warehouse and tables.py (as ``alembic
    check`` sees them, server defaults aside; those are checked on their own)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": m.VERSION_TABLE, "compare_type": True})
        return compare_metadata(context, metadata)


def shape(engine: Engine) -> dict:
    """The reflected schema, defaults included, for comparing two warehouses built different ways."""
    inspector = inspect(engine)
    out = {}
    for name in sorted(set(inspector.get_table_names()) - {m.VERSION_TABLE}):
        out[name] = (
            [(c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement")) for c in inspector.get_columns(name)],
            inspector.get_pk_constraint(name)["constrained_columns"],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(name)),
            sorted((tuple(u["column_names"]), u["name"] or "") for u in inspector.get_unique_constraints(name)),
        )
    return out


def revision_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT version_num FROM {m.VERSION_TABLE}")).scalars().all()


def paysync(*args: str) -> subprocess.CompletedProcess:
    """The ``paysync`` command as a real process."""
    return subprocess.run([sys.executable, "-m", "paysync_dagster.cli", *args], capture_output=True, text=True, timeout=180)


# -- (a) a warehouse the release before migrations built ---------------------------------------------


def test_paysync_db_upgrade_stamps_and_upgrades_a_warehouse_from_before_migrations_keeping_its_rows(database_url: str) -> None:
    build_released_warehouse(database_url, version=2)
    engine = make_engine(database_url)
    try:
        assert not schema_is_current(engine)
        before = paysync("db", "current", "--database-url", database_url)
        assert before.returncode == 0, before.stderr
        assert "no revision: schema version 2 from before migrations" in before.stdout

        done = paysync("db", "upgrade", "--database-url", database_url)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 2 and "paysync:paysync@" not in done.stdout  # the password is never shown
        assert lines[0].endswith("schema version 2 from before migrations, stamped 0001")
        assert lines[1].endswith(f"revision 0001 -> {HEAD} (head)")

        assert revision_rows(engine) == [HEAD] and schema_is_current(engine)
        assert set(NEW) <= {c["name"] for c in inspect(engine).get_columns(oracle_cash_receipts.name)}
        with engine.connect() as conn:
            kept = conn.execute(select(oracle_cash_receipts)).mappings().one()
            assert {k: kept[k] for k in RECEIPT} == RECEIPT
            assert [kept[c] for c in NEW] == ["", "", ""]
            assert conn.execute(select(paytrace_landing.c.dedup_key, paytrace_landing.c.id)).all() == [("7:settled", 1)]
            assert conn.execute(select(posting_ledger.c.reference, posting_ledger.c.status)).all() == [("PT-7", "posted")]
        with begin_write(engine) as conn:  # the ids go on where they were; a receipt written now takes the defaults
            conn.execute(insert(audit_log).values(at=AT, actor="ops", action="resolve", subject="exception 2"))
            conn.execute(insert(oracle_cash_receipts).values({**RECEIPT, "transaction_id": 8, "reference": "PT-8"}))
        with engine.connect() as conn:
            assert conn.execute(select(audit_log.c.id).order_by(audit_log.c.id)).scalars().all() == [1, 2]
        assert schema_differences(engine) == []
        after = paysync("db", "current", "--database-url", database_url)
        assert after.stdout.strip().endswith(f"revision {HEAD} (head)")
    finally:
        engine.dispose()


def test_the_baseline_and_the_release_before_migrations_build_the_same_tables(database_url: str, tmp_path: Path,
                                                                              request: pytest.FixtureRequest) -> None:
    """Upgraded from the released schema or built by the revisions alone: the same columns, types,
    defaults, keys and indexes, on each database."""
    if database_url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        other = request.getfixturevalue("postgres_server").create_database(f"paysync_fresh_{uuid.uuid4().hex[:12]}")
    build_released_warehouse(database_url)
    upgraded, fresh = make_engine(database_url), make_engine(other)
    try:
        migrate(upgraded)
        migrate(fresh)
        assert shape(upgraded) == shape(fresh)
    finally:
        upgraded.dispose()
        fresh.dispose()


@pytest.mark.parametrize("version, with_columns, stamped", [(2, False, "0001"), (3, True, "0002"), (3, False, "0001")])
def test_a_run_start_stamps_a_warehouse_by_what_its_tables_hold(database_url: str, version: int, with_columns: bool,
                                                                 stamped: str) -> None:
    """What a run start does (the warehouse resource's ensure_schema, i.e. migrate) with a warehouse from
    before migrations: schema version 2 is the baseline, 3 with the cash-application columns is 0002;
    a 3 without them (never written by a release) gets them from 0002."""
    build_released_warehouse(database_url, version=version, with_cash_application_columns=with_columns)
    engine = make_engine(database_url)
    try:
        assert m.describe(engine).startswith(f"no revision: schema version {version}")
        assert not schema_is_current(engine)
        done = m.upgrade(engine)  # what ensure_schema's migrate runs, with what it stamped
        assert (done.before, done.legacy_version, done.stamped, done.after) == (None, version, stamped, HEAD)
        ensure_schema(engine)
        assert revision_rows(engine) == [HEAD] and schema_differences(engine) == []
        with engine.connect() as conn:
            assert [conn.execute(select(oracle_cash_receipts.c[c])).scalar_one() for c in NEW] == ["", "", ""]
    finally:
        engine.dispose()


def test_paysync_db_upgrade_says_what_it_stamped_and_what_it_ran(sqlite_url: str) -> None:
    from paysync_dagster_tests.cli.support import invoke

    build_released_warehouse(sqlite_url, version=3, with_cash_application_columns=True)
    done = invoke("db", "upgrade", "--database-url", sqlite_url)
    assert done.exit_code == 0, done.output
    assert [line.split(": ", 1)[1] for line in done.stdout.splitlines()] == [
        "schema version 3 from before migrations, stamped 0002", f"revision 0002 -> {HEAD} (head)"]
    again = invoke("db", "upgrade", "--database-url", sqlite_url)
    assert again.stdout.splitlines()[-1].split(": ", 1)[1] == f"revision {HEAD} (head), already up to date"
    assert invoke("db", "current", "--database-url", sqlite_url).stdout.strip().endswith(f"revision {HEAD} (head)")


def test_a_warehouse_that_cannot_be_stamped_is_refused_in_one_line(sqlite_url: str) -> None:
    build_released_warehouse(sqlite_url, version=1)
    done = paysync("db", "upgrade", "--database-url", sqlite_url)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("paysync db upgrade: the warehouse has schema version 1 from before migrations")
    engine = make_engine(sqlite_url)
    try:
        assert not inspect(engine).has_table(m.VERSION_TABLE)  # nothing written
        with pytest.raises(m.MigrationError, match="schema version 1"):
            migrate(engine)
    finally:
        engine.dispose()


def test_a_revision_this_release_does_not_know_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {m.VERSION_TABLE} SET version_num = '0999'"))
        assert not schema_is_current(engine)
        with pytest.raises(m.MigrationError, match="revision 0999, which this release does not know"):
            migrate(engine)
        assert "unknown to this release" in m.describe(engine)
    finally:
        engine.dispose()


# -- (b) a fresh warehouse ------------------------------------------------------------------------------


def test_a_fresh_warehouse_upgrades_to_head_and_matches_the_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert not schema_is_current(engine)
        assert m.describe(engine).startswith("no revision (an empty database)")
        done = m.upgrade(engine)
        assert (done.before, done.after, done.stamped) == (None, HEAD, None)
        assert schema_is_current(engine) and revision_rows(engine) == [HEAD]
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        assert schema_differences(engine) == []
        defaults = {c["name"]: c["default"] for c in inspect(engine).get_columns(oracle_cash_receipts.name)}
        assert all(defaults[c] is not None and defaults[c].startswith("''") for c in NEW), defaults
        if engine.dialect.name == "sqlite":  # the engine's pragmas held through the migration
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_upgrading_a_warehouse_at_0003_moves_the_accounts_per_erp_into_rows(database_url: str) -> None:
    """0004: normalized_payments' oracle_/sage_customer_account columns become rows of
    payment_customer_accounts (one per payment and ERP with an account); the columns are gone."""
    from alembic import command

    engine = make_engine(database_url)
    try:
        with begin_write(engine) as conn:
            command.upgrade(m.config(conn), "0003")
        base = {"business_date": date(2026, 11, 2), "kind": "sale", "paytrace_state": "settled", "status": "settled",
                "oracle_status": "", "sage_status": "", "amount_minor": 100, "currency": "USD", "base_currency": "USD",
                "fx_rate": "1", "fx_rate_date": "", "fx_rate_source": "", "base_amount_minor": 100, "occurred_at": AT,
                "invoice_reference_raw": "", "invoice_reference": "", "paytrace_customer_id": "", "customer_email": "",
                "customer_name": "", "gl_account": "", "card_brand": "", "card_last_four": "", "billing_name": "",
                "billing_street": "", "billing_city": "", "billing_state": "", "billing_postal_code": "",
                "billing_country": "", "description": "", "source": "export", "mapping_version": "1"}
        accounts = {1: ("C10001", "C10001"), 2: ("C10002", ""), 3: ("", "")}
        columns = ", ".join([*base, "transaction_id", "oracle_customer_account", "sage_customer_account"])
        values = ", ".join(f":{k}" for k in [*base, "transaction_id", "oracle_customer_account", "sage_customer_account"])
        with begin_write(engine) as conn:
            conn.execute(text(f"INSERT INTO normalized_payments ({columns}) VALUES ({values})"),
                         [{**base, "transaction_id": t, "oracle_customer_account": o, "sage_customer_account": sg}
                          for t, (o, sg) in accounts.items()])
        assert m.upgrade(engine).after == HEAD
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT transaction_id, erp, customer_account FROM payment_customer_accounts "
                                     "ORDER BY transaction_id, erp")).all()
            kept = conn.execute(text("SELECT count(*) FROM normalized_payments")).scalar_one()
        assert [tuple(r) for r in rows] == [(1, "oracle", "C10001"), (1, "sage", "C10001"), (2, "oracle", "C10002")]
        assert kept == 3
        assert not {"oracle_customer_account", "sage_customer_account"} & {
            c["name"] for c in inspect(engine).get_columns("normalized_payments")}
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


# -- (c) processes starting at once ----------------------------------------------------------------------

_MIGRATOR = textwrap.dedent("""
    import os, sys, time
    from paysync_dagster.lib.warehouse import make_engine, migrations
    engine = make_engine(sys.argv[1])
    migrations.head()  # loaded before the start signal, so the processes reach the lock together
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.005)
    done = migrations.upgrade(engine)
    print(done.after, done.changed)
""")


@pytest.mark.slow
def test_processes_migrating_one_fresh_warehouse_at_once_all_succeed_and_one_runs_the_ddl(database_url: str,
                                                                                           tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _MIGRATOR, database_url, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    try:
        go.touch()
        outs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    results = sorted(out.split() for out, _ in outs)
    assert results == [[HEAD, "False"]] * 3 + [[HEAD, "True"]]
    engine = make_engine(database_url)
    try:
        assert revision_rows(engine) == [HEAD] and schema_differences(engine) == []
    finally:
        engine.dispose()


def test_threads_with_their_own_engines_migrating_one_fresh_sqlite_file_all_succeed(sqlite_url: str) -> None:
    import threading

    errors: list[BaseException] = []
    results: list[str] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        engine = make_engine(sqlite_url)
        try:
            barrier.wait()
            results.append(migrate(engine))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [HEAD] * 4


# -- (d) idempotent ------------------------------------------------------------------------------------


def test_upgrading_again_changes_nothing(database_url: str) -> None:
    first = paysync("db", "upgrade", "--database-url", database_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith(f"revision none -> {HEAD} (head)")
    engine = make_engine(database_url)
    try:
        with begin_write(engine) as conn:
            conn.execute(insert(oracle_cash_receipts).values(RECEIPT))
        shaped = shape(engine)
        again = paysync("db", "upgrade", "--database-url", database_url)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().endswith(f"revision {HEAD} (head), already up to date")
        done = m.upgrade(engine)
        assert (done.before, done.after, done.changed) == (HEAD, HEAD, False)
        assert migrate(engine) == migrate(engine) == HEAD
        assert shape(engine) == shaped and revision_rows(engine) == [HEAD]
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(oracle_cash_receipts)).scalar_one() == 1
    finally:
        engine.dispose()


# -- new revisions ------------------------------------------------------------------------------------

_NEW_REVISION = textwrap.dedent("""
    import shutil, sys
    from pathlib import Path
    from sqlalchemy import Column, String, Text
    from paysync_dagster.lib.warehouse import migrations, tables
    copy = Path(sys.argv[1]) / "migrations"
    shutil.copytree(migrations.HERE, copy)
    migrations.HERE = copy  # the package's own versions/ stays as it is
    tables.payment_exceptions.append_column(Column("note", Text, nullable=False, server_default=""))
    tables.audit_log.c.subject.type = String(300)
    print(migrations.new_revision("exceptions note"))
""")


def test_a_new_revision_is_autogenerated_from_tables_and_upgrades_a_warehouse_with_rows(tmp_path: Path) -> None:
    """What `paysync db revision -m` does, on a copy of the migrations: the next number, batch
    operations that SQLite can run (a type change rebuilds the table), rows kept."""
    done = subprocess.run([sys.executable, "-c", _NEW_REVISION, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip())
    assert written.name == f"{int(HEAD) + 1:04d}_exceptions_note.py"
    source = written.read_text()
    assert f"down_revision = '{HEAD}'" in source and "batch_alter_table('payment_exceptions'" in source
    assert "add_column(sa.Column('note', sa.Text(), server_default=''" in source
    check = textwrap.dedent(f"""
        import sys
        from datetime import datetime
        from pathlib import Path
        from sqlalchemy import inspect, select
        from paysync_dagster.lib.warehouse import make_engine, migrations, tables
        engine = make_engine(sys.argv[1])
        migrations.upgrade(engine)  # this release's head
        with engine.begin() as conn:
            conn.execute(tables.audit_log.insert().values(at=datetime(2026, 1, 1), actor="a", action="b", subject="c"))
        migrations.HERE = Path({str(written.parent.parent)!r})  # the copy with the new revision
        migrations.scripts.cache_clear()
        done = migrations.upgrade(engine)
        columns = {{c["name"]: str(c["type"]) for c in inspect(engine).get_columns("audit_log")}}
        notes = "note" in {{c["name"] for c in inspect(engine).get_columns("payment_exceptions")}}
        with engine.connect() as conn:
            print(done.before, done.after, columns["subject"], notes, conn.execute(select(tables.audit_log.c.subject)).scalar_one())
    """)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    ran = subprocess.run([sys.executable, "-c", check, url], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [HEAD, f"{int(HEAD) + 1:04d}", "VARCHAR(300)", "True", "c"]
