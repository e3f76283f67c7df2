"""``AR/ARReceiptAndAdjustmentBatches`` (GET, POST, PATCH) and ``AR/ARPostReceiptsAndAdjustments('$process')``.

A batch is keyed ``(BatchRecordType='CA',BatchNumber=N)``; ``BatchRecordType`` is required on POST.
Only cash batches (``CA``) are modelled: an ``AD`` (adjustment) batch is refused with ``RecordInvalid``.
The server numbers the batch (a ``BatchNumber`` sent on POST is ignored), its entries and their
applied lines, and gives each Receipt, Prepayment or UnappliedCash entry a document number
(``PY000001``...) unless the client names one; the 201 answer carries them all.

Entries by ``ReceiptTransactionType``:

- ``Receipt``: cash applied to the customer's posted documents, one ``AppliedReceiptsAdjustments``
  line each (``DocumentNumber``, ``PaymentNumber`` default 1, ``CustomerReceiptAmount`` = amount
  applied, ``CustomerDiscountAmountTaken``). What is not applied is posted as unapplied cash.
- ``Prepayment``: cash on account; its optional line may name the document it is meant for, but
  nothing is applied. Posting makes it a posted document of its own (type Prepayment, negative).
- ``UnappliedCash``: the same as a prepayment, document type UnappliedCash; no lines.
- ``ApplyDocument``: no cash (``CustomerReceiptAmount`` 0); ``DocumentNumber`` names a posted
  credit of the customer (prepayment, unapplied cash, credit note) and the lines apply it to documents.
- ``MiscellaneousReceipt`` and ``MiscellaneousReceipts[]`` lines are not modelled (``RecordInvalid``).

Checks (``RecordInvalid`` for a value that names nothing or breaks a field rule, ``General`` for a
balance the business layer refuses): the bank and the customer exist; amounts are not negative and
have no more decimals than the currency; ``BankReceiptAmount`` equals ``CustomerReceiptAmount`` (one
currency: whichever is sent sets both); each applied document is the entry customer's, is open, and
has the payment number; lines apply no more than the receipt holds; and no document gets more than its
balance from all unposted batches together (a second batch cannot spend what the first applied).

Posting (``$process`` with ``{"BatchType":"CA","PostAllBatches":"Donotpostallbatches","PostBatchFrom":N,
"PostBatchTo":N}`` or ``"PostAllBatches":"Postallbatches"``) takes the ReadyToPost batches of the range
and passes over the others, as Sage does. Each applied line lowers its document's
``CustomerCurrencyAmountDue`` (``FullyPaid`` Yes and ``DatePaid`` = receipt date at zero);
prepayments and unapplied cash become posted documents; cash entries appear in ``ARPostedReceipts``;
the batch becomes Posted with a ``PostingSequenceNumber`` that ``ARCreateGLBatch`` reads. The answer
echoes the process parameters with the last posting sequence (0 when nothing was ready).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .batches import (Row, add_pending, amount, batches_to_post, check_editable, get_or_404, merge_rows, number_rows,
                      wanted_status)
from .errors import SageError, general, invalid
from .schema import (APPLIED_RECEIPT, MISCELLANEOUS_RECEIPT, POST_RECEIPTS, POSTED_RECEIPT, RECEIPT_BATCH,
                     RECEIPT_ENTRY, blank, check_lengths, read, render, writable)
from .state import DEFAULT_BANK, SageState

CASH_TYPES = ("Receipt", "Prepayment", "UnappliedCash")
APPLYING_TYPES = ("Receipt", "ApplyDocument")
ZERO = Decimal(0)


# -- building rows from payloads -------------------------------------------------------------------

def _line(item: Mapping[str, Any]) -> Row:
    line = blank(APPLIED_RECEIPT)
    line.update(writable(item, APPLIED_RECEIPT))
    line["PaymentNumber"] = line["PaymentNumber"] or 1
    return line


def _change_line(line: Row, item: Mapping[str, Any]) -> None:
    line.update(writable(item, APPLIED_RECEIPT))


def _misc(item: Mapping[str, Any]) -> Row:
    row = blank(MISCELLANEOUS_RECEIPT)
    row.update(writable(item, MISCELLANEOUS_RECEIPT))
    return row


def _set_amounts(entry: Row, item: Mapping[str, Any]) -> None:
    """One currency: the bank and customer amounts are one amount; whichever is sent sets both."""
    bank, customer = item.get("BankReceiptAmount"), item.get("CustomerReceiptAmount")
    if bank is not None and customer is not None and bank != customer:
        raise invalid(f"BankReceiptAmount {bank} differs from CustomerReceiptAmount {customer}, but the bank and "
                      "the customer use the same currency.")
    value = customer if customer is not None else bank
    if value is not None:
        entry["BankReceiptAmount"] = entry["CustomerReceiptAmount"] = value


def _entry(item: Mapping[str, Any]) -> Row:
    entry = blank(RECEIPT_ENTRY)
    entry["ReceiptTransactionType"] = "Receipt"
    _change_entry(entry, item, inserting=True)
    return entry


def _change_entry(entry: Row, item: Mapping[str, Any], inserting: bool = False) -> None:
    entry.update({k: v for k, v in writable(item, RECEIPT_ENTRY).items()
                  if k not in ("BankReceiptAmount", "CustomerReceiptAmount")})
    _set_amounts(entry, item)
    if "AppliedReceiptsAdjustments" in item:
        merge_rows(entry["AppliedReceiptsAdjustments"], item["AppliedReceiptsAdjustments"] or [], APPLIED_RECEIPT,
                   create=_line, change=_change_line, inserting_only=inserting)
    if "MiscellaneousReceipts" in item:
        merge_rows(entry["MiscellaneousReceipts"], item["MiscellaneousReceipts"] or [], MISCELLANEOUS_RECEIPT,
                   create=_misc, change=lambda r, i: r.update(writable(i, MISCELLANEOUS_RECEIPT)),
                   inserting_only=inserting)


# -- validation and derived values --------------------------------------------------------------------

def _validate(state: SageState, batch: Row, others: Mapping[tuple, Decimal]) -> dict[tuple, Decimal]:
    """Check the whole batch and fill what the server computes; returns what it holds against
    posted documents (see ``Store.pending``). ``others`` = what every other unposted batch holds."""
    bank = state.store.banks.get(batch["BankCode"])
    if bank is None:
        raise invalid(f"Bank {batch['BankCode']!r} does not exist.")
    batch["DefaultBankCurrency"] = batch["DefaultBankCurrency"] or bank["CurrencyCode"]
    held: dict[tuple, Decimal] = {}
    claimed: set[str] = set()
    for i, entry in enumerate(batch["ReceiptsAdjustments"]):
        label = f"Entry {entry['EntryNumber'] or i + 1}"
        number = entry["CustomerNumber"]
        if not number:
            raise invalid(f"{label}: CustomerNumber is required.")
        customer = state.customer(number)
        if customer is None:
            raise invalid(f"{label}: Customer {number} does not exist.")
        if customer["Status"] != "Active":
            raise general(f"{label}: Customer {number} is inactive.")
        kind = entry["ReceiptTransactionType"]
        if kind == "MiscellaneousReceipt" or entry["MiscellaneousReceipts"]:
            raise invalid(f"{label}: miscellaneous receipts are not modelled by this sandbox.")
        currency = customer["CurrencyCode"] or "USD"
        received = amount(entry["CustomerReceiptAmount"], f"{label}: CustomerReceiptAmount", currency)
        entry["ReceiptDateAdjustmentDate"] = entry["ReceiptDateAdjustmentDate"] or batch["BatchDate"]
        entry["PostingDate"] = entry["PostingDate"] or entry["ReceiptDateAdjustmentDate"]
        entry["CustomerCurrencyCode"] = currency
        entry["BatchType"] = batch["BatchRecordType"]
        if kind in CASH_TYPES and received <= 0:
            raise invalid(f"{label}: the receipt amount must be greater than zero.")
        if kind == "ApplyDocument" and received != 0:
            raise invalid(f"{label}: an ApplyDocument entry carries no cash; CustomerReceiptAmount must be 0.")
        if kind == "UnappliedCash" and entry["AppliedReceiptsAdjustments"]:
            raise invalid(f"{label}: an UnappliedCash entry has no applied lines.")
        if kind in CASH_TYPES and entry["DocumentNumber"]:
            doc_no = entry["DocumentNumber"]
            if state.document(number, doc_no) is not None or doc_no in claimed:
                raise SageError("RecordDuplicate", f"{label}: document {doc_no} already exists for customer {number}.")
            claimed.add(doc_no)
        applied = ZERO
        for line in entry["AppliedReceiptsAdjustments"]:
            where = f"{label}, line {line['LineNumber'] or '(new)'}"
            line["CustomerNumber"] = line["CustomerNumber"] or number
            if line["CustomerNumber"] != number:
                raise invalid(f"{where}: the document must be customer {number}'s, not {line['CustomerNumber']}'s.")
            paid = amount(line["CustomerReceiptAmount"], f"{where}: CustomerReceiptAmount", currency)
            discount = amount(line["CustomerDiscountAmountTaken"], f"{where}: CustomerDiscountAmountTaken", currency)
            line.update(BatchType=batch["BatchRecordType"], ReceiptTransactionType=kind)
            applied += paid
            if kind not in APPLYING_TYPES:
                continue  # a prepayment's line only names what it is for
            if not line["DocumentNumber"]:
                raise invalid(f"{where}: DocumentNumber is required.")
            doc = state.document(number, line["DocumentNumber"])
            if doc is None:
                raise invalid(f"{where}: document {line['DocumentNumber']} does not exist for customer {number}.")
            if doc["CustomerCurrencyAmountDue"] <= 0:
                raise general(f"{where}: document {line['DocumentNumber']} has no balance to apply to "
                              f"({doc['DocumentType']}, amount due {doc['CustomerCurrencyAmountDue']}).")
            payments = state.store.doc_payments.get((number, line["DocumentNumber"]), 1)
            if not 1 <= line["PaymentNumber"] <= payments:
                raise invalid(f"{where}: document {line['DocumentNumber']} has no payment number {line['PaymentNumber']}.")
            k = ("applied", number, line["DocumentNumber"])
            pending = others.get(k, ZERO)
            held[k] = held.get(k, ZERO) + paid + discount
            line.update(DocumentType=doc["DocumentType"], DocumentDate=doc["DocumentDate"],
                        DocumentAmountDue=doc["CustomerCurrencyAmountDue"], PendingReceiptAmount=pending,
                        DocumentNetBalance=doc["CustomerCurrencyAmountDue"] - pending - held[k])
        if kind in CASH_TYPES and applied > received:
            raise general(f"{label}: the lines apply {applied}, more than the receipt amount {received}.")
        if kind == "ApplyDocument":
            source_no = entry["DocumentNumber"]
            source = state.document(number, source_no) if source_no else None
            if source is None or source["CustomerCurrencyAmountDue"] >= 0:
                raise invalid(f"{label}: DocumentNumber must name a posted prepayment, unapplied cash or credit note "
                              f"of customer {number} with a balance{f' ({source_no!r} does not)' if source_no else ''}.")
            k = ("drawn", number, source_no)
            held[k] = held.get(k, ZERO) + applied
        entry["TotalCustomerAmountApplied"] = applied
        entry["CustomerUnappliedAmount"] = received - applied if kind in CASH_TYPES else ZERO
        entry["NumberOfDocumentsAppliedto"] = len(entry["AppliedReceiptsAdjustments"])
    for (what, number, doc_no), total in held.items():
        doc = state.document(number, doc_no)
        assert doc is not None
        pending = others.get((what, number, doc_no), ZERO)
        room = doc["CustomerCurrencyAmountDue"] if what == "applied" else -doc["CustomerCurrencyAmountDue"]
        if pending + total > room:
            verb = "applied to" if what == "applied" else "drawn from"
            raise general(f"The amount {verb} document {doc_no} of customer {number} ({total}"
                          f"{f', plus {pending} pending in other batches' if pending else ''}) exceeds its balance {room}.")
    batch["NumberOfEntries"] = len(batch["ReceiptsAdjustments"])
    batch["BatchTotal"] = sum((e["BankReceiptAmount"] for e in batch["ReceiptsAdjustments"]), ZERO)
    return held


def _finalize(state: SageState, batch: Row, number: int) -> None:
    """Server keys: the batch number everywhere, entry and line numbers, receipt document numbers."""
    batch["BatchNumber"] = number
    batch["DateLastEdited"] = state.today()
    entries = batch["ReceiptsAdjustments"]
    number_rows(entries, "EntryNumber", batch)
    for entry in entries:
        entry["BatchNumber"] = number
        if entry["ReceiptTransactionType"] in CASH_TYPES and not entry["DocumentNumber"]:
            entry["DocumentNumber"] = state.document_number("PY")
        number_rows(entry["AppliedReceiptsAdjustments"], "LineNumber", entry, step=20)
        number_rows(entry["MiscellaneousReceipts"], "LineNumber", entry, step=20)
        for line in entry["AppliedReceiptsAdjustments"]:
            line.update(BatchNumber=number, EntryNumber=entry["EntryNumber"])


def _store(state: SageState, batch: Row, held: dict[tuple, Decimal], old: Row | None = None) -> None:
    pending = state.store.pending
    if old is not None:
        add_pending(pending, old.get("_held", {}), -1)
    add_pending(pending, held, +1)
    batch["_held"] = held
    state.store.receipt_batches[(batch["BatchRecordType"], batch["BatchNumber"])] = batch


# -- resource handlers -----------------------------------------------------------------------------

def rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    return [state.store.receipt_batches[k] for k in sorted(state.store.receipt_batches)]


def get(state: SageState, key: tuple) -> Row | None:
    return state.store.receipt_batches.get(key)


def create(state: SageState, payload: Any) -> Row:
    data = read(payload, RECEIPT_BATCH)
    check_lengths(data, RECEIPT_BATCH)
    record_type = data.get("BatchRecordType")
    if record_type is None:
        raise invalid("BatchRecordType is required: CA for a receipt batch, AD for an adjustment batch.")
    if record_type != "CA":
        raise invalid("Adjustment (AD) batches are not modelled by this sandbox; receipts go in CA batches.")
    status = wanted_status(data)
    batch = blank(RECEIPT_BATCH)
    batch.update({k: v for k, v in writable(data, RECEIPT_BATCH).items() if k != "BatchStatus"})
    batch.update(BatchStatus="Open", BatchType=record_type, SourceApplication="AR")
    batch["BatchDate"] = batch["BatchDate"] or state.today()
    batch["BankCode"] = batch["BankCode"] or DEFAULT_BANK
    merge_rows(batch["ReceiptsAdjustments"], data.get("ReceiptsAdjustments") or [], RECEIPT_ENTRY, create=_entry,
               change=_change_entry, inserting_only=True)
    held = _validate(state, batch, state.store.pending)
    _finalize(state, batch, state.next_number("batch:CA"))
    if status:
        batch["BatchStatus"] = status
    _store(state, batch, held)
    state.count("receipt_batches_created")
    return batch


def update(state: SageState, key: tuple, payload: Any) -> Row:
    batch = get_or_404(state.store.receipt_batches, key)
    data = read(payload, RECEIPT_BATCH)
    check_lengths(data, RECEIPT_BATCH)
    if data.get("BatchRecordType") not in (None, batch["BatchRecordType"]):
        raise invalid("BatchRecordType cannot change.")
    check_editable(batch, f"Batch {batch['BatchRecordType']} {batch['BatchNumber']}")
    status = wanted_status(data)
    work = copy.deepcopy(batch)
    work.update({k: v for k, v in writable(data, RECEIPT_BATCH).items() if k not in ("BatchStatus", "BatchRecordType")})
    if "ReceiptsAdjustments" in data:
        merge_rows(work["ReceiptsAdjustments"], data["ReceiptsAdjustments"] or [], RECEIPT_ENTRY, create=_entry,
                   change=_change_entry)
    others = dict(state.store.pending)
    add_pending(others, batch.get("_held", {}), -1)
    held = _validate(state, work, others)
    _finalize(state, work, batch["BatchNumber"])
    if status:
        work["BatchStatus"] = status
    _store(state, work, held, old=batch)
    return work


def post(state: SageState, payload: Any) -> Row:
    params = read(payload if payload is not None else {}, POST_RECEIPTS)
    params.setdefault("BatchType", "CA")
    params.setdefault("PostAllBatches", "Donotpostallbatches")
    sequence = 0
    if params["BatchType"] == "CA":
        cash = {n: b for (t, n), b in state.store.receipt_batches.items() if t == "CA"}
        numbers = batches_to_post(cash, params)
        sequence = post_batches(state, [cash[n] for n in numbers])
    out = blank(POST_RECEIPTS)
    out.update({k: v for k, v in params.items() if v is not None})
    out["PostingSequenceNumber"] = sequence
    return out


def post_batches(state: SageState, batches: list[Row]) -> int:
    """Post the batches in order; every change is checked before any is made. Returns the last
    posting sequence number (0 when there was nothing to post)."""
    due: dict[tuple[str, str], Decimal] = {}

    def balance(number: str, doc_no: str) -> Decimal:
        k = (number, doc_no)
        if k not in due:
            doc = state.document(number, doc_no)
            if doc is None:
                raise general(f"Document {doc_no} of customer {number} no longer exists.")
            due[k] = doc["CustomerCurrencyAmountDue"]
        return due[k]

    for batch in batches:  # dry run: the balances every line needs are still there
        for entry in batch["ReceiptsAdjustments"]:
            number, kind = entry["CustomerNumber"], entry["ReceiptTransactionType"]
            if kind not in APPLYING_TYPES:
                continue
            for line in entry["AppliedReceiptsAdjustments"]:
                take = line["CustomerReceiptAmount"] + line["CustomerDiscountAmountTaken"]
                if balance(number, line["DocumentNumber"]) < take:
                    raise general(f"Batch {batch['BatchNumber']} entry {entry['EntryNumber']}: document "
                                  f"{line['DocumentNumber']} no longer has {take} due.")
                due[(number, line["DocumentNumber"])] -= take
            if kind == "ApplyDocument":
                drawn = entry["TotalCustomerAmountApplied"]
                if -balance(number, entry["DocumentNumber"]) < drawn:
                    raise general(f"Batch {batch['BatchNumber']} entry {entry['EntryNumber']}: document "
                                  f"{entry['DocumentNumber']} no longer holds {drawn}.")
                due[(number, entry["DocumentNumber"])] += drawn
    sequence = 0
    for batch in batches:
        sequence = state.next_number("post:CA")
        for entry in batch["ReceiptsAdjustments"]:
            _post_entry(state, batch, entry, sequence)
        add_pending(state.store.pending, batch.pop("_held", {}), -1)
        batch.update(BatchStatus="Posted", PostingSequenceNumber=sequence, DateLastEdited=state.today())
        state.count("receipt_batches_posted")
    return sequence


def _post_entry(state: SageState, batch: Row, entry: Row, sequence: int) -> None:
    number, kind, on = entry["CustomerNumber"], entry["ReceiptTransactionType"], entry["ReceiptDateAdjustmentDate"]
    for line in entry["AppliedReceiptsAdjustments"] if kind in APPLYING_TYPES else ():
        doc = state.document(number, line["DocumentNumber"])
        assert doc is not None
        state.settle(doc, -(line["CustomerReceiptAmount"] + line["CustomerDiscountAmountTaken"]), on)
    if kind == "ApplyDocument":
        source = state.document(number, entry["DocumentNumber"])
        assert source is not None
        state.settle(source, entry["TotalCustomerAmountApplied"], on)
        return
    left = entry["CustomerUnappliedAmount"]
    credit_type = {"Prepayment": "Prepayment", "UnappliedCash": "UnappliedCash"}.get(kind)
    if kind == "Receipt" and left > 0:
        credit_type = "UnappliedCash"  # what a receipt does not apply stays on account
    if credit_type is not None:
        credit = left if kind == "Receipt" else entry["CustomerReceiptAmount"]
        state.add_document({
            "CustomerNumber": number, "DocumentNumber": entry["DocumentNumber"], "DocumentType": credit_type,
            "DocumentDate": on, "DueDate": on, "PostingDate": entry["PostingDate"], "BatchNumber": batch["BatchNumber"],
            "EntryNumber": entry["EntryNumber"], "CustomerCurrencyInvoiceAmount": -credit,
            "CheckReceiptNumber": entry["CheckReceiptNumber"], "DocumentDescription": entry["EntryDescription"],
            "DateLastActivity": on})
    state.store.receipts[(batch["BankCode"], number, entry["CheckReceiptNumber"], batch["BatchNumber"],
                          entry["EntryNumber"], entry["DocumentNumber"])] = {
        **blank(POSTED_RECEIPT), "BankCode": batch["BankCode"], "CustomerNumber": number,
        "CheckReceiptNumber": entry["CheckReceiptNumber"], "BatchNumber": batch["BatchNumber"],
        "EntryNumber": entry["EntryNumber"], "DocumentNumber": entry["DocumentNumber"], "ReceiptDate": on,
        "PostingDate": entry["PostingDate"], "ReceiptTransactionType": kind, "PaymentCode": entry["PaymentCode"],
        "CurrencyCode": entry["CustomerCurrencyCode"], "BankReceiptAmount": entry["BankReceiptAmount"],
        "CustomerReceiptAmount": entry["CustomerReceiptAmount"],
        "TotalCustomerAmountApplied": entry["TotalCustomerAmountApplied"],
        "CustomerUnappliedAmount": entry["CustomerUnappliedAmount"], "EntryDescription": entry["EntryDescription"],
        "EntryReference": entry["EntryReference"], "TransactionID": entry["TransactionID"],
        "PostingSequenceNumber": sequence}
    customer = state.customer(number)
    if customer is not None and (customer["DateOfLastReceipt"] is None or on > customer["DateOfLastReceipt"]):
        customer["DateOfLastReceipt"] = on


def template(state: SageState) -> dict[str, Any]:
    row = blank(RECEIPT_BATCH)
    row.update(BatchRecordType="CA", BatchType="CA", BatchDate=state.today(), BankCode=DEFAULT_BANK,
               BatchStatus="Open", SourceApplication="AR")
    return render(row, RECEIPT_BATCH)
