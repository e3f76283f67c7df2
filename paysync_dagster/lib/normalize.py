"""PayTrace transactions -> normalized payments, the contract every ERP path and the reconciliation read.

Pure and vectorized (pandas): a million rows take seconds. Rows that cannot be normalized are not
dropped and do not fail the partition: they come back as exceptions with a reason code and the
offending values, so that raw = normalized + exceptions, in count and to the cent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd

from paysync_dagster.lib.address import standardize_country, standardize_postal_code, standardize_state
from paysync_dagster.lib.invoice_refs import normalize_invoice_refs
from paysync_dagster.lib.names import compact_names, email_organisation
from paysync_dagster.lib.mapping import Mapping
from paysync_dagster.lib.money import exponent
from paysync_dagster.lib.schemas import NormalizedPaymentsSchema
from paysync_dagster.lib.scrub import MAYBE_CARD_NUMBER, mask_card_numbers
from paysync_dagster.lib.vector import per_unique, text

NORMALIZED_COLUMNS = [
    "business_date", "transaction_id", "kind", "paytrace_state", "status", "oracle_status", "sage_status",
    "amount_minor", "currency", "base_currency", "fx_rate", "fx_rate_date", "fx_rate_source", "base_amount_minor",
    "occurred_at", "settled_at", "settlement_batch", "invoice_reference_raw", "invoice_reference",
    "paytrace_customer_id", "oracle_customer_account", "sage_customer_account", "sagepro_customer_account",
    "customer_email", "customer_name", "gl_account", "card_brand", "card_last_four", "approval_code", "billing_name", "billing_street", "billing_city", "billing_state",
    "billing_postal_code", "billing_country", "description", "source", "mapping_version",
]
EXCEPTION_COLUMNS = [
    "business_date", "transaction_id", "stage", "reason_code", "reason", "amount_minor", "currency", "details", "suggested_action",
]

# reason code -> (what happened, what a person does next)
REASONS = {
    "unknown_status": ("the PayTrace state has no canonical status in the mapping", "add the state under statuses.paytrace in the mapping file"),
    "negative_amount": ("a negative amount on a payment that must be positive", "check the transaction in the PayTrace portal; correct or void it there"),
    "missing_rate": ("no exchange rate into the base currency on or before the business date", "add a rate for the currency under currency.rates in the mapping file, then replay"),
}

_GROSS_TYPES = ("SALE", "STR/FWD", "FORCE")


@dataclass
class Normalized:
    payments: pd.DataFrame
    exceptions: pd.DataFrame
    card_numbers_masked: int
    # Per raw row, in the order given: each ERP's account and how it was found (find_customers), and the
    # GL rule that fired (gl_rules_fired), for whoever explains the rows (the studio's preview).
    customers_found: pd.DataFrame | None = None
    gl_rules_fired: pd.Series | None = None


def card_brand(masked: pd.Series) -> pd.Series:
    """The brand from what the mask shows: the BIN when the export includes it, else the length (AmEx 15, Diners 14)."""
    # Only the first two characters and the length matter: a small key, built with numpy's C string
    # routines and classified once per distinct key.
    arr = text(masked).to_numpy(dtype="U32")
    key = np.char.add(np.char.add(arr.astype("U2"), ":"), np.char.str_len(arr).astype("U2"))
    return per_unique(pd.Series(key, index=masked.index, dtype=object), _brand_of_key)


def _brand_of_key(key: pd.Series) -> pd.Series:
    m = key.str.split(":").str[0]
    n = key.str.split(":").str[1].astype(int)
    first = m.str[:1]
    first2 = m.str[:2]
    return pd.Series(np.select(
        [first2.isin(["34", "37"]), first == "4", first2.isin([f"{i}" for i in range(51, 56)]) | (first == "2"),
         first2.isin(["60", "64", "65"]), first2.isin(["30", "36", "38"]), first2 == "35", n == 15, n == 14],
        ["AMEX", "VISA", "MASTERCARD", "DISCOVER", "DINERS", "JCB", "AMEX", "DINERS"],
        default="UNKNOWN",
    ), index=key.index)


def _kind(state: pd.Series, ttype: pd.Series) -> pd.Series:
    return pd.Series(np.select(
        [state == "declined", state == "voided", state.str.startswith("chargeback"), ttype == "REFUND",
         ttype == "AUTHORIZATION", ttype == "CAPTURE", ttype.isin(_GROSS_TYPES)],
        ["decline", "void", "chargeback", "refund", "authorization", "capture", "sale"],
        default="unknown",
    ), index=state.index)


def gl_rules_fired(df: pd.DataFrame, mapping: Mapping) -> pd.Series:
    """The index of the GL rule each row's account comes from (-1: the default); ``df`` has the
    conditions' fields (kind, card_brand, business_unit, ...)."""
    fired = pd.Series(-1, index=df.index, dtype="int64")
    unset = pd.Series(True, index=df.index)
    upper: dict[str, pd.Series] = {}
    for i, rule in enumerate(mapping.gl_accounts.rules):
        match = unset.copy()
        for field, value in rule.when.model_dump(exclude_none=True).items():
            if field not in df:
                match &= False
                continue
            if field not in upper:
                upper[field] = per_unique(df[field], lambda s: s.astype(str).str.upper())
            match &= upper[field] == str(value).upper()
        fired[match] = i
        unset &= ~match
    return fired


