"""The reconciliation engine: PayTrace's transactions and batches against one ERP and the bank.

Pure pandas and numpy, vectorized: joins are hash look-ups on int64 transaction ids (receipt numbers
are parsed once), never a Python loop over rows. Inputs and outputs are the frames of ``frames``.

Receipt numbers
    The receipt of a transaction is ``<prefix><transaction id>`` (``PT-1001``); a refund is recorded
    against the original's receipt as ``<prefix><refund id>:RFND``; a reversal is the ledger entry
    ``<receipt>:REV`` whose transaction is the one that caused it. A receipt number that is not the
    prefix followed by an integer (no sign, no leading zero) is not PaySync's and is ignored.

What PayTrace expects the ERP to show for a transaction (its ``gateway_amount_minor``)
    - sale, capture, or a chargeback the merchant won, approved (pending_settlement, settled,
      dispute_won): a receipt of the transaction's amount;
    - refund (pending_settlement or settled): a refund of its amount against the original receipt,
      or, when it took the whole receipt, the original receipt reversed (the ledger's ``:REV`` entry
      names the refund). The original is found through the ledger's refund or reversal entry, else
      through the ERP's refund record;
    - void, or chargeback under dispute (or lost): the receipt reversed, if a receipt was ever posted
      (the ERP holds it or the ledger posted it); never posted: nothing;
    - decline, uncaptured authorization: nothing.
    ``erp_amount_minor`` is what the ERP shows for the transaction's own effect: the receipt's amount
    (every copy; less the reversal unless a refund caused it), the amount reversed, or the refund
    recorded (plus what the reversal took when the refund caused it).

One status per transaction, the first rule that applies
    1. duplicate_in_erp: the ERP holds more than one receipt with the transaction's number.
    2. drift: changed in the ERP after posting. The ledger posted the receipt (status posted, ERP id
       known) and the ERP no longer holds it, holds another id under its number, holds it with another
       amount than posted or another customer than the transaction's (when it has one), or shows it
       reversed while the ledger has no posted reversal; or the ledger posted a reversal the ERP does
       not show; or the ledger posted a refund whose record is gone from the ERP.
    3. missing_in_gateway: an ERP receipt whose transaction is not among PayTrace's (an extra row:
       kind "", business_date = the receipt date).
    4. declined_not_posted: a decline with no receipt.
    5. pending_settlement: not in a settled batch yet (authorizations included), unless a void,
       decline or refund, whatever the ERP shows.
    6. missing_in_erp: an effect is expected and the ERP shows none.
    7. amount_mismatch: the ERP's amount differs from the expected one by more than
       ``tolerances.amount_minor``.
    8. unapplied_in_erp: a receipt (not reversed) leaves more than ``tolerances.unapplied_minor``
       unapplied, not counting what refunds recorded against it took.
    9. matched.

The ERP leg of a batch (``erp_variance_minor = net_minor - erp_net_minor``)
    A batch's transactions are PayTrace's rows with its ``settlement_batch``. ``erp_net_minor`` is
    the sum of their effects in the ERP now: a receipt's amount less the refunds recorded against it
    by refunds of other batches (or of none yet) and less what its reversal took (unless a refund of
    the same batch caused it); a refund counts minus what the ERP recorded for it. So a refund settled
    in a later batch lowers its sale's batch (``refund_in_later_batch``) and cancels its own gateway
    amount in its own batch. Items, per transaction: ``refund_in_later_batch`` (each such refund),
    ``chargeback`` (what the reversal of a disputed transaction's receipt took), and for a transaction
    whose status is missing_in_erp, amount_mismatch, drift or duplicate_in_erp the rest of the
    difference it makes, under that status.

The bank leg (only when a bank file is given)
    A batch's lines are those naming it; a batch with no deposit line naming it may also take one
    deposit line naming no batch whose amount equals the batch's net, in the same currency, dated 1 to
    ``bank_date_window_days`` business days after the batch's date: a line and a batch pair when each
    is the other's earliest fit with no tie (ties stay unmatched), round after round. ``bank_net_minor`` is the sum of the
    batch's lines. Items: ``fees`` (minus the fee lines), ``chargeback`` (minus the chargeback
    lines), and with no deposit line at all ``timing`` while ``as_of`` is still within the window
    (``as_of`` defaults to the latest date in the bank file), else ``missing_deposit`` (the net).

For every batch and leg the items add up to the leg's variance exactly: what no rule explains is
one ``unexplained`` item; a leg with no variance has no items. A batch is ``tied`` when every leg
present is within ``tolerances.batch_variance_minor``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from paysync_dagster.lib.reconciliation import status, variance
from paysync_dagster.lib.reconciliation.keys import Labels, any_of, lookup, parse_ids, take

TRANSACTIONS = ("transaction_id", "business_date", "kind", "settlement_batch", "currency", "gateway_amount_minor",
                "erp_amount_minor", "receipt_number", "erp_receipt_id", "status", "detail")
BATCH_REPORT = ("batch_number", "business_date", "currency", "net_minor", "listed_net_minor", "erp_net_minor",
                "erp_variance_minor", "bank_net_minor", "bank_variance_minor", "tied", "transactions")
VARIANCES = ("batch_number", "leg", "cause", "amount_minor", "transaction_id", "note")

REFUND_SUFFIX = ":RFND"


@dataclass(frozen=True)
class Tolerances:
    amount_minor: int = 0
    unapplied_minor: int = 0
    batch_variance_minor: int = 0
    bank_date_window_days: int = 3

    @classmethod
    def of(cls, section: object) -> Tolerances:
        """From the mapping file's ``tolerances`` section; what it does not set keeps its default."""
        return cls(**{f.name: int(getattr(section, f.name)) for f in fields(cls) if hasattr(section, f.name)})


