"""One posting run per (ERP, business date) at a time.

The ledger makes a retry, a redelivery or a replay safe, one after the other. Two runs posting the
same date *at the same time* (the landing sensor's run and a backfill's) could both read "not sent
yet" and both send, which the ERP may accept (an application to an invoice with balance left). So a
run holds a lease on its (ERP, date) while it posts: a row in ``posting_leases`` with an expiry it
renews as it goes. Another run waits for it. A holder that died on this host (killed, crashed) is
taken over at once; one on another host when its lease expires.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

from sqlalchemy import Engine, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import posting_leases


class LeaseBusy(Exception):
    """Another live run is posting this date; try again later."""


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _dead_here(owner: str) -> bool:
    """The holder ran on this host and its process is gone."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    def __init__(self, engine: Engine, erp: str, business_date: date, ttl_s: float = 120.0):
        self.engine, self.erp, self.day, self.ttl = engine, erp, business_date, timedelta(seconds=ttl_s)
        self.owner = _owner()
        self._renewed = 0.0

    def _key(self) -> object:
        return and_(posting_leases.c.erp == self.erp, posting_leases.c.business_date == self.day)

    def try_acquire(self) -> bool:
        try:
            with begin_write(self.engine) as conn:  # SQLite: the write lock from BEGIN; PostgreSQL: the row lock
                row = conn.execute(select(posting_leases).where(self._key()).with_for_update()).first()
                now = utcnow()
                if row is not None and row.owner != self.owner and row.expires_at > now and not _dead_here(row.owner):
                    return False
                if row is not None:
                    conn.execute(update(posting_leases).where(self._key()).values(owner=self.owner,
                                                                                  expires_at=now + self.ttl))
                else:
                    conn.execute(posting_leases.insert().values(erp=self.erp, business_date=self.day, owner=self.owner,
                                                                expires_at=now + self.ttl))
        except IntegrityError:  # another run inserted the lease in between (PostgreSQL, no row to lock yet)
            return False
        self._renewed = time.monotonic()
        return True

    def renew(self) -> None:
        """Push the expiry out; cheap to call often (it writes at most every third of the lifetime)."""
        if time.monotonic() - self._renewed < self.ttl.total_seconds() / 3:
            return
        with begin_write(self.engine) as conn:
            conn.execute(update(posting_leases).where(and_(self._key(), posting_leases.c.owner == self.owner))
                         .values(expires_at=utcnow() + self.ttl))
        self._renewed = time.monotonic()

    def release(self) -> None:
        with begin_write(self.engine) as conn:
            conn.execute(delete(posting_leases).where(and_(self._key(), posting_leases.c.owner == self.owner)))


@contextmanager
def posting_lease(engine: Engine, erp: str, business_date: date, *, wait_s: float = 300.0, ttl_s: float = 120.0,
                  poll_s: float = 0.5) -> Iterator[Lease]:
    """Hold the (erp, date) lease for the block; wait up to ``wait_s`` for another run, else LeaseBusy."""
    lease = Lease(engine, erp, business_date, ttl_s)
    deadline = time.monotonic() + wait_s
    while not lease.try_acquire():
        if time.monotonic() > deadline:
            raise LeaseBusy(f"another run is posting {business_date} to {erp}")
        time.sleep(poll_s)
    try:
        yield lease
    finally:
        lease.release()