def _gl_accounts(fired: pd.Series, mapping: Mapping) -> pd.Series:
    """The account of each row's fired rule (index -1: the default, the list's last)."""
    accounts = [rule.account for rule in mapping.gl_accounts.rules] + [mapping.gl_accounts.default]
    return pd.Series(np.asarray(accounts, dtype=object)[fired.to_numpy()], index=fired.index, dtype=object)


# The ERPs a payer's account is looked up in (each ERP's customers in erp_customers; customers.map links).
CUSTOMER_ERPS = ("oracle", "sage", "sagepro")


def find_customers(df: pd.DataFrame, mapping: Mapping, erp_customers: pd.DataFrame | None) -> pd.DataFrame:
    """Per row and ERP, the account (``oracle``, ``sage``, ``sagepro``; "" = not found) and how it was
    found (``<erp>_by``): ``map`` (customers.map), ``by_email`` (customers.by_email), or the ERP
    look-up that found it (``id``, ``email``, ``domain``, ``name``)."""
    accounts = {erp: pd.Series("", index=df.index, dtype=object) for erp in CUSTOMER_ERPS}
    how = {erp: pd.Series("", index=df.index, dtype=object) for erp in CUSTOMER_ERPS}
    cid = text(df["customer_id"])
    email = per_unique(df["receipt_emailed_to"], lambda s: s.astype(str).str.strip().str.lower())
    name = per_unique(df["billing_name"], lambda s: s.astype(str).str.strip().str.upper())
    for series, key, table in ((cid, "map", mapping.customers.map),
                               (email, "by_email", {k.lower(): v for k, v in mapping.customers.by_email.items()})):
        for erp, out in accounts.items():
            looked = series.map({k: getattr(v, erp) or "" for k, v in table.items()}).fillna("")
            fill = (out == "") & (looked != "")
            out[fill] = looked[fill]
            how[erp][fill] = key
    if erp_customers is not None and not erp_customers.empty:
        for field in mapping.customers.lookup_fallback:
            probe = {"id": cid.str.upper(), "email": email, "name": name,
                     "domain": per_unique(email, lambda s: s.map(email_organisation))}[field]
            for erp, out in accounts.items():
                rows = erp_customers[erp_customers["erp"] == erp]
                column = rows[{"id": "account_number", "domain": "name"}.get(field, field)].fillna("").astype(str).str.strip()
                keys = ([compact_names(v) for v in column] if field == "domain"
                        else [{v.lower() if field == "email" else v.upper()} for v in column])
                # A name or e-mail two accounts share identifies neither: cash on the wrong one of
                # two namesakes is cash on the wrong customer.
                seen = Counter(k for forms in keys for k in forms)
                lookup = {k: account for forms, account in zip(keys, rows["account_number"]) for k in forms
                          if k and seen[k] == 1}
                looked = probe.map(lookup).fillna("")
                fill = (out == "") & (looked != "") & (probe != "")
                out[fill] = looked[fill]
                how[erp][fill] = field
    return pd.DataFrame({k: v for erp in CUSTOMER_ERPS for k, v in ((erp, accounts[erp]), (f"{erp}_by", how[erp]))},
                        index=df.index)


