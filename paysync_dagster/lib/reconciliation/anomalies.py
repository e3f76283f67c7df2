"""Payments that look wrong: stated rules and an unsupervised model, one row per (payment, rule).

Input is ``normalized_payments`` rows (columns :data:`COLUMNS`): the business date's, the previous
:data:`HISTORY_DAYS` days' (customer baselines, trailing rates, the model's population) and, for
refunds, the originals they name ("Refund of transaction N", as posting links them) with the refunds
of those originals on earlier dates. Amounts are compared in the base currency
(``base_amount_minor``) and shown with :func:`format_amount`; a card is only ever named by brand and
last four. ``score`` is the strength of the signal, 0..1, never money. The same input gives the same
rows: inputs are sorted by transaction id and the model's seed is fixed.

An approved payment is a sale or capture in a live status (pending settlement, settled, dispute won).
A payment's customer is its Oracle account, else its Sage account, else its PayTrace customer id, else
its lower-cased email; a payment with none of these has no customer history.

Rules:

- ``duplicate_charge``: two approved payments on the same card (brand + last four + billing postal
  code) for the same amount and currency at most ``window_minutes`` apart; the later one is flagged,
  related to the earlier (which may be on the previous date). Score 1 at the same instant, 0.5 at the
  window's edge.
- ``refund_exceeds_original``: a refund that takes the refunds of its original (earlier ones
  included, in time order) above the original's amount; related to the original. Score 0.5 plus half
  the excess as a share of the original, at most 1. Refunds whose original is unknown or in another
  currency are left to posting, which raises them as exceptions.
- ``unusual_amount_for_customer``: robust z-score of the log amount against the customer's approved
  payments of the previous days (at least ``min_customer_history``):
  ``z = 0.6745 (x - median) / MAD``, flagged when ``|z| > z_threshold``. The MAD is floored at
  ``mad_floor`` (about +-10 % in log terms), so a customer who always pays the same amount is flagged
  only from about 1.8x (or 1/1.8) of it. Score ``|z| / (|z| + z_threshold)``.
- ``decline_spike`` / ``refund_spike``: the day as a whole, so one row with ``transaction_id`` 0 and
  no related transaction; its amount is the sum of the day's declines (refunds) in the base currency.
  Expected = the day's transaction count x the previous days' share of declines (refunds) among all
  transactions. A spike is more than ``spike_ratio`` x expected and at least ``spike_excess`` above
  it; it needs ``min_trailing_transactions`` in the previous days. Score ``1 - expected / observed``
  (the share of the day's declines above expectation).
- ``model_outlier``: an ``IsolationForest`` (fixed seed) fitted on the day's and the previous days'
  approved payments over: log amount, hour of day in the merchant's time zone, the customer's payment
  count and median log amount in the previous days, log(amount / customer median), card brand
  one-hot, and whether an invoice reference is present. The day's payments the forest isolates are
  flagged; the reason names the features in the outer ``rare_share`` of the population (at least the
  most extreme one). Score: the forest's anomaly score (0..1). Skipped under ``min_model_payments``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.posting.followups import REFUND_OF
from paysync_dagster.lib.posting.poster import LIVE

HISTORY_DAYS = 30
COLUMNS = ("business_date", "transaction_id", "kind", "status", "amount_minor", "currency", "base_amount_minor",
           "base_currency", "occurred_at", "invoice_reference", "paytrace_customer_id", "oracle_customer_account",
           "sage_customer_account", "customer_email", "card_brand", "card_last_four", "billing_postal_code",
           "description")
ANOMALY_COLUMNS = ("business_date", "transaction_id", "rule", "score", "amount_minor", "currency", "reason",
                   "related_transaction_id")
RULES = ("duplicate_charge", "refund_exceeds_original", "unusual_amount_for_customer", "decline_spike",
         "refund_spike", "model_outlier")
APPROVED_KINDS = ("sale", "capture")
BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER", "DINERS", "JCB")
_TEXT = ("kind", "status", "currency", "base_currency", "invoice_reference", "paytrace_customer_id",
         "oracle_customer_account", "sage_customer_account", "customer_email", "card_brand", "card_last_four",
         "billing_postal_code", "description")


@dataclass(frozen=True)
class Params:
    window_minutes: int = 10
    min_customer_history: int = 5
    z_threshold: float = 4.0
    mad_floor: float = 0.1
    spike_ratio: float = 3.0
    spike_excess: float = 5.0
    min_trailing_transactions: int = 100
    contamination: float = 0.005
    # Trees see this many payments each: deeper than the usual 256, so that a payment beyond the edge
    # of a large population on a few features still stands out from the edge itself.
    max_samples: int = 1024
    min_model_payments: int = 50
    max_model_history: int = 50_000  # the previous days' payments the forest sees at most, evenly sampled
    random_state: int = 0
    rare_share: float = 0.05


@dataclass
class Detection:
    anomalies: pd.DataFrame  # ANOMALY_COLUMNS, ordered by rule then transaction id
    notes: dict[str, str] = field(default_factory=dict)  # rule -> what it did, or why it was skipped


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """``normalized_payments`` rows with typed columns, a ``customer`` key, sorted by transaction id."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"normalized payments lack columns {missing}")
    df = frame.loc[:, list(COLUMNS)].copy()
    for c in _TEXT:
        df[c] = df[c].fillna("").astype(str)
    for c in ("transaction_id", "amount_minor", "base_amount_minor"):
        df[c] = df[c].astype("int64")
    df["occurred_at"] = pd.to_datetime(df["occurred_at"])
    df["business_date"] = pd.to_datetime(df["business_date"]).dt.date
    customer = df["oracle_customer_account"].str.strip()
    for c in ("sage_customer_account", "paytrace_customer_id"):
        customer = customer.where(customer != "", df[c].str.strip())
    customer = customer.where(customer != "", df["customer_email"].str.strip().str.lower())
    df["customer"] = customer
    df = df.drop_duplicates("transaction_id", keep="last")
    return df.sort_values("transaction_id", kind="stable").reset_index(drop=True)


