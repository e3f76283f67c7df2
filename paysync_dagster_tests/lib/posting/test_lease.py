"""One posting run per (ERP, date): a second waits, an expired or dead holder is taken over."""

import socket
import subprocess
import sys
from datetime import date, timedelta

import pytest
from sqlalchemy import update

from paysync_dagster.lib.posting.lease import Lease, LeaseBusy, posting_lease
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse import begin_write, make_engine, migrate
from paysync_dagster.lib.warehouse.tables import posting_leases

DAY = date(2026, 3, 5)


def test_a_date_is_posted_by_one_run_at_a_time(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    first, second = Lease(engine, "oracle", DAY), Lease(engine, "oracle", DAY)
    assert first.try_acquire()
    assert not second.try_acquire()
    assert Lease(engine, "oracle", DAY + timedelta(days=1)).try_acquire()  # another date
    assert Lease(engine, "sage", DAY).try_acquire()  # another ERP
    with pytest.raises(LeaseBusy):
        with posting_lease(engine, "oracle", DAY, wait_s=0.2, poll_s=0.05):
            pass
    first.release()
    with posting_lease(engine, "oracle", DAY) as lease:
        assert not first.try_acquire() and lease.owner != first.owner
    assert second.try_acquire()
    engine.dispose()


def test_an_expired_or_dead_holder_is_taken_over(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate(engine)
    holder = Lease(engine, "oracle", DAY)
    assert holder.try_acquire()
    with begin_write(engine) as conn:
        conn.execute(update(posting_leases).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert Lease(engine, "oracle", DAY).try_acquire()  # expired

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with begin_write(engine) as conn:  # held far into the future by a process of this host that has exited
        conn.execute(update(posting_leases).values(owner=f"{socket.gethostname()}:{gone.stdout.strip()}:dead",
                                                   expires_at=utcnow() + timedelta(hours=1)))
    assert Lease(engine, "oracle", DAY).try_acquire()
    engine.dispose()
