"""The demo's own state under its home: one demo at a time, and a fresh start each time.

The sandboxes are generated afresh by every demo, so PaySync's state must start afresh with them: a
warehouse whose posting ledger remembers receipts the new sandboxes never received reports every one of
them as drift, and a Dagster instance whose landing-sensor cursor points past a fresh warehouse's rows
would skip the new webhooks. What the previous demo left is moved aside (not deleted) for a look.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREVIOUS = "previous"
LOCK = "demo.lock"
# What a demo writes under its home and reads back: the warehouse (SQLite, with its journal files), the
# Dagster instance's runs, event logs, schedules and compute logs, the reports, the processes' logs.
STATE = ("warehouse.db", "warehouse.db-wal", "warehouse.db-shm", "warehouse.db-journal",
         "dagster_home/storage", "dagster_home/history", "dagster_home/schedules", "dagster_home/logs",
         "reports", "logs")


class HomeInUse(RuntimeError):
    """Another demo runs on the same home."""


@contextmanager
def hold_home(home: Path) -> Iterator[None]:
    """Holds ``home`` for one demo (an advisory lock on ``home/demo.lock``, released when the process
    ends, however it ends); raises :class:`HomeInUse` when another demo holds it."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HomeInUse(str(home)) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def set_aside_previous(home: Path) -> list[str]:
    """Moves what an earlier demo left under ``home`` into ``home/previous`` (replacing what an even
    earlier one left there); the names moved, relative to ``home``. The mapping file the studio edits
    (``mapping.yaml``) stays: it is the user's work, not the demo's state."""
    found = [name for name in STATE if (home / name).exists()]
    if not found:
        return []
    previous = home / PREVIOUS
    shutil.rmtree(previous, ignore_errors=True)
    for name in found:
        target = previous / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (home / name).rename(target)
    return found
