from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paysync_dagster.lib.mapping import load_mapping
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.reconciliation import frames
from paysync_dagster.lib.reconciliation.core import (
    BATCH_REPORT, TRANSACTIONS, VARIANCES, Reconciliation, Tolerances, reconcile,
)
from paysync_dagster.lib.reconciliation.keys import parse_ids
from paysync_dagster.lib.reconciliation.status import money

DAY1, DAY2, DAY3 = date(2026, 10, 12), date(2026, 10, 13), date(2026, 10, 14)  # Monday to Wednesday
B1, B2 = 501, 502


def frame(columns: tuple[str, ...], rows: list[tuple[Any, ...]], **dtypes: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns)) if rows else frames.empty(columns)
    for col, dtype in dtypes.items():
        df[col] = df[col].astype(dtype)
    return df


def gateway(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return frame(frames.GATEWAY, rows, transaction_id="int64", amount_minor="int64", settlement_batch="Int64")


def ledger(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return frame(frames.LEDGER, rows, transaction_id="int64", amount_minor="int64")


def receipts(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return frame(frames.ERP_RECEIPTS, rows, amount_minor="int64", applied_minor="int64", unapplied_minor="int64",
                 reversed="bool")


def refunds(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return frame(frames.ERP_REFUNDS, rows, amount_minor="int64")


def batches(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return frame(frames.BATCHES, rows, batch_number="int64", net_minor="int64", listed_net_minor="int64")


def bank(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return frame(frames.BANK_LINES, rows, amount_minor="int64", batch_number="Int64")


# -- the hand-built set: every status once, two batches, a bank file -----------------------------------

GATEWAY = gateway([
    (1001, DAY1, "sale", "settled", 10000, "USD", B1, "C1"),  # partly refunded by 1010 in B2
    (1002, DAY1, "chargeback", "disputed", 5000, "USD", B1, "C2"),  # receipt reversed by the chargeback
    (1003, DAY1, "sale", "settled", 8000, "USD", B1, "C3"),  # the ERP holds it twice
    (1004, DAY1, "sale", "settled", 6000, "USD", B1, "C4"),  # deleted in the ERP after posting
    (1005, DAY1, "sale", "settled", 7000, "USD", B1, "C5"),  # amount edited in the ERP after posting
    (1006, DAY1, "decline", "declined", 2500, "USD", None, "C6"),
    (1007, DAY1, "authorization", "authorized", 4000, "USD", None, "C7"),
    (1008, DAY2, "sale", "settled", 9000, "USD", B2, "C8"),  # 2,000 left unapplied
    (1009, DAY2, "sale", "settled", 5500, "USD", B2, "C9"),  # posting failed: no receipt
    (1010, DAY2, "refund", "settled", 3000, "USD", B2, "C1"),
    (1011, DAY2, "sale", "settled", 4000, "USD", B2, "C11"),  # the ERP shows 41.00
    (1012, DAY1, "sale", "settled", 3000, "USD", B1, "C12"),
    (1013, DAY1, "void", "voided", 1500, "USD", None, "C13"),  # voided before posting
])
LEDGER = ledger([
    ("PT-1001", 1001, "receipt", 10000, "posted", "E1001", ""),
    ("PT-1001:APP:INV-1:1", 1001, "application", 10000, "posted", "E1001", "PT-1001"),
    ("PT-1010:RFND", 1010, "refund", 3000, "posted", "E1001", "PT-1001"),
    ("PT-1002", 1002, "receipt", 5000, "posted", "E1002", ""),
    ("PT-1002:REV", 1002, "reversal", 5000, "posted", "E1002", "PT-1002"),
    ("PT-1003", 1003, "receipt", 8000, "posted", "E1003", ""),
    ("PT-1004", 1004, "receipt", 6000, "posted", "E1004", ""),
    ("PT-1005", 1005, "receipt", 7000, "posted", "E1005", ""),
    ("PT-1008", 1008, "receipt", 9000, "posted", "E1008", ""),
    ("PT-1009", 1009, "receipt", 5500, "failed", "", ""),
    ("PT-1011", 1011, "receipt", 4000, "uncertain", "", ""),
    ("PT-1012", 1012, "receipt", 3000, "posted", "E1012", ""),
])
RECEIPTS = receipts([
    ("PT-1001", "E1001", 10000, "USD", "C1", DAY1, 7000, 3000, False),
    ("PT-1002", "E1002", 5000, "USD", "C2", DAY1, 0, 5000, True),
    ("PT-1003", "E1003", 8000, "USD", "C3", DAY1, 8000, 0, False),
    ("PT-1003", "E1003X", 8000, "USD", "C3", DAY2, 0, 8000, False),
    ("PT-1005", "E1005", 6500, "USD", "C5", DAY1, 6500, 0, False),
    ("PT-1008", "E1008", 9000, "USD", "C8", DAY2, 7000, 2000, False),
    ("PT-1011", "E1011", 4100, "USD", "C11", DAY2, 4100, 0, False),
    ("PT-1012", "E1012", 3000, "USD", "C12", DAY1, 3000, 0, False),
    ("PT-9001", "E9001", 1200, "USD", "C90", DAY1, 1200, 0, False),  # typed in the ERP by hand
    ("PT-0042", "E42", 100, "USD", "C90", DAY1, 100, 0, False),  # not a PaySync number: ignored
    ("PT-12X", "E43", 100, "USD", "C90", DAY1, 100, 0, False),  # ignored
])
REFUNDS = refunds([("PT-1001", "PT-1010:RFND", 3000)])
BATCHES = batches([(B1, DAY1, "USD", 39000, 39000), (B2, DAY2, "USD", 15500, 15500)])
BANK = bank([
    ("L1", DAY2, 39000, "USD", "deposit", None, "PAYTRACE DEPOSIT"),  # names no batch: paired by amount and date
    ("L2", DAY2, -450, "USD", "fee", B1, "PAYTRACE FEES"),
    ("L3", DAY2, 77700, "USD", "deposit", None, "OTHER CREDIT"),  # fits nothing
])
TOL = Tolerances(amount_minor=0, unapplied_minor=100, batch_variance_minor=0, bank_date_window_days=3)


def run(as_of: date = DAY3, bank_lines: pd.DataFrame | None = BANK) -> Reconciliation:
    return reconcile(GATEWAY, LEDGER, RECEIPTS, REFUNDS, BATCHES, bank_lines, tolerances=TOL, as_of=as_of)


def test_every_status_once_with_its_amounts() -> None:
    result = run()
    txns = result.transactions
    assert list(txns.columns) == list(TRANSACTIONS)
    got = txns.drop(columns="detail").sort_values("transaction_id").reset_index(drop=True)
    na = None
    expected = pd.DataFrame([
        (1001, DAY1, "sale", B1, "USD", 10000, 10000, "PT-1001", "E1001", "matched"),
        (1002, DAY1, "chargeback", B1, "USD", 5000, 5000, "PT-1002", "E1002", "matched"),
        (1003, DAY1, "sale", B1, "USD", 8000, 16000, "PT-1003", "E1003", "duplicate_in_erp"),
        (1004, DAY1, "sale", B1, "USD", 6000, 0, "PT-1004", "", "drift"),
        (1005, DAY1, "sale", B1, "USD", 7000, 6500, "PT-1005", "E1005", "drift"),
        (1006, DAY1, "decline", na, "USD", 0, 0, "", "", "declined_not_posted"),
        (1007, DAY1, "authorization", na, "USD", 0, 0, "", "", "pending_settlement"),
        (1008, DAY2, "sale", B2, "USD", 9000, 9000, "PT-1008", "E1008", "unapplied_in_erp"),
        (1009, DAY2, "sale", B2, "USD", 5500, 0, "PT-1009", "", "missing_in_erp"),
        (1010, DAY2, "refund", B2, "USD", 3000, 3000, "PT-1001", "E1001", "matched"),
        (1011, DAY2, "sale", B2, "USD", 4000, 4100, "PT-1011", "E1011", "amount_mismatch"),
        (1012, DAY1, "sale", B1, "USD", 3000, 3000, "PT-1012", "E1012", "matched"),
        (1013, DAY1, "void", na, "USD", 0, 0, "", "", "matched"),
        (9001, DAY1, "", na, "USD", 0, 1200, "PT-9001", "E9001", "missing_in_gateway"),
    ], columns=[c for c in TRANSACTIONS if c != "detail"])
    expected["settlement_batch"] = expected["settlement_batch"].astype("Int64")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["transaction_id"].dtype == np.int64 and got["gateway_amount_minor"].dtype == np.int64
    assert str(got["settlement_batch"].dtype) == "Int64"
    assert set(frames.STATUSES) - {"matched"} == set(got.loc[got["status"] != "matched", "status"])

    detail = txns.set_index("transaction_id")["detail"]
    assert detail[1005] == "receipt PT-1005 was posted for 70.00 USD but the ERP now shows 65.00 USD"
    assert detail[1004] == "receipt PT-1004 was posted for 60.00 USD (ERP id E1004) but the ERP no longer holds it"
    assert detail[1011] == ("PayTrace expects 40.00 USD but the ERP shows 41.00 USD for PT-1011: "
                            "a difference of -1.00 USD")
    assert detail[1003] == "the ERP holds 2 receipts numbered PT-1003, 160.00 USD in all, for one transaction of 80.00 USD"
    assert detail[1008] == "receipt PT-1008 of 90.00 USD leaves 20.00 USD unapplied (tolerance 1.00 USD)"
    assert "55.00 USD" in detail[1009] and "PT-1009" in detail[1009]
    assert "PT-9001" in detail[9001] and "12.00 USD" in detail[9001]
    assert detail.map(lambda s: isinstance(s, str) and len(s) > 20).all()


def _items(result: Reconciliation) -> list[tuple[Any, ...]]:
    v = result.variances[["batch_number", "leg", "cause", "amount_minor", "transaction_id"]]
    return [(int(b), leg, cause, int(a), None if pd.isna(t) else int(t)) for b, leg, cause, a, t in v.itertuples(index=False)]


def test_batch_legs_and_their_items_while_the_deposit_may_still_come() -> None:
    result = run(as_of=DAY3)
    assert list(result.batches.columns) == list(BATCH_REPORT)
    assert list(result.variances.columns) == list(VARIANCES)
    report = result.batches.set_index("batch_number")
    b1, b2 = report.loc[B1], report.loc[B2]
    assert (b1["net_minor"], b1["erp_net_minor"], b1["erp_variance_minor"]) == (39000, 32500, 6500)
    assert (b1["bank_net_minor"], b1["bank_variance_minor"], b1["transactions"], b1["tied"]) == (38550, 450, 6, False)
    assert (b2["net_minor"], b2["erp_net_minor"], b2["erp_variance_minor"]) == (15500, 10100, 5400)
    assert (b2["bank_net_minor"], b2["bank_variance_minor"], b2["transactions"], b2["tied"]) == (0, 15500, 4, False)
    assert _items(result) == [
        (B1, "erp", "refund_in_later_batch", 3000, 1001),
        (B1, "erp", "chargeback", 5000, 1002),
        (B1, "erp", "drift", 6000, 1004),
        (B1, "erp", "drift", 500, 1005),
        (B1, "erp", "duplicate_in_erp", -8000, 1003),
        (B1, "bank", "fees", 450, None),
        (B2, "erp", "missing_in_erp", 5500, 1009),
        (B2, "erp", "amount_mismatch", -100, 1011),
        (B2, "bank", "timing", 15500, None),
    ]
    notes = {(b, c): n for b, c, n in result.variances[["batch_number", "cause", "note"]].itertuples(index=False)}
    assert notes[(B1, "refund_in_later_batch")] == "refund 1010 of 30.00 USD recorded against PT-1001, settled in batch 502"
    assert notes[(B1, "fees")] == "processor fees debited: 4.50 USD"


def test_a_deposit_that_never_came_is_missing_after_the_window() -> None:
    result = run(as_of=DAY2 + timedelta(days=7))
    assert [i for i in _items(result) if i[1] == "bank"] == [
        (B1, "bank", "fees", 450, None), (B2, "bank", "missing_deposit", 15500, None)]


def test_as_of_defaults_to_the_latest_date_in_the_bank_file() -> None:
    assert _items(run(as_of=None)) == _items(run(as_of=DAY2))
    late_line = bank([("L9", DAY2 + timedelta(days=9), 1, "USD", "other", None, "")])
    assert (B2, "bank", "missing_deposit", 15500, None) in _items(run(as_of=None, bank_lines=pd.concat([BANK, late_line])))


def test_tolerances_come_from_the_mapping_file() -> None:
    section = load_mapping().tolerances
    assert Tolerances.of(section) == Tolerances(amount_minor=section.amount_minor, unapplied_minor=section.unapplied_minor,
                                                batch_variance_minor=section.batch_variance_minor,
                                                bank_date_window_days=section.bank_date_window_days)
    assert Tolerances.of(section).bank_date_window_days == 3


def test_without_a_bank_file_the_bank_leg_is_left_out() -> None:
    result = run(bank_lines=None)
    assert result.batches["bank_net_minor"].isna().all() and result.batches["bank_variance_minor"].isna().all()
    assert str(result.batches["bank_net_minor"].dtype) == "Int64"
    assert {leg for _, leg, *_ in _items(result)} == {"erp"}


def test_a_refund_in_the_same_batch_as_its_sale_makes_no_variance() -> None:
    g = gateway([(1, DAY1, "sale", "settled", 1000, "USD", B1, ""), (2, DAY1, "refund", "settled", 1000, "USD", B1, ""),
                 (3, DAY1, "sale", "settled", 500, "USD", B1, ""), (4, DAY1, "refund", "settled", 200, "USD", B1, "")])
    led = ledger([("PT-1", 1, "receipt", 1000, "posted", "E1", ""), ("PT-2:RFND", 2, "refund", 1000, "posted", "E1", "PT-1"),
                  ("PT-1:REV", 2, "reversal", 1000, "posted", "E1", "PT-1"),
                  ("PT-3", 3, "receipt", 500, "posted", "E3", ""), ("PT-4:RFND", 4, "refund", 200, "posted", "E3", "PT-3")])
    rec = receipts([("PT-1", "E1", 1000, "USD", "", DAY1, 0, 1000, True),
                    ("PT-3", "E3", 500, "USD", "", DAY1, 300, 200, False)])
    ref = refunds([("PT-1", "PT-2:RFND", 1000), ("PT-3", "PT-4:RFND", 200)])
    result = reconcile(g, led, rec, ref, batches([(B1, DAY1, "USD", 300, 300)]))
    assert result.transactions["status"].tolist() == ["matched"] * 4
    assert result.batches["erp_net_minor"].tolist() == [300] and result.batches["tied"].tolist() == [True]
    assert result.variances.empty


def test_a_full_refund_seen_only_as_the_reversal_of_the_receipt() -> None:
    g = gateway([(1, DAY1, "sale", "settled", 1000, "USD", B1, ""), (2, DAY2, "refund", "settled", 1000, "USD", B2, "")])
    led = ledger([("PT-1", 1, "receipt", 1000, "posted", "E1", ""), ("PT-1:REV", 2, "reversal", 1000, "posted", "E1", "PT-1")])
    rec = receipts([("PT-1", "E1", 1000, "USD", "", DAY1, 0, 1000, True)])
    result = reconcile(g, led, rec, refunds([]), batches([(B1, DAY1, "USD", 1000, 1000), (B2, DAY2, "USD", -1000, -1000)]))
    t = result.transactions.set_index("transaction_id")
    assert t["status"].tolist() == ["matched", "matched"]
    assert (t.loc[2, "erp_amount_minor"], t.loc[2, "receipt_number"]) == (1000, "PT-1")
    assert _items(result) == [(B1, "erp", "refund_in_later_batch", 1000, 1)]


@pytest.mark.parametrize(("change", "why"), [
    ({"customer_account": "C99"}, "belongs to customer C1 but the ERP now shows customer C99"),
    ({"reversed": True}, "is reversed in the ERP but PaySync posted no reversal"),
    ({"erp_id": "E777"}, "was posted as ERP id E1 but the ERP now holds id E777"),
])
def test_drift_on_a_receipt_changed_after_posting(change: dict[str, Any], why: str) -> None:
    g = gateway([(1, DAY1, "sale", "settled", 1000, "USD", B1, "C1")])
    led = ledger([("PT-1", 1, "receipt", 1000, "posted", "E1", "")])
    rec = receipts([("PT-1", "E1", 1000, "USD", "C1", DAY1, 1000, 0, False)]).assign(**change)
    t = reconcile(g, led, rec, refunds([]), batches([(B1, DAY1, "USD", 1000, 1000)])).transactions
    assert t["status"].tolist() == ["drift"] and why in t["detail"][0]


def test_drift_when_a_posted_refund_is_gone_from_the_erp() -> None:
    g = gateway([(1, DAY1, "sale", "settled", 1000, "USD", B1, ""), (2, DAY1, "refund", "settled", 300, "USD", B1, "")])
    led = ledger([("PT-1", 1, "receipt", 1000, "posted", "E1", ""), ("PT-2:RFND", 2, "refund", 300, "posted", "E1", "PT-1")])
    rec = receipts([("PT-1", "E1", 1000, "USD", "", DAY1, 700, 300, False)])
    result = reconcile(g, led, rec, refunds([]), batches([(B1, DAY1, "USD", 700, 700)]))
    t = result.transactions.set_index("transaction_id")
    assert t.loc[2, "status"] == "drift" and "PT-2:RFND" in t.loc[2, "detail"]
    assert _items(result) == [(B1, "erp", "drift", -300, 2)]


def test_a_void_after_posting_expects_the_reversal() -> None:
    g = gateway([(1, DAY1, "void", "voided", 1000, "USD", None, ""), (2, DAY1, "void", "voided", 800, "USD", None, "")])
    led = ledger([("PT-1", 1, "receipt", 1000, "posted", "E1", ""), ("PT-1:REV", 1, "reversal", 1000, "posted", "E1", "PT-1"),
                  ("PT-2", 2, "receipt", 800, "posted", "E2", "")])
    rec = receipts([("PT-1", "E1", 1000, "USD", "", DAY1, 0, 1000, True), ("PT-2", "E2", 800, "USD", "", DAY1, 800, 0, False)])
    t = reconcile(g, led, rec, refunds([]), batches([])).transactions.set_index("transaction_id")
    assert t["status"].tolist() == ["matched", "missing_in_erp"]
    assert t["gateway_amount_minor"].tolist() == [1000, 800] and t["erp_amount_minor"].tolist() == [1000, 0]


def test_tolerances_absorb_small_differences() -> None:
    g = gateway([(1, DAY1, "sale", "settled", 1000, "USD", B1, "")])
    rec = receipts([("PT-1", "E1", 1003, "USD", "", DAY1, 1000, 3, False)])
    strict = reconcile(g, ledger([]), rec, refunds([]), batches([(B1, DAY1, "USD", 1000, 1000)]))
    loose = reconcile(g, ledger([]), rec, refunds([]), batches([(B1, DAY1, "USD", 1000, 1000)]),
                      tolerances=Tolerances(amount_minor=5, unapplied_minor=5, batch_variance_minor=5))
    assert strict.transactions["status"].tolist() == ["amount_mismatch"]
    assert loose.transactions["status"].tolist() == ["matched"]
    assert strict.batches["tied"].tolist() == [False] and loose.batches["tied"].tolist() == [True]
    # tied within tolerance, the variance is still explained to the cent
    assert _items(loose) == [(B1, "erp", "unexplained", -3, None)]


def test_deposits_naming_no_batch_pair_by_first_fit_and_ties_stay_unmatched() -> None:
    mon, tue, wed, thu = DAY1, DAY2, DAY3, DAY3 + timedelta(days=1)
    b = batches([(1, mon, "USD", 500, 500), (2, tue, "USD", 500, 500), (3, mon, "USD", 900, 900), (4, mon, "USD", 900, 900)])
    lines = bank([("a", tue, 500, "USD", "deposit", None, ""), ("b", wed, 500, "USD", "deposit", None, ""),
                  ("c", tue, 900, "USD", "deposit", None, "")])
    result = reconcile(gateway([]), ledger([]), receipts([]), refunds([]), b, lines, as_of=thu)
    bank_net = result.batches.set_index("batch_number")["bank_net_minor"]
    # a: Monday's batch is its only fit; b: then Tuesday's. c fits two batches of one day: ambiguous.
    assert bank_net.to_dict() == {1: 500, 2: 500, 3: 0, 4: 0}
    assert [i for i in _items(result) if i[1] == "bank"] == [(3, "bank", "timing", 900, None), (4, "bank", "timing", 900, None)]


def test_parse_ids_takes_only_prefix_and_plain_digits() -> None:
    refs = ["PT-1", "PT-123456789", "PT-0", "PT-01", "PT--1", "PT-+1", "PT- 1", "PT-1a", "XX-1", "PT-", "pt-5",
            "PT-" + "9" * 18, "PT-" + "9" * 19, None, float("nan"), 7]
    assert parse_ids(refs, "PT-").tolist() == [1, 123456789, 0, -1, -1, -1, -1, -1, -1, -1, -1, 10**18 - 1, -1, -1, -1, -1]
    assert parse_ids(np.array([], dtype=object), "PT-").tolist() == []


@given(st.lists(st.tuples(st.integers(-10**12, 10**12), st.sampled_from(["USD", "JPY", "KWD"])), max_size=20))
def test_money_formats_like_format_amount(values: list[tuple[int, str]]) -> None:
    minor = np.array([v for v, _ in values], np.int64)
    cur = np.array([c for _, c in values], dtype=object)
    assert money(minor, cur).tolist() == [format_amount(v, c) for v, c in values]


def test_empty_inputs_give_empty_frames_with_the_columns() -> None:
    result = reconcile(frames.empty(frames.GATEWAY), frames.empty(frames.LEDGER), frames.empty(frames.ERP_RECEIPTS),
                       frames.empty(frames.ERP_REFUNDS), frames.empty(frames.BATCHES), frames.empty(frames.BANK_LINES))
    assert result.transactions.empty and list(result.transactions.columns) == list(TRANSACTIONS)
    assert result.batches.empty and list(result.batches.columns) == list(BATCH_REPORT)
    assert result.variances.empty and list(result.variances.columns) == list(VARIANCES)


# -- properties on random small inputs -------------------------------------------------------------------

def _consistent(spec: list[tuple[str, int, int]]) -> dict[str, pd.DataFrame]:
    """A gateway and an ERP and ledger that a faithful posting would give: all should match and tie.

    ``spec`` rows are (what, amount, batch index). A refund follows the sale just before it, settles
    in the same batch and refunds at most what that sale has left.
    """
    g, led, rec, ref = [], [], [], []
    last_sale: dict[str, Any] | None = None
    for i, (what, amount, bi) in enumerate(spec):
        tid, bn, day = 100 + i, B1 + bi, DAY1 + timedelta(days=bi)
        if what in ("sale", "capture", "dispute_won"):
            kind, status = ("chargeback", "dispute_won") if what == "dispute_won" else (what, "settled")
            g.append((tid, day, kind, status, amount, "USD", bn, f"C{tid}"))
            led.append((f"PT-{tid}", tid, "receipt", amount, "posted", f"E{tid}", ""))
            last_sale = {"tid": tid, "amount": amount, "left": amount, "batch": bn, "day": day, "row": len(rec)}
            rec.append([f"PT-{tid}", f"E{tid}", amount, "USD", f"C{tid}", day, amount, 0, False])
        elif what == "refund" and last_sale is not None and last_sale["left"] > 0:
            part = min(amount, last_sale["left"])
            last_sale["left"] -= part
            orig = f"PT-{last_sale['tid']}"
            g.append((tid, last_sale["day"], "refund", "settled", part, "USD", last_sale["batch"], ""))
            led.append((f"PT-{tid}:RFND", tid, "refund", part, "posted", f"E{last_sale['tid']}", orig))
            ref.append((orig, f"PT-{tid}:RFND", part))
            row = rec[last_sale["row"]]
            row[6], row[7] = row[6] - part, row[7] + part
            if last_sale["left"] == 0:
                led.append((f"{orig}:REV", tid, "reversal", last_sale["amount"], "posted", f"E{last_sale['tid']}", orig))
                row[8] = True
        elif what == "void":
            g.append((tid, DAY1, "void", "voided", amount, "USD", None, ""))
        elif what == "posted_void":
            g.append((tid, DAY1, "void", "voided", amount, "USD", None, ""))
            led.append((f"PT-{tid}", tid, "receipt", amount, "posted", f"E{tid}", ""))
            led.append((f"PT-{tid}:REV", tid, "reversal", amount, "posted", f"E{tid}", f"PT-{tid}"))
            rec.append([f"PT-{tid}", f"E{tid}", amount, "USD", "", DAY1, 0, amount, True])
    gw = gateway(g)
    net = gw[gw["settlement_batch"].notna()].assign(
        signed=lambda d: np.where(d["kind"] == "refund", -d["amount_minor"], d["amount_minor"]))
    by_batch = net.groupby("settlement_batch")["signed"].sum()
    b = batches([(B1 + i, DAY1 + timedelta(days=i), "USD", int(by_batch.get(B1 + i, 0)), int(by_batch.get(B1 + i, 0)))
                 for i in range(3)])
    lines = bank([(f"L{i}", DAY3 + timedelta(days=1), int(n), "USD", "deposit", int(bn), "")
                  for i, (bn, n) in enumerate(zip(b["batch_number"], b["net_minor"]))])
    return {"gateway": gw, "ledger": ledger(led), "erp_receipts": receipts([tuple(r) for r in rec]),
            "erp_refunds": refunds(ref), "batches": b, "bank_lines": lines}


_SPEC = st.lists(st.tuples(st.sampled_from(["sale", "sale", "capture", "dispute_won", "refund", "void", "posted_void"]),
                           st.integers(1, 10**7), st.integers(0, 2)), max_size=12)


def _check_invariants(result: Reconciliation, inputs: dict[str, pd.DataFrame]) -> None:
    txns = result.transactions
    assert txns["transaction_id"].is_unique
    assert set(txns["status"]) <= set(frames.STATUSES)
    assert set(inputs["gateway"]["transaction_id"]) <= set(txns["transaction_id"])
    erp_only = set(txns["transaction_id"]) - set(inputs["gateway"]["transaction_id"])
    assert (txns.loc[txns["transaction_id"].isin(erp_only), "status"].isin(["missing_in_gateway", "duplicate_in_erp",
                                                                               "drift"])).all()
    v = result.variances
    assert set(v["cause"]) <= set(frames.CAUSES) and set(v["leg"]) <= {"erp", "bank"}
    sums = v.groupby(["batch_number", "leg"])["amount_minor"].sum()
    for _, b in result.batches.iterrows():
        legs = {"erp": b["erp_variance_minor"]}
        if inputs.get("bank_lines") is not None:
            legs["bank"] = b["bank_variance_minor"]
        for leg, variance in legs.items():
            assert sums.get((b["batch_number"], leg), 0) == variance
            if variance == 0:
                assert (b["batch_number"], leg) not in sums.index
    assert not (v["amount_minor"] == 0).any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SPEC)
def test_faithful_erp_and_ledger_give_all_matched_and_all_tied(spec: list[tuple[str, int, int]]) -> None:
    inputs = _consistent(spec)
    result = reconcile(**inputs, as_of=DAY3 + timedelta(days=1))
    _check_invariants(result, inputs)
    assert set(result.transactions["status"]) <= {"matched"}
    assert result.batches["tied"].all() and result.variances.empty
    assert (result.transactions["gateway_amount_minor"] == result.transactions["erp_amount_minor"]).all()


_EDITS = st.lists(st.tuples(st.sampled_from(["drop_receipt", "amount", "duplicate", "reverse", "drop_mark", "drop_ledger",
                                             "extra_receipt", "move_batch", "unsettle", "unapplied", "net", "drop_bank",
                                             "fee", "customer"]),
                            st.integers(0, 50), st.integers(-5000, 5000)), max_size=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SPEC, _EDITS, st.integers(0, 20), st.booleans())
def test_any_input_gives_one_status_each_and_items_that_add_up(spec: list[tuple[str, int, int]],
                                                                edits: list[tuple[str, int, int]], days: int,
                                                                with_bank: bool) -> None:
    inputs = _consistent(spec)
    g, led, rec, ref = inputs["gateway"], inputs["ledger"], inputs["erp_receipts"], inputs["erp_refunds"]
    b, lines = inputs["batches"], inputs["bank_lines"]
    for what, pick, delta in edits:
        if what == "drop_receipt" and len(rec):
            rec = rec.drop(rec.index[pick % len(rec)])
        elif what == "amount" and len(rec):
            rec.loc[rec.index[pick % len(rec)], "amount_minor"] += delta
        elif what == "duplicate" and len(rec):
            rec = pd.concat([rec, rec.iloc[[pick % len(rec)]].assign(erp_id="DUP")], ignore_index=True)
        elif what == "reverse" and len(rec):
            rec.loc[rec.index[pick % len(rec)], "reversed"] = True
        elif what == "drop_mark" and len(ref):
            ref = ref.drop(ref.index[pick % len(ref)])
        elif what == "drop_ledger" and len(led):
            led = led.drop(led.index[pick % len(led)])
        elif what == "extra_receipt":
            rec = pd.concat([rec, receipts([(f"PT-{9000 + pick}", "X", abs(delta) + 1, "USD", "", DAY2, 0, 1, False)])],
                            ignore_index=True)
        elif what == "move_batch" and len(g):
            g.loc[g.index[pick % len(g)], "settlement_batch"] = B1 + pick % 3
        elif what == "unsettle" and len(g):
            g.loc[g.index[pick % len(g)], "settlement_batch"] = pd.NA
        elif what == "unapplied" and len(rec):
            rec.loc[rec.index[pick % len(rec)], "unapplied_minor"] += abs(delta)
        elif what == "net":
            b.loc[b.index[pick % len(b)], "net_minor"] += delta
        elif what == "drop_bank" and len(lines):
            lines = lines.drop(lines.index[pick % len(lines)])
        elif what == "fee":
            lines = pd.concat([lines, bank([(f"F{pick}", DAY3, -abs(delta), "USD", "fee", B1 + pick % 3, "")])],
                              ignore_index=True)
        elif what == "customer" and len(rec):
            rec.loc[rec.index[pick % len(rec)], "customer_account"] = "C-OTHER"
    inputs = {"gateway": g, "ledger": led, "erp_receipts": rec, "erp_refunds": ref, "batches": b,
              "bank_lines": lines if with_bank else None}
    result = reconcile(**inputs, as_of=DAY1 + timedelta(days=days))
    _check_invariants(result, inputs)
    ids = parse_ids(rec["reference"], "PT-")
    erp_only = set(ids[ids >= 0].tolist()) - set(g["transaction_id"])
    assert sorted(result.transactions["transaction_id"]) == sorted([*g["transaction_id"], *erp_only])