def _exceptions(rows: pd.DataFrame, code: str, details: list[str]) -> pd.DataFrame:
    reason, action = REASONS[code]
    return pd.DataFrame({
        "business_date": rows["business_date"].values,
        "transaction_id": rows["transaction_id"].values,
        "stage": "normalize",
        "reason_code": code,
        "reason": reason,
        "amount_minor": rows["amount_minor"].values,
        "currency": rows["currency"].values,
        "details": [json.dumps({k: _plain(rows.iloc[i][k]) for k in details}, sort_keys=True) for i in range(len(rows))],
        "suggested_action": action,
    }, columns=EXCEPTION_COLUMNS)


def _plain(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def _without_nul(df: pd.DataFrame) -> pd.DataFrame:
    """Text without NUL characters: PostgreSQL cannot store them in text, and pandas' string hashing
    (``factorize``, behind every per-distinct-value pass) reads a string only up to its first NUL,
    which would merge "A\x00B" with "A". A fast join finds the rare column that has one."""
    for column in df.columns:
        values = df[column].to_numpy()
        if values.dtype != object or not len(values):
            continue
        try:
            has_nul = "\x00" in "".join(values)
        except TypeError:  # missing values or non-text among the strings
            has_nul = any(isinstance(v, str) and "\x00" in v for v in values)
        if has_nul:  # ``df`` is the caller's reset_index copy: the raw frame stays as it was
            df[column] = [v.replace("\x00", "") if isinstance(v, str) else v for v in values]
    return df


def normalize(
    raw: pd.DataFrame,
    mapping: Mapping,
    *,
    batches: pd.DataFrame | None = None,
    erp_customers: pd.DataFrame | None = None,
) -> Normalized:
    """``paytrace_transactions`` rows -> (normalized payments, exceptions).

    ``batches`` maps ``transaction_id`` to ``batch_number`` (the settlement batch that settled it);
    ``erp_customers`` has ``erp``, ``account_number``, ``email``, ``name`` for the customer look-up.
    """
    df = _without_nul(raw.reset_index(drop=True))
    state = df["state"].astype(str)
    ttype = df["transaction_type"].astype(str).str.upper()
    status = state.map(mapping.statuses.paytrace)
    kind = _kind(state, ttype)
    currency = per_unique(df["currency"], lambda s: s.astype(str).str.upper())
    invoice = normalize_invoice_refs(df["invoice_id"], mapping.invoice_reference.prefix, mapping.invoice_reference.digits)
    found = find_customers(df, mapping, erp_customers)

    # Exchange rates: few distinct (currency, date) pairs, so they are looked up once each.
    base = mapping.currency.base
    fx_rate = pd.Series("1", index=df.index, dtype=object)
    fx_date = df["business_date"].astype(str)
    fx_source = pd.Series("base currency", index=df.index, dtype=object)
    base_amount = df["amount_minor"].astype("int64").copy()
    missing_rate = pd.Series(False, index=df.index)
    foreign = currency != base
    if foreign.any():
        for (cur, day), idx in df[foreign].groupby([currency[foreign], df.loc[foreign, "business_date"]]).groups.items():
            rate = mapping.rate_for(cur, pd.Timestamp(day).date())
            if rate is None:
                missing_rate[idx] = True
                continue
            shift = Decimal(10) ** (exponent(base) - exponent(cur))
            fx_rate[idx] = str(rate.rate)
            fx_date[idx] = rate.date.isoformat()
            fx_source[idx] = rate.source
            base_amount[idx] = [int((Decimal(int(a)) * rate.rate * shift).to_integral_value(ROUND_HALF_EVEN)) for a in df.loc[idx, "amount_minor"]]

    problems = {
        "unknown_status": (status.isna() | (kind == "unknown"), ["state", "transaction_type"]),
        "negative_amount": (df["amount_minor"] < 0, ["amount_minor", "transaction_type"]),
        "missing_rate": (missing_rate, ["currency", "business_date"]),
    }
    bad = pd.Series(False, index=df.index)
    exception_frames = []
    for code, (mask, details) in problems.items():
        mask = mask & ~bad  # one exception per row: the first reason found
        if mask.any():
            exception_frames.append(_exceptions(df[mask], code, details))
        bad |= mask
    good = ~bad

    descriptions = text(df["description"])
    masked_count = 0
    suspicious = per_unique(descriptions, lambda s: s.str.contains(MAYBE_CARD_NUMBER.pattern, regex=True)).astype(bool)
    if suspicious.any():
        cleaned = descriptions[suspicious].map(mask_card_numbers)
        descriptions = descriptions.copy()
        descriptions[suspicious] = cleaned.str[0]
        masked_count = int(cleaned.str[1].sum())

    country = standardize_country(df["billing_country"])
    batch_of = pd.Series(pd.NA, index=df.index, dtype="Int64")
    if batches is not None and not batches.empty:
        batch_of = df["transaction_id"].map(dict(zip(batches["transaction_id"], batches["batch_number"]))).astype("Int64")
    work = pd.DataFrame({"kind": kind, "card_brand": card_brand(df["masked_card_number"]), "business_unit": mapping.receipts.business_unit})
    fired = gl_rules_fired(work, mapping)
    canonical = status.fillna("")
    out = pd.DataFrame({
        "business_date": df["business_date"],
        "transaction_id": df["transaction_id"].astype("int64"),
        "kind": kind,
        "paytrace_state": state,
        "status": canonical,
        "oracle_status": canonical.map(mapping.statuses.oracle).fillna(""),
        "sage_status": canonical.map(mapping.statuses.sage).fillna(""),
        "amount_minor": df["amount_minor"].astype("int64"),
        "currency": currency,
        "base_currency": base,
        "fx_rate": fx_rate,
        "fx_rate_date": fx_date,
        "fx_rate_source": fx_source,
        "base_amount_minor": base_amount,
        "occurred_at": df["created_at"],
        "settled_at": df["settled_at"],
        "settlement_batch": batch_of,
        "invoice_reference_raw": text(df["invoice_id"]),
        "invoice_reference": invoice,
        "paytrace_customer_id": text(df["customer_id"]),
        "oracle_customer_account": found["oracle"],
        "sage_customer_account": found["sage"],
        "sagepro_customer_account": found["sagepro"],
        "customer_email": per_unique(df["receipt_emailed_to"], lambda s: s.astype(str).str.strip().str.lower()),
        "customer_name": per_unique(df["billing_name"], lambda s: s.astype(str).str.strip()),
        "gl_account": _gl_accounts(fired, mapping),
        "card_brand": work["card_brand"],
        "card_last_four": text(df["card_last_four"]),
        "approval_code": text(df["approval_code"]) if "approval_code" in df else "",
        "billing_name": per_unique(df["billing_name"], lambda s: s.astype(str).str.strip()),
        "billing_street": per_unique(df["billing_street"], lambda s: s.astype(str).str.strip()),
        "billing_city": per_unique(df["billing_city"], lambda s: s.astype(str).str.strip().str.title()),
        "billing_state": standardize_state(df["billing_state"], country),
        "billing_postal_code": standardize_postal_code(df["billing_zip"], country),
        "billing_country": country,
        "description": descriptions,
        "source": text(df["source"]),
        "mapping_version": mapping.version,
    }, columns=NORMALIZED_COLUMNS)
    exceptions = pd.concat(exception_frames, ignore_index=True) if exception_frames else pd.DataFrame(columns=EXCEPTION_COLUMNS)
    return Normalized(payments=out[good].reset_index(drop=True), exceptions=exceptions, card_numbers_masked=masked_count,
                      customers_found=found, gl_rules_fired=fired)


def normalize_chunks(
    chunks: Iterable[pd.DataFrame],
    mapping: Mapping,
    *,
    batches_for: Callable[[list[int]], pd.DataFrame] | None = None,
    erp_customers: pd.DataFrame | None = None,
) -> Iterator[tuple[pd.DataFrame, Normalized]]:
    """Normalize and validate a partition chunk by chunk (each row depends on its own values only),
    so memory stays bounded by the chunk size. Raises pandera's SchemaErrors on a contract violation."""
    for raw in chunks:
        batches = batches_for(raw["transaction_id"].tolist()) if batches_for is not None and len(raw) else None
        result = normalize(raw, mapping, batches=batches, erp_customers=erp_customers)
        if len(result.payments):
            NormalizedPaymentsSchema.validate(result.payments, lazy=True)
        yield raw, result


def balance(raw: pd.DataFrame, result: Normalized) -> dict[str, int]:
    """Raw against normalized + exceptions, in count and cents: every figure must be zero."""
    return {
        "count_difference": len(raw) - len(result.payments) - len(result.exceptions),
        "amount_difference_minor": int(raw["amount_minor"].sum()) - int(result.payments["amount_minor"].sum()) - int(pd.to_numeric(result.exceptions["amount_minor"]).sum()),
    }
