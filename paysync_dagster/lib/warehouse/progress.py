"""How far each stage has built each business date, so a near-real-time run builds only what moved on.

``build_progress`` holds, per (date, stage), the landing row each transaction's current row was built
from, and under transaction id 0 the stage's watermark: the highest landing id it has read for the
date. A stage that builds a whole date (a backfill, the nightly run) records every transaction; a
near-real-time run records the ones it built. A transaction needs building by a stage when the
landing row behind it upstream differs from the one the stage last built it from.

The stages: ``paytrace`` (landing rows -> transactions), ``normalize`` (transactions -> normalized
payments), and each ERP's posting (``oracle``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select

from paysync_dagster.lib.warehouse.tables import build_progress as P
from paysync_dagster.lib.warehouse.tables import paytrace_landing

WATERMARK = 0  # the transaction id under which a stage keeps its watermark (PayTrace ids start at 1)
_CHUNK = 5_000


def landing_watermark(conn: Connection | Engine, day: date) -> int:
    """The highest landing id of the date now (0 when none): what a run reads up to."""
    query = select(func.coalesce(func.max(paytrace_landing.c.id), 0)).where(paytrace_landing.c.business_date == day)
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return int(c.execute(query).scalar_one())
    return int(conn.execute(query).scalar_one())


def stage_watermark(conn: Connection | Engine, day: date, stage: str) -> int | None:
    """The stage's watermark for the date; None when it has never built the whole date."""
    query = select(P.c.landing_id).where(P.c.business_date == day, P.c.stage == stage, P.c.transaction_id == WATERMARK)
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return c.execute(query).scalar()
    return conn.execute(query).scalar()


def landed_since(conn: Connection | Engine, day: date, after: int, up_to: int) -> list[int]:
    """Transactions of the date with a landing row in (after, up_to]: what new events touched."""
    t = paytrace_landing
    query = (select(t.c.transaction_id).distinct()
             .where(t.c.business_date == day, t.c.id > after, t.c.id <= up_to).order_by(t.c.transaction_id))
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return [int(r[0]) for r in c.execute(query)]
    return [int(r[0]) for r in conn.execute(query)]


def behind(conn: Connection | Engine, day: date, stage: str, upstream: str) -> list[int]:
    """Transactions whose ``upstream`` row was built from another landing row than ``stage`` last built
    them from (or that ``stage`` never built)."""
    mine = P.alias("mine")
    theirs = P.alias("theirs")
    query = (select(theirs.c.transaction_id)
             .select_from(theirs.outerjoin(mine, and_(mine.c.business_date == theirs.c.business_date,
                                                      mine.c.transaction_id == theirs.c.transaction_id,
                                                      mine.c.stage == stage)))
             .where(theirs.c.business_date == day, theirs.c.stage == upstream, theirs.c.transaction_id != WATERMARK,
                    (mine.c.landing_id.is_(None)) | (mine.c.landing_id != theirs.c.landing_id))
             .order_by(theirs.c.transaction_id))
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return [int(r[0]) for r in c.execute(query)]
    return [int(r[0]) for r in conn.execute(query)]


def built_from(conn: Connection | Engine, day: date, stage: str, transactions: Sequence[int]) -> dict[int, int]:
    """The landing row ``stage`` last built each of ``transactions`` from."""
    out: dict[int, int] = {}
    ids = sorted({int(t) for t in transactions})

    def read(c: Connection) -> None:
        for start in range(0, len(ids), _CHUNK):
            rows = c.execute(select(P.c.transaction_id, P.c.landing_id).where(
                P.c.business_date == day, P.c.stage == stage, P.c.transaction_id.in_(ids[start:start + _CHUNK])))
            out.update({int(t): int(landing) for t, landing in rows})

    if isinstance(conn, Engine):
        with conn.connect() as c:
            read(c)
    else:
        read(conn)
    return out


def record(conn: Connection, day: date, stage: str, built: Mapping[int, int], watermark: int, *, whole_date: bool) -> None:
    """In the stage's write transaction: the landing row each built transaction came from, and the
    watermark. ``whole_date``: the stage rebuilt the date, so its earlier progress is replaced."""
    if whole_date:
        conn.execute(delete(P).where(P.c.business_date == day, P.c.stage == stage))
        ids = []
    else:
        ids = sorted({int(t) for t in built} | {WATERMARK})
    for start in range(0, len(ids), _CHUNK):
        conn.execute(delete(P).where(P.c.business_date == day, P.c.stage == stage,
                                     P.c.transaction_id.in_(ids[start:start + _CHUNK])))
    rows = [{"business_date": day, "stage": stage, "transaction_id": int(t), "landing_id": int(landing)}
            for t, landing in built.items()]
    rows.append({"business_date": day, "stage": stage, "transaction_id": WATERMARK, "landing_id": int(watermark)})
    for start in range(0, len(rows), _CHUNK):
        conn.execute(insert(P), rows[start:start + _CHUNK])


def progress_of(conn: Connection | Engine, day: date, stage: str) -> dict[int, int]:
    """Every transaction the stage has built for the date, with the landing row it was built from."""
    query = select(P.c.transaction_id, P.c.landing_id).where(P.c.business_date == day, P.c.stage == stage,
                                                             P.c.transaction_id != WATERMARK)
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return {int(t): int(landing) for t, landing in c.execute(query)}
    return {int(t): int(landing) for t, landing in conn.execute(query)}


def landing_rows(conn: Connection | Engine, day: date, up_to: int, transactions: Sequence[int] | None = None) -> list[dict]:
    """The date's landing rows up to the watermark, of the given transactions only when named."""
    t = paytrace_landing
    base = (select(t.c.id, t.c.transaction_id, t.c.state, t.c.source, t.c.business_date, t.c.payload)
            .where(t.c.business_date == day, t.c.id <= up_to).order_by(t.c.id))
    ids = None if transactions is None else sorted({int(x) for x in transactions})
    queries = [base] if ids is None else [base.where(t.c.transaction_id.in_(ids[i:i + _CHUNK])) for i in range(0, len(ids), _CHUNK)]

    def read(c: Connection) -> list[dict]:
        return [dict(r._mapping) for q in queries for r in c.execute(q)]

    if isinstance(conn, Engine):
        with conn.connect() as c:
            return read(c)
    return read(conn)
