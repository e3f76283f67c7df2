"""The AR inquiry resources (GET only): ``AR/ARPostedDocuments`` and ``AR/ARPostedReceipts``.

``ARPostedDocuments`` (key ``CustomerNumber, DocumentNumber``) is where open invoices and their
balances are read: ``CustomerCurrencyAmountDue``, ``FullyPaid`` (No/Yes, or '0'/'1' in a filter),
``DatePaid``, ``OrderNumber``, ``PONumber``. Credits (prepayments, unapplied cash, credit notes) carry
negative amounts. A filter with ``DocumentNumber eq '...'`` or ``CustomerNumber eq '...'`` (and no
``or``) is answered from an index, so cash application's look-ups stay fast on a large ledger.

``ARPostedReceipts`` (a six-part key: ``BankCode, CustomerNumber, CheckReceiptNumber, BatchNumber,
EntryNumber, DocumentNumber``; the key's composition is the sandbox's) shows a receipt only once its
batch is posted; unposted receipts are reachable only through their batch.
"""

from __future__ import annotations

from collections.abc import Mapping

from .state import SageState

Row = dict


def document_rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    s = state.store
    if "CustomerNumber" in hints and "DocumentNumber" in hints:
        row = s.documents.get((hints["CustomerNumber"], hints["DocumentNumber"]))
        return [row] if row is not None else []
    if "DocumentNumber" in hints:
        keys = sorted(s.docs_by_number.get(hints["DocumentNumber"], ()))
    elif "CustomerNumber" in hints:
        keys = sorted(s.docs_by_customer.get(hints["CustomerNumber"], ()))
    else:
        keys = sorted(s.documents)
    return [s.documents[k] for k in keys]


def get_document(state: SageState, key: tuple) -> Row | None:
    return state.store.documents.get(key)


def receipt_rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    rows = [state.store.receipts[k] for k in sorted(state.store.receipts)]
    if "CustomerNumber" in hints:
        rows = [r for r in rows if r["CustomerNumber"] == hints["CustomerNumber"]]
    return rows


def get_receipt(state: SageState, key: tuple) -> Row | None:
    return state.store.receipts.get(key)