def approved(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["kind"].isin(APPROVED_KINDS) & df["status"].isin(LIVE)]


def linked_originals(frame: pd.DataFrame) -> list[int]:
    """The transaction ids the refunds in ``frame`` name as their originals."""
    refunds = frame[frame["kind"] == "refund"]
    ids = _original_ids(refunds["description"].fillna("").astype(str)).dropna()
    return sorted({int(i) for i in ids})


def _original_ids(description: pd.Series) -> pd.Series:
    return pd.to_numeric(description.str.extract(REFUND_OF.pattern, flags=REFUND_OF.flags, expand=False),
                         errors="coerce").astype("Int64")


def _rows(day: date, rule: str, hits: pd.DataFrame, score: pd.Series | np.ndarray, reason: list[str],
          related: pd.Series | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "business_date": [day] * len(hits),
        "transaction_id": hits["transaction_id"].to_numpy(dtype="int64"),
        "rule": rule,
        "score": np.round(np.asarray(score, dtype=float), 4),
        "amount_minor": hits["amount_minor"].to_numpy(dtype="int64"),
        "currency": hits["currency"].to_numpy(dtype=object),
        "reason": reason,
        "related_transaction_id": (pd.array(related.to_numpy(), dtype="Int64") if related is not None
                                   else pd.array([None] * len(hits), dtype="Int64")),
    }, columns=list(ANOMALY_COLUMNS))


