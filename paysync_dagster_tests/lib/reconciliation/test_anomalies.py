"""Payment anomalies: each rule on hand-built payments (a hit and a near miss), the model, determinism."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from paysync_dagster.lib.reconciliation.anomalies import ANOMALY_COLUMNS, Params, detect, linked_originals

DAY = date(2026, 3, 10)
TZ = "America/Los_Angeles"
# 10:00 merchant time (PDT) on DAY, as naive UTC
MORNING = datetime(2026, 3, 10, 17, 0)


def pay(tid: int, at: datetime, amount: int = 12500, *, kind: str = "sale", status: str = "settled",
        card: tuple[str, str, str] = ("VISA", "4242", "94107"), customer: str = "C1", invoice: str = "INV-000001",
        description: str = "", day: date = DAY, currency: str = "USD") -> dict[str, Any]:
    brand, last4, postal = card
    return {"business_date": day, "transaction_id": tid, "kind": kind, "status": status, "amount_minor": amount,
            "currency": currency, "base_amount_minor": amount, "base_currency": "USD", "occurred_at": at,
            "invoice_reference": invoice, "paytrace_customer_id": "", "oracle_customer_account": customer,
            "sage_customer_account": "", "customer_email": "", "card_brand": brand, "card_last_four": last4,
            "billing_postal_code": postal, "description": description}


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(pay(0, MORNING)))


NO_HISTORY = frame([])


def run(today: list[dict[str, Any]], history: list[dict[str, Any]] | None = None, **kwargs: Any) -> pd.DataFrame:
    return detect(DAY, frame(today), frame(history or []), tz_name=TZ, **kwargs).anomalies


def of_rule(found: pd.DataFrame, rule: str) -> pd.DataFrame:
    return found[found["rule"] == rule].reset_index(drop=True)


def ordinary_history(n_customers: int = 25, per_day: int = 20, seed: int = 7) -> list[dict[str, Any]]:
    """Thirty days of ordinary approved payments: each customer around a typical amount, office hours."""
    rng = np.random.default_rng(seed)
    typical = rng.integers(5_000, 50_000, n_customers)
    rows, tid = [], 1_000
    for d in range(30, 0, -1):
        day = DAY - timedelta(days=d)
        for _ in range(per_day):
            c = int(rng.integers(0, n_customers))
            at = datetime(day.year, day.month, day.day, 16, 0) + timedelta(minutes=int(rng.integers(0, 8 * 60)))
            amount = int(typical[c] * np.exp(rng.normal(0, 0.15)))
            card = (("VISA", "MASTERCARD")[c % 2], f"{1000 + c}", f"9{c:04d}")
            rows.append(pay(tid, at, amount, customer=f"C{c}", card=card, day=day))
            tid += 1
    return rows


def test_same_card_and_amount_three_minutes_apart_is_a_duplicate_charge() -> None:
    found = of_rule(run([pay(101, MORNING), pay(102, MORNING + timedelta(minutes=3))]), "duplicate_charge")
    assert found[["transaction_id", "related_transaction_id"]].values.tolist() == [[102, 101]]
    reason = found.at[0, "reason"]
    assert reason == "same card VISA ...4242 charged 125.00 USD twice within 3 minutes (transaction 101 at 17:00 UTC)"
    assert found.at[0, "amount_minor"] == 12500 and 0.5 <= found.at[0, "score"] <= 1


@pytest.mark.parametrize("second", [
    pay(102, MORNING + timedelta(minutes=11)),  # outside the window
    pay(102, MORNING + timedelta(minutes=3), 12501),  # another amount
    pay(102, MORNING + timedelta(minutes=3), card=("VISA", "4242", "10001")),  # another card with the same last four
    pay(102, MORNING + timedelta(minutes=3), kind="void", status="voided"),  # voided: not charged twice
    pay(102, MORNING + timedelta(minutes=3), kind="decline", status="declined"),
])
def test_near_misses_are_not_duplicate_charges(second: dict[str, Any]) -> None:
    assert of_rule(run([pay(101, MORNING), second]), "duplicate_charge").empty


def test_a_duplicate_across_midnight_is_related_to_the_previous_dates_charge() -> None:
    earlier = pay(90, MORNING - timedelta(minutes=2), day=DAY - timedelta(days=1))
    found = of_rule(run([pay(101, MORNING)], [earlier]), "duplicate_charge")
    assert found[["transaction_id", "related_transaction_id"]].values.tolist() == [[101, 90]]


def test_refunds_adding_up_above_the_original_are_flagged_against_it() -> None:
    original = pay(50, MORNING - timedelta(days=3), 10000, day=DAY - timedelta(days=3))
    earlier = pay(60, MORNING - timedelta(days=1), 6000, kind="refund", description="Refund of transaction 50",
                  day=DAY - timedelta(days=1))
    today = pay(70, MORNING, 5000, kind="refund", description="Refund of transaction 50")
    found = of_rule(run([today], [original, earlier]), "refund_exceeds_original")
    assert found[["transaction_id", "related_transaction_id", "amount_minor"]].values.tolist() == [[70, 50, 5000]]
    assert found.at[0, "reason"] == ("refunds of transaction 50 add up to 110.00 USD, 10.00 USD above the original "
                                     "100.00 USD (this refund 50.00 USD, earlier refunds 60.00 USD)")


def test_refunds_equal_to_the_original_are_fine() -> None:
    original = pay(50, MORNING - timedelta(days=3), 10000, day=DAY - timedelta(days=3))
    earlier = pay(60, MORNING - timedelta(days=1), 6000, kind="refund", description="Refund of transaction 50",
                  day=DAY - timedelta(days=1))
    today = pay(70, MORNING, 4000, kind="refund", description="Refund of transaction 50")
    assert of_rule(run([today], [original, earlier]), "refund_exceeds_original").empty


def test_an_original_older_than_the_history_is_read_from_the_extra_frames() -> None:
    original = pay(50, MORNING - timedelta(days=90), 10000, day=DAY - timedelta(days=90))
    old_refund = pay(55, MORNING - timedelta(days=60), 9000, kind="refund", description="refund of transaction #50",
                     day=DAY - timedelta(days=60))
    today = pay(70, MORNING, 2000, kind="refund", description="Refund of transaction 50")
    assert linked_originals(frame([today])) == [50]
    assert of_rule(run([today]), "refund_exceeds_original").empty  # original unknown: left to posting
    found = detect(DAY, frame([today]), NO_HISTORY, tz_name=TZ, originals=frame([original]),
                   earlier_refunds=frame([old_refund])).anomalies
    assert of_rule(found, "refund_exceeds_original")["transaction_id"].tolist() == [70]


def _customer_history(n: int, amounts: tuple[int, ...] = (23000, 24000, 25000, 24500, 23500, 26000, 22000, 24000)) -> list:
    return [pay(200 + i, MORNING - timedelta(days=i + 1), amounts[i % len(amounts)], customer="C42",
                day=DAY - timedelta(days=i + 1)) for i in range(n)]


def test_an_amount_far_outside_the_customers_history_is_unusual() -> None:
    found = of_rule(run([pay(300, MORNING, 985000, customer="C42")], _customer_history(8)), "unusual_amount_for_customer")
    assert found["transaction_id"].tolist() == [300]
    reason = found.at[0, "reason"]
    assert reason.startswith("amount 9,850.00 USD is 41x customer C42's median of 240.00 USD over 8 payments")
    assert 0.5 < found.at[0, "score"] <= 1


def test_ordinary_amounts_and_thin_histories_are_not_unusual() -> None:
    assert of_rule(run([pay(300, MORNING, 26000, customer="C42")], _customer_history(8)),
                   "unusual_amount_for_customer").empty
    assert of_rule(run([pay(300, MORNING, 985000, customer="C42")], _customer_history(4)),
                   "unusual_amount_for_customer").empty


def test_a_customer_who_always_pays_the_same_is_flagged_only_well_away_from_it() -> None:
    history = _customer_history(6, amounts=(10000,))
    assert of_rule(run([pay(300, MORNING, 15000, customer="C42")], history), "unusual_amount_for_customer").empty
    assert len(of_rule(run([pay(300, MORNING, 20000, customer="C42")], history), "unusual_amount_for_customer")) == 1


def _day_with(declines: int, refunds: int = 0, n: int = 100) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        kind, status = ("decline", "declined") if i < declines else ("refund", "settled") if i < declines + refunds \
            else ("sale", "settled")
        rows.append(pay(5000 + i, MORNING + timedelta(minutes=i), 1000 + i, kind=kind, status=status,
                        card=("VISA", f"{i:04d}", "94107"), description="Refund of transaction 1" if kind == "refund" else ""))
    return rows


def _history_with_rate(every: int) -> list[dict[str, Any]]:
    rows = ordinary_history(per_day=20)
    for i, r in enumerate(rows):
        if i % every == 0:
            r["kind"], r["status"] = "decline", "declined"
    return rows


def test_a_decline_rate_far_above_the_trailing_rate_is_one_spike_row_for_the_day() -> None:
    found = run(_day_with(declines=20), _history_with_rate(every=50))  # 2 % before, 20 % today
    spike = of_rule(found, "decline_spike")
    assert spike[["transaction_id", "related_transaction_id"]].values.tolist() == [[0, pd.NA]]
    assert spike.at[0, "amount_minor"] == sum(1000 + i for i in range(20))
    assert spike.at[0, "reason"].startswith("20 declines out of 100 transactions today (20.0%) against 2.0% over the "
                                            "previous 30 days (2.0 expected, 10.0x)")
    assert spike.at[0, "score"] == pytest.approx(0.9)
    assert of_rule(found, "refund_spike").empty


def test_a_modest_rise_in_declines_is_no_spike() -> None:
    assert of_rule(run(_day_with(declines=5), _history_with_rate(every=50)), "decline_spike").empty  # 2.5x
    assert of_rule(run(_day_with(declines=20), _history_with_rate(every=10)), "decline_spike").empty  # 2x


def test_refunds_spike_too_and_a_thin_history_is_said_in_the_notes() -> None:
    found = run(_day_with(declines=0, refunds=12), _history_with_rate(every=50))
    assert of_rule(found, "refund_spike")["transaction_id"].tolist() == [0]
    result = detect(DAY, frame(_day_with(declines=30)), frame(ordinary_history()[:40]), tz_name=TZ)
    assert of_rule(result.anomalies, "decline_spike").empty
    assert result.notes["spikes"].startswith("skipped: 40 transactions")


def _ordinary_day(n: int = 20) -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)
    return [pay(9000 + i, MORNING + timedelta(minutes=int(rng.integers(0, 400))),
                int(rng.integers(5_000, 50_000)), customer=f"C{i % 25}",
                card=(("VISA", "MASTERCARD")[i % 2], f"{1000 + i % 25}", f"9{i % 25:04d}")) for i in range(n)]


def test_the_model_isolates_a_planted_extreme_payment_and_says_why() -> None:
    history = ordinary_history(per_day=16)  # 480 ordinary payments
    planted = pay(9999, datetime(2026, 3, 10, 10, 0), 985000, customer="C3", card=("VISA", "1003", "90003"))  # 03:00 PDT
    result = detect(DAY, frame(_ordinary_day() + [planted]), frame(history), tz_name=TZ)
    model = of_rule(result.anomalies, "model_outlier")
    assert 9999 in model["transaction_id"].tolist()
    assert len(model) <= 3  # the ordinary payments stay quiet
    reason = model.set_index("transaction_id").at[9999, "reason"]
    assert "amount 9,850.00 USD" in reason and "this customer's median" in reason
    assert "paid at 03:00 merchant time" in reason
    assert model.set_index("transaction_id").at[9999, "score"] > 0.5
    assert result.notes["model_outlier"].startswith("IsolationForest on 501 approved payments (21 of the date)")


def test_the_model_is_skipped_under_fifty_payments() -> None:
    result = detect(DAY, frame(_ordinary_day(10)), frame(ordinary_history()[:30]), tz_name=TZ)
    assert of_rule(result.anomalies, "model_outlier").empty
    assert result.notes["model_outlier"] == "skipped: 40 approved payments available, 50 needed"


def test_the_same_payments_in_any_order_give_the_same_rows() -> None:
    history = _history_with_rate(every=50)
    planted = pay(9999, datetime(2026, 3, 10, 10, 0), 985000, customer="C3", card=("VISA", "1003", "90003"))
    today = _ordinary_day() + _day_with(declines=20) + [planted, pay(101, MORNING), pay(102, MORNING + timedelta(minutes=3))]
    first = detect(DAY, frame(today), frame(history), tz_name=TZ).anomalies
    shuffled = detect(DAY, frame(today).sample(frac=1, random_state=1), frame(history).sample(frac=1, random_state=2),
                      tz_name=TZ).anomalies
    pd.testing.assert_frame_equal(first, shuffled)
    assert set(first["rule"]) >= {"duplicate_charge", "decline_spike", "model_outlier"}
    assert list(first.columns) == list(ANOMALY_COLUMNS)
    assert first["amount_minor"].dtype == "int64"
    assert not any(re.search(r"\d{6,}", r) for r in first["reason"])  # no card number (nor any long digit run)


def test_a_day_without_payments_gives_no_rows() -> None:
    result = detect(DAY, NO_HISTORY, frame(ordinary_history()), tz_name=TZ)
    assert result.anomalies.empty and list(result.anomalies.columns) == list(ANOMALY_COLUMNS)


def test_missing_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="card_last_four"):
        detect(DAY, frame([pay(1, MORNING)]).drop(columns=["card_last_four"]), NO_HISTORY, tz_name=TZ, params=Params())
