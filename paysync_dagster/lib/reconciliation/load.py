"""What a business date's reconciliation reads from the warehouse, as the frames of :mod:`.frames`.

The scope of a date: the settlement batches that closed on it, the transactions of the date and of
those batches, and whatever the posting ledger links to them (a refund or chargeback of a later date
against one of their receipts, so that a refund settled in a later batch shows against the batch of
its sale). The ERP leg is read live through an :class:`~.frames.ErpReader`; the bank leg from files.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from paysync_dagster.lib.reconciliation.frames import BATCHES, GATEWAY, LEDGER, empty
from paysync_dagster.lib.warehouse.io import read_partition, read_where
from paysync_dagster.lib.warehouse.customer_accounts import with_customer_accounts
from paysync_dagster.lib.warehouse.tables import (normalized_payments, paytrace_batch_transactions,
                                                  paytrace_settlement_batches, posting_ledger)

# A void or chargeback carries the id of the sale it undoes, so its receipt is asked about too.
NO_RECEIPT_KINDS = ("refund", "decline")


@dataclass
class Scope:
    day: date
    gateway: pd.DataFrame
    ledger: pd.DataFrame
    batches: pd.DataFrame
    receipt_references: list[str]  # every receipt the ERP should be asked about



def _rows_of_one_table(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Two reads of the same table as one frame. A column with no value in one of them (no payment
    of the date settled yet) makes pandas announce that it will stop ignoring all-NA columns when it
    picks dtypes; both reads have the table's columns, so the announcement says nothing here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The behavior of DataFrame concatenation with empty or all-NA",
                                category=FutureWarning)
        return pd.concat([first, second], ignore_index=True)

def _gateway(frame: pd.DataFrame, erp: str) -> pd.DataFrame:
    if frame.empty:
        return empty(GATEWAY)
    out = frame.rename(columns={f"{erp}_customer_account": "customer_account"})
    out = out.assign(settlement_batch=pd.array(out["settlement_batch"], dtype="Int64"),
                     amount_minor=out["amount_minor"].astype("int64"),
                     transaction_id=out["transaction_id"].astype("int64"))
    return out[list(GATEWAY)].drop_duplicates("transaction_id").reset_index(drop=True)


def _ledger(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return empty(LEDGER)
    out = frame.assign(erp_id=frame["erp_id"].fillna("").astype(str),
                       parent_reference=frame["parent_reference"].fillna("").astype(str))
    return out[list(LEDGER)].drop_duplicates("reference").reset_index(drop=True)


def _unnormalized(gateway: pd.DataFrame, listed: pd.DataFrame) -> pd.DataFrame:
    """Settled transactions a batch lists that never became normalized payments (normalization sent
    them to the exception queue, or their date was never pulled): PayTrace settled them, so the
    reconciliation must account for them, from the batch's own record of them."""
    if listed.empty:
        return gateway
    absent = listed[~listed["transaction_id"].isin(gateway["transaction_id"])]
    if absent.empty:
        return gateway
    rows = pd.DataFrame({
        "transaction_id": absent["transaction_id"].astype("int64").values,
        "business_date": absent["business_date"].values,
        "kind": absent["transaction_type"].str.lower().values,
        "status": "settled",
        "amount_minor": absent["amount_minor"].astype("int64").abs().values,
        "currency": absent["currency"].values,
        "settlement_batch": pd.array(absent["batch_number"].astype("int64").values, dtype="Int64"),
        "customer_account": "",
    })
    return pd.concat([gateway, rows], ignore_index=True) if not gateway.empty else rows


def load_scope(engine: Engine, day: date, erp: str, receipt_prefix: str) -> Scope:
    batches = read_partition(engine, paytrace_settlement_batches, [day])
    numbers = [int(b) for b in batches["batch_number"]] if not batches.empty else []
    todays = read_partition(engine, normalized_payments, [day])
    # Batch membership comes from the batch's own transaction list: a payment made after the previous
    # evening's close belongs to the previous business date, whose normalized row was written before
    # this batch closed and so does not name it.
    listed = read_where(engine, paytrace_batch_transactions, "batch_number", numbers) if numbers else pd.DataFrame()
    members = dict(zip(listed["transaction_id"].astype("int64"), listed["batch_number"].astype("int64"))) \
        if not listed.empty else {}
    earlier = sorted(set(members) - set(todays["transaction_id"].astype("int64")))  # today's rows are read already
    gateway = _rows_of_one_table(todays, read_where(engine, normalized_payments, "transaction_id", earlier)) \
        if earlier else todays
    ids = sorted({int(t) for t in gateway["transaction_id"]}) if not gateway.empty else []
    ledger = read_where(engine, posting_ledger, "transaction_id", ids) if ids else pd.DataFrame()
    ledger = ledger[ledger["erp"] == erp] if not ledger.empty else ledger
    receipts = sorted(set(ledger.loc[ledger["action"] == "receipt", "reference"])) if not ledger.empty else []
    if receipts:  # what later days did to these receipts: refunds, reversals, and the transactions behind them
        linked = read_where(engine, posting_ledger, "parent_reference", receipts)
        linked = linked[linked["erp"] == erp]
        if not linked.empty:
            ledger = pd.concat([ledger, linked], ignore_index=True)
            more = sorted({int(t) for t in linked["transaction_id"]} - set(ids))
            if more:
                gateway = pd.concat([gateway, read_where(engine, normalized_payments, "transaction_id", more)],
                                    ignore_index=True)
    gateway_frame = _unnormalized(_gateway(with_customer_accounts(engine, gateway, [erp]), erp), listed)
    if members:
        listed_batch = gateway_frame["transaction_id"].map(members).astype("Int64")
        gateway_frame["settlement_batch"] = listed_batch.fillna(gateway_frame["settlement_batch"])
    expected = [f"{receipt_prefix}{t}" for t in
                gateway_frame.loc[~gateway_frame["kind"].isin(NO_RECEIPT_KINDS), "transaction_id"]] if not gateway_frame.empty else []
    batch_frame = batches[list(BATCHES)].reset_index(drop=True) if not batches.empty else empty(BATCHES)
    ledger_frame = _ledger(ledger)
    # A refund of an earlier sale is recorded against that sale's receipt: ask the ERP about it too.
    parents = set(ledger_frame["parent_reference"]) - {""}
    return Scope(day, gateway_frame, ledger_frame, batch_frame, sorted(set(receipts) | set(expected) | parents))