def _times(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _ratio_words(ratio: float) -> str:
    if ratio >= 10:
        return f"{ratio:,.0f}x"
    if ratio >= 1:
        return f"{ratio:.1f}x"
    inverse = 1 / ratio
    return f"1/{inverse:,.0f} of" if inverse >= 10 else f"1/{inverse:.1f} of"


def _whose(customer: str) -> str:
    # An email address identifies the customer but is not shown where finance users read.
    return "this customer's" if "@" in customer else f"customer {customer}'s"


def _pct(share: float) -> str:
    return "under 0.1%" if 0 < share < 0.001 else f"{share:.1%}"


def duplicate_charges(day: date, today: pd.DataFrame, history: pd.DataFrame, p: Params) -> pd.DataFrame:
    pool = pd.concat([approved(history).assign(_today=False), approved(today).assign(_today=True)])
    pool = pool[pool["card_last_four"] != ""]
    keys = ["card_brand", "card_last_four", "billing_postal_code", "currency", "amount_minor"]
    pool = pool.sort_values(keys + ["occurred_at", "transaction_id"], kind="stable")
    grouped = pool.groupby(keys, sort=False)
    earlier_id = grouped["transaction_id"].shift()
    earlier_at = grouped["occurred_at"].shift()
    gap = pool["occurred_at"] - earlier_at
    hit = pool["_today"] & earlier_id.notna() & (gap <= pd.Timedelta(minutes=p.window_minutes))
    hits, gap, earlier_id, earlier_at = pool[hit], gap[hit], earlier_id[hit], earlier_at[hit]
    window = p.window_minutes * 60
    seconds = gap.dt.total_seconds()
    reasons = [
        f"same card {r.card_brand + ' ' if r.card_brand else ''}...{r.card_last_four} charged {format_amount(r.amount_minor, r.currency)} "
        f"twice within {_times(max(1, math.ceil(s / 60)), 'minute')} (transaction {int(e)} at {t:%H:%M} UTC)"
        for r, s, e, t in zip(hits.itertuples(), seconds, earlier_id, earlier_at)
    ]
    return _rows(day, "duplicate_charge", hits, 1 - 0.5 * seconds / window if window else np.ones(len(hits)), reasons,
                 earlier_id.astype("int64"))


def _live_refunds(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["kind"] == "refund") & df["status"].isin(LIVE)]


def refunds_exceeding(day: date, today: pd.DataFrame, earlier: pd.DataFrame, originals: pd.DataFrame) -> pd.DataFrame:
    todays = _live_refunds(today).assign(_today=True)
    prior = _live_refunds(earlier)
    prior = prior[~prior["transaction_id"].isin(todays["transaction_id"])].assign(_today=False)
    refunds = pd.concat([prior, todays])
    refunds = refunds.assign(original=_original_ids(refunds["description"])).dropna(subset=["original"])
    refunds = refunds[refunds["original"].isin(set(_original_ids(todays["description"]).dropna()))]
    if refunds.empty:
        return _rows(day, "refund_exceeds_original", refunds, [], [])
    orig = originals.drop_duplicates("transaction_id", keep="last").set_index("transaction_id")
    refunds = refunds.sort_values(["original", "occurred_at", "transaction_id"], kind="stable")
    refunds["total"] = refunds.groupby("original")["amount_minor"].cumsum()
    refunds = refunds[refunds["_today"] & refunds["original"].isin(orig.index)]
    o_amount = orig["amount_minor"].reindex(refunds["original"].astype("int64")).to_numpy()
    o_currency = orig["currency"].reindex(refunds["original"].astype("int64")).to_numpy()
    hit = (refunds["currency"].to_numpy() == o_currency) & (refunds["total"].to_numpy() > o_amount)
    hits, o_amount = refunds[hit], o_amount[hit]
    excess = hits["total"].to_numpy() - o_amount
    reasons = [
        f"refunds of transaction {int(r.original)} add up to {format_amount(r.total, r.currency)}, "
        f"{format_amount(x, r.currency)} above the original {format_amount(o, r.currency)} "
        f"(this refund {format_amount(r.amount_minor, r.currency)}, earlier refunds "
        f"{format_amount(r.total - r.amount_minor, r.currency)})"
        for r, o, x in zip(hits.itertuples(), o_amount, excess)
    ]
    score = np.minimum(1.0, 0.5 + 0.5 * excess / np.maximum(o_amount, 1))
    return _rows(day, "refund_exceeds_original", hits, score, reasons, hits["original"])


