"""pandera models: the contract of each warehouse table, checked before a partition is written."""

from __future__ import annotations

import re

from typing import Any

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa
from pandera.typing import Series

from paysync_dagster.lib.scrub import MAYBE_CARD_NUMBER, mask_card_numbers


def fullmatch_per_value(s: pd.Series, pattern: str) -> pd.Series:
    """``pattern`` fully matched against each distinct value of ``s``, spread back to every row."""
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    regex = re.compile(pattern)
    ok = np.array([isinstance(u, str) and regex.fullmatch(u) is not None for u in uniques], dtype=bool)
    return pd.Series(ok[codes], index=s.index)

def rows_failing(schema: type[pa.DataFrameModel], df: pd.DataFrame) -> dict[Any, str]:
    """The rows of ``df`` that break ``schema``, each with its first problem in words (``column: check``).

    A problem that belongs to no row (a missing column, a wrong dtype for the whole column) is a
    defect of the code that built the frame, not of a record: it is raised as ``SchemaErrors``.
    """
    try:
        schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        if cases["index"].isna().any():
            raise
        found: dict[Any, str] = {}
        for case in cases.itertuples(index=False):
            found.setdefault(case.index, f"{case.column or 'row'}: {case.check}")
        return found
    return {}


_STATES = ["authorized", "approved", "captured", "declined", "settled", "voided", "chargeback_opened", "chargeback_resolved"]
_TYPES = ["SALE", "AUTHORIZATION", "CAPTURE", "REFUND", "VOID", "STR/FWD", "FORCE"]


class PayTraceTransactionsSchema(pa.DataFrameModel):
    """``paytrace_transactions``: one row per PayTrace transaction of a business date, latest state."""

    business_date: Series[pa.DateTime] = pa.Field(description="merchant-local date the transaction was created")
    transaction_id: Series[int] = pa.Field(gt=0, unique=True, description="PayTrace transaction id")
    transaction_type: Series[str] = pa.Field(isin=_TYPES)
    state: Series[str] = pa.Field(isin=_STATES, description="derived state, see lib/paytrace/records.py")
    amount_minor: Series[int] = pa.Field(ge=0, description="amount in cents")
    tax_minor: Series[int] = pa.Field(ge=0)
    currency: Series[str] = pa.Field(str_length={"min_value": 3, "max_value": 3})
    created_at: Series[pa.DateTime] = pa.Field(description="UTC")
    settled_at: Series[pa.DateTime] = pa.Field(nullable=True, description="UTC, empty until settled")
    masked_card_number: Series[str] = pa.Field(str_matches=r"^\d{0,6}[*xX]*\d{0,4}$",
                                               description="never a full number: masks, and at most the first six and last four digits")
    card_last_four: Series[str] = pa.Field(str_matches=r"^\d{0,4}$")
    landing_id: Series[int] = pa.Field(gt=0)

    @pa.dataframe_check(error="settled rows need settled_at")
    @classmethod
    def settled_has_time(cls, df):  # noqa: ANN001
        return ~((df["state"] == "settled") & df["settled_at"].isna())

    class Config:
        strict = False
        coerce = True


class SettlementBatchesSchema(pa.DataFrameModel):
    """``paytrace_settlement_batches``: batches closed on a business date."""

    business_date: Series[pa.DateTime]
    batch_number: Series[int] = pa.Field(gt=0, unique=True)
    closed_at: Series[pa.DateTime]
    transaction_count: Series[int] = pa.Field(ge=0)
    sales_count: Series[int] = pa.Field(ge=0)
    sales_minor: Series[int] = pa.Field(ge=0)
    refund_count: Series[int] = pa.Field(ge=0)
    refund_minor: Series[int] = pa.Field(ge=0)
    net_minor: Series[int]

    @pa.dataframe_check(error="net must equal sales minus refunds")
    @classmethod
    def net_is_sales_minus_refunds(cls, df):  # noqa: ANN001
        return df["net_minor"] == df["sales_minor"] - df["refund_minor"]

    class Config:
        strict = False
        coerce = True


class BatchTransactionsSchema(pa.DataFrameModel):
    """``paytrace_batch_transactions``: settled transactions per batch, refunds negative."""

    batch_number: Series[int] = pa.Field(gt=0)
    transaction_id: Series[int] = pa.Field(gt=0)
    transaction_type: Series[str] = pa.Field(isin=_TYPES)
    amount_minor: Series[int]

    class Config:
        strict = False
        coerce = True


_NORMALIZED_TEXT = ['kind', 'paytrace_state', 'status', 'oracle_status', 'sage_status', 'currency', 'base_currency', 'fx_rate', 'fx_rate_date', 'fx_rate_source', 'invoice_reference_raw', 'invoice_reference', 'paytrace_customer_id', 'oracle_customer_account', 'sage_customer_account', 'sagepro_customer_account', 'customer_email', 'customer_name', 'gl_account', 'card_brand', 'card_last_four', 'approval_code', 'billing_name', 'billing_street', 'billing_city', 'billing_state', 'billing_postal_code', 'billing_country', 'description', 'source', 'mapping_version']
_KINDS = ["sale", "authorization", "capture", "refund", "void", "decline", "chargeback"]


