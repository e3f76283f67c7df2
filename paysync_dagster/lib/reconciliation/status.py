"""Each transaction's expected and actual ERP effect, its one status, and a sentence saying why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from paysync_dagster.lib.money import MoneyError, exponent
from paysync_dagster.lib.reconciliation.frames import STATUSES

if TYPE_CHECKING:
    from paysync_dagster.lib.reconciliation.core import Facts, Tolerances

LIVE = ("pending_settlement", "settled", "dispute_won")
REVERSING = ("voided", "disputed", "dispute_lost")
S = {name: i for i, name in enumerate(STATUSES)}
_NAMES = np.array(STATUSES, dtype=object)
DRIFT = ("deleted", "replaced", "amount", "customer", "reversed", "unreversed", "refund_gone")


@dataclass
class Derived:
    expected: np.ndarray  # what PayTrace expects the ERP to show (gateway_amount_minor)
    erp: np.ndarray  # what the ERP shows for the transaction's own effect (erp_amount_minor)
    code: np.ndarray  # index into frames.STATUSES
    drift: np.ndarray  # index into DRIFT, -1 when not drift
    is_refund: np.ndarray
    receipt_like: np.ndarray  # a receipt is expected
    reversing: np.ndarray  # a reversal is expected once a receipt was posted
    posted: np.ndarray
    by_other: np.ndarray  # the ledger's reversal of the receipt names another transaction (a refund)
    attributed: np.ndarray  # a refund whose original receipt's reversal names it

    @property
    def names(self) -> np.ndarray:
        return _NAMES[self.code]


def derive(f: Facts, tol: Tolerances) -> Derived:
    kind, st = f.kinds, f.statuses
    is_refund = kind.isin("refund")
    declined = kind.isin("decline") | st.isin("declined")
    voided = kind.isin("void") | st.isin("voided")
    reversing = ~is_refund & ~declined & (voided | st.isin(*REVERSING))
    live = st.isin(*LIVE)
    receipt_like = f.in_gateway & ~is_refund & ~declined & ~reversing & live
    refund_like = is_refund & live
    posted = f.has_receipt | f.ledger_posted
    by_other = (f.reversal_cause >= 0) & (f.reversal_cause != f.tid)
    own_reversal = np.where(f.reversed & ~by_other, f.reversed_sum, 0)
    attributed = is_refund & f.original_reversed & (f.original_reversal_cause == f.tid)
    expected = np.where(receipt_like | refund_like | (reversing & posted), f.amount, 0)
    erp = np.select(
        [receipt_like, reversing, is_refund],
        [f.receipt_sum - own_reversal, own_reversal, f.mark + np.where(attributed, f.original_residual, 0)],
        f.receipt_sum - f.reversed_sum)

    lp = f.ledger_posted
    drift_rules = [
        lp & ~f.has_receipt,
        lp & f.has_receipt & (f.erp_id != f.ledger_erp_id),
        lp & f.has_receipt & (f.receipt_sum != f.ledger_amount),
        lp & f.has_receipt & (f.customer != "") & (f.erp_customer != f.customer),
        lp & f.reversed & ~f.reversal_posted,
        (f.reversal_posted & ~by_other & f.has_receipt & ~f.reversed)
        | (is_refund & f.original_reversal_posted & (f.original_reversal_cause == f.tid) & f.original_present
           & ~f.original_reversed),
        is_refund & f.mark_posted & ~f.has_mark,
    ]
    drift = np.select(drift_rules, list(range(len(DRIFT))), -1)
    rules = [
        (f.copies > 1, "duplicate_in_erp"),
        (drift >= 0, "drift"),
        (~f.in_gateway, "missing_in_gateway"),
        (declined & ~f.has_receipt, "declined_not_posted"),
        (f.in_gateway & ~f.has_batch & ~is_refund & ~declined & ~voided,
         "pending_settlement"),
        ((expected != 0) & (erp == 0), "missing_in_erp"),
        (np.abs(erp - expected) > tol.amount_minor, "amount_mismatch"),
        (receipt_like & f.has_receipt & ~f.reversed & (f.unapplied - f.refunded > tol.unapplied_minor),
         "unapplied_in_erp"),
    ]
    code = np.select([c for c, _ in rules], [S[n] for _, n in rules], S["matched"]).astype(np.int8)
    drift = np.where(code == S["drift"], drift, -1)
    return Derived(expected, erp, code, drift, is_refund, receipt_like, reversing, posted, by_other, attributed)


_PLAIN = np.array([str(i) for i in range(1000)], dtype=object)
_PADDED = {e: np.array([str(i).zfill(e) for i in range(10 ** e)], dtype=object) for e in (1, 2, 3)}


def money(minor: np.ndarray, currency: np.ndarray) -> np.ndarray:
    """``-123456, "USD" -> "-1,234.56 USD"`` for every row, without a Python loop over rows."""
    minor = np.asarray(minor, np.int64)
    out = np.empty(len(minor), dtype=object)
    codes, uniques = pd.factorize(np.asarray(currency, dtype=object))
    for i, code in [(-1, ""), *enumerate(uniques)]:  # one pass per currency
        sel = codes == i
        if not sel.any():
            continue
        label = str(code).upper()
        try:
            exp = exponent(label)
        except MoneyError:
            exp = 2
        out[sel] = _decimal(minor[sel], exp) + (" " + label if label else "")
    return out


def _decimal(minor: np.ndarray, exp: int) -> np.ndarray:
    sign = np.where(minor < 0, "-", "").astype(object)
    whole, frac = np.divmod(np.abs(minor), 10 ** exp)
    text = sign + _thousands(whole)
    if exp in _PADDED:
        text = text + "." + _PADDED[exp][frac]
    elif exp:
        text = text + "." + pd.Series(frac).astype(str).str.zfill(exp).to_numpy(dtype=object)
    return text


def _thousands(whole: np.ndarray) -> np.ndarray:
    groups = [whole % 1000]
    rest = whole // 1000
    while rest.any():
        groups.append(rest % 1000)
        rest = rest // 1000
    count = np.ones(len(whole), np.int64)
    for j in range(1, len(groups)):
        count += whole >= 1000 ** j
    text = np.full(len(whole), "", dtype=object)
    for j in range(len(groups) - 1, -1, -1):  # highest group first, one pass per group of 3 digits
        top, below = count == j + 1, count > j + 1
        text[top] = _PLAIN[groups[j][top]]
        text[below] = text[below] + "," + _PADDED[3][groups[j][below]]
    return text


def _s(values: np.ndarray) -> np.ndarray:
    return pd.Series(values, dtype=object).astype(str).to_numpy(dtype=object)


_MATCHED = np.array([
    "the ERP's receipt matches PayTrace's amount",
    "the receipt is reversed in the ERP, as PayTrace's void or chargeback requires",
    "voided or charged back before a receipt was posted: nothing to post",
    "the refund is recorded in the ERP for PayTrace's amount",
    "nothing to post, and the ERP shows nothing",
], dtype=object)


def details(f: Facts, d: Derived, receipt_number: np.ndarray, prefix: str, tol: Tolerances) -> np.ndarray:
    """One sentence per transaction: why this status, with the amounts (matched rows share one each)."""
    out = np.empty(len(f), dtype=object)
    kind_m = np.select([d.receipt_like, d.reversing & d.posted, d.reversing, d.is_refund], [0, 1, 2, 3], 4)
    matched = d.code == S["matched"]
    out[matched] = _MATCHED[kind_m[matched]]
    for name in STATUSES[1:]:
        rows = np.flatnonzero(d.code == S[name])
        if len(rows):
            out[rows] = _explain(name, rows, f, d, receipt_number, prefix, tol)
    return out


def _explain(name: str, r: np.ndarray, f: Facts, d: Derived, number: np.ndarray, prefix: str,
             tol: Tolerances) -> np.ndarray:
    cur = f.currency[r]

    def m(values: np.ndarray) -> np.ndarray:
        return money(values[r], cur)

    ref = number[r]
    if name == "duplicate_in_erp":
        return ("the ERP holds " + _s(f.copies[r]) + " receipts numbered " + ref + ", " + m(f.receipt_sum)
                + " in all, for one transaction of " + m(f.amount))
    if name == "drift":
        return _drift(r, f, d, ref, prefix)
    if name == "missing_in_gateway":
        return ("the ERP holds receipt " + ref + " of " + m(f.receipt_sum) + " but PayTrace has no transaction "
                + _s(f.tid[r]) + " in scope")
    if name == "declined_not_posted":
        return "declined by the card issuer (" + m(f.amount) + "): no receipt, as expected"
    if name == "pending_settlement":
        return f.kind[r] + " of " + m(f.amount) + " is not in a settled batch yet; the ERP shows " + m(d.erp)
    exp = m(d.expected)
    if name == "missing_in_erp":
        text = "PayTrace expects a receipt of " + exp + " but the ERP holds no receipt " + ref
        text = np.where(f.reversed[r], "PayTrace expects receipt " + ref + " of " + exp
                        + " but the ERP shows it reversed", text)
        text = np.where(d.reversing[r], f.kind[r] + " in PayTrace: receipt " + ref + " of " + exp
                        + " should be reversed, but the ERP shows it active", text)
        return np.where(d.is_refund[r], "refund of " + exp + " against " + ref + " is not recorded in the ERP",
                        text).astype(object)
    erp = m(d.erp)
    if name == "amount_mismatch":
        return ("PayTrace expects " + exp + " but the ERP shows " + erp + " for " + np.where(ref == "", "this transaction",
                ref).astype(object) + ": a difference of " + m(d.expected - d.erp))
    # unapplied_in_erp
    return ("receipt " + ref + " of " + erp + " leaves " + m(f.unapplied - f.refunded) + " unapplied (tolerance "
            + money(np.full(len(r), tol.unapplied_minor), cur) + ")")


def _drift(r: np.ndarray, f: Facts, d: Derived, ref: np.ndarray, prefix: str) -> np.ndarray:
    cur = f.currency[r]
    why = d.drift[r]
    posted_amount = money(f.ledger_amount[r], cur)
    texts = [
        "receipt " + ref + " was posted for " + posted_amount + " (ERP id " + f.ledger_erp_id[r]
        + ") but the ERP no longer holds it",
        "receipt " + ref + " was posted as ERP id " + f.ledger_erp_id[r] + " but the ERP now holds id " + f.erp_id[r]
        + " under that number: the posted one was deleted",
        "receipt " + ref + " was posted for " + posted_amount + " but the ERP now shows " + money(f.receipt_sum[r], cur),
        "receipt " + ref + " belongs to customer " + f.customer[r] + " but the ERP now shows customer "
        + np.where(f.erp_customer[r] == "", "(none)", f.erp_customer[r]).astype(object),
        "receipt " + ref + " of " + money(f.receipt_sum[r], cur) + " is reversed in the ERP but PaySync posted no reversal",
        "PaySync reversed receipt " + ref + " but the ERP shows it active",
        "refund " + prefix + _s(f.tid[r]) + ":RFND of " + money(f.amount[r], cur) + " was recorded against " + ref
        + " but the ERP no longer shows it",
    ]
    out = np.empty(len(r), dtype=object)
    for i, text in enumerate(texts):
        out[why == i] = text[why == i]
    return out


def table(f: Facts, d: Derived, prefix: str, tol: Tolerances) -> pd.DataFrame:
    number = np.where(f.has_receipt, f.reference, "").astype(object)
    concerned = ~f.has_receipt & ~d.is_refund & ((d.expected != 0) | f.ledger_posted)
    if concerned.any():
        number[concerned] = prefix + _s(f.tid[concerned])
    number[d.is_refund] = f.original_reference[d.is_refund]
    erp_id = np.where(d.is_refund, f.original_erp_id, f.erp_id).astype(object)
    return pd.DataFrame({
        "transaction_id": f.tid,
        "business_date": f.business_date,
        "kind": f.kind,
        "settlement_batch": pd.arrays.IntegerArray(f.batch, ~f.has_batch),
        "currency": f.currency,
        "gateway_amount_minor": d.expected.astype(np.int64),
        "erp_amount_minor": d.erp.astype(np.int64),
        "receipt_number": number,
        "erp_receipt_id": erp_id,
        "status": d.names,
        "detail": details(f, d, number, prefix, tol),
    }, copy=False)
