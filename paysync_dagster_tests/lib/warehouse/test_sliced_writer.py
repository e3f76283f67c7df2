"""The sliced writer on SQLite and on a real PostgreSQL server: what it commits, when, and how it fails."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, func, select

from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.sliced_writer import SlicedWriter
from paysync_dagster.lib.warehouse.tables import audit_log

DEADLINE_S = 60


def _insert(engine: Engine, first: int, rows: int) -> str:
    """A multi-row insert into the audit log, in the driver's parameter style, with its parameters."""
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    one = f"({mark}, {mark}, {mark}, {mark}, CURRENT_TIMESTAMP)"
    return f"INSERT INTO audit_log (actor, action, subject, note, at) VALUES {', '.join([one] * rows)}"


def _params(first: int, rows: int) -> list[str]:
    return [v for i in range(first, first + rows) for v in ("test", "sliced", f"row-{i}", "")]


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.action == "sliced")).scalar_one()


def _wait_for(condition, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_every_statement_lands_in_slices_and_rowcount_sums_them(engine) -> None:  # noqa: ANN001
    with SlicedWriter(engine, rows_per_commit=25) as writer:
        for first in range(0, 100, 10):
            writer.put(_insert(engine, first, 10), _params(first, 10), 10)
    assert (writer.rowcount, writer.commits, _rows(engine)) == (100, 4, 100)


def test_another_writer_gets_in_between_slices(engine) -> None:  # noqa: ANN001
    """A committed slice is visible and releases the write lock while the load goes on."""
    with SlicedWriter(engine, rows_per_commit=10) as writer:
        writer.put(_insert(engine, 0, 10), _params(0, 10), 10)
        writer.put(_insert(engine, 10, 5), _params(10, 5), 5)  # opens the second slice, left open
        _wait_for(lambda: _rows(engine) == 10, "the first slice to be committed")
        # The second slice holds the lock until its statement count or the end: the other writer queues.
        writer.put(_insert(engine, 15, 5), _params(15, 5), 5)
        with begin_write(engine) as conn:  # waits for the writer's second slice at most
            conn.execute(audit_log.insert().values(actor="receiver", action="sliced", subject="between", note="", at=func.now()))
    assert _rows(engine) == 21


def test_a_failing_statement_is_raised_and_the_committed_slices_stay(engine) -> None:  # noqa: ANN001
    with pytest.raises(Exception, match="(?i)no such table|does not exist"):  # noqa: PT011 - the driver's own error
        with SlicedWriter(engine, rows_per_commit=10, depth=1) as writer:
            writer.put(_insert(engine, 0, 10), _params(0, 10), 10)
            writer.put("INSERT INTO no_such_table (x) VALUES (1)", (), 1)
            for first in range(20, 200, 10):  # the caller is stopped at a put, never left blocked
                writer.put(_insert(engine, first, 10), _params(first, 10), 10)
    assert _rows(engine) == 10


def test_an_error_in_the_caller_rolls_back_the_open_slice_only(engine) -> None:  # noqa: ANN001
    with pytest.raises(RuntimeError, match="reading failed"):
        with SlicedWriter(engine, rows_per_commit=10) as writer:
            writer.put(_insert(engine, 0, 10), _params(0, 10), 10)
            writer.put(_insert(engine, 10, 5), _params(10, 5), 5)
            _wait_for(lambda: _rows(engine) == 10, "the first slice to be committed")
            raise RuntimeError("reading failed")
    assert _rows(engine) == 10


def test_a_slice_size_below_one_is_refused(engine) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="rows_per_commit"):
        SlicedWriter(engine, rows_per_commit=0)
