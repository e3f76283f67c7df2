"""What the warehouse says needs a person: the exception queue past its thresholds, and settlement
batches not tied out after N business days. Each read is a few aggregate queries, bounded by rows or by
a window of business dates, cheap enough for a sensor tick.

A batch is "tied out" as the ``batch_tie_out`` KPI counts it (lib/reconciliation/kpis.py): tied to the
cent, or differing only by causes that are the business, not an error (a refund settled later, a
chargeback, fees, a deposit in transit). A batch with no reconciliation at all is not tied out either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, and_, exists, false, func, select

from paysync_dagster.lib.alerts.incidents import BATCH_NOT_TIED, QUEUE_AGE, QUEUE_AMOUNT, QUEUE_COUNT, Incident, titled
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.reconciliation.kpis import EXPLAINED
from paysync_dagster.lib.warehouse.tables import (
    payment_exceptions,
    paytrace_settlement_batches,
    reconciliation_batches,
    reconciliation_variances,
)

OPEN = "open"
LISTED = 5  # exceptions or reasons named in a message
# Batches older than this are not looked at: they were alerted on when they crossed N business days.
BATCH_LOOKBACK_DAYS = 90
MAX_BATCHES = 200


@dataclass(frozen=True)
class Thresholds:
    """The mapping file's ``alerts`` section, as the detectors read it."""

    max_open_exceptions: int
    max_exception_age_hours: int
    max_open_amount_minor: int
    batch_untied_business_days: int

    @classmethod
    def of(cls, section: object) -> Thresholds:
        return cls(**{name: int(getattr(section, name)) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class OpenException:
    id: int
    transaction_id: int
    business_date: date
    stage: str
    reason_code: str
    amount_minor: int
    currency: str
    created_at: datetime

    def line(self) -> str:
        return (f"#{self.id} transaction {self.transaction_id} ({self.business_date}, {self.stage}): {self.reason_code}, "
                f"{format_amount(self.amount_minor, self.currency)}, open since {self.created_at:%Y-%m-%d %H:%M} UTC")


@dataclass(frozen=True)
class QueueFigures:
    open_count: int
    oldest_at: datetime | None
    by_currency: dict[str, tuple[int, int]]  # currency -> (count, amount at stake in minor units)
    by_reason: list[tuple[str, int]]  # the most frequent reason codes, most first
    oldest: list[OpenException]
    largest: dict[str, list[OpenException]] = field(default_factory=dict)  # for the currencies over the amount


_E = payment_exceptions
_COLUMNS = (_E.c.id, _E.c.transaction_id, _E.c.business_date, _E.c.stage, _E.c.reason_code, _E.c.amount_minor,
            _E.c.currency, _E.c.created_at)


def _exceptions(conn, query) -> list[OpenException]:  # noqa: ANN001
    return [OpenException(*row) for row in conn.execute(query)]


def read_queue(engine: Engine, amount_over: int | None = None) -> QueueFigures:
    """The open queue in figures (amounts at stake: absolute values, a refund's exception counts too);
    with ``amount_over``, the largest open exceptions of each currency whose total is above it."""
    is_open = _E.c.status == OPEN
    with engine.connect() as conn:
        count, oldest_at = conn.execute(select(func.count(), func.min(_E.c.created_at)).where(is_open)).one()
        by_currency = {str(c): (int(n), int(a or 0)) for c, n, a in conn.execute(
            select(_E.c.currency, func.count(), func.sum(func.abs(_E.c.amount_minor))).where(is_open).group_by(_E.c.currency))}
        by_reason = [(str(r), int(n)) for r, n in conn.execute(
            select(_E.c.reason_code, func.count().label("n")).where(is_open).group_by(_E.c.reason_code)
            .order_by(func.count().desc(), _E.c.reason_code).limit(LISTED))]
        oldest = _exceptions(conn, select(*_COLUMNS).where(is_open).order_by(_E.c.created_at, _E.c.id).limit(LISTED))
        largest = {}
        if amount_over is not None:
            for currency, (_, amount) in by_currency.items():
                if amount > amount_over:
                    largest[currency] = _exceptions(conn, select(*_COLUMNS).where(is_open, _E.c.currency == currency)
                                                    .order_by(func.abs(_E.c.amount_minor).desc(), _E.c.id).limit(LISTED))
    return QueueFigures(int(count), oldest_at, by_currency, by_reason, oldest, largest)


def queue_incidents(figures: QueueFigures, limits: Thresholds, now: datetime, environment: str = "") -> list[Incident]:
    """One incident per threshold crossed: the open count, the oldest's age, the amount in a currency."""
    found = []
    reasons = ", ".join(f"{r} {n}" for r, n in figures.by_reason)
    if figures.open_count > limits.max_open_exceptions:
        found.append(Incident(
            key=QUEUE_COUNT, kind=QUEUE_COUNT,
            title=titled(environment, f"{figures.open_count} open exceptions (threshold {limits.max_open_exceptions})"),
            text="\n".join([f"The exception queue holds {figures.open_count} open exceptions, more than "
                            f"{limits.max_open_exceptions}.", f"Most frequent reasons: {reasons}.", "Oldest:",
                            *(f"  {e.line()}" for e in figures.oldest), _NEXT_STEP])))
    if figures.oldest_at is not None:
        age_hours = (now - figures.oldest_at).total_seconds() / 3600
        if age_hours > limits.max_exception_age_hours:
            found.append(Incident(
                key=QUEUE_AGE, kind=QUEUE_AGE,
                title=titled(environment, f"Exception open for {age_hours:.0f} h "
                                          f"(threshold {limits.max_exception_age_hours} h)"),
                text="\n".join([f"The oldest open exception has waited {age_hours:.0f} hours, more than "
                                f"{limits.max_exception_age_hours}.", "Oldest:",
                                *(f"  {e.line()}" for e in figures.oldest), _NEXT_STEP])))
    for currency, (count, amount) in sorted(figures.by_currency.items()):
        if amount > limits.max_open_amount_minor:
            found.append(Incident(
                key=f"{QUEUE_AMOUNT}:{currency}", kind=QUEUE_AMOUNT,
                title=titled(environment, f"{format_amount(amount, currency)} in open exceptions "
                                          f"(threshold {format_amount(limits.max_open_amount_minor, currency)})"),
                text="\n".join([f"{count} open exceptions in {currency} hold {format_amount(amount, currency)}, more than "
                                f"{format_amount(limits.max_open_amount_minor, currency)}.", "Largest:",
                                *(f"  {e.line()}" for e in figures.largest.get(currency, [])), _NEXT_STEP])))
    return found


_NEXT_STEP = "Next step: `paysync exceptions list --status open` shows each with its suggested action."


def business_days_after(start: date, end: date) -> int:
    """Weekdays in (start, end]: 0 when end is not after start."""
    days, d = 0, start + timedelta(days=1)
    while d <= end:
        days += d.weekday() < 5
        d += timedelta(days=1)
    return days


def latest_overdue_date(today: date, business_days: int) -> date:
    """The latest date with at least ``business_days`` weekdays after it up to ``today``."""
    d, counted = today, 0
    while counted < business_days:
        counted += d.weekday() < 5
        d -= timedelta(days=1)
    return d


@dataclass(frozen=True)
class UntiedBatch:
    business_date: date
    batch_number: int
    erp: str  # "" when no ERP's reconciliation holds it
    currency: str
    net_minor: int
    erp_variance_minor: int | None
    bank_variance_minor: int | None
    causes: tuple[tuple[str, str, int], ...] = ()  # (leg, cause, amount_minor) not explained


def read_untied_batches(engine: Engine, today: date, business_days: int,
                        lookback_days: int = BATCH_LOOKBACK_DAYS, limit: int = MAX_BATCHES) -> list[UntiedBatch]:
    """Batches dated at least ``business_days`` business days before ``today`` (and within the lookback)
    whose reconciliation does not tie out, or that no reconciliation holds."""
    last = latest_overdue_date(today, business_days)
    first = today - timedelta(days=lookback_days)
    if last < first:
        return []
    b, v, s = reconciliation_batches, reconciliation_variances, paytrace_settlement_batches
    not_explained = and_(v.c.business_date == b.c.business_date, v.c.erp == b.c.erp, v.c.batch_number == b.c.batch_number,
                         v.c.cause.notin_(sorted(EXPLAINED)))
    with engine.connect() as conn:
        rows = conn.execute(
            select(b.c.business_date, b.c.batch_number, b.c.erp, b.c.currency, b.c.net_minor, b.c.erp_variance_minor,
                   b.c.bank_variance_minor)
            .where(b.c.business_date.between(first, last), b.c.tied == false(), exists().where(not_explained))
            .order_by(b.c.business_date, b.c.batch_number, b.c.erp).limit(limit)).all()
        causes: dict[tuple, list[tuple[str, str, int]]] = {}
        for d, erp, batch, leg, cause, amount in conn.execute(
                select(v.c.business_date, v.c.erp, v.c.batch_number, v.c.leg, v.c.cause, func.sum(v.c.amount_minor))
                .where(v.c.business_date.between(first, last), v.c.cause.notin_(sorted(EXPLAINED)))
                .group_by(v.c.business_date, v.c.erp, v.c.batch_number, v.c.leg, v.c.cause)):
            causes.setdefault((d, erp, int(batch)), []).append((str(leg), str(cause), int(amount or 0)))
        never = conn.execute(
            select(s.c.business_date, s.c.batch_number, s.c.currency, s.c.net_minor)
            .where(s.c.business_date.between(first, last),
                   ~exists().where(reconciliation_batches.c.batch_number == s.c.batch_number))
            .order_by(s.c.business_date, s.c.batch_number).limit(limit)).all()
    out = [UntiedBatch(d, int(n), str(erp), str(cur), int(net), ev, bv, tuple(causes.get((d, erp, int(n)), ())))
           for d, n, erp, cur, net, ev, bv in rows]
    out += [UntiedBatch(d, int(n), "", str(cur), int(net), None, None) for d, n, cur, net in never]
    return out


def batch_incidents(batches: Iterable[UntiedBatch], today: date, environment: str = "") -> list[Incident]:
    """One incident per batch and ERP reconciliation (or per batch no reconciliation holds)."""
    found = []
    for x in batches:
        days = business_days_after(x.business_date, today)
        net = format_amount(x.net_minor, x.currency)
        if x.erp:
            lines = [f"Settlement batch {x.batch_number} of {x.business_date} (net {net}) is not tied out in "
                     f"{x.erp} {days} business days later."]
            if x.erp_variance_minor:
                lines.append(f"ERP variance: {format_amount(x.erp_variance_minor, x.currency)}")
            if x.bank_variance_minor:
                lines.append(f"Bank variance: {format_amount(x.bank_variance_minor, x.currency)}")
            lines += [f"  {leg} leg, {cause}: {format_amount(amount, x.currency)}" for leg, cause, amount in x.causes[:10]]
            lines.append(f"Next step: the reconciliation report of {x.business_date} itemizes the variance "
                         f"(`paysync kpis` for the range).")
            title = f"Batch {x.batch_number} ({x.business_date}) not tied out in {x.erp} after {days} business days"
        else:
            lines = [f"Settlement batch {x.batch_number} of {x.business_date} (net {net}) has no reconciliation "
                     f"{days} business days later.",
                     f"Next step: materialize the reconciliation of {x.business_date}."]
            title = f"Batch {x.batch_number} ({x.business_date}) not reconciled after {days} business days"
        found.append(Incident(key=f"{BATCH_NOT_TIED}:{x.batch_number}:{x.erp or '-'}", kind=BATCH_NOT_TIED,
                              title=titled(environment, title), text="\n".join(lines)))
    return found
