"""Bulk inserts written by a thread of their own, committed in slices, while the caller reads on.

Landing a day's export is two kinds of work: reading a hundred thousand records (Python, which holds
the interpreter lock) and inserting them (the database driver, which lets go of it while the
database works: SQLite's B-tree and log writes, PostgreSQL's round trips). Done one after the other
they add up; here the caller reads and hands over statements, and a writer thread inserts them
meanwhile, on the machine's other core. Each statement carries many rows, so the writer takes the
interpreter lock back once per statement, not once per row (a thread that needs it per row waits for
the reading thread's switch interval each time and crawls).

The rows are committed in slices of about ``rows_per_commit``: another writer (the webhook receiver)
waits for one slice, not the whole load, and SQLite's log is copied into the database file after
each slice, on the writer thread, instead of all at once at the end. A load cut off midway leaves the
slices it committed: callers use it where inserting the same rows again is harmless (ON CONFLICT DO
NOTHING) and record completion only after it returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from sqlalchemy import Engine

from paysync_dagster.lib.warehouse.engine import begin_write

_STOP = object()  # every statement handed over: commit what is open and finish
_ABORT = object()  # the caller failed: roll back the open slice and finish


class _Aborted(Exception):
    pass


class SlicedWriter:
    """A writer thread for ``with SlicedWriter(engine) as writer: writer.put(sql, params, rows)``.

    ``put`` hands one statement (driver SQL and its positional parameters, ``rows`` rows) to the
    thread, waiting while ``depth`` statements are queued. ``rowcount`` sums what the driver reported
    for every statement, once the block has ended. An error on the writer thread is raised by the next
    ``put`` or at the end of the block; an error in the block rolls back the open slice (committed
    slices stay) and is raised as it is.
    """

    def __init__(self, engine: Engine, *, rows_per_commit: int = 10_000, depth: int = 4) -> None:
        if rows_per_commit < 1:
            raise ValueError("rows_per_commit must be at least 1")
        self._engine = engine
        self._rows_per_commit = rows_per_commit
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._thread = threading.Thread(target=self._run, name="paysync-sliced-writer", daemon=True)
        self._error: BaseException | None = None
        self._ended = False  # the caller's stop or abort taken off the queue
        self.rowcount = 0
        self.commits = 0

    def __enter__(self) -> SlicedWriter:
        self._thread.start()
        return self

    def put(self, sql: str, params: Sequence[Any], rows: int) -> None:
        self._raise_if_failed()
        self._queue.put((sql, tuple(params), rows))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._queue.put(_ABORT if exc_type is not None else _STOP)
        self._thread.join()
        if exc_type is None:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _take(self) -> Any:  # noqa: ANN401
        item = self._queue.get()
        if item is _STOP or item is _ABORT:
            self._ended = True
        return item

    def _run(self) -> None:
        try:
            item = self._take()
            while not self._ended:
                item = self._one_slice(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            self._error = exc
            # Keep taking statements so the caller never blocks on a full queue; it stops at its next put.
            while not self._ended:
                self._take()

    def _one_slice(self, item: Any) -> Any:  # noqa: ANN401
        """Execute ``item`` and the statements after it up to the slice's size in one transaction;
        return the item that ends the slice (the next statement, or a stop)."""
        rows = 0
        try:
            with begin_write(self._engine) as conn:
                while True:
                    sql, params, count = item
                    self.rowcount += conn.exec_driver_sql(sql, params).rowcount
                    rows += count
                    if rows >= self._rows_per_commit:
                        item = None  # a full slice is committed now, not after the next statement comes
                        break
                    item = self._take()
                    if item is _ABORT:
                        raise _Aborted
                    if item is _STOP:
                        break
        except _Aborted:
            return _ABORT
        self.commits += 1
        return self._take() if item is None else item
