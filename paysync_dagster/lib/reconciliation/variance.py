"""The batch report: each settlement batch's ERP leg and bank leg, and the items explaining each variance."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from paysync_dagster.lib.reconciliation.frames import CAUSES, STATUSES
from paysync_dagster.lib.reconciliation.keys import lookup, take
from paysync_dagster.lib.reconciliation.status import S, Derived, money

if TYPE_CHECKING:
    from paysync_dagster.lib.reconciliation.core import Facts, Tolerances

ITEM_COLUMNS = ("batch_number", "leg", "cause", "amount_minor", "transaction_id", "note")
_EXPLAINED_BY_STATUS = ("missing_in_erp", "amount_mismatch", "drift", "duplicate_in_erp")
_NO_AMOUNT = ("decline", "void", "authorization")


def _items(batch: np.ndarray, leg: str, cause: str | np.ndarray, amount: np.ndarray, tid: np.ndarray | None,
           note: np.ndarray) -> pd.DataFrame:
    keep = amount != 0
    return pd.DataFrame({
        "batch_number": np.asarray(batch, np.int64)[keep], "leg": leg,
        "cause": np.broadcast_to(np.asarray(cause, dtype=object), keep.shape)[keep],
        "amount_minor": np.asarray(amount, np.int64)[keep],
        "transaction_id": pd.array(tid[keep] if tid is not None else [None] * int(keep.sum()), dtype="Int64"),
        "note": np.asarray(note, dtype=object)[keep],
    })


def _batch_of(f: Facts, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each transaction id is in a settled batch, and which."""
    pos = lookup(f.index, ids)
    return take(f.has_batch, pos, False), take(f.batch, pos, 0)


def erp_leg(f: Facts, d: Derived, details: np.ndarray) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """(erp_net by batch, transactions by batch, per-transaction items) for the ERP leg."""
    rows = np.flatnonzero(f.has_batch & f.in_gateway)
    no_amount = f.kinds.isin(*_NO_AMOUNT) | f.statuses.isin("declined", "voided", "authorized")
    gateway = np.where(d.is_refund, -f.amount, np.where(no_amount, 0, f.amount))

    marks = f.marks
    o_has, o_batch = _batch_of(f, marks["owner"].to_numpy())
    r_has, r_batch = _batch_of(f, marks["rid"].to_numpy())
    same = o_has & r_has & (o_batch == r_batch)
    same_sum = pd.Series(np.where(same, marks["amount"].to_numpy(), 0)).groupby(marks["owner"].to_numpy()).sum()
    refunded_same = take(same_sum.to_numpy(), lookup(same_sum.index.to_numpy(), f.tid), 0)
    c_has, c_batch = np.zeros(len(f), bool), np.zeros(len(f), np.int64)
    caused = np.flatnonzero(d.by_other)
    c_has[caused], c_batch[caused] = _batch_of(f, f.reversal_cause[caused])
    by_same = d.by_other & c_has & f.has_batch & (c_batch == f.batch)
    residual = np.where(f.reversed, np.maximum(f.reversed_sum - f.refunded, 0), 0)
    later_marks = f.refunded - refunded_same
    later_reversal = np.where(d.by_other & ~by_same, residual, 0)
    chargeback = np.where(~d.by_other & f.kinds.isin("chargeback") & f.statuses.isin("disputed", "dispute_lost"),
                          residual, 0)
    erp_owner = f.receipt_sum - later_marks - np.where(by_same, 0, residual)
    erp_refund = -(f.mark + np.where(d.attributed, f.original_residual, 0))
    erp = np.where(d.is_refund, erp_refund, erp_owner)
    rest = gateway - erp - np.where(d.is_refund, 0, later_marks + later_reversal + chargeback)

    b = f.batch[rows]
    erp_net = pd.Series(erp[rows]).groupby(b).sum()
    counts = pd.Series(np.ones(len(rows), np.int64)).groupby(b).sum()

    cur = f.currency
    later = ~same & o_has
    lm = marks[later]
    lm_pos = lookup(f.index, lm["owner"].to_numpy())
    lm_cur = take(cur, lm_pos, "")
    lm_when = np.where(r_has[later], "settled in batch " + _s(r_batch[later]),
                       np.where(lookup(f.index, lm["rid"].to_numpy()) >= 0, "not settled yet",
                                "not among PayTrace's transactions")).astype(object)
    lm_ref = take(f.reference, lm_pos, "")
    parts = [
        _items(o_batch[later], "erp", "refund_in_later_batch", lm["amount"].to_numpy(), lm["owner"].to_numpy(),
               "refund " + np.where(lm["rid"].to_numpy() >= 0, _s(lm["rid"].to_numpy()), "(unknown)").astype(object)
               + " of " + money(lm["amount"].to_numpy(), lm_cur) + " recorded against " + lm_ref + ", " + lm_when),
    ]
    sel = rows[(later_reversal[rows] != 0) | (chargeback[rows] != 0)]
    if len(sel):
        parts.append(_items(f.batch[sel], "erp", "refund_in_later_batch", later_reversal[sel], f.tid[sel],
                            "receipt " + f.reference[sel] + " reversed by refund " + _s(f.reversal_cause[sel]) + " ("
                            + money(later_reversal[sel], cur[sel]) + "), which settled in another batch or none yet"))
        parts.append(_items(f.batch[sel], "erp", "chargeback", chargeback[sel], f.tid[sel],
                            "chargeback: receipt " + f.reference[sel] + " reversed ("
                            + money(chargeback[sel], cur[sel]) + ")"))
    explained = np.zeros(len(STATUSES), bool)
    explained[[S[name] for name in _EXPLAINED_BY_STATUS]] = True
    sel = rows[explained[d.code[rows]] & (rest[rows] != 0)]
    parts.append(_items(f.batch[sel], "erp", np.asarray(STATUSES, dtype=object)[d.code[sel]], rest[sel], f.tid[sel],
                        details[sel]))
    return erp_net, counts, pd.concat(parts, ignore_index=True)


