"""``GET /metrics``: the receiver's own counters and the pipeline's figures, in Prometheus' text format.

Each app has its own ``CollectorRegistry`` (never the process-wide one), so several receivers in one
process keep their own counts. The receiver counts what it accepted, what it refused and why, and
how long each commit took; the pipeline figures are read from the warehouse when Prometheus scrapes,
a few indexed aggregates bounded by business dates (``PIPELINE_WINDOW_DAYS``), except the open
exception queue, which is read whole (it is what people still have to work).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, false, func, select, true
from sqlalchemy.exc import SQLAlchemyError

from paysync_dagster.lib.reconciliation.kpis import EXPLAINED
from paysync_dagster.lib.timeutil import zone
from paysync_dagster.lib.warehouse.tables import (
    oracle_cash_receipts,
    payment_exceptions,
    posting_ledger,
    reconciliation_batches,
    reconciliation_variances,
    sage_cash_receipts,
)

log = logging.getLogger("paysync.webhooks")

# Why the receiver refused an event: the label values of paysync_webhook_events_rejected_total, each
# present from the start (at 0) so that a dashboard's rate() sees the first refusal.
REJECT_REASONS = {
    "headers": 431,
    "content_type": 415,
    "body_too_large": 413,
    "body_timeout": 408,
    "disconnected": 400,
    "signature.header": 401,
    "signature.timestamp": 401,
    "signature.signature": 401,
    "envelope": 400,
    "refused": 400,
    "warehouse_unavailable": 503,
    "internal_error": 500,
}
# Seconds: a SQLite group commit is a few ms; PostgreSQL over a network, tens.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
PIPELINE_WINDOW_DAYS = 35
CASH_RECEIPTS = {"oracle": oracle_cash_receipts, "sage": sage_cash_receipts}
OWN_RECEIPT = ("applied", "on_account")


class ReceiverMetrics:
    """The receiver's metrics, in a registry of its own."""

    def __init__(self, engine: Engine | None = None, tz_name: str = "UTC", window_days: int = PIPELINE_WINDOW_DAYS):
        self.registry = CollectorRegistry()
        self.accepted = Counter("paysync_webhook_events_accepted", "Events acknowledged with 200; duplicate=\"true\" "
                                "for a redelivery or a state already landed (no new row)", ["duplicate"],
                                registry=self.registry)
        self.rejected = Counter("paysync_webhook_events_rejected", "Events refused, by reason (docs/alerts-and-metrics.md "
                                "maps each reason to its HTTP status)", ["reason"], registry=self.registry)
        self.commit_seconds = Histogram("paysync_webhook_commit_seconds", "Time of each commit of landing rows (on "
                                        "SQLite a group commit of every request waiting), in seconds",
                                        buckets=COMMIT_BUCKETS, registry=self.registry)
        self.commit_rows = Histogram("paysync_webhook_commit_rows", "Requests whose rows one commit landed",
                                     buckets=COMMIT_ROW_BUCKETS, registry=self.registry)
        for duplicate in ("false", "true"):
            self.accepted.labels(duplicate=duplicate)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason=reason)
        if engine is not None:
            self.registry.register(PipelineCollector(engine, tz_name, window_days))

    def count_answer(self, status: int, reason: str | None, duplicate: bool | None) -> None:
        if status == 200:
            self.accepted.labels(duplicate="true" if duplicate else "false").inc()
        elif reason in REJECT_REASONS:
            self.rejected.labels(reason=reason).inc()
        else:  # an answer without a known reason is a defect: counted, not lost
            self.rejected.labels(reason="internal_error").inc()

    def observe_commit(self, seconds: float, rows: int) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_rows.observe(rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class PipelineCollector(Collector):
    """The pipeline's figures, read from the warehouse at each scrape."""

    def __init__(self, engine: Engine, tz_name: str = "UTC", window_days: int = PIPELINE_WINDOW_DAYS):
        self.engine = engine
        self.tz_name = tz_name
        self.window_days = window_days

    def describe(self) -> list[Metric]:
        return []  # read at scrape time only: registering it must not query the warehouse

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("paysync_pipeline_metrics_up", "1 when the warehouse answered this scrape's pipeline "
                               "queries, 0 when it could not be read (the figures below are then absent)")
        today = datetime.now(timezone.utc).astimezone(zone(self.tz_name)).date()
        try:
            families = list(pipeline_families(self.engine, today - timedelta(days=self.window_days), self.window_days))
        except SQLAlchemyError as exc:
            log.warning("metrics: the warehouse could not be read", extra={"reason": type(exc).__name__})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def pipeline_families(engine: Engine, since: date, window_days: int) -> Iterator[Metric]:
    """The pipeline gauges for business dates from ``since`` (the open queue: whole)."""
    window = f"business dates of the last {window_days} days"
    posted = GaugeMetricFamily("paysync_receipts_posted", f"Cash receipts posted per ERP ({window}; posting ledger)",
                               labels=["erp"])
    open_ = GaugeMetricFamily("paysync_exceptions_open", "Open exceptions in the queue, by stage and reason code",
                              labels=["stage", "reason"])
    open_amount = GaugeMetricFamily("paysync_exceptions_open_amount_minor", "Amount at stake in open exceptions, in "
                                    "minor units of the currency (absolute values)", labels=["currency"])
    unapplied = GaugeMetricFamily("paysync_unapplied_cash_minor", f"Cash on receipts PaySync created not applied to an "
                                  f"invoice, in minor units of the currency ({window})", labels=["erp", "currency"])
    untied = GaugeMetricFamily("paysync_batches_not_tied", f"Settlement batches whose reconciliation does not tie out "
                               f"(variance not explained by refunds, chargebacks, fees or timing; {window})",
                               labels=["erp"])
    L, E, B, V = posting_ledger, payment_exceptions, reconciliation_batches, reconciliation_variances
    with engine.connect() as conn:
        for erp, n in conn.execute(select(L.c.erp, func.count()).where(
                L.c.business_date >= since, L.c.action == "receipt", L.c.status == "posted").group_by(L.c.erp)):
            posted.add_metric([str(erp)], int(n))
        is_open = E.c.status == "open"
        for stage, reason, n in conn.execute(select(E.c.stage, E.c.reason_code, func.count()).where(is_open)
                                             .group_by(E.c.stage, E.c.reason_code)):
            open_.add_metric([str(stage), str(reason)], int(n))
        for currency, amount in conn.execute(select(E.c.currency, func.sum(func.abs(E.c.amount_minor))).where(is_open)
                                             .group_by(E.c.currency)):
            open_amount.add_metric([str(currency)], int(amount or 0))
        for erp, table in CASH_RECEIPTS.items():
            for currency, amount in conn.execute(select(table.c.currency, func.sum(table.c.unapplied_minor)).where(
                    table.c.business_date >= since, table.c.owns_receipt == true(),
                    table.c.outcome.in_(OWN_RECEIPT)).group_by(table.c.currency)):
                unapplied.add_metric([erp, str(currency)], int(amount or 0))
        unexplained = select(V.c.batch_number).where(V.c.business_date == B.c.business_date, V.c.erp == B.c.erp,
                                                     V.c.batch_number == B.c.batch_number,
                                                     V.c.cause.notin_(sorted(EXPLAINED))).exists()
        for erp, n in conn.execute(select(B.c.erp, func.count()).where(B.c.business_date >= since, B.c.tied == false(),
                                                                        unexplained).group_by(B.c.erp)):
            untied.add_metric([str(erp)], int(n))
    yield from (posted, open_, open_amount, unapplied, untied)