@dataclass
class Reconciliation:
    transactions: pd.DataFrame  # TRANSACTIONS
    batches: pd.DataFrame  # BATCH_REPORT
    variances: pd.DataFrame  # VARIANCES


@dataclass
class Facts:
    """What is known of each reconciled transaction: one numpy array per fact, all row-aligned.

    Rows are PayTrace's transactions in input order, then the ERP's receipts PayTrace does not know.
    """

    tid: np.ndarray
    in_gateway: np.ndarray
    kind: np.ndarray
    gstatus: np.ndarray
    amount: np.ndarray
    currency: np.ndarray
    has_batch: np.ndarray
    batch: np.ndarray
    business_date: np.ndarray
    customer: np.ndarray
    # the transaction's own receipt in the ERP, every copy
    has_receipt: np.ndarray
    copies: np.ndarray
    receipt_sum: np.ndarray
    reversed_sum: np.ndarray
    reversed: np.ndarray
    unapplied: np.ndarray
    erp_id: np.ndarray
    erp_customer: np.ndarray
    reference: np.ndarray
    refunded: np.ndarray  # refunds recorded against the receipt
    # the ledger's view of that receipt
    ledger_posted: np.ndarray
    ledger_amount: np.ndarray
    ledger_erp_id: np.ndarray
    reversal_cause: np.ndarray  # the transaction of the ledger's reversal entry, -1 if none
    reversal_posted: np.ndarray
    # a refund's own record and its original receipt (-1 / empty for other rows)
    original: np.ndarray
    original_reference: np.ndarray
    original_erp_id: np.ndarray
    original_present: np.ndarray
    original_reversed: np.ndarray
    original_residual: np.ndarray
    original_reversal_cause: np.ndarray
    original_reversal_posted: np.ndarray
    mark: np.ndarray
    has_mark: np.ndarray
    mark_posted: np.ndarray  # the ledger posted this refund's record
    # the ERP's refund records: original receipt's id (owner), refund id (rid, -1 unknown), amount
    marks: pd.DataFrame = field(default_factory=pd.DataFrame)
    index: pd.Index = field(default_factory=pd.Index)  # of ``tid``: look-ups build its hash table once
    kinds: Labels = field(default_factory=Labels)  # ``kind`` and ``gstatus`` as integer codes
    statuses: Labels = field(default_factory=Labels)

    def __len__(self) -> int:
        return len(self.tid)


def _ints(s: Any) -> np.ndarray:
    s = pd.Series(s)
    if s.dtype.kind in "iu":
        return s.to_numpy(np.int64)
    return np.asarray(pd.to_numeric(s).fillna(0), dtype=np.int64)