def customer_baselines(history: pd.DataFrame, p: Params) -> pd.DataFrame:
    """Per customer over the previous days' approved payments: count, median and MAD of the log base
    amount, and the median base amount (for people to read)."""
    h = approved(history)
    h = h[h["customer"] != ""]
    logs = np.log(h["base_amount_minor"].clip(lower=1).astype(float))
    g = logs.groupby(h["customer"])
    stats = pd.DataFrame({"count": g.size(), "median_log": g.median(),
                          "median_minor": h["base_amount_minor"].groupby(h["customer"]).median()})
    deviation = (logs - stats["median_log"].reindex(h["customer"]).to_numpy()).abs()
    stats["mad"] = deviation.groupby(h["customer"]).median().clip(lower=p.mad_floor)
    return stats


def unusual_amounts(day: date, today: pd.DataFrame, baselines: pd.DataFrame, p: Params) -> pd.DataFrame:
    t = approved(today)
    t = t[t["customer"].isin(baselines.index[baselines["count"] >= p.min_customer_history])]
    b = baselines.reindex(t["customer"])
    x = np.log(t["base_amount_minor"].clip(lower=1).astype(float)).to_numpy()
    z = 0.6745 * (x - b["median_log"].to_numpy()) / b["mad"].to_numpy()
    hit = np.abs(z) > p.z_threshold
    hits, b, z = t[hit], b[hit], z[hit]
    reasons = []
    for r, n, median, zz in zip(hits.itertuples(), b["count"], b["median_minor"], z):
        median = int(round(median))
        reasons.append(
            f"amount {format_amount(r.base_amount_minor, r.base_currency)} is "
            f"{_ratio_words(r.base_amount_minor / max(median, 1))} {_whose(r.customer)} median of "
            f"{format_amount(median, r.base_currency)} over {_times(int(n), 'payment')} in the previous "
            f"{HISTORY_DAYS} days (robust z {zz:+.1f})")
    return _rows(day, "unusual_amount_for_customer", hits, np.abs(z) / (np.abs(z) + p.z_threshold), reasons)


def spikes(day: date, today: pd.DataFrame, history: pd.DataFrame, base: str, p: Params) -> tuple[pd.DataFrame, str]:
    if len(history) < p.min_trailing_transactions:
        return (_rows(day, "decline_spike", today.iloc[:0], [], []),
                f"skipped: {len(history)} transactions in the previous {HISTORY_DAYS} days, "
                f"{p.min_trailing_transactions} needed")
    frames = []
    n = len(today)
    for rule, kind, noun in (("decline_spike", "decline", "decline"), ("refund_spike", "refund", "refund")):
        mine = today[today["kind"] == kind]
        observed = len(mine)
        rate = float((history["kind"] == kind).sum()) / len(history)
        expected = rate * n
        if not (observed > p.spike_ratio * expected and observed - expected >= p.spike_excess):
            continue
        amount = int(mine["base_amount_minor"].sum())
        times = f"{observed / expected:.1f}x" if expected else "none expected"
        reason = (f"{_times(observed, noun)} out of {_times(n, 'transaction')} today ({_pct(observed / n)}) against "
                  f"{_pct(rate)} over the previous {HISTORY_DAYS} days ({expected:.1f} expected, {times}); "
                  f"together {format_amount(amount, base)}")
        row = pd.DataFrame({"transaction_id": [0], "amount_minor": [amount], "currency": [base]})
        frames.append(_rows(day, rule, row, [1 - expected / observed], [reason]))
    found = pd.concat(frames, ignore_index=True) if frames else _rows(day, "decline_spike", today.iloc[:0], [], [])
    return found, f"compared with {len(history):,} transactions of the previous {HISTORY_DAYS} days"


