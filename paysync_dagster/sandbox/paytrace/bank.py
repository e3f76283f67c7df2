"""The merchant's bank statement for the PayTrace sandbox's history: the third leg of reconciliation.

``bank_statement(seed, start_date, end_date, per_day, tz_name)`` gives the BANK_LINES the bank would
report for the history ``generator.generate`` makes from the same arguments (the history the
sandbox serves). For every settlement batch:

- a deposit of the batch's net (sales and captures minus refunds, in cents), exactly the
  ``net_amount`` the sandbox's ``batches/export`` reports, described ``PAYTRACE DEPOSIT BATCH <n>``;
- a fee debit of 2.9 % of the batch's sales and captures (rounded half-even to the cent) plus 30
  cents per sale or capture, described ``PAYTRACE FEES BATCH <n>``;

both on the next business day (Monday to Friday; bank holidays are not modelled) after the batch's
business date, which is the merchant-local date it closed on. Batches are summed with the
sandbox's own :class:`~paysync_dagster.sandbox.paytrace.state.Batch`, so the two cannot disagree.
Every batch gets its lines, even when they land after ``end_date``. Line ids are deterministic:
the same seed and start date give the same id for the same batch, whatever the end date.

``write_bank_files`` writes the statement as CSV and as BAI2 (the same lines, so either can be
tested); ``paysync sandbox bank-files`` calls it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pandas as pd

from paysync_dagster.lib.reconciliation.bank import lines_frame, write_bai2, write_csv
from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE, business_date

from . import generator as g
from .generator import BATCH
from .state import Batch

FEE_RATE = Decimal("0.029")
FEE_PER_ITEM_MINOR = 30
BANK_ID = "SANDBOXBANK"
ACCOUNT_NUMBER = "000012345678"


def settled_batches(seed: int, start_date: date, end_date: date, per_day: int,
                    tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> list[Batch]:
    """The history's closed batches with their totals, by number; one generated day in memory at a time."""
    batches: dict[int, Batch] = {}
    for day in g.generate(seed, start_date, end_date, per_day, tz_name):
        if day.batch is not None:
            number, closed_at = day.batch
            batch = batches.get(number)
            if batch is None:
                batches[number] = Batch(number, closed_at)
            else:  # an evening record of the day before reached it first
                batch.closed_at = closed_at
        for rec in day.transactions:
            if rec[BATCH]:
                batch = batches.get(rec[BATCH])
                if batch is None:
                    batch = batches[rec[BATCH]] = Batch(rec[BATCH], 0)
                batch.add(rec)
    return [batches[n] for n in sorted(batches)]


def next_business_day(day: date) -> date:
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += timedelta(days=1)
    return nxt


def card_fee_minor(sales_minor: int, sales_count: int) -> int:
    """2.9 % of the sales and captures, half-even to the cent, plus 30 cents each (a positive cost)."""
    percent = (Decimal(sales_minor) * FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(percent) + FEE_PER_ITEM_MINOR * sales_count


def _line_id(seed: int, start_date: date, number: int, kind: str) -> str:
    digest = g.sub_seed(seed, start_date.isoformat(), "bank line", number, kind) % 10**8
    return f"{'DEP' if kind == 'deposit' else 'FEE'}{number}-{digest:08d}"


def _lines(seed: int, start_date: date, batches: list[Batch], tz_name: str) -> Iterator[tuple]:
    for b in batches:
        closed = business_date(datetime.fromtimestamp(b.closed_at, timezone.utc).replace(tzinfo=None), tz_name)
        value_date = next_business_day(closed)
        net = b.sales_amount - b.refund_amount  # what the sandbox reports as the batch's net_amount
        yield (_line_id(seed, start_date, b.number, "deposit"), value_date, net, g.CURRENCY, "deposit", b.number,
               f"PAYTRACE DEPOSIT BATCH {b.number}")
        yield (_line_id(seed, start_date, b.number, "fee"), value_date, -card_fee_minor(b.sales_amount, b.sales_count),
               g.CURRENCY, "fee", b.number, f"PAYTRACE FEES BATCH {b.number}")


def bank_statement(seed: int, start_date: date, end_date: date, per_day: int,
                   tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> pd.DataFrame:
    """BANK_LINES for every batch of the history, by value date then batch, deposit before fee."""
    batches = settled_batches(seed, start_date, end_date, per_day, tz_name)
    return lines_frame(_lines(seed, start_date, batches, tz_name))


def write_bank_files(folder: str | Path, seed: int, start_date: date, end_date: date, per_day: int,
                     tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> tuple[Path, Path]:
    """The statement as ``<stem>.csv`` and ``<stem>.bai2`` in ``folder`` (created if needed)."""
    lines = bank_statement(seed, start_date, end_date, per_day, tz_name)
    root = Path(folder)
    stem = f"paytrace-bank-{seed}-{start_date:%Y%m%d}-{end_date:%Y%m%d}"
    # The bank reports once the last deposit has landed; with no batch, the day after the history.
    as_of = max(lines["value_date"], default=end_date + timedelta(days=1))
    csv_path = write_csv(lines, root / f"{stem}.csv")
    bai2_path = write_bai2(lines, root / f"{stem}.bai2", bank_id=BANK_ID, account_number=ACCOUNT_NUMBER, as_of=as_of)
    return csv_path, bai2_path