def _objs(s: Any) -> np.ndarray:
    s = pd.Series(s, dtype=object)
    return np.asarray(s.where(s.notna(), ""), dtype=object)


def _bools(s: Any) -> np.ndarray:
    s = pd.Series(s)
    if s.dtype == bool:
        return s.to_numpy()
    return np.asarray(s.astype(object).where(s.notna(), False), dtype=bool)


def _receipts(erp_receipts: pd.DataFrame, prefix: str) -> tuple[dict[str, np.ndarray], pd.Index]:
    """One row per receipt number (parsed to ``tid``), every copy's amounts added up; and its index."""
    tid = parse_ids(erp_receipts["reference"], prefix)
    ok = tid >= 0
    amount = _ints(erp_receipts["amount_minor"])
    rev = _bools(erp_receipts["reversed"])
    cols = {
        "tid": tid, "copies": np.ones(len(tid), np.int64), "receipt_sum": amount,
        "reversed_sum": np.where(rev, amount, 0), "reversed": rev, "unapplied": _ints(erp_receipts["unapplied_minor"]),
        "erp_id": _objs(erp_receipts["erp_id"]), "customer": _objs(erp_receipts["customer_account"]),
        "reference": np.asarray(erp_receipts["reference"], dtype=object),
        "currency": np.asarray(erp_receipts["currency"], dtype=object),
        "receipt_date": np.asarray(erp_receipts["receipt_date"], dtype=object),
    }
    if not ok.all():
        cols = {k: v[ok] for k, v in cols.items()}
    index = pd.Index(cols["tid"])
    if index.is_unique:
        return cols, index
    # Duplicates are rare: add their copies up on the few rows concerned, keep the first copy's ids.
    dup = index.duplicated(keep=False)
    sums = pd.DataFrame({k: cols[k][dup] for k in ("tid", "copies", "receipt_sum", "reversed_sum", "reversed",
                                                    "unapplied")}).groupby("tid", sort=False).agg(
        {"copies": "sum", "receipt_sum": "sum", "reversed_sum": "sum", "reversed": "any", "unapplied": "sum"})
    first = ~index.duplicated(keep="first")
    cols = {k: v[first] for k, v in cols.items()}
    pos = lookup(sums.index.to_numpy(), cols["tid"])
    hit = pos >= 0
    for col in sums.columns:
        cols[col][hit] = sums[col].to_numpy()[pos[hit]]
    return cols, pd.Index(cols["tid"])


def _last_by(df: pd.DataFrame, key: str) -> pd.DataFrame:
    return df.drop_duplicates(key, keep="last").reset_index(drop=True)


def _ledger_receipts(ledger: pd.DataFrame, is_receipt: np.ndarray) -> tuple[dict[str, np.ndarray], pd.Index]:
    """The ledger's receipt entries, one per transaction (the last if repeated), and their index."""
    erp_id = _objs(np.asarray(ledger["erp_id"], dtype=object)[is_receipt])
    cols = {"tid": _ints(ledger["transaction_id"])[is_receipt], "amount": _ints(ledger["amount_minor"])[is_receipt],
            "posted": (np.asarray(ledger["status"], dtype=object)[is_receipt] == "posted") & (erp_id != ""),
            "erp_id": erp_id}
    index = pd.Index(cols["tid"])
    if not index.is_unique:
        keep = ~index.duplicated(keep="last")
        cols = {k: v[keep] for k, v in cols.items()}
        index = pd.Index(cols["tid"])
    return cols, index


