"""The payer's account in each ERP: rows ``(business date, transaction id, erp, customer account)`` of
``payment_customer_accounts`` instead of one ``normalized_payments`` column per ERP, so an ERP added
later needs no new column.

Normalization works on a frame with one ``<erp>_customer_account`` column per ERP (what the mapping's
``customers`` section and the ERPs' customer lists give); :func:`account_rows` turns those columns into
rows when the frame is written, and :func:`with_customer_accounts` puts them back as columns for the
readers (posting, reconciliation, anomalies), empty where a payment has no account in an ERP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from paysync_dagster.lib.warehouse.io import read_where
from paysync_dagster.lib.warehouse.tables import payment_customer_accounts

SUFFIX = "_customer_account"


def account_column(erp: str) -> str:
    return f"{erp}{SUFFIX}"


def account_columns(frame: pd.DataFrame) -> list[str]:
    """The frame's ``<erp>_customer_account`` columns."""
    return [c for c in frame.columns if c.endswith(SUFFIX) and c != SUFFIX.lstrip("_")]


def account_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per payment and ERP where normalization found an account."""
    out: list[dict[str, Any]] = []
    for column in account_columns(frame):
        erp = column.removesuffix(SUFFIX)
        found = frame.loc[frame[column].fillna("").astype(str).str.strip() != "",
                          ["business_date", "transaction_id", column]]
        out += [{"business_date": day, "transaction_id": int(txn), "erp": erp, "customer_account": str(account)}
                for day, txn, account in found.itertuples(index=False, name=None)]
    return out


def without_accounts(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as ``normalized_payments`` stores it: no per-ERP account columns."""
    return frame.drop(columns=account_columns(frame))


def with_customer_accounts(engine: Engine, frame: pd.DataFrame, erps: Sequence[str]) -> pd.DataFrame:
    """``frame`` (rows of ``normalized_payments``) with an ``<erp>_customer_account`` column for each of
    ``erps``: the payer's account there, "" where normalization found none."""
    out = frame.copy()
    for erp in erps:
        out[account_column(erp)] = ""
    if out.empty or not erps:
        return out
    found = read_where(engine, payment_customer_accounts, "transaction_id",
                       sorted({int(t) for t in out["transaction_id"]}))
    found = found[found["erp"].isin(list(erps))]
    for erp, rows in found.groupby("erp"):
        accounts = dict(zip(rows["transaction_id"].astype("int64"), rows["customer_account"].astype(str)))
        out[account_column(str(erp))] = out["transaction_id"].astype("int64").map(accounts).fillna("")
    return out


__all__ = ["account_column", "account_columns", "account_rows", "with_customer_accounts", "without_accounts"]
