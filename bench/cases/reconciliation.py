"""Reconcile a million PayTrace transactions against a million ERP receipts and a bank file.

Side by side in one run, each side in a fresh process that first loads the same pickled frames (not
timed), so that time and peak memory are its own: ``reconcile`` (statuses, batch legs, variance items)
against a bare ``pandas.merge`` of the gateway and ERP frames on the receipt number (outer join) plus
a groupby-sum of the gateway amounts per batch. Goal: reconcile within 2x of the bare merge.

The data: mostly settled sales across 100 batches, with refunds (some settling in later batches),
captures, declines, uncaptured authorizations, voids, chargebacks; the ERP holds a receipt for each
posted one, sprinkled with amount edits, deletions, duplicates, never-posted receipts, unapplied cash
and receipts typed in by hand; the ledger records every posting; the bank file has one deposit and
one fee line per batch, a few deposits naming no batch and a few missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.run import BenchContext, Figure

CASE = "reconciliation"
DAY0 = date(2026, 6, 1)
BATCHES = 100
FIRST_ID = 300_000_000


def _refs(ids: np.ndarray, suffix: str = "") -> np.ndarray:
    return ("PT-" + pd.Series(ids).astype(str) + suffix).to_numpy(dtype=object)


def build(n: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    """The six input frames for ``n`` gateway transactions (and about as many ERP receipts)."""
    rng = np.random.default_rng(seed)
    ids = FIRST_ID + np.arange(n, dtype=np.int64)
    kinds = np.array(["sale", "capture", "refund", "decline", "authorization", "void", "chargeback"], dtype=object)
    kind = rng.choice(kinds, n, p=[0.905, 0.03, 0.03, 0.01, 0.01, 0.01, 0.005])
    amount = rng.integers(100, 500_000, n)
    bidx = (np.arange(n) * BATCHES) // n  # transactions settle in id order
    status = np.select([kind == "decline", kind == "authorization", kind == "void", kind == "chargeback"],
                       ["declined", "authorized", "voided", "disputed"], "settled").astype(object)
    pending = (kind == "sale") & (rng.random(n) < 0.01)
    status[pending] = "pending_settlement"
    in_batch = ~np.isin(kind, ["decline", "authorization", "void"]) & ~pending
    owns = np.isin(kind, ["sale", "capture", "chargeback"])

    # refunds: each of a distinct earlier sale, settling in the same batch or up to two later
    refund = np.flatnonzero(kind == "refund")
    sales = np.flatnonzero((kind == "sale") & ~pending)
    original = rng.choice(sales, len(refund), replace=False)
    bidx[refund] = np.minimum(bidx[original] + rng.integers(0, 3, len(refund)), BATCHES - 1)
    full = rng.random(len(refund)) < 0.2
    amount[refund] = np.where(full, amount[original], np.maximum(amount[original] // 3, 1))
    refunded = np.zeros(n, np.int64)
    refunded[original] = amount[refund]
    reversed_ = np.zeros(n, bool)
    reversed_[original[full]] = True
    reversed_[kind == "chargeback"] = True
    posted_void = (kind == "void") & (rng.random(n) < 0.5)
    reversed_[posted_void] = True
    owns |= posted_void

    # what went wrong in the ERP
    roll = rng.random(n)
    never = owns & (roll < 0.003)  # posting failed: no receipt
    deleted = owns & (roll >= 0.003) & (roll < 0.006)  # posted, then deleted in the ERP
    edited = owns & (roll >= 0.006) & (roll < 0.011)  # amount changed in the ERP
    duplicate = owns & (roll >= 0.011) & (roll < 0.013)
    unapplied = owns & (roll >= 0.013) & (roll < 0.023)
    has_receipt = owns & ~never & ~deleted
    erp_amount = amount + np.where(edited, rng.integers(-500, 500, n), 0)

    dates = np.array([DAY0 + timedelta(days=i) for i in range(BATCHES)], dtype=object)
    cur, currency_n = np.array("USD", dtype=object), np.full(n, "USD", dtype=object)
    batch = pd.array(np.where(in_batch, 9000 + bidx, 0), dtype="Int64")
    batch[~in_batch] = pd.NA
    customers = ("C" + pd.Series(ids % 5000).astype(str)).to_numpy(dtype=object)
    gateway = pd.DataFrame({
        "transaction_id": ids, "business_date": dates[bidx], "kind": kind, "status": status, "amount_minor": amount,
        "currency": currency_n, "settlement_batch": batch, "customer_account": customers,
        "receipt_number": _refs(ids),  # the key the bare merge joins on
    })

    r = np.flatnonzero(has_receipt)
    r = np.concatenate([r, np.flatnonzero(has_receipt & duplicate)])
    extra = max(n - len(r), n // 500)  # receipts typed in the ERP by hand: missing in the gateway
    extra_ids = FIRST_ID + n + np.arange(extra, dtype=np.int64)
    erp_ids = ("E" + pd.Series(np.concatenate([ids[r], extra_ids])).astype(str)).to_numpy(dtype=object)
    erp_ids[len(r) - int((has_receipt & duplicate).sum()):len(r)] += "-copy"
    rec_unapplied = refunded[r] + np.where(unapplied[r], amount[r] // 10, 0)
    receipts = pd.DataFrame({
        "reference": np.concatenate([gateway["receipt_number"].to_numpy()[r], _refs(extra_ids)]),
        "erp_id": erp_ids,
        "amount_minor": np.concatenate([erp_amount[r], rng.integers(100, 50_000, extra)]),
        "currency": np.full(len(r) + extra, "USD", dtype=object),
        "customer_account": np.concatenate([customers[r], np.full(extra, "C0", dtype=object)]),
        "receipt_date": np.concatenate([dates[bidx[r]], np.full(extra, DAY0, dtype=object)]),
        "applied_minor": np.concatenate([erp_amount[r] - rec_unapplied, np.zeros(extra, np.int64)]),
        "unapplied_minor": np.concatenate([rec_unapplied, np.zeros(extra, np.int64)]),
        "reversed": np.concatenate([reversed_[r], np.zeros(extra, bool)]),
    })

    # the ledger: every receipt (uncertain where the ERP amount differs and was never confirmed)
    lr = np.flatnonzero(owns)
    posted = ~never[lr] & ~(edited[lr] & (ids[lr] % 2 == 0))
    ledger_parts = [pd.DataFrame({
        "reference": gateway["receipt_number"].to_numpy()[lr], "transaction_id": ids[lr],
        "action": np.full(len(lr), "receipt", dtype=object), "amount_minor": amount[lr],
        "status": np.where(posted, "posted", np.where(never[lr], "failed", "uncertain")).astype(object),
        "erp_id": np.where(posted, ("E" + pd.Series(ids[lr]).astype(str)).to_numpy(dtype=object), "").astype(object),
        "parent_reference": np.full(len(lr), "", dtype=object)})]
    rv_owner = np.concatenate([np.flatnonzero(((kind == "chargeback") | posted_void) & reversed_ & has_receipt),
                               original[full]])
    rv_cause = np.concatenate([ids[rv_owner[:len(rv_owner) - int(full.sum())]], ids[refund[full]]])
    ledger_parts.append(pd.DataFrame({
        "reference": _refs(ids[rv_owner], ":REV"), "transaction_id": rv_cause,
        "action": np.full(len(rv_owner), "reversal", dtype=object), "amount_minor": amount[rv_owner],
        "status": np.full(len(rv_owner), "posted", dtype=object), "erp_id": np.full(len(rv_owner), "E", dtype=object),
        "parent_reference": _refs(ids[rv_owner])}))
    ledger_parts.append(pd.DataFrame({
        "reference": _refs(ids[refund], ":RFND"), "transaction_id": ids[refund],
        "action": np.full(len(refund), "refund", dtype=object), "amount_minor": amount[refund],
        "status": np.full(len(refund), "posted", dtype=object), "erp_id": np.full(len(refund), "E", dtype=object),
        "parent_reference": _refs(ids[original])}))
    ledger = pd.concat(ledger_parts, ignore_index=True)
    refunds = pd.DataFrame({"receipt_reference": _refs(ids[original]), "refund_reference": _refs(ids[refund], ":RFND"),
                            "amount_minor": amount[refund]})

    signed = np.where(kind == "refund", -amount, amount)
    net = pd.Series(np.where(in_batch, signed, 0)).groupby(bidx).sum().reindex(range(BATCHES), fill_value=0).to_numpy()
    batches = pd.DataFrame({"batch_number": 9000 + np.arange(BATCHES), "business_date": dates, "currency": "USD",
                            "net_minor": net, "listed_net_minor": net})
    value = np.array([d + timedelta(days=1 if d.weekday() < 4 else 7 - d.weekday()) for d in dates], dtype=object)
    arrived = np.arange(BATCHES) % 37 != 5
    named = np.arange(BATCHES) % 5 != 0
    fees = -(np.abs(net) // 40)
    bank = pd.DataFrame({
        "line_id": [f"D{i}" for i in range(BATCHES)] + [f"F{i}" for i in range(BATCHES)],
        "value_date": np.concatenate([value, value]), "amount_minor": np.concatenate([net, fees]),
        "currency": "USD", "kind": ["deposit"] * BATCHES + ["fee"] * BATCHES,
        "batch_number": pd.array(np.concatenate([np.where(named, 9000 + np.arange(BATCHES), -1),
                                                 9000 + np.arange(BATCHES)]), dtype="Int64"),
        "description": "PAYTRACE"})
    bank.loc[bank["batch_number"] == -1, "batch_number"] = pd.NA
    bank = bank[np.concatenate([arrived, np.ones(BATCHES, bool)])].reset_index(drop=True)
    return {"gateway": gateway, "ledger": ledger, "erp_receipts": receipts, "erp_refunds": refunds, "batches": batches,
            "bank_lines": bank}


_SIDE = """
import json, resource, sys, time
import pandas as pd
from paysync_dagster.lib.reconciliation.core import Tolerances, reconcile