def build_facts(gateway: pd.DataFrame, ledger: pd.DataFrame, erp_receipts: pd.DataFrame, erp_refunds: pd.DataFrame,
                prefix: str) -> Facts:
    gtid = _ints(gateway["transaction_id"])
    rc, r_index = _receipts(erp_receipts, prefix)
    rtid = rc["tid"]
    r_pos_g = lookup(r_index, gtid)
    seen = np.zeros(len(rtid), bool)
    seen[r_pos_g[r_pos_g >= 0]] = True
    only_erp = np.flatnonzero(~seen)
    n_g, n_x = len(gtid), len(only_erp)
    r_pos = np.concatenate([r_pos_g, only_erp]).astype(np.intp)
    tid = np.concatenate([gtid, rtid[only_erp]])

    def both(gcol: np.ndarray, xcol: np.ndarray) -> np.ndarray:
        return np.concatenate([gcol, xcol]) if n_x else gcol

    empty_x = np.full(n_x, "", dtype=object)
    kind = both(np.asarray(gateway["kind"], dtype=object), empty_x)
    gstatus = both(np.asarray(gateway["status"], dtype=object), empty_x)
    batch_raw = pd.array(gateway["settlement_batch"], dtype="Int64") if n_g else pd.array([], dtype="Int64")
    has_batch = ~np.asarray(batch_raw.isna(), dtype=bool)
    batch = np.asarray(batch_raw.fillna(0), dtype=np.int64)

    def rcol(name: str, fill: Any) -> np.ndarray:
        return take(rc[name], r_pos, fill)

    # ledger: the receipt entries by transaction, reversals by receipt and by cause, refund entries
    # (Columns only compared with constants are not cleaned of nulls: a null simply matches nothing.)
    l_action = np.asarray(ledger["action"], dtype=object)
    is_receipt = l_action == "receipt"
    lr, lr_index = _ledger_receipts(ledger, is_receipt)
    l_pos = lookup(lr_index, tid)
    side = ledger[any_of(l_action, ("reversal", "refund"))]
    side_parent = parse_ids(_objs(side["parent_reference"]), prefix)
    side_action = _objs(side["action"])
    side_tid, side_posted = _ints(side["transaction_id"]), _objs(side["status"]) == "posted"
    rv = _last_by(pd.DataFrame({"owner": side_parent, "cause": side_tid, "posted": side_posted})[
        (side_action == "reversal") & (side_parent >= 0)], "owner")
    rv_pos = lookup(rv["owner"].to_numpy(), tid)
    lf = _last_by(pd.DataFrame({"rid": side_tid, "owner": side_parent, "posted": side_posted})[
        side_action == "refund"], "rid")

    # the ERP's refund records: against which receipt, for which refund
    fr_ref = pd.Series(_objs(erp_refunds["refund_reference"]), dtype=object).astype(str)
    fr_base = fr_ref.where(fr_ref.str.endswith(REFUND_SUFFIX), "").str.slice(0, -len(REFUND_SUFFIX))
    marks = pd.DataFrame({"owner": parse_ids(_objs(erp_refunds["receipt_reference"]), prefix),
                          "rid": parse_ids(fr_base.to_numpy(dtype=object), prefix),
                          "amount": _ints(erp_refunds["amount_minor"])})
    marks = marks[marks["owner"] >= 0].reset_index(drop=True)
    by_owner = marks.groupby("owner", sort=False)["amount"].sum()
    by_rid = marks[marks["rid"] >= 0].groupby("rid", sort=False).agg(amount=("amount", "sum"), owner=("owner", "first"))
    refunded = take(by_owner.to_numpy(), lookup(by_owner.index.to_numpy(), tid), 0)

    f = Facts(
        tid=tid, in_gateway=np.arange(len(tid)) < n_g,
        kind=kind, gstatus=gstatus,
        amount=both(_ints(gateway["amount_minor"]), np.zeros(n_x, np.int64)),
        currency=both(np.asarray(gateway["currency"], dtype=object), rc["currency"][only_erp]),
        has_batch=both(has_batch, np.zeros(n_x, bool)), batch=both(batch, np.zeros(n_x, np.int64)),
        business_date=both(np.asarray(gateway["business_date"], dtype=object), rc["receipt_date"][only_erp]),
        customer=both(_objs(gateway["customer_account"]), empty_x),
        has_receipt=r_pos >= 0, copies=rcol("copies", 0), receipt_sum=rcol("receipt_sum", 0),
        reversed_sum=rcol("reversed_sum", 0), reversed=rcol("reversed", False), unapplied=rcol("unapplied", 0),
        erp_id=rcol("erp_id", ""), erp_customer=rcol("customer", ""), reference=rcol("reference", ""),
        refunded=refunded,
        ledger_posted=take(lr["posted"], l_pos, False), ledger_amount=take(lr["amount"], l_pos, 0),
        ledger_erp_id=take(lr["erp_id"], l_pos, ""),
        reversal_cause=take(rv["cause"].to_numpy(), rv_pos, -1),
        reversal_posted=take(rv["posted"].to_numpy(), rv_pos, False),
        original=np.full(len(tid), -1, np.int64), original_reference=np.full(len(tid), "", dtype=object),
        original_erp_id=np.full(len(tid), "", dtype=object), original_present=np.zeros(len(tid), bool),
        original_reversed=np.zeros(len(tid), bool), original_residual=np.zeros(len(tid), np.int64),
        original_reversal_cause=np.full(len(tid), -1, np.int64), original_reversal_posted=np.zeros(len(tid), bool),
        mark=np.zeros(len(tid), np.int64), has_mark=np.zeros(len(tid), bool), mark_posted=np.zeros(len(tid), bool),
        marks=marks, index=pd.Index(tid), kinds=Labels.of(kind), statuses=Labels.of(gstatus),
    )
    if not f.index.is_unique:
        raise ValueError("the gateway frame holds a transaction more than once")
    _refund_facts(f, rc, r_index, rv, lf, by_rid, by_owner, prefix)
    return f


