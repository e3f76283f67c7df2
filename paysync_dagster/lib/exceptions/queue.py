"""payment_exceptions as a work queue: stages report, people resolve or replay, everything audited.

A stage (normalize, oracle, sage, reconciliation) reports its whole set of exceptions for the dates it
ran. The set is merged on (business_date, transaction_id, stage, reason_code), so an exception keeps its
id, its age and a person's decision across re-runs; an open one the stage stops reporting is
``cleared`` (its cause went away) and says so in the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, and_, bindparam, insert, select, text, update

from paysync_dagster.lib.exceptions.audit import entry, record_many
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.io import clear_days, insert_rows
from paysync_dagster.lib.warehouse.tables import payment_exceptions as T

OPEN, RESOLVED, CLEARED = "open", "resolved", "cleared"
STATUSES = (OPEN, RESOLVED, CLEARED)
KEY = ["business_date", "transaction_id", "stage", "reason_code"]
CONTENT = ["reason", "amount_minor", "currency", "details", "suggested_action"]
SYSTEM_ACTOR = "paysync"
# Rows per statement (bound parameters are capped: SQLite 32,766, PostgreSQL 65,535).
CHUNK = 5_000
AGE_BUCKETS = ("<1d", "1-3d", "3-7d", ">7d")


class QueueError(ValueError):
    """A request the queue refuses; the message (one line) says what and which ids."""


def subject(exception_id: int) -> str:
    return f"payment_exceptions:{int(exception_id)}"


def state(status: str, reason_code: str, reason: str) -> dict[str, str]:
    """What an audit entry shows of an exception before and after a change."""
    return {"status": status, "reason_code": reason_code, "reason": reason}


@lru_cache(maxsize=4_096)
def state_json(status: str, reason_code: str, reason: str) -> str:
    # A day's exceptions share a handful of reasons: each is encoded once, not once per row.
    return json.dumps(state(status, reason_code, reason), sort_keys=True)


# -- the stages' side ---------------------------------------------------------------------------------


def write_stage_exceptions(conn_or_engine: Connection | Engine, days: Iterable[date], stage: str,
                           rows: Iterable[Mapping[str, Any]], *, now: datetime | None = None,
                           transactions: Collection[int] | None = None) -> dict[str, int]:
    """Merge a stage's new set of exceptions for ``days`` into the queue.

    Given a Connection, it runs in the caller's transaction, so a stage's tables and its exceptions
    change together. A row's ``created_at`` (when given) dates a new exception; ``status``/``id`` in
    ``rows`` are ignored: the queue owns them. With ``transactions``, the set is the stage's for those
    transactions only (a near-real-time run that built a few): the days' other exceptions stay as they are.
    """
    if isinstance(conn_or_engine, Engine):
        with begin_write(conn_or_engine) as conn:
            return _merge(conn, days, stage, rows, now or utcnow(), transactions)
    return _merge(conn_or_engine, days, stage, rows, now or utcnow(), transactions)


class StageWrite:
    """What ``stage_writer`` yields: call it with a table and rows to insert them (rows for
    payment_exceptions are kept for the merge); ``conn`` is the stage's transaction, for anything
    else that must change with the stage's tables."""

    def __init__(self, conn: Connection, chunk: int):
        self.conn = conn
        self.chunk = chunk
        self.reported: list[Mapping[str, Any]] = []

    def __call__(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if table is T:
            self.reported.extend(rows)
        else:
            insert_rows(self.conn, table, rows, self.chunk)


@contextmanager
def stage_writer(engine: Engine, days: Iterable[date], stage: str, clear: Mapping[Table, object | None],
                 chunk: int = CHUNK, *, transactions: Collection[int] | None = None) -> Iterator[StageWrite]:
    """One transaction for a stage's partition: deletes the days' rows of each table in ``clear``
    (narrowed by an optional condition, and to ``transactions`` when given: a near-real-time run
    rewrites the rows of the transactions it built), takes inserts as they are produced, and merges
    everything written to payment_exceptions into the queue before it commits."""
    if T in clear:
        raise ValueError("payment_exceptions is merged, never cleared")
    days = sorted(set(days))
    scope = None if transactions is None else sorted({int(t) for t in transactions})
    with begin_write(engine) as conn:
        for table, condition in clear.items():
            if scope is None:
                clear_days(conn, table, days, condition)
            else:
                for start in range(0, len(scope), chunk):
                    in_scope = table.c.transaction_id.in_(scope[start:start + chunk])
                    clear_days(conn, table, days, in_scope if condition is None else and_(condition, in_scope))
        write = StageWrite(conn, chunk)
        yield write
        write_stage_exceptions(conn, days, stage, write.reported, transactions=scope)


def _new_frame(rows: Iterable[Mapping[str, Any]], stage: str, days: list[date]) -> pd.DataFrame:
    columns = KEY + CONTENT + ["created_at"]
    df = pd.DataFrame(list(rows))
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("transaction_id", "amount_minor") else object)
                             for c in columns})
    missing = [c for c in KEY + CONTENT if c not in df.columns and c != "stage"]
    if missing:
        raise ValueError(f"exception rows lack {', '.join(missing)}")
    if "stage" in df.columns and (df["stage"] != stage).any():
        raise ValueError(f"the {stage} stage may only report its own exceptions")
    df = df.assign(stage=stage)
    df["business_date"] = pd.to_datetime(df["business_date"]).dt.date
    outside = sorted(set(df["business_date"]) - set(days))
    if outside:
        raise ValueError(f"exceptions dated {', '.join(map(str, outside))} are outside the dates written")
    df["transaction_id"] = df["transaction_id"].astype("int64")
    df["amount_minor"] = pd.to_numeric(df["amount_minor"]).astype("int64")
    if "created_at" not in df.columns:
        df["created_at"] = None
    # One exception per key: a stage reporting the same cause twice for a payment means one thing to do.
    return df.drop_duplicates(KEY, keep="last")[columns].reset_index(drop=True)


