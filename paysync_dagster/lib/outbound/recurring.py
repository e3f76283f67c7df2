"""Recurring billing: the installments a contract's monthly schedule has due on a date.

A schedule (the mapping file's ``charges.recurring``) charges its customer's vault card on a day of
each month (a shorter month: its last day) from ``start`` to ``end``. Each month is one installment
(``<contract>:<YYYY-MM>``, installment id ``recurring``) that the charger treats like an invoice's:
one charge, retried on the dunning days after a decline, then an exception. There is no ERP invoice:
the charge names none, and its receipt goes on the customer's account.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Protocol

from paysync_dagster.lib.money import to_minor
from paysync_dagster.lib.outbound.due import RECURRING, DueInstallment


class Schedule(Protocol):
    contract: str
    erp: str
    customer_account: str
    amount: object
    currency: str
    day_of_month: int
    start: date | None
    end: date | None


def billing_date(year: int, month: int, day_of_month: int) -> date:
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def _months_back(day: date, count: int) -> list[tuple[int, int]]:
    out, y, m = [], day.year, day.month
    for _ in range(count):
        out.append((y, m))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out


def recurring_installments(schedules: Iterable[Schedule], erp: str, day: date, *, within_days: int) -> list[DueInstallment]:
    """The months of ``erp``'s schedules billed on or before ``day`` and no more than ``within_days`` before
    it (how long a month's charge is still being tried: the last dunning day), oldest first."""
    out: list[DueInstallment] = []
    for s in schedules:
        if s.erp != erp:
            continue
        for year, month in reversed(_months_back(day, within_days // 28 + 2)):
            when = billing_date(year, month, s.day_of_month)
            if when > day or when < day - timedelta(days=within_days):
                continue
            if (s.start and when < s.start) or (s.end and when > s.end):
                continue
            out.append(DueInstallment(erp, f"{s.contract}:{year:04d}-{month:02d}", RECURRING, s.customer_account,
                                      to_minor(s.amount, s.currency), s.currency, when))
    return sorted(out, key=lambda i: (i.due_date, i.invoice_number))