def _features(df: pd.DataFrame, baselines: pd.DataFrame, tz_name: str) -> pd.DataFrame:
    local = df["occurred_at"].dt.tz_localize("UTC").dt.tz_convert(tz_name)
    log_amount = np.log(df["base_amount_minor"].clip(lower=1).astype(float))
    b = baselines.reindex(df["customer"])
    count = b["count"].fillna(0).to_numpy()
    median_log = np.where(count > 0, b["median_log"].to_numpy(), log_amount.to_numpy())
    brand = df["card_brand"].str.upper().where(df["card_brand"].str.upper().isin(BRANDS), "OTHER")
    out = pd.DataFrame({
        "log_amount": log_amount.to_numpy(),
        "hour": (local.dt.hour + local.dt.minute / 60).to_numpy(),
        "customer_count": count,
        "customer_median_log": median_log,
        "log_ratio": log_amount.to_numpy() - median_log,
        "has_invoice": (df["invoice_reference"].str.strip() != "").astype(float).to_numpy(),
    }, index=df.index)
    for b_name in BRANDS + ("OTHER",):
        out[f"brand_{b_name}"] = (brand == b_name).astype(float).to_numpy()
    out["_brand"] = brand.to_numpy()
    out["_local"] = local.dt.strftime("%H:%M").to_numpy()
    return out


def _tail(population: np.ndarray, x: float) -> tuple[float, bool]:
    """The share of the population at least as extreme as ``x`` on its nearer side, and whether that side is high."""
    above, below = float((population >= x).mean()), float((population <= x).mean())
    return (above, True) if above <= below else (below, False)


def _beyond(tail: float, high: bool, more: str = "larger", less: str = "smaller") -> str:
    """``x`` is strictly beyond ``1 - tail`` of the population; floored so it never reads 100%."""
    return f"{more if high else less} than {math.floor((1 - tail) * 1000) / 10:.1f}%"


def _explain(f: pd.Series, r: Any, pop: pd.DataFrame, baselines: pd.DataFrame, rare: float) -> str:
    """The features of one flagged payment in the population's outer ``rare`` share (at least the most
    extreme one), most extreme first; one phrase per topic."""
    found: list[tuple[float, str, str]] = []
    amount = format_amount(r.base_amount_minor, r.base_currency)
    tail, high = _tail(pop["log_amount"].to_numpy(), f["log_amount"])
    among = f"{_beyond(tail, high)} of payments"
    count = int(f["customer_count"])
    if count > 0:
        known = pop["customer_count"].to_numpy() > 0
        ratio_tail, _ = _tail(pop["log_ratio"].to_numpy()[known], f["log_ratio"])
        median = int(round(baselines.at[r.customer, "median_minor"]))
        against = (f"{_ratio_words(r.base_amount_minor / max(median, 1))} this customer's median of "
                   f"{format_amount(median, r.base_currency)}")
        if ratio_tail <= rare:
            words = f"amount {amount} is {against}" + (f" and {among}" if tail <= rare else "")
        else:
            words = f"amount {amount} is {among}"
        found.append((min(tail, ratio_tail), "amount", words))
        count_tail, count_high = _tail(pop["customer_count"].to_numpy(), count)
        found.append((count_tail, "customer", f"a customer with {_times(count, 'payment')} in the previous "
                                              f"{HISTORY_DAYS} days, {_beyond(count_tail, count_high, 'more', 'fewer')} "
                                              "of payments' customers"))
    else:
        found.append((tail, "amount", f"amount {amount} is {among}"))
        new_share = float((pop["customer_count"].to_numpy() == 0).mean())
        found.append((new_share, "customer", f"no payment from this customer in the previous {HISTORY_DAYS} days "
                                             f"(true of {_pct(new_share)} of payments)"))
    hour_share = float((np.floor(pop["hour"].to_numpy()) == math.floor(f["hour"])).mean())
    found.append((hour_share, "hour", f"paid at {f['_local']} merchant time ({_pct(hour_share)} of payments are made "
                                      "in that hour)"))
    brand_share = float((pop["_brand"].to_numpy() == f["_brand"]).mean())
    found.append((brand_share, "brand", f"card brand {f['_brand']} ({_pct(brand_share)} of payments)"))
    invoice_share = float((pop["has_invoice"].to_numpy() == f["has_invoice"]).mean())
    found.append((invoice_share, "invoice", ("an invoice reference" if f["has_invoice"] else "no invoice reference")
                  + f" ({_pct(invoice_share)} of payments)"))
    chosen: list[str] = []
    topics: set[str] = set()
    for share, topic, phrase in sorted(found, key=lambda item: item[0]):
        if topic in topics or (chosen and share > rare):
            continue
        topics.add(topic)
        chosen.append(phrase)
    return "; ".join(chosen[:3])