def _s(values: np.ndarray) -> np.ndarray:
    return pd.Series(values, dtype=object).astype(str).to_numpy(dtype=object)


def _days(values: pd.Series | np.ndarray) -> np.ndarray:
    return pd.to_datetime(pd.Series(values, dtype=object)).to_numpy().astype("datetime64[D]")


def _business_days_after(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Business days in (start, end]; negative when end is before start."""
    return np.busday_count(start + 1, end + 1)


def _pair_deposits(lines: pd.DataFrame, batches: pd.DataFrame, window: int) -> pd.DataFrame:
    """Deposit lines naming no batch, paired with a batch by amount and date (line_id, batch_number)."""
    cand = lines.merge(batches, left_on=["amount_minor", "currency"], right_on=["net_minor", "currency"])
    if cand.empty:
        return cand[["line_id", "batch_number"]]
    vd, bd = _days(cand["value_date"]), _days(cand["business_date"])
    after = _business_days_after(bd, vd)
    cand = cand[(vd > bd) & (after <= window)][["line_id", "batch_number", "value_date", "business_date"]]
    pairs = []
    # Each round pairs a line and a batch that are each other's earliest fit, with no tie; then the
    # rest is tried again without them. Rounds, not rows: a handful at most.
    while not cand.empty:
        firsts = []
        for key, order in (("line_id", "business_date"), ("batch_number", "value_date")):
            at_min = cand[cand[order] == cand.groupby(key)[order].transform("min")]
            firsts.append(at_min[at_min.groupby(key)[order].transform("size") == 1])
        won = firsts[0].merge(firsts[1][["line_id", "batch_number"]], on=["line_id", "batch_number"])
        if won.empty:
            break
        pairs.append(won[["line_id", "batch_number"]])
        cand = cand[~cand["line_id"].isin(won["line_id"]) & ~cand["batch_number"].isin(won["batch_number"])]
    if not pairs:
        return cand.iloc[:0][["line_id", "batch_number"]]
    return pd.concat(pairs, ignore_index=True)


def bank_leg(report: pd.DataFrame, bank_lines: pd.DataFrame, tol: Tolerances,
             as_of: date | None) -> tuple[pd.Series, pd.DataFrame]:
    """(bank_net by batch, items) for the bank leg."""
    lines = pd.DataFrame({
        "line_id": bank_lines["line_id"].astype(str), "value_date": bank_lines["value_date"],
        "amount_minor": np.asarray(bank_lines["amount_minor"], np.int64), "currency": bank_lines["currency"],
        "kind": bank_lines["kind"], "batch_number": pd.array(bank_lines["batch_number"], dtype="Int64"),
    }).reset_index(drop=True)
    named = lines["batch_number"].notna()
    has_named_deposit = set(lines.loc[named & (lines["kind"] == "deposit"), "batch_number"].astype(int))
    open_batches = report.loc[~report["batch_number"].isin(has_named_deposit),
                              ["batch_number", "business_date", "currency", "net_minor"]]
    free = lines[~named & (lines["kind"] == "deposit")][["line_id", "value_date", "amount_minor", "currency"]]
    pairs = _pair_deposits(free, open_batches, tol.bank_date_window_days)
    paired = pd.array(lines["line_id"].map(pairs.set_index("line_id")["batch_number"]), dtype="Int64")
    lines["batch_number"] = lines["batch_number"].where(named, paired)
    mine = lines[lines["batch_number"].notna()]
    mine = mine.assign(batch_number=mine["batch_number"].astype(np.int64))
    keys = report["batch_number"].to_numpy()

    def total(kind: str | None) -> np.ndarray:
        rows = mine if kind is None else mine[mine["kind"] == kind]
        return rows.groupby("batch_number")["amount_minor"].sum().reindex(keys, fill_value=0).to_numpy(np.int64)

    bank_net = pd.Series(total(None), index=keys)
    fees, cbs = -total("fee"), -total("chargeback")
    none = ~np.isin(keys, mine.loc[mine["kind"] == "deposit", "batch_number"].to_numpy())

    if as_of is None:
        known = lines["value_date"].dropna()
        as_of = known.max() if len(known) else (report["business_date"].max() if len(report) else date.today())
    bd = _days(report["business_date"])
    waiting = _business_days_after(bd, np.full(len(bd), np.datetime64(as_of, "D"))) <= tol.bank_date_window_days
    batch, net = keys.astype(np.int64), report["net_minor"].to_numpy(np.int64)
    cur, day = report["currency"].to_numpy(dtype=object), _s(report["business_date"].to_numpy())
    window = f"{tol.bank_date_window_days} business days"
    late, early = none & ~waiting, none & waiting
    parts = [
        _items(batch, "bank", "fees", fees, None, "processor fees debited: " + money(fees, cur)),
        _items(batch, "bank", "chargeback", cbs, None, "chargebacks debited by the bank: " + money(cbs, cur)),
        _items(batch[early], "bank", "timing", net[early], None, "no deposit yet for " + money(net[early], cur[early])
               + "; still within " + window + " of the batch's date " + day[early]),
        _items(batch[late], "bank", "missing_deposit", net[late], None, "no deposit of " + money(net[late], cur[late])
               + " arrived within " + window + " of the batch's date " + day[late]),
    ]
    return bank_net, pd.concat(parts, ignore_index=True)


def _remainder(report: pd.DataFrame, items: pd.DataFrame, leg: str, variance: str) -> pd.DataFrame:
    """Keep a leg's items only where it has a variance, plus an ``unexplained`` item for the rest."""
    var = report.set_index("batch_number")[variance]
    items = items[items["batch_number"].isin(var.index[var.fillna(0) != 0])]
    explained = items.groupby("batch_number")["amount_minor"].sum().reindex(var.index, fill_value=0)
    left = (var.fillna(0).astype(np.int64) - explained).to_numpy(np.int64)
    cur = report["currency"].to_numpy(dtype=object)
    rest = _items(var.index.to_numpy(), leg, "unexplained", left, None,
                  "not explained by any rule: " + money(left, cur))
    return pd.concat([items, rest], ignore_index=True)


def legs(f: Facts, d: Derived, details: np.ndarray, batches: pd.DataFrame, bank_lines: pd.DataFrame | None,
         tol: Tolerances, as_of: date | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The batch report (core.BATCH_REPORT) and its variance items (core.VARIANCES)."""
    erp_net, counts, erp_items = erp_leg(f, d, details)
    report = pd.DataFrame({
        "batch_number": np.asarray(batches["batch_number"], np.int64),
        "business_date": np.asarray(batches["business_date"], dtype=object),
        "currency": np.asarray(batches["currency"], dtype=object),
        "net_minor": np.asarray(batches["net_minor"], np.int64),
        "listed_net_minor": np.asarray(batches["listed_net_minor"], np.int64),
    })
    keys = report["batch_number"].to_numpy()
    report["erp_net_minor"] = erp_net.reindex(keys, fill_value=0).to_numpy(np.int64)
    report["erp_variance_minor"] = report["net_minor"] - report["erp_net_minor"]
    parts = [_remainder(report, erp_items, "erp", "erp_variance_minor")]
    if bank_lines is None:
        report["bank_net_minor"] = pd.array([None] * len(report), dtype="Int64")
        report["bank_variance_minor"] = pd.array([None] * len(report), dtype="Int64")
    else:
        bank_net, bank_items = bank_leg(report, bank_lines, tol, as_of)
        report["bank_net_minor"] = pd.array(bank_net.to_numpy(np.int64), dtype="Int64")
        report["bank_variance_minor"] = pd.array(report["net_minor"].to_numpy(np.int64) - bank_net.to_numpy(np.int64),
                                                 dtype="Int64")
        parts.append(_remainder(report, bank_items, "bank", "bank_variance_minor"))
    within = report["erp_variance_minor"].abs() <= tol.batch_variance_minor
    bank_ok = report["bank_variance_minor"].abs().fillna(0) <= tol.batch_variance_minor
    report["tied"] = (within & bank_ok).astype(bool)
    report["transactions"] = counts.reindex(keys, fill_value=0).to_numpy(np.int64)
    items = pd.concat(parts, ignore_index=True)
    order = {c: i for i, c in enumerate(CAUSES)}
    items = items.assign(_leg=(items["leg"] == "bank").astype(int), _cause=items["cause"].map(order)).sort_values(
        ["batch_number", "_leg", "_cause", "transaction_id"], kind="stable", na_position="last")
    return report, items.drop(columns=["_leg", "_cause"]).reset_index(drop=True)[list(ITEM_COLUMNS)]