def _refund_facts(f: Facts, rc: dict[str, np.ndarray], r_index: pd.Index, rv: pd.DataFrame, lf: pd.DataFrame,
                  by_rid: pd.DataFrame, by_owner: pd.Series, prefix: str) -> None:
    """A refund's own record and its original receipt, on the few refund rows only."""
    rows = np.flatnonzero(f.kinds.isin("refund"))
    if not len(rows):
        return
    rid = f.tid[rows]
    lf_pos = lookup(lf["rid"].to_numpy(), rid)
    by_cause = _last_by(rv[rv["cause"] != rv["owner"]], "cause")
    rvc_pos = lookup(by_cause["cause"].to_numpy(), rid)
    fr_pos = lookup(by_rid.index.to_numpy(), rid)
    original = take(lf["owner"].to_numpy(), lf_pos, -1)
    original = np.where(original >= 0, original, take(by_cause["owner"].to_numpy(), rvc_pos, -1))
    original = np.where(original >= 0, original, take(by_rid["owner"].to_numpy(), fr_pos, -1))
    o_pos = lookup(r_index, original)
    o_pos[original < 0] = -1
    o_rv = lookup(rv["owner"].to_numpy(), original)
    o_reversed = take(rc["reversed"], o_pos, False)
    o_refunded = take(by_owner.to_numpy(), lookup(by_owner.index.to_numpy(), original), 0)
    residual = np.maximum(take(rc["reversed_sum"], o_pos, 0) - o_refunded, 0)
    f.original[rows] = original
    f.original_reference[rows] = np.where(
        o_pos >= 0, take(rc["reference"], o_pos, ""),
        np.where(original >= 0, prefix + pd.Series(original).astype(str).to_numpy(dtype=object), ""))
    f.original_erp_id[rows] = take(rc["erp_id"], o_pos, "")
    f.original_present[rows] = o_pos >= 0
    f.original_reversed[rows] = o_reversed
    f.original_residual[rows] = np.where(o_reversed, residual, 0)
    f.original_reversal_cause[rows] = take(rv["cause"].to_numpy(), o_rv, -1)
    f.original_reversal_posted[rows] = take(rv["posted"].to_numpy(), o_rv, False)
    f.mark[rows] = take(by_rid["amount"].to_numpy(), fr_pos, 0)
    f.has_mark[rows] = fr_pos >= 0
    f.mark_posted[rows] = take(lf["posted"].to_numpy(), lf_pos, False)


def reconcile(gateway: pd.DataFrame, ledger: pd.DataFrame, erp_receipts: pd.DataFrame, erp_refunds: pd.DataFrame,
              batches: pd.DataFrame, bank_lines: pd.DataFrame | None = None, *, receipt_prefix: str = "PT-",
              tolerances: Tolerances = Tolerances(), as_of: date | None = None) -> Reconciliation:
    """Reconcile one ERP's receipts and the bank against PayTrace (see the module's rules)."""
    f = build_facts(gateway, ledger, erp_receipts, erp_refunds, receipt_prefix)
    derived = status.derive(f, tolerances)
    transactions = status.table(f, derived, receipt_prefix, tolerances)
    report, items = variance.legs(f, derived, transactions["detail"].to_numpy(), batches, bank_lines, tolerances,
                                  as_of)
    return Reconciliation(transactions, report, items)