def _lock_stage(conn: Connection, days: list[date], stage: str) -> None:
    """On PostgreSQL two runs of a date (the sensor's and a backfill's) merge one after the other, not
    both inserting the same new key; SQLite's write transaction already serializes writers."""
    if conn.dialect.name == "postgresql":
        for day in days:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"payment_exceptions:{stage}:{day}"})


def _existing(conn: Connection, days: list[date], stage: str, scope: Sequence[int] | None) -> pd.DataFrame:
    base = (select(T.c.id, *[T.c[c] for c in KEY + CONTENT], T.c.status)
            .where(T.c.business_date.in_(days), T.c.stage == stage).order_by(T.c.id))
    if conn.dialect.name == "postgresql":
        base = base.with_for_update()  # a person resolving one of these waits for the merge, and the reverse
    queries = [base] if scope is None else [base.where(T.c.transaction_id.in_(scope[i:i + CHUNK]))
                                            for i in range(0, len(scope), CHUNK)]
    found = []
    columns: list[str] = []
    for q in queries:
        result = conn.execute(q)
        columns = list(result.keys())
        found.extend(result.fetchall())
    df = pd.DataFrame(found, columns=columns or ["id", *KEY, *CONTENT, "status"])
    for c in ("id", "transaction_id", "amount_minor"):
        df[c] = df[c].astype("int64")
    return df


