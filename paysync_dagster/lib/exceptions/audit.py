"""The audit log: who decided what, when, and what it was before and after.

Append-only by construction: this module only inserts and reads. Nothing in PaySync updates or
deletes an audit row, so the log can be trusted as the history of every decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select

from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.tables import audit_log

# Databases cap the rows of one multi-row INSERT; the driver pages inside each chunk too.
CHUNK = 5_000


def as_text(value: Any) -> str | None:
    """What ``before``/``after`` hold: JSON for structured values (sorted keys, so it diffs), text as is."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def entry(actor: str, action: str, subject: str, before: Any, after: Any, note: str | None,
          at: datetime | None = None) -> dict[str, Any]:
    if not actor or not action or not subject:
        raise ValueError("an audit entry needs an actor, an action and a subject")
    return {"at": at or utcnow(), "actor": actor, "action": action, "subject": subject,
            "before": as_text(before), "after": as_text(after), "note": note}


def record(conn: Connection, actor: str, action: str, subject: str, before: Any, after: Any, note: str | None,
           *, at: datetime | None = None) -> None:
    """Append one entry in the caller's transaction (it commits or rolls back with the change it records)."""
    conn.execute(audit_log.insert(), [entry(actor, action, subject, before, after, note, at)])


def record_many(conn: Connection, entries: Iterable[Mapping[str, Any]]) -> int:
    """Append entries built with :func:`entry`, in chunks; returns how many."""
    rows = list(entries)
    for start in range(0, len(rows), CHUNK):
        conn.execute(audit_log.insert(), rows[start:start + CHUNK])
    return len(rows)


def history(engine: Engine, *, subject: str | None = None, action: str | None = None) -> pd.DataFrame:
    """Entries in the order they were written, optionally for one subject or action."""
    q = select(audit_log).order_by(audit_log.c.id)
    if subject is not None:
        q = q.where(audit_log.c.subject == subject)
    if action is not None:
        q = q.where(audit_log.c.action == action)
    with engine.connect() as conn:
        result = conn.execute(q)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