def peak_mib():
    try:  # Linux: the high-water mark since it was last reset
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


data = pd.read_pickle({path!r})
loaded = peak_mib()
try:  # forget the transient peak of unpickling: only the work's own peak (on top of its inputs) counts
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
except OSError:
    pass
t0 = time.perf_counter()
{work}
seconds = time.perf_counter() - t0
print(json.dumps({{"seconds": seconds, "peak_mib": peak_mib(), "loaded_mib": loaded, **extra}}))
"""
_BARE = """
g, e = data["gateway"], data["erp_receipts"]
joined = pd.merge(g, e, left_on="receipt_number", right_on="reference", how="outer")
per_batch = g.groupby("settlement_batch")["amount_minor"].sum()
extra = {"rows": len(joined), "batches": len(per_batch)}
"""
_RECONCILE = """
result = reconcile(**data, tolerances=Tolerances(unapplied_minor=100), as_of=data["batches"]["business_date"].max())
extra = {"rows": len(result.transactions), "batches": len(result.batches), "items": len(result.variances),
         "statuses": result.transactions["status"].value_counts().to_dict(),
         "tied": int(result.batches["tied"].sum())}
"""


def _measure(path: Path, work: str) -> dict:
    code = _SIDE.format(path=str(path), work=work)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(ctx: BenchContext) -> list[Figure]:
    n = 100_000 if ctx.quick else 1_000_000
    t0 = time.perf_counter()
    data = build(n)
    path = ctx.workdir / "frames.pkl"
    pd.to_pickle(data, path)
    ctx.say(f"{n:,} transactions, {len(data['erp_receipts']):,} ERP receipts, {len(data['ledger']):,} ledger rows "
            f"built in {time.perf_counter() - t0:.1f}s")
    del data
    bares, works = [], []
    for i in range(2):
        bares.append(_measure(path, _BARE))
        works.append(_measure(path, _RECONCILE))
        ctx.say(f"round {i + 1}: bare merge+groupby {bares[-1]['seconds']:.2f}s (peak {bares[-1]['peak_mib']:.0f} MiB); "
                f"reconcile {works[-1]['seconds']:.2f}s (peak {works[-1]['peak_mib']:.0f} MiB, "
                f"{works[-1]['items']} variance items, {works[-1]['tied']}/{works[-1]['batches']} batches tied)")
    ctx.say(f"statuses: {works[-1]['statuses']}")
    bare, work = min(b["seconds"] for b in bares), min(w["seconds"] for w in works)
    return [
        Figure(CASE, f"reconcile {n:,} txns", work, "s", baseline=bare, baseline_label="bare merge+groupby, s",
               goal="ratio <= 2", note="best of 2, each side in a fresh process; data loading not timed"),
        Figure(CASE, "reconcile rate", n / work, "txn/s"),
        Figure(CASE, "peak memory", max(w["peak_mib"] for w in works), "MiB",
               baseline=max(b["peak_mib"] for b in bares), baseline_label="bare merge+groupby, MiB",
               note=f"frames loaded: {works[-1]['loaded_mib']:.0f} MiB"),
    ]
