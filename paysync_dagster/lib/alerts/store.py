"""``alert_incidents``: each incident opened once, sent once per channel, resolved when it clears.

A sensor that sees an incident calls :func:`open_incident` (or :func:`sync` with everything its
detector found, which also resolves what it no longer finds), then :func:`deliver`. An incident already
open is not opened again, so however many ticks see it, it is sent once; after it is resolved, the same
key seen again is a new occurrence and is sent again.

Delivery is per channel: a channel that fails is recorded (its name and the error's class) and tried
again at the next :func:`deliver`, without holding up the other channel or sending that one twice. Two
sensors delivering at once do not both send: each claims an incident for ``CLAIM_SECONDS`` first.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from paysync_dagster.lib.alerts.incidents import Incident, redact
from paysync_dagster.lib.alerts.senders import Channel, DeliveryError
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import alert_incidents as T

log = logging.getLogger("paysync.alerts")

# Longer than the channels' timeouts together: a claim outlives the sends it covers.
CLAIM_SECONDS = 120
DUE_PER_CALL = 50


def open_incident(engine: Engine, incident: Incident, now: datetime) -> bool:
    """Open ``incident`` unless an occurrence of its key is open; True when opened now."""
    with begin_write(engine) as conn:
        if conn.execute(select(T.c.id).where(T.c.incident_key == incident.key, T.c.resolved_at.is_(None))).first():
            return False
        last = conn.execute(select(func.max(T.c.occurrence)).where(T.c.incident_key == incident.key)).scalar()
        try:
            with conn.begin_nested():
                conn.execute(insert(T).values(
                    incident_key=incident.key, occurrence=int(last or 0) + 1, kind=incident.kind, title=incident.title,
                    message=incident.text, opened_at=now, attempts=0))
        except IntegrityError:  # another process opened this occurrence between our read and insert
            return False
    return True


def resolve(engine: Engine, keys: Iterable[str], now: datetime) -> list[str]:
    """Resolve the open occurrences of ``keys``; the keys that were open."""
    keys = sorted(set(keys))
    if not keys:
        return []
    with begin_write(engine) as conn:
        found = [k for (k,) in conn.execute(select(T.c.incident_key).where(T.c.incident_key.in_(keys),
                                                                             T.c.resolved_at.is_(None)))]
        if found:
            conn.execute(update(T).where(T.c.incident_key.in_(found), T.c.resolved_at.is_(None))
                         .values(resolved_at=now, claimed_until=None))
    return found


def open_rows(engine: Engine, kinds: Collection[str] | None = None) -> list[dict[str, Any]]:
    """The open incidents (of ``kinds``), oldest first."""
    query = select(T).where(T.c.resolved_at.is_(None)).order_by(T.c.id)
    if kinds is not None:
        query = query.where(T.c.kind.in_(sorted(kinds)))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


@dataclass
class Synced:
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def sync(engine: Engine, kinds: Collection[str], found: Iterable[Incident], now: datetime) -> Synced:
    """A detector's whole finding for ``kinds``: what is new is opened, what is open and no longer
    found is resolved."""
    out = Synced()
    found = list(found)
    for incident in found:
        assert incident.kind in kinds, f"{incident.kind} is not among {kinds}"
        if open_incident(engine, incident, now):
            out.opened.append(incident.key)
    still = {i.key for i in found}
    gone = [r["incident_key"] for r in open_rows(engine, kinds) if r["incident_key"] not in still]
    out.resolved = resolve(engine, gone, now)
    return out


@dataclass
class Delivery:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (incident key, channel)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (incident key, channel, reason)

    def summary(self) -> str:
        parts = [f"sent {len(self.sent)}"]
        if self.failed:
            parts.append(f"failed {len(self.failed)} (" + ", ".join(f"{k} via {c}: {r}" for k, c, r in self.failed[:5]) + ")")
        return ", ".join(parts)


def _claim(engine: Engine, incident_id: int, now: datetime) -> bool:
    with begin_write(engine) as conn:
        claimed = conn.execute(
            update(T).where(T.c.id == incident_id, T.c.notified_at.is_(None), T.c.resolved_at.is_(None),
                            or_(T.c.claimed_until.is_(None), T.c.claimed_until < now))
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS)))
        return claimed.rowcount == 1


def _record(engine: Engine, incident_id: int, values: dict[str, Any]) -> None:
    with begin_write(engine) as conn:
        conn.execute(update(T).where(T.c.id == incident_id).values(**values))


def deliver(engine: Engine, channels: Sequence[Channel], now: datetime, secrets: Iterable[str] = (),
            limit: int = DUE_PER_CALL) -> Delivery:
    """Send each open incident not yet notified to each channel that does not have it yet. A channel
    that fails is left for the next call; the incident counts as notified once every channel has it."""
    out = Delivery()
    if not channels:
        return out
    secrets = list(secrets)
    with engine.connect() as conn:
        due = [dict(r._mapping) for r in conn.execute(
            select(T).where(T.c.resolved_at.is_(None), T.c.notified_at.is_(None),
                            or_(T.c.claimed_until.is_(None), T.c.claimed_until < now))
            .order_by(T.c.id).limit(limit))]
    for candidate in due:
        if not _claim(engine, candidate["id"], now):
            continue  # another sensor is sending it
        with engine.connect() as conn:  # as it is now: a channel may have been sent since the read above
            row = dict(conn.execute(select(T).where(T.c.id == candidate["id"])).one()._mapping)
        # The stored text was cleaned when it was made; the secrets known now are taken out again.
        title, text = redact(row["title"], secrets), redact(row["message"], secrets)
        failed = []
        for channel in channels:
            column = f"{channel.name}_notified_at"
            if row.get(column) is not None:
                continue
            try:
                channel.send(title, text)
            except DeliveryError as exc:
                failed.append(exc)
                out.failed.append((row["incident_key"], channel.name, exc.reason))
                log.warning("alert %s not delivered by %s: %s", row["incident_key"], channel.name, exc.reason)
                continue
            _record(engine, row["id"], {column: now})
            out.sent.append((row["incident_key"], channel.name))
        done = {"claimed_until": None, "attempts": T.c.attempts + 1}
        if failed:
            done["last_error"] = "; ".join(str(e) for e in failed)
        else:
            done["notified_at"] = now
        _record(engine, row["id"], done)
    return out


def incident_rows(engine: Engine, key_prefix: str = "") -> list[dict[str, Any]]:
    """Every occurrence (of keys starting with ``key_prefix``), in order: for the CLI, docs and tests."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(T).where(T.c.incident_key.startswith(key_prefix, autoescape=True)).order_by(T.c.id))]

