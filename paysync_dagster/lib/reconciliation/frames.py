"""The frames reconciliation reads and writes: one contract for every ERP and every bank file.

Every frame is a pandas DataFrame with exactly these columns (extra columns are ignored). Money is
integer minor units (int64), never floats; dates are ``datetime.date`` objects; ids are int64;
nullable integers use pandas' ``Int64``.

GATEWAY: one row per PayTrace transaction in scope (from ``normalized_payments``).
    transaction_id int64; business_date date; kind str (sale | capture | authorization | refund | void |
    chargeback | decline); status str (the canonical status: authorized | pending_settlement | settled |
    declined | voided | disputed | dispute_won); amount_minor int64 (>= 0, refunds too);
    currency str; settlement_batch Int64 (null: not in a settled batch); customer_account str.

LEDGER: one row per posting-ledger entry in scope (``posting_ledger``, one ERP).
    reference str; transaction_id int64; action str (receipt | application | reversal | refund |
    adjustment); amount_minor int64; status str (intent | uncertain | posted | failed); erp_id str;
    parent_reference str ("" when none). A refund entry's parent is the original receipt's reference;
    a reversal's reference is ``<receipt reference>:REV`` and its transaction_id is the transaction that
    caused it (a void, a chargeback, or a refund that took the whole receipt).

ERP_RECEIPTS: one row per receipt the ERP holds now whose number carries the receipt prefix, as read
through :class:`ErpReader` (two rows with one reference = a duplicate in the ERP).
    reference str; erp_id str; amount_minor int64; currency str; customer_account str;
    receipt_date date; applied_minor int64; unapplied_minor int64; reversed bool.

ERP_REFUNDS: one row per refund recorded against a receipt in the ERP.
    receipt_reference str; refund_reference str; amount_minor int64.

BATCHES: one row per settlement batch in scope (``paytrace_settlement_batches``).
    batch_number int64; business_date date; currency str; net_minor int64 (the batch's own total);
    listed_net_minor int64 (the sum of its listed transactions, signed).

BANK_LINES: one row per bank statement line, from a CSV or BAI2 file (see ``bank``).
    line_id str; value_date date; amount_minor int64 (credits > 0, debits < 0); currency str;
    kind str (deposit | fee | chargeback | other); batch_number Int64 (null when the line names none);
    description str.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd

GATEWAY = ("transaction_id", "business_date", "kind", "status", "amount_minor", "currency", "settlement_batch",
           "customer_account")
LEDGER = ("reference", "transaction_id", "action", "amount_minor", "status", "erp_id", "parent_reference")
ERP_RECEIPTS = ("reference", "erp_id", "amount_minor", "currency", "customer_account", "receipt_date",
                "applied_minor", "unapplied_minor", "reversed")
ERP_REFUNDS = ("receipt_reference", "refund_reference", "amount_minor")
BATCHES = ("batch_number", "business_date", "currency", "net_minor", "listed_net_minor")
BANK_LINES = ("line_id", "value_date", "amount_minor", "currency", "kind", "batch_number", "description")

#: every status a reconciled transaction can have; exactly one per transaction
STATUSES = ("matched", "missing_in_erp", "missing_in_gateway", "amount_mismatch", "duplicate_in_erp",
            "declined_not_posted", "pending_settlement", "unapplied_in_erp", "drift")
#: every cause a batch variance item can have
CAUSES = ("refund_in_later_batch", "chargeback", "fees", "timing", "missing_in_erp", "amount_mismatch", "drift",
          "duplicate_in_erp", "missing_deposit", "unexplained")


def empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


_ERP_INT_COLUMNS = ("amount_minor", "applied_minor", "unapplied_minor")


def erp_frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    """What an ERP reader read, as ERP_RECEIPTS or ERP_REFUNDS: amounts int64, ``reversed`` bool."""
    if not rows:
        return empty(columns)
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in _ERP_INT_COLUMNS:
        if column in frame:
            frame[column] = frame[column].astype("int64")
    if "reversed" in frame:
        frame["reversed"] = frame["reversed"].astype(bool)
    return frame


def window_day(value: object) -> date:
    """A reader's window bound (a date, a datetime or ISO text) as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


class ErpReader(Protocol):
    """What reconciliation reads from one ERP (each ERP's reader: ``lib/<erp>/reader.py``)."""

    name: str

    def receipts(self, references: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The receipts the ERP holds under these references (every copy: duplicates included), and
        the refunds recorded against them: (ERP_RECEIPTS, ERP_REFUNDS)."""
        ...

    def receipts_dated(self, start: "object", end: "object", prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every receipt dated ``start``..``end`` (inclusive) whose number starts with ``prefix``, and
        their refunds: finds receipts PaySync does not know (missing in the gateway, duplicates)."""
        ...
