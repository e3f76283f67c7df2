"""Writing to and reading from the landing table, the single raw record of what PayTrace said.

Both writers (the export poller and the webhook receiver) go through ``land``: records are scrubbed
of card data, keyed by transaction and state, and inserted with ON CONFLICT DO NOTHING, so any
number of redeliveries and re-pulls leave one row per (transaction, state).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from paysync_dagster.lib.paytrace.bulk import collector_paused
from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace.plain_read import FIELD_NAMES, READ_PATHS, exact_record
from paysync_dagster.lib.paytrace.records import dedup_key, landing_fields, landing_values, parse_record, payload_json
from paysync_dagster.lib.scrub import keeps_as_is, plain_json, scrub, untouched_json
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.sliced_writer import SlicedWriter
from paysync_dagster.lib.warehouse.tables import paytrace_landing

#: rows from which landing pauses the cyclic collector (an export's day, not the receiver's commits)
BULK_ROWS = 1_000
# Export-derived rows carry the state as an event type, in the webhook vocabulary.
STATE_EVENT_TYPES = {
    "authorized": "transaction.approved",
    "approved": "transaction.approved",
    "captured": "transaction.captured",
    "declined": "transaction.declined",
    "settled": "transaction.settled",
    "voided": "transaction.voided",
}


@dataclass(frozen=True)
class LandingRow:
    dedup_key: str
    transaction_id: int
    state: str
    source: str
    event_id: str | None
    event_type: str
    business_date: date
    occurred_at: datetime
    payload: str

    def as_dict(self, landed_at: datetime) -> dict[str, Any]:
        return {**self.__dict__, "landed_at": landed_at}


@dataclass(frozen=True)
class LandResult:
    received: int
    landed: int

    @property
    def duplicates(self) -> int:
        return self.received - self.landed


def landing_row_for_record(
    record: Mapping[str, Any],
    *,
    source: str,
    tz_name: str,
    state: str | None = None,
    event_id: str | None = None,
    event_type: str | None = None,
    occurred_at: datetime | None = None,
) -> LandingRow:
    """A landing row for one PayTrace record. Raises ``PayTraceDataError`` for a record that cannot be read."""
    # A record of the usual shape with nothing to scrub: see ``_usual_row``. Another record that is
    # clean (nothing to drop or mask, no value the warehouse cannot hold) is found so by
    # ``untouched_json``, which writes its text, and is read after. Any other takes the full walk.
    return (_usual_row(record, source, tz_name, state, event_id, event_type, occurred_at)
            or _other_row(record, source, tz_name, state, event_id, event_type, occurred_at))


def _other_row(record: Mapping[str, Any], source: str, tz_name: str, state: str | None = None,
               event_id: str | None = None, event_type: str | None = None,
               occurred_at: datetime | None = None) -> LandingRow:
    """``landing_row_for_record`` for a record ``_usual_row`` did not take."""
    if (payload := untouched_json(record) if type(record) is dict else None) is not None:
        transaction_id, shown, day, moment = landing_fields(record, tz_name)
    else:
        clean, _ = scrub(dict(record))
        parsed = parse_record(clean, tz_name)
        payload = payload_json(clean)
        transaction_id, shown, day = parsed["transaction_id"], parsed["state"], parsed["business_date"]
        moment = parsed["settled_at"] or parsed["created_at"]
    return _row(payload, transaction_id, state or shown, source, event_id, event_type, day, occurred_at or moment)


# ``plain_json`` takes a record ``exact_record`` passes only when every key of the contract is one the
# scrub keeps as it is (no card field among them); were one not, every record would take the long way.
_USUAL_RECORDS_FAST = all(map(keeps_as_is, FIELD_NAMES))
# Where ``exact_record``'s answer holds the values the landing table needs.
_TID, _TYPE, _CREATED_AT, _SETTLED = (READ_PATHS.index(p) for p in ("transaction_id", "transaction_type", "created.at", "settled"))


def _usual_row(record: Any, source: str, tz_name: str, state: str | None = None, event_id: str | None = None,
               event_type: str | None = None, occurred_at: datetime | None = None) -> LandingRow | None:
    """``landing_row_for_record`` for a record of the usual shape (``exact_record``) with nothing to
    scrub, None for any other. The contract reads the record and sees that it is made of plain values
    in one pass, then its JSON text is written and read once (``plain_json``): most records are clean,
    nothing to drop or mask and no value the warehouse cannot hold (an escape, a non-finite number or
    13 digits would show), so the record is its own scrubbed copy and the text its payload."""
    fields = _usual_fields(record, tz_name)
    if fields is None:
        return None
    payload, transaction_id, shown, day, moment = fields
    return _row(payload, transaction_id, state or shown, source, event_id, event_type, day, occurred_at or moment)


def _usual_fields(record: Any, tz_name: str) -> tuple[str, int, str, date, datetime] | None:  # noqa: ANN401
    """What ``_usual_row`` makes its row of: (payload, transaction id, state, business date, time), or None."""
    read = exact_record(record) if _USUAL_RECORDS_FAST else None
    if read is None:
        return None
    payload = plain_json(record)
    if payload is None:
        return None
    return (payload, *landing_values(read[_TID], read[_TYPE], record["approval_code"], read[_CREATED_AT], read[_SETTLED], tz_name))


def _row(payload: str, transaction_id: int, state: str, source: str, event_id: str | None, event_type: str | None,
         day: date, moment: datetime) -> LandingRow:
    """The ``LandingRow``, its fields set in one step in the order the generated ``__init__`` sets them,
    instead of nine (a frozen dataclass sets each through ``object.__setattr__``: a tenth of a row's cost)."""
    row = _new_object(LandingRow)
    _set_attribute(row, "__dict__", {
        "dedup_key": dedup_key(transaction_id, state),
        "transaction_id": transaction_id,
        "state": state,
        "source": source,
        "event_id": event_id,
        "event_type": event_type or _event_type(state),
        "business_date": day,
        "occurred_at": moment,
        "payload": payload,
    })
    return row


def _event_type(state: str) -> str:
    """The event type an export-derived row carries for its state."""
    return STATE_EVENT_TYPES.get(state) or f"transaction.{state}"


_new_object = object.__new__
_set_attribute = object.__setattr__


@dataclass(frozen=True)
class RefusedRecord:
    """A record PayTrace sent that cannot be landed: what can be read of it, and why (no card data)."""

    transaction_id: int  # 0 when the id itself cannot be read
    problem: str


def landing_rows_for_records(records: Sequence[Mapping[str, Any]], *, source: str, tz_name: str) -> tuple[list[LandingRow], list[RefusedRecord]]:
    """Landing rows for the records that can be read; the others refused one by one, so one bad
    record never keeps the rest of a pull out of the landing table."""
    rows: list[LandingRow] = []
    refused: list[RefusedRecord] = []
    with collector_paused():  # a row and its payload per record, none of them in a cycle: see bulk.py
        for record in records:
            try:
                rows.append(_usual_row(record, source, tz_name) or _other_row(record, source, tz_name))
            except PayTraceDataError as exc:
                tid = exc.transaction_id if isinstance(exc.transaction_id, int) else 0
                refused.append(RefusedRecord(tid, str(exc)))
    return rows, refused


def _insert_ignoring_conflicts(engine: Engine):
    dialect = engine.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(paytrace_landing).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(paytrace_landing).on_conflict_do_nothing()
    raise NotImplementedError(f"the warehouse supports SQLite and PostgreSQL, not {dialect}")


# The columns ``land`` writes, in the order of its parameter tuples (``id`` is the database's).
_LAND_COLUMNS = ("dedup_key", "transaction_id", "state", "source", "event_id", "event_type", "business_date",
                 "occurred_at", "landed_at", "payload")
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _insert_sql(engine: Engine, rows: int = 1) -> str | None:
    """``INSERT ... VALUES (...), ... ON CONFLICT DO NOTHING`` for ``rows`` rows of ``_LAND_COLUMNS``,
    positional, in the driver's own parameter style (straight to the driver), or None for another
    style. The database leaves out a row already there or earlier in the same statement."""
    _insert_ignoring_conflicts(engine)  # the same dialect check as ever
    mark = _PLACEHOLDERS.get(engine.dialect.paramstyle)
    if mark is None:
        return None
    quote = engine.dialect.identifier_preparer.quote
    values = f"({', '.join([mark] * len(_LAND_COLUMNS))})"
    return (f"INSERT INTO {quote(paytrace_landing.name)} ({', '.join(quote(c) for c in _LAND_COLUMNS)}) "
            f"VALUES {', '.join([values] * rows)} ON CONFLICT DO NOTHING")


def _params(row: LandingRow, day_of, moment_of, landed_at: Any) -> tuple:  # noqa: ANN001, ANN401
    """A row's parameters in the order of ``_LAND_COLUMNS``, its date and time as the driver takes them."""
    return (row.dedup_key, row.transaction_id, row.state, row.source, row.event_id, row.event_type,
            day_of(row.business_date), moment_of(row.occurred_at), landed_at, row.payload)


def _bind_processor(engine: Engine, column: str):  # noqa: ANN202
    """How SQLAlchemy writes a value of this column for this driver (SQLite: dates as text), or None."""
    kind = paytrace_landing.c[column].type
    return kind.dialect_impl(engine.dialect).bind_processor(engine.dialect)


def land(engine: Engine, rows: Sequence[LandingRow], *, chunk_size: int = 10_000) -> LandResult:
    """Insert rows that are not there yet, in one transaction. Returns how many were new.

    The database does the deduplication: every row is inserted with ON CONFLICT DO NOTHING, in
    order, so a row already landed, or repeated earlier in ``rows``, is left out (the first copy
    lands), and the driver's summed row count says how many were new. Rows go to the driver in
    large executemany batches, converted once the way SQLAlchemy would write them.
    """
    sql = _insert_sql(engine)
    if sql is None or not engine.dialect.supports_sane_multi_rowcount:
        return _land_returning(engine, rows, chunk_size=chunk_size)
    day_of = _remembering(_bind_processor(engine, "business_date"))
    moment_of = _remembering(_bind_processor(engine, "occurred_at"))
    landed_at = (_bind_processor(engine, "landed_at") or _as_is)(utcnow())
    landed = 0
    # An export's rows: a tuple per row, none in a cycle (see bulk.py). The receiver's few rows per
    # commit leave the long-running process's collector alone.
    paused = collector_paused() if len(rows) >= BULK_ROWS else nullcontext()
    with paused, begin_write(engine) as conn:
        for start in range(0, len(rows), chunk_size):
            params = [_params(r, day_of, moment_of, landed_at) for r in rows[start : start + chunk_size]]
            if params:
                landed += conn.exec_driver_sql(sql, params).rowcount
    return LandResult(received=len(rows), landed=landed)


#: rows per INSERT statement of ``land_records``: 10 parameters each, within every driver's limit
ROWS_PER_STATEMENT = 1_000


def land_records(engine: Engine, records: Sequence[Mapping[str, Any]], *, source: str, tz_name: str,
                 rows_per_commit: int = 10_000) -> tuple[LandResult, list[RefusedRecord]]:
    """``landing_rows_for_records`` then ``land``, for a pull of any size: the records that can be
    read are landed (deduplicated by the database as ``land`` does), the others refused one by one.

    The reading and the inserting run side by side (``SlicedWriter``): statements of
    ``ROWS_PER_STATEMENT`` rows go to a writer thread while the next records are read. The rows are
    committed in slices of ``rows_per_commit``, so the receiver's commits are not held up behind a
    whole day's export; a pull cut off midway leaves whole slices, which a new pull completes
    without doubling a row (the caller records the pull as complete only after this returns).
    """
    if _insert_sql(engine) is None:
        rows, refused = landing_rows_for_records(records, source=source, tz_name=tz_name)
        return land(engine, rows), refused
    day_of = _remembering(_bind_processor(engine, "business_date"))
    moment_of = _remembering(_bind_processor(engine, "occurred_at"))
    landed_at = (_bind_processor(engine, "landed_at") or _as_is)(utcnow())
    days: dict[date, Any] = {}
    moments: dict[datetime, Any] = {}
    statements: dict[int, str] = {}
    refused: list[RefusedRecord] = []
    received = 0
    with collector_paused(), SlicedWriter(engine, rows_per_commit=rows_per_commit) as writer:
        for start in range(0, len(records), ROWS_PER_STATEMENT):
            params: list[Any] = []
            for record in records[start : start + ROWS_PER_STATEMENT]:
                try:
                    usual = _usual_fields(record, tz_name)
                    other = _other_row(record, source, tz_name) if usual is None else None
                except PayTraceDataError as exc:
                    refused.append(RefusedRecord(exc.transaction_id if isinstance(exc.transaction_id, int) else 0, str(exc)))
                    continue
                if other is not None:
                    params += _params(other, day_of, moment_of, landed_at)
                    continue
                # The usual record's values straight into the statement's parameters (no row object). Its
                # date and naive UTC time as the driver takes them, each written once (looked up here rather
                # than through ``day_of``/``moment_of``: two calls a row saved).
                payload, transaction_id, state, day, moment = usual
                if (day_text := days.get(day)) is None:
                    day_text = days[day] = day_of(day)
                if (moment_text := moments.get(moment)) is None:
                    moment_text = moments[moment] = moment_of(moment)
                params += (dedup_key(transaction_id, state), transaction_id, state, source, None, _event_type(state),
                           day_text, moment_text, landed_at, payload)
            rows = len(params) // len(_LAND_COLUMNS)
            if rows:
                received += rows
                if rows not in statements:  # every full statement of a pull shares one text
                    statements[rows] = _insert_sql(engine, rows)
                writer.put(statements[rows], params, rows)
    return LandResult(received=received, landed=writer.rowcount), refused


def _as_is(value: Any) -> Any:
    return value


def _remembering(processor):  # noqa: ANN001, ANN202
    """``processor`` (a date or datetime column's), each distinct value written out once: a pull has a
    few business dates and many shared settlement times. Only a date or a naive datetime is
    remembered, whose equals have the same fields (an aware one equals other zones' same instant)."""
    if processor is None:
        return _as_is
    written: dict[Any, Any] = {}

    def write(value: Any) -> Any:
        kind = type(value)
        if kind is not date and (kind is not datetime or value.tzinfo is not None):
            return processor(value)
        text = written.get(value)
        if text is None:
            text = written[value] = processor(value)
        return text

    return write


def _land_returning(engine: Engine, rows: Sequence[LandingRow], *, chunk_size: int) -> LandResult:
    """``land`` through SQLAlchemy, counting the new rows by the ids the database returns."""
    landed = 0
    now = utcnow()
    stmt = _insert_ignoring_conflicts(engine).returning(paytrace_landing.c.id)
    with begin_write(engine) as conn:
        for start in range(0, len(rows), chunk_size):
            chunk = [r.as_dict(now) for r in rows[start : start + chunk_size]]
            # Dedupe within the chunk too: ON CONFLICT sees only committed or earlier rows.
            seen: dict[str, dict[str, Any]] = {}
            for r in chunk:
                seen.setdefault(r["dedup_key"], r)
            landed += len(conn.execute(stmt, list(seen.values())).all())
    return LandResult(received=len(rows), landed=landed)


def landing_rows_for_dates(engine: Engine, days: Iterable[date]) -> list[dict[str, Any]]:
    t = paytrace_landing
    with engine.connect() as conn:
        result = conn.execute(
            select(t.c.id, t.c.transaction_id, t.c.state, t.c.source, t.c.business_date, t.c.payload)
            .where(t.c.business_date.in_(sorted(set(days))))
            .order_by(t.c.id)
        )
        return [dict(r._mapping) for r in result]


def landing_dates_after(engine: Engine, after_id: int, limit: int) -> list[dict[str, Any]]:
    """For the next ``limit`` landing rows after a cursor: each business date touched, its row count and highest id.

    One indexed range read, aggregated in the database, so a sensor tick stays short at any backlog.
    """
    t = paytrace_landing
    window = select(t.c.id, t.c.business_date).where(t.c.id > after_id).order_by(t.c.id).limit(limit).subquery()
    with engine.connect() as conn:
        result = conn.execute(
            select(window.c.business_date, func.count().label("rows"), func.max(window.c.id).label("max_id"))
            .group_by(window.c.business_date)
            .order_by(window.c.business_date)
        )
        return [dict(r._mapping) for r in result]