def model_outliers(day: date, today: pd.DataFrame, history: pd.DataFrame, baselines: pd.DataFrame, tz_name: str,
                   p: Params) -> tuple[pd.DataFrame, str]:
    t, h = approved(today), approved(history)
    empty = _rows(day, "model_outlier", t.iloc[:0], [], [])
    if len(h) > p.max_model_history:
        h = h.iloc[np.linspace(0, len(h) - 1, p.max_model_history).round().astype(int)]
    available = len(t) + len(h)
    if t.empty:
        return empty, "skipped: no approved payments on the date"
    if available < p.min_model_payments:
        return empty, f"skipped: {available} approved payments available, {p.min_model_payments} needed"
    ft, fh = _features(t, baselines, tz_name), _features(h, baselines, tz_name)
    numeric = [c for c in ft.columns if not c.startswith("_")]
    population = pd.concat([fh, ft], ignore_index=True)
    # Imported here, not at module level: scikit-learn (with SciPy) adds about a second to the start-up of every run.
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=100, max_samples=min(p.max_samples, len(population)),
                             contamination=p.contamination, random_state=p.random_state, n_jobs=1)
    forest.fit(population[numeric].to_numpy())
    x = ft[numeric].to_numpy()
    flagged = forest.predict(x) == -1
    score = -forest.score_samples(x)
    hits = t[flagged]
    reasons = [_explain(ft.loc[i], r, population, baselines, p.rare_share) for i, r in zip(hits.index, hits.itertuples())]
    note = (f"IsolationForest on {available:,} approved payments ({len(t):,} of the date), "
            f"contamination {p.contamination:.1%}")
    return _rows(day, "model_outlier", hits, score[flagged], reasons), note


def detect(day: date, payments: pd.DataFrame, history: pd.DataFrame, *, tz_name: str, base_currency: str = "USD",
           originals: pd.DataFrame | None = None, earlier_refunds: pd.DataFrame | None = None,
           params: Params | None = None) -> Detection:
    """Anomalies among the business date's ``payments``, judged against ``history`` (the previous
    days' rows). ``originals`` (the payments today's refunds name) and ``earlier_refunds`` (refunds
    of them before the history window) extend what ``history`` holds; both are optional."""
    p = params or Params()
    today, hist = prepare(payments), prepare(history)
    if today.empty:
        return Detection(_rows(day, "duplicate_charge", today, [], []), {"all": "no payments on the date"})
    hist = hist[~hist["transaction_id"].isin(today["transaction_id"])]
    extra = [prepare(f) for f in (originals, earlier_refunds) if f is not None and not f.empty]
    known = pd.concat([hist, *extra, today], ignore_index=True)
    earlier = pd.concat([hist, *extra], ignore_index=True)
    notes: dict[str, str] = {}
    baselines = customer_baselines(hist, p)
    spike_rows, notes["spikes"] = spikes(day, today, hist, base_currency, p)
    model_rows, notes["model_outlier"] = model_outliers(day, today, hist, baselines, tz_name, p)
    found = pd.concat([
        duplicate_charges(day, today, hist, p),
        refunds_exceeding(day, today, earlier, known),
        unusual_amounts(day, today, baselines, p),
        spike_rows,
        model_rows,
    ], ignore_index=True)
    found["_order"] = found["rule"].map({r: i for i, r in enumerate(RULES)})
    found = found.sort_values(["_order", "transaction_id"], kind="stable").drop(columns="_order").reset_index(drop=True)
    found["related_transaction_id"] = found["related_transaction_id"].astype("Int64")
    return Detection(found, notes)


def history_dates(day: date) -> tuple[date, date]:
    """First and last date of the history window before ``day``."""
    return day - timedelta(days=HISTORY_DAYS), day - timedelta(days=1)
