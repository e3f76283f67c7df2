"""The warehouse on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from paysync_dagster.lib.warehouse import make_engine, metadata, migrate, redact_url, replace_partition, replace_partitions
from paysync_dagster.lib.warehouse.tables import audit_log, paytrace_batch_transactions, paytrace_settlement_batches

D1, D2 = date(2026, 11, 2), date(2026, 11, 3)


def _batch(day: date, number: int, net: int) -> dict:
    return {
        "business_date": day, "batch_number": number, "closed_at": datetime(2026, 11, 3, 4, 0), "currency": "USD",
        "transaction_count": 1, "sales_count": 1, "sales_minor": net, "refund_count": 0, "refund_minor": 0,
        "net_minor": net, "listed_count": 1, "listed_net_minor": net,
    }


def _count(engine, table, day=None) -> int:  # noqa: ANN001
    q = select(func.count()).select_from(table)
    if day is not None:
        q = q.where(table.c.business_date == day)
    with engine.connect() as conn:
        return conn.execute(q).scalar_one()


def test_migrate_creates_every_table_and_is_repeatable(database_url: str) -> None:
    engine = make_engine(database_url)
    assert migrate(engine) == migrate(engine)
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_replace_partition_is_idempotent_and_leaves_other_days(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    replace_partition(engine, paytrace_settlement_batches, [D1], [_batch(D1, 1, 100)])
    replace_partition(engine, paytrace_settlement_batches, [D2], [_batch(D2, 2, 200), _batch(D2, 3, 300)])
    for _ in range(2):
        replace_partition(engine, paytrace_settlement_batches, [D2], [_batch(D2, 2, 250)])
    assert _count(engine, paytrace_settlement_batches, D1) == 1
    with engine.connect() as conn:
        rows = conn.execute(select(paytrace_settlement_batches.c.batch_number, paytrace_settlement_batches.c.net_minor)
                            .where(paytrace_settlement_batches.c.business_date == D2)).all()
    assert [tuple(r) for r in rows] == [(2, 250)]


def test_a_failed_rewrite_keeps_the_previous_partition(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    replace_partitions(engine, [D1], {paytrace_settlement_batches: [_batch(D1, 1, 100)], paytrace_batch_transactions: []})
    bad_member = {"business_date": D1, "batch_number": 1, "transaction_id": None, "transaction_type": "SALE",
                  "amount_minor": 100, "currency": "USD", "settled_at": None, "invoice_id": ""}
    with pytest.raises(IntegrityError):
        replace_partitions(engine, [D1], {paytrace_settlement_batches: [_batch(D1, 9, 900)], paytrace_batch_transactions: [bad_member]})
    with engine.connect() as conn:
        assert conn.execute(select(paytrace_settlement_batches.c.batch_number)).scalars().all() == [1]


def test_money_columns_hold_large_integer_cents(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    big = 9_000_000_000_000  # ninety billion dollars in cents: beyond 32 bits
    replace_partition(engine, paytrace_settlement_batches, [D1], [_batch(D1, 1, big)])
    with engine.connect() as conn:
        assert conn.execute(select(paytrace_settlement_batches.c.net_minor)).scalar_one() == big


def test_sqlite_uses_wal_and_concurrent_writers_wait_instead_of_failing(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        own = make_engine(sqlite_url)  # a separate pool, as the receiver and a run would have
        try:
            for i in range(40):
                with own.begin() as conn:
                    conn.execute(audit_log.insert().values(at=datetime(2026, 1, 1), actor=f"w{n}", action="test", subject=str(i)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _count(engine, audit_log) == 160


def test_redact_url_hides_the_password() -> None:
    shown = redact_url("postgresql+psycopg://paysync:s3cret@db.internal:5432/paysync")
    assert "s3cret" not in shown and "db.internal" in shown