class NormalizedPaymentsSchema(pa.DataFrameModel):
    """``normalized_payments``: the contract every ERP path and the reconciliation read."""

    business_date: Series[pa.DateTime] = pa.Field(coerce=True, description="merchant-local date the transaction was created")
    transaction_id: Series[int] = pa.Field(gt=0, unique=True, description="PayTrace transaction id; one row each")
    kind: Series[object] = pa.Field(isin=_KINDS, description="sale, authorization, capture, refund, void, decline, chargeback")
    paytrace_state: Series[object] = pa.Field(isin=_STATES, description="the state PayTrace shows (records.py)")
    status: Series[object] = pa.Field(str_length={"min_value": 1}, description="canonical status from the mapping")
    oracle_status: Series[object] = pa.Field(description="the status in Oracle's words (mapping), or empty")
    sage_status: Series[object] = pa.Field(description="the status in Sage's words (mapping), or empty")
    amount_minor: Series[int] = pa.Field(ge=0, description="amount in minor units of `currency`")
    currency: Series[object] = pa.Field(description="ISO 4217")
    base_currency: Series[object] = pa.Field(description="the ERP's base currency, ISO 4217")
    fx_rate: Series[object] = pa.Field(description="base units per unit of currency, exact decimal")
    fx_rate_date: Series[object] = pa.Field(description="date of the rate used")
    fx_rate_source: Series[object] = pa.Field(description="where the rate comes from")
    base_amount_minor: Series[int] = pa.Field(ge=0, description="amount in minor units of the base currency (half-even)")
    occurred_at: Series[pa.DateTime] = pa.Field(coerce=True, description="UTC")
    settled_at: Series[pa.DateTime] = pa.Field(nullable=True, coerce=True, description="UTC")
    settlement_batch: Series[pd.Int64Dtype] = pa.Field(nullable=True, description="PayTrace batch that settled it")
    invoice_reference_raw: Series[object] = pa.Field(description="as typed in PayTrace")
    invoice_reference: Series[object] = pa.Field(description="normalized to the ERP's form (prefix, zero padding, case, separators)")
    paytrace_customer_id: Series[object] = pa.Field(description="PayTrace vault customer id, or empty")
    # The payer's account per ERP: columns while normalizing, stored as rows of payment_customer_accounts.
    oracle_customer_account: Series[object] = pa.Field(description="Oracle account number, or empty (resolved by invoice)")
    sage_customer_account: Series[object] = pa.Field(description="Sage customer number, or empty")
    sagepro_customer_account: Series[object] = pa.Field(description="Sage Pro customer number (custno), or empty")
    customer_email: Series[object]
    customer_name: Series[object]
    gl_account: Series[object] = pa.Field(str_length={"min_value": 1}, description="first matching GL rule, else the default")
    card_brand: Series[object] = pa.Field(isin=["VISA", "MASTERCARD", "AMEX", "DISCOVER", "DINERS", "JCB", "UNKNOWN"])
    card_last_four: Series[object] = pa.Field(description="never more than four digits")
    approval_code: Series[object] = pa.Field(description="the issuer's approval code, as PayTrace gives it (empty when none)")
    billing_name: Series[object]
    billing_street: Series[object]
    billing_city: Series[object]
    billing_state: Series[object] = pa.Field(description="two-letter code for US addresses")
    billing_postal_code: Series[object] = pa.Field(description="ZIP5 or ZIP+4 for US addresses")
    billing_country: Series[object] = pa.Field(description="ISO 3166 alpha-2 where recognised")
    description: Series[object] = pa.Field(description="card numbers masked")
    source: Series[object] = pa.Field(isin=["webhook", "export"])
    mapping_version: Series[object] = pa.Field(str_length={"min_value": 1})

    # Format checks run once per distinct value: the columns repeat a few values a million times.
    @pa.check("currency", "base_currency", name="iso_4217_code", error="not a three-letter ISO 4217 code")
    @classmethod
    def iso_4217(cls, s):  # noqa: ANN001
        return fullmatch_per_value(s, r"[A-Z]{3}")

    @pa.check("fx_rate", name="exact_decimal", error="not a decimal number")
    @classmethod
    def exact_decimal(cls, s):  # noqa: ANN001
        return fullmatch_per_value(s, r"\d+(\.\d+)?")

    @pa.check("card_last_four", name="at_most_four_digits", error="more than the last four digits")
    @classmethod
    def at_most_four_digits(cls, s):  # noqa: ANN001
        return fullmatch_per_value(s, r"\d{0,4}")

    @pa.dataframe_check(error="text columns must hold only strings")
    @classmethod
    def text_is_text(cls, df):  # noqa: ANN001
        # One C-level pass per column (pandas' type inference) instead of pandera's per-value check
        # of ``str`` columns, which costs more than the normalization itself at a million rows.
        return all(pd.api.types.infer_dtype(df[c], skipna=False) in ("string", "empty") for c in _NORMALIZED_TEXT if c in df)

    @pa.dataframe_check(error="a card number survived in description")
    @classmethod
    def no_card_numbers(cls, df):  # noqa: ANN001
        ok = pd.Series(True, index=df.index)
        suspicious = df["description"].str.contains(MAYBE_CARD_NUMBER.pattern, regex=True)
        ok[suspicious] = df.loc[suspicious, "description"].map(lambda text: mask_card_numbers(text)[1] == 0)
        return ok

    class Config:
        strict = True
        # Normalization builds every column with its final dtype; only the dates, which arrive as
        # Python objects from some databases, are coerced. Coercing all 36 columns doubled the cost.
        coerce = False