def _merge(conn: Connection, days: Iterable[date], stage: str, rows: Iterable[Mapping[str, Any]],
           now: datetime, transactions: Collection[int] | None = None) -> dict[str, int]:
    days = sorted(set(days))
    new = _new_frame(rows, stage, days)
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "cleared": 0, "reopened": 0}
    if not days:
        return counts
    scope = None if transactions is None else sorted({int(t) for t in transactions})
    if scope is not None and not set(new["transaction_id"].tolist()) <= set(scope):
        raise ValueError(f"the {stage} stage reported exceptions outside the transactions it built")
    _lock_stage(conn, days, stage)
    old = _existing(conn, days, stage, scope)
    # Rows written before the queue merged may repeat a key: the oldest carries on, the others clear.
    first = old.drop_duplicates(KEY, keep="first")
    merged = new.merge(first, on=KEY, how="left", suffixes=("", "_old"))
    matched = merged[merged["id"].notna()].copy()
    fresh = merged[merged["id"].isna()]
    matched["id"] = matched["id"].astype("int64")
    matched["amount_minor_old"] = matched["amount_minor_old"].astype("int64")
    changed = np.zeros(len(matched), dtype=bool)
    for c in CONTENT:
        changed |= matched[c].to_numpy() != matched[f"{c}_old"].to_numpy()
    audit: list[dict[str, Any]] = []

    stmt = update(T).where(T.c.id == bindparam("_id")).values({c: bindparam(f"_{c}") for c in CONTENT})
    names = ["_id"] + [f"_{c}" for c in CONTENT]
    params = [dict(zip(names, values)) for values in _tuples(matched[changed], ["id"] + CONTENT)]
    for start in range(0, len(params), CHUNK):
        conn.execute(stmt, params[start:start + CHUNK])
    counts["updated"], counts["unchanged"] = len(params), len(matched) - len(params)

    # The cause came back after it had gone away: the exception is open again.
    back = matched[matched["status"] == CLEARED]
    _set_status(conn, back["id"].tolist(), CLEARED, OPEN)
    audit += [entry(SYSTEM_ACTOR, "exception.reopened", subject(i), state_json(CLEARED, code, was),
                    state_json(OPEN, code, reason), f"the {stage} stage reports it again for {day}", now)
              for i, code, was, reason, day in _tuples(back, ["id", "reason_code", "reason_old", "reason", "business_date"])]
    counts["reopened"] = len(back)

    columns = KEY + CONTENT
    inserts = [{**dict(zip(columns, values[:-1])), "status": OPEN, "created_at": utc_naive(values[-1]) or now}
               for values in _tuples(fresh, columns + ["created_at"])]
    for start in range(0, len(inserts), CHUNK):
        conn.execute(insert(T), inserts[start:start + CHUNK])
    counts["inserted"] = len(inserts)

    gone = old[~old["id"].isin(matched["id"]) & (old["status"] == OPEN)]
    _set_status(conn, gone["id"].tolist(), OPEN, CLEARED)
    audit += [entry(SYSTEM_ACTOR, "exception.cleared", subject(i), state_json(OPEN, code, reason),
                    state_json(CLEARED, code, reason), f"the {stage} stage no longer reports it for {day}", now)
              for i, code, reason, day in _tuples(gone, ["id", "reason_code", "reason", "business_date"])]
    counts["cleared"] = len(gone)
    record_many(conn, audit)
    return counts


def _set_status(conn: Connection, ids: Sequence[int], before: str, after: str) -> int:
    changed = 0
    for start in range(0, len(ids), CHUNK):
        chunk = [int(i) for i in ids[start:start + CHUNK]]
        changed += conn.execute(update(T).where(T.c.id.in_(chunk), T.c.status == before).values(status=after)).rowcount
    return changed


