"""Recurring billing's schedule: which months are billed on which dates, and for how long a month is
still being tried."""

from __future__ import annotations

from datetime import date

from paysync_dagster.lib.mapping import RecurringCharge
from paysync_dagster.lib.outbound.recurring import recurring_installments


def _plan(**kw: object) -> RecurringCharge:
    return RecurringCharge(**{"contract": "SUPPORT-PLAN", "erp": "oracle", "customer_account": "C10021",
                              "amount": "49.99", "day_of_month": 31, **kw})


def test_a_shorter_month_bills_on_its_last_day_in_minor_units() -> None:
    due = recurring_installments([_plan()], "oracle", date(2026, 3, 2), within_days=8)
    assert [(i.invoice_number, i.installment_id, i.due_date, i.amount_minor, i.names_invoice) for i in due] == [
        ("SUPPORT-PLAN:2026-02", "recurring", date(2026, 2, 28), 4999, False)]


def test_a_month_is_due_from_its_day_until_the_window_closes_and_only_in_its_erp() -> None:
    plan = _plan(day_of_month=5)
    assert recurring_installments([plan], "oracle", date(2026, 3, 4), within_days=8) == []
    assert [i.due_date for i in recurring_installments([plan], "oracle", date(2026, 3, 13), within_days=8)] == [
        date(2026, 3, 5)]
    assert recurring_installments([plan], "oracle", date(2026, 3, 14), within_days=8) == []
    assert recurring_installments([plan], "sage", date(2026, 3, 5), within_days=8) == []


def test_start_and_end_bound_the_months() -> None:
    plan = _plan(day_of_month=1, start=date(2026, 2, 1), end=date(2026, 3, 31))
    billed = {i.due_date for d in (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1))
              for i in recurring_installments([plan], "oracle", d, within_days=8)}
    assert billed == {date(2026, 2, 1), date(2026, 3, 1)}
