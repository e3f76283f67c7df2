"""The exception queue past its thresholds and batches not tied out after N business days, read from a
seeded warehouse (SQLite and PostgreSQL): the incidents found, their text, and resolution when they clear."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from paysync_dagster.lib.alerts import QUEUE_KINDS, sync
from paysync_dagster.lib.alerts.detect import (Thresholds, batch_incidents, business_days_after, latest_overdue_date,
                                               queue_incidents, read_queue, read_untied_batches)
from paysync_dagster.lib.alerts.store import incident_rows
from paysync_dagster.lib.warehouse import begin_write
from paysync_dagster.lib.warehouse.tables import payment_exceptions
from paysync_dagster_tests.lib.alerts.seed import (add_batches, add_exceptions, assert_no_card_data, exception,
                                                   reconciled_batch, settlement_batch, variance)

NOW = datetime(2026, 11, 4, 12, 0)  # a Wednesday
TODAY = NOW.date()
LIMITS = Thresholds(max_open_exceptions=3, max_exception_age_hours=24, max_open_amount_minor=100_000,
                    batch_untied_business_days=3)


def seed_queue(engine: Engine) -> None:
    add_exceptions(engine, [
        exception(1001, 50_000, NOW - timedelta(hours=49)),
        exception(1002, -30_000, NOW - timedelta(hours=5), reason_code="refund_above_original"),
        exception(1003, 20_000, NOW - timedelta(hours=3)),
        exception(1004, 10_000, NOW - timedelta(hours=2)),
        exception(1005, 5_000, NOW - timedelta(hours=1), currency="CAD"),
        exception(1006, 900_000, NOW - timedelta(days=9), status="resolved"),
    ])


def test_the_queue_past_each_threshold_is_one_incident_each(engine: Engine) -> None:
    seed_queue(engine)
    figures = read_queue(engine, amount_over=LIMITS.max_open_amount_minor)
    assert figures.open_count == 5 and figures.by_currency == {"USD": (4, 110_000), "CAD": (1, 5_000)}
    assert figures.by_reason == [("no_invoice_match", 4), ("refund_above_original", 1)]
    found = {i.key: i for i in queue_incidents(figures, LIMITS, NOW, "Prod")}
    assert set(found) == {"exception_queue_count", "exception_queue_age", "exception_queue_amount:USD"}
    assert found["exception_queue_count"].title == "[PaySync Prod] 5 open exceptions (threshold 3)"
    assert found["exception_queue_age"].title.startswith("[PaySync Prod] Exception open for 49 h")
    amount = found["exception_queue_amount:USD"]
    assert "1,100.00 USD in open exceptions (threshold 1,000.00 USD)" in amount.title
    # the largest first, by what is at stake: the refund's -300.00 comes second
    lines = [line for line in amount.text.splitlines() if line.startswith("  #")]
    assert [line.split()[2] for line in lines] == ["1001", "1002", "1003", "1004"]
    assert "-300.00 USD" in amount.text and "CAD" not in amount.text
    assert_no_card_data(*(i.title + i.text for i in found.values()))


def test_queue_incidents_resolve_when_the_queue_is_worked_and_recur_as_new_occurrences(engine: Engine) -> None:
    seed_queue(engine)
    for tick in range(3):
        at = NOW + timedelta(minutes=tick)
        synced = sync(engine, QUEUE_KINDS, queue_incidents(read_queue(engine, LIMITS.max_open_amount_minor), LIMITS, at), at)
        assert len(synced.opened) == (3 if tick == 0 else 0) and synced.resolved == []
    with begin_write(engine) as conn:  # a person resolves all but one
        conn.execute(update(payment_exceptions).where(payment_exceptions.c.transaction_id != 1004).values(status="resolved"))
    later = NOW + timedelta(hours=1)
    synced = sync(engine, QUEUE_KINDS, queue_incidents(read_queue(engine, LIMITS.max_open_amount_minor), LIMITS, later), later)
    # one open exception left, 2 h old and 100.00 USD: under every threshold
    assert synced.opened == [] and sorted(synced.resolved) == ["exception_queue_age", "exception_queue_amount:USD",
                                                                "exception_queue_count"]
    rows = incident_rows(engine, "exception_queue")
    assert [(r["incident_key"], r["resolved_at"]) for r in rows] == [
        ("exception_queue_count", later), ("exception_queue_age", later), ("exception_queue_amount:USD", later)]
    add_exceptions(engine, [exception(2000 + i, 1_000, later) for i in range(4)])
    synced = sync(engine, QUEUE_KINDS, queue_incidents(read_queue(engine, LIMITS.max_open_amount_minor), LIMITS, later), later)
    assert synced.opened == ["exception_queue_count"]
    assert [r["occurrence"] for r in incident_rows(engine, "exception_queue_count")] == [1, 2]


def test_business_days_skip_weekends() -> None:
    friday, wednesday = date(2026, 10, 30), date(2026, 11, 4)
    assert business_days_after(friday, wednesday) == 3 and business_days_after(wednesday, friday) == 0
    for n in range(1, 12):
        last = latest_overdue_date(wednesday, n)
        assert business_days_after(last, wednesday) >= n > business_days_after(last + timedelta(days=1), wednesday)


def test_batches_not_tied_out_after_n_business_days(engine: Engine) -> None:
    friday, monday = date(2026, 10, 30), date(2026, 11, 2)
    add_batches(engine,
                settled=[settlement_batch(501, friday, 120_000), settlement_batch(502, friday, 80_000),
                         settlement_batch(503, friday, 10_000), settlement_batch(504, monday, 40_000),
                         settlement_batch(505, date(2026, 10, 29), 70_000)],
                reconciled=[reconciled_batch(501, friday, 120_000, tied=False, erp_variance_minor=2_500),
                            reconciled_batch(502, friday, 80_000, tied=False, erp_variance_minor=1_000),
                            reconciled_batch(503, friday, 10_000, tied=True),
                            reconciled_batch(504, monday, 40_000, tied=False, erp_variance_minor=4_000)],
                variances=[variance(501, friday, "unexplained", 2_000), variance(501, friday, "missing_in_erp", 500),
                           variance(502, friday, "timing", 1_000), variance(504, monday, "unexplained", 4_000)])
    untied = read_untied_batches(engine, TODAY, LIMITS.batch_untied_business_days)
    assert [(b.batch_number, b.erp) for b in untied] == [(501, "oracle"), (505, "")]
    found = {i.key: i for i in batch_incidents(untied, TODAY)}
    assert set(found) == {"batch_not_tied:501:oracle", "batch_not_tied:505:-"}
    text = found["batch_not_tied:501:oracle"].text
    assert "net 1,200.00 USD" in text and "3 business days later" in text and "ERP variance: 25.00 USD" in text
    assert "erp leg, unexplained: 20.00 USD" in text and "erp leg, missing_in_erp: 5.00 USD" in text
    assert "no reconciliation" in found["batch_not_tied:505:-"].text
    assert_no_card_data(*(i.title + i.text for i in found.values()))
    # a day later batch 504 (Monday) has waited 3 business days too
    assert [b.batch_number for b in read_untied_batches(engine, TODAY + timedelta(days=1), 3)] == [501, 504, 505]