def _tuples(df: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    """Rows as tuples of Python values (``tolist`` unboxes numpy scalars, which drivers refuse); NaN -> None."""
    return list(zip(*[df[c].astype(object).where(df[c].notna(), None).tolist() for c in columns])) if len(df) else []


def utc_naive(moment: Any) -> datetime | None:
    if moment is None:
        return None
    moment = pd.Timestamp(moment).to_pydatetime()
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


# -- the people's side --------------------------------------------------------------------------------


def open_exceptions(engine: Engine, *, start: date | None = None, end: date | None = None, stage: str | None = None,
                    reason_code: str | None = None, status: str = OPEN, now: datetime | None = None) -> pd.DataFrame:
    """The queue, oldest business date first, with each exception's age since it was first reported.

    ``status`` is one of open, resolved, cleared, or "all". ``age_bucket`` is <1d, 1-3d, 3-7d or >7d
    (from 7 days on); ages are in UTC, as ``created_at`` is.
    """
    if status not in (*STATUSES, "all"):
        raise QueueError(f"status must be one of {', '.join(STATUSES)} or all, not {status!r}")
    q = select(T).order_by(T.c.business_date, T.c.id)
    for column, value in (("stage", stage), ("reason_code", reason_code), ("status", None if status == "all" else status)):
        if value is not None:
            q = q.where(T.c[column] == value)
    if start is not None:
        q = q.where(T.c.business_date >= start)
    if end is not None:
        q = q.where(T.c.business_date <= end)
    with engine.connect() as conn:
        result = conn.execute(q)
        df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    hours = ((pd.Timestamp(utc_naive(now) or utcnow()) - pd.to_datetime(df["created_at"])).dt.total_seconds()
             .clip(lower=0) // 3600).astype("int64")
    df["age_days"], df["age_hours"] = hours // 24, hours
    df["age"] = [f"{h // 24}d {h % 24}h" for h in hours]
    df["age_bucket"] = np.select([hours < 24, hours < 72, hours < 168], list(AGE_BUCKETS[:3]), AGE_BUCKETS[3]) \
        if len(df) else pd.Series(dtype=object)
    return df[["id", "business_date", "transaction_id", "stage", "reason_code", "reason", "amount_minor", "currency",
               "created_at", "age_days", "age_hours", "age", "age_bucket", "suggested_action", "status", "details"]]


def ids_for(engine: Engine, day: date, stage: str) -> list[int]:
    """The open exceptions of a stage on a business date."""
    ids = open_exceptions(engine, start=day, end=day, stage=stage)["id"].astype(int).tolist()
    if not ids:
        raise QueueError(f"no open {stage} exceptions on {day}")
    return ids


def checked_ids(ids: Iterable[int]) -> list[int]:
    out = list(dict.fromkeys(int(i) for i in ids))
    if not out:
        raise QueueError("name at least one exception id")
    return out


def checked_actor(actor: str) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise QueueError("an actor is required")
    return actor


def rows_by_id(conn: Connection, ids: Sequence[int], *, lock: bool = False) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), CHUNK):
        q = select(T).where(T.c.id.in_(list(ids[start:start + CHUNK])))
        if lock and conn.dialect.name == "postgresql":
            q = q.with_for_update()
        found.update({int(r["id"]): dict(r) for r in conn.execute(q).mappings()})
    return found


def check_open(ids: Sequence[int], rows: Mapping[int, Mapping[str, Any]]) -> None:
    """All or nothing: every id must name an open exception; the error lists every one that does not."""
    unknown = [str(i) for i in ids if i not in rows]
    not_open = [f"{i} ({rows[i]['status']})" for i in ids if i in rows and rows[i]["status"] != OPEN]
    problems = ([f"unknown exception ids: {', '.join(unknown)}"] if unknown else []) + \
               ([f"not open: {', '.join(not_open)}"] if not_open else [])
    if problems:
        raise QueueError("; ".join(problems) + "; nothing was changed")


def resolve(engine: Engine, ids: Iterable[int], note: str, actor: str, *, now: datetime | None = None) -> list[int]:
    """A person closes open exceptions with a note; all of them or none. Returns the ids resolved."""
    ids, actor, note = checked_ids(ids), checked_actor(actor), (note or "").strip()
    if not note:
        raise QueueError("a note is required: say why the exception needs nothing more")
    at = utc_naive(now) or utcnow()
    with begin_write(engine) as conn:
        rows = rows_by_id(conn, ids, lock=True)
        check_open(ids, rows)
        if _set_status(conn, ids, OPEN, RESOLVED) != len(ids):
            raise QueueError("the exceptions changed while they were being resolved; nothing was changed, try again")
        record_many(conn, [entry(actor, "exception.resolved", subject(i),
                                 state(OPEN, rows[i]["reason_code"], rows[i]["reason"]),
                                 state(RESOLVED, rows[i]["reason_code"], rows[i]["reason"]), note, at) for i in ids])
    return ids
