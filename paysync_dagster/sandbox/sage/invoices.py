"""``AR/ARInvoiceBatches`` (GET, POST, PATCH; key ``(75)``) and ``AR/ARPostInvoices('$process')``.

Entries (``Invoices[]``) need an existing ``CustomerNumber``; ``DocumentType`` is Invoice, DebitNote,
CreditNote or Interest (also as codes: Sage's own sample sends ``"4"`` with ``TransactionType``
``InterestCharge``). ``DocumentNumber`` is generated (``IN``/``DN``/``CN``/``IT`` + 6 digits) when
omitted and must be new for the customer (409 ``RecordDuplicate``).

Amounts: a line's amount is ``ExtendedAmountWithoutTIP``, else ``ExtendedAmountWithTIP``, else
``Quantity`` x ``Price``; ``DocumentTotalBeforeTax`` is their sum. The sandbox computes no tax: when
``InvoicePaymentSchedules`` are sent, their ``AmountDue`` is the amount due including tax (as in Sage's
sample, where a 200.00 line has a 226.00 schedule) and the difference is ``TaxTotal``; without
schedules there is one, ``PaymentNumber`` 1, for the whole total, due on ``DueDate`` (default
``DocumentDate`` plus the days of the customer's terms). ``RevenueAccount`` must be a GL account.

Posting (``{"PostAllBatches":"Postallbatches"}`` or a ``PostBatchFrom``/``PostBatchTo`` range; ReadyToPost
batches only) makes each entry a posted document (credit notes negative) with its ``OrderNumber``,
``PONumber``, due date and payment count.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from .batches import Row, amount, batches_to_post, check_editable, get_or_404, merge_rows, number_rows, wanted_status
from .errors import SageError, invalid
from .ledger import find_account
from .schema import (INVOICE, INVOICE_BATCH, INVOICE_DETAIL, INVOICE_SCHEDULE, POST_INVOICES, blank, check_lengths,
                     read, writable)
from .state import SageState

PREFIX = {"Invoice": "IN", "DebitNote": "DN", "CreditNote": "CN", "Interest": "IT"}
ZERO = Decimal(0)


def terms_days(terms: str) -> int:
    """``NET30`` -> 30; terms without a number of days are taken as 30."""
    m = re.search(r"(\d+)", terms or "")
    return int(m.group(1)) if m else 30


def _detail(item: Mapping[str, Any]) -> Row:
    row = blank(INVOICE_DETAIL)
    row.update(writable(item, INVOICE_DETAIL))
    return row


def _schedule(item: Mapping[str, Any]) -> Row:
    row = blank(INVOICE_SCHEDULE)
    row.update(writable(item, INVOICE_SCHEDULE))
    return row


def _invoice(item: Mapping[str, Any]) -> Row:
    row = blank(INVOICE)
    row.update(DocumentType="Invoice", InvoiceType="Summary")
    _change_invoice(row, item, inserting=True)
    return row


def _change_invoice(row: Row, item: Mapping[str, Any], inserting: bool = False) -> None:
    row.update(writable(item, INVOICE))
    for name, etype, make in (("InvoiceDetails", INVOICE_DETAIL, _detail),
                              ("InvoicePaymentSchedules", INVOICE_SCHEDULE, _schedule)):
        if name in item:
            merge_rows(row[name], item[name] or [], etype, create=make,
                       change=lambda r, i, t=etype: r.update(writable(i, t)), inserting_only=inserting)


def _validate(state: SageState, batch: Row) -> None:
    claimed: set[tuple[str, str]] = set()
    for i, inv in enumerate(batch["Invoices"]):
        label = f"Entry {inv['EntryNumber'] or i + 1}"
        number = inv["CustomerNumber"]
        customer = state.customer(number)
        if customer is None:
            raise invalid(f"{label}: Customer {number or '(blank)'} does not exist.")
        currency = customer["CurrencyCode"] or "USD"
        inv["CurrencyCode"] = inv["CurrencyCode"] or currency
        if inv["CurrencyCode"] != currency:
            raise invalid(f"{label}: CurrencyCode {inv['CurrencyCode']} is not customer {number}'s currency {currency}.")
        inv["Terms"] = inv["Terms"] or customer["Terms"]
        inv["DocumentDate"] = inv["DocumentDate"] or batch["BatchDate"]
        inv["PostingDate"] = inv["PostingDate"] or inv["DocumentDate"]
        inv["DueDate"] = inv["DueDate"] or inv["DocumentDate"] + timedelta(days=terms_days(inv["Terms"]))
        if inv["DocumentNumber"]:
            k = (number, inv["DocumentNumber"])
            if state.document(*k) is not None or k in claimed:
                raise SageError("RecordDuplicate", f"{label}: document {inv['DocumentNumber']} already exists for "
                                                   f"customer {number}.")
            claimed.add(k)
        total = ZERO
        for line in inv["InvoiceDetails"]:
            where = f"{label}, line {line['LineNumber'] or '(new)'}"
            if line["RevenueAccount"] and find_account(state, line["RevenueAccount"]) is None:
                raise invalid(f"{where}: RevenueAccount {line['RevenueAccount']} does not exist.")
            value = line["ExtendedAmountWithoutTIP"] or line["ExtendedAmountWithTIP"] or line["Quantity"] * line["Price"]
            value = amount(value, f"{where}: amount", currency)
            line["ExtendedAmountWithoutTIP"] = line["ExtendedAmountWithTIP"] = value
            total += value
        if not inv["InvoiceDetails"]:
            raise invalid(f"{label}: an invoice needs at least one line (InvoiceDetails).")
        schedules = inv["InvoicePaymentSchedules"]
        if not schedules:
            schedules.append({**blank(INVOICE_SCHEDULE), "DueDate": inv["DueDate"], "AmountDue": total})
        for s in schedules:
            s["DueDate"] = s["DueDate"] or inv["DueDate"]
            amount(s["AmountDue"], f"{label}: schedule AmountDue", currency)
        including = sum((s["AmountDue"] for s in schedules), ZERO)
        if including < total:
            raise invalid(f"{label}: the payment schedules ({including}) are less than the lines ({total}).")
        inv.update(DocumentTotalBeforeTax=total, TaxTotal=including - total, DocumentTotalIncludingTax=including,
                   AmountDue=including)
    batch["NumberOfEntries"] = len(batch["Invoices"])
    batch["BatchTotal"] = sum((inv["DocumentTotalIncludingTax"] for inv in batch["Invoices"]), ZERO)


def _finalize(state: SageState, batch: Row, number: int) -> None:
    batch["BatchNumber"] = number
    batch["DateLastEdited"] = state.today()
    number_rows(batch["Invoices"], "EntryNumber", batch)
    for inv in batch["Invoices"]:
        inv["BatchNumber"] = number
        if not inv["DocumentNumber"]:
            inv["DocumentNumber"] = state.document_number(PREFIX[inv["DocumentType"]])
        number_rows(inv["InvoiceDetails"], "LineNumber", inv, step=20)
        number_rows(inv["InvoicePaymentSchedules"], "PaymentNumber", inv)
        for child in inv["InvoiceDetails"] + inv["InvoicePaymentSchedules"]:
            child.update(BatchNumber=number, EntryNumber=inv["EntryNumber"])


def rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    return [state.store.invoice_batches[k] for k in sorted(state.store.invoice_batches)]


def get(state: SageState, key: tuple) -> Row | None:
    return state.store.invoice_batches.get(key[0])


def create(state: SageState, payload: Any) -> Row:
    data = read(payload, INVOICE_BATCH)
    check_lengths(data, INVOICE_BATCH)
    status = wanted_status(data)
    batch = blank(INVOICE_BATCH)
    batch.update({k: v for k, v in writable(data, INVOICE_BATCH).items() if k != "BatchStatus"})
    batch.update(BatchStatus="Open", SourceApplication="AR")
    batch["BatchDate"] = batch["BatchDate"] or state.today()
    merge_rows(batch["Invoices"], data.get("Invoices") or [], INVOICE, create=_invoice, change=_change_invoice,
               inserting_only=True)
    _validate(state, batch)
    _finalize(state, batch, state.next_number("batch:IN"))
    if status:
        batch["BatchStatus"] = status
    state.store.invoice_batches[batch["BatchNumber"]] = batch
    state.count("invoice_batches_created")
    return batch


def update(state: SageState, key: tuple, payload: Any) -> Row:
    batch = get_or_404(state.store.invoice_batches, key[0])
    data = read(payload, INVOICE_BATCH)
    check_lengths(data, INVOICE_BATCH)
    check_editable(batch, f"Batch {batch['BatchNumber']}")
    status = wanted_status(data)
    work = copy.deepcopy(batch)
    work.update({k: v for k, v in writable(data, INVOICE_BATCH).items() if k != "BatchStatus"})
    if "Invoices" in data:
        merge_rows(work["Invoices"], data["Invoices"] or [], INVOICE, create=_invoice, change=_change_invoice)
    _validate(state, work)
    _finalize(state, work, batch["BatchNumber"])
    if status:
        work["BatchStatus"] = status
    state.store.invoice_batches[batch["BatchNumber"]] = work
    return work


def post(state: SageState, payload: Any) -> Row:
    params = read(payload if payload is not None else {}, POST_INVOICES)
    params.setdefault("PostAllBatches", "Donotpostallbatches")
    numbers = batches_to_post(state.store.invoice_batches, params)
    sequence = post_batches(state, [state.store.invoice_batches[n] for n in numbers])
    out = blank(POST_INVOICES)
    out.update({k: v for k, v in params.items() if v is not None})
    out["PostingSequenceNumber"] = sequence
    return out


def post_batches(state: SageState, batches: list[Row]) -> int:
    for batch in batches:  # checked first: nothing is posted when one document number is taken meanwhile
        for inv in batch["Invoices"]:
            if state.document(inv["CustomerNumber"], inv["DocumentNumber"]) is not None:
                raise SageError("RecordDuplicate", f"Batch {batch['BatchNumber']} entry {inv['EntryNumber']}: document "
                                                   f"{inv['DocumentNumber']} already exists for {inv['CustomerNumber']}.")
    sequence = 0
    for batch in batches:
        sequence = state.next_number("post:IN")
        for inv in batch["Invoices"]:
            sign = -1 if inv["DocumentType"] == "CreditNote" else 1
            state.add_document({
                "CustomerNumber": inv["CustomerNumber"], "DocumentNumber": inv["DocumentNumber"],
                "DocumentType": inv["DocumentType"], "OrderNumber": inv["OrderNumber"], "PONumber": inv["PONumber"],
                "DocumentDate": inv["DocumentDate"], "DueDate": inv["DueDate"], "PostingDate": inv["PostingDate"],
                "BatchNumber": batch["BatchNumber"], "EntryNumber": inv["EntryNumber"],
                "CurrencyCode": inv["CurrencyCode"], "CustomerCurrencyInvoiceAmount": sign * inv["AmountDue"],
                "DocumentDescription": inv["InvoiceDescription"], "Terms": inv["Terms"],
                "DateLastActivity": inv["DocumentDate"]}, payments=len(inv["InvoicePaymentSchedules"]))
            customer = state.customer(inv["CustomerNumber"])
            if customer is not None and (customer["DateOfLastInvoice"] is None or
                                         inv["DocumentDate"] > customer["DateOfLastInvoice"]):
                customer["DateOfLastInvoice"] = inv["DocumentDate"]
        batch.update(BatchStatus="Posted", PostingSequenceNumber=sequence, DateLastEdited=state.today())
        state.count("invoice_batches_posted")
    return sequence
