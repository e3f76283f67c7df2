"""``AR/ARRefundBatches`` (GET, POST, PATCH; key ``(N)``) and ``AR/ARPostRefunds('$process')``.

A refund pays a customer's credit back: each ``Refunds[]`` entry names the customer, and its
``RefundDetails[]`` lines name the posted credits it draws on (prepayment, unapplied cash or credit
note, by ``DocumentNumber``) with ``CustomerRefundAmount`` each. The entry's ``CustomerRefundAmount`` is
their sum and its ``DocumentNumber`` is generated (``RF000001``...). A card refund of a paid invoice
therefore goes: credit note for the invoice (``ARInvoiceBatches``, posted), then a refund of that
credit note. Refund fields were not part of the public material behind the sandbox (the spec says
so); the property names here follow the receipt batch's and are the sandbox's.

Lines may not draw more than a credit holds, counting what unposted receipt (ApplyDocument) and
refund batches already draw on it. Posting (ReadyToPost batches; ``PostAllBatches`` or a
``PostBatchFrom``/``PostBatchTo`` range) raises each credit's amount due toward zero and records the
refund as a posted document of type Refund, paid in full.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .batches import (Row, add_pending, amount, batches_to_post, check_editable, get_or_404, merge_rows, number_rows,
                      wanted_status)
from .errors import general, invalid
from .schema import POST_REFUNDS, REFUND_BATCH, REFUND_DETAIL, REFUND_ENTRY, blank, check_lengths, read, writable
from .state import DEFAULT_BANK, SageState

ZERO = Decimal(0)


def _detail(item: Mapping[str, Any]) -> Row:
    row = blank(REFUND_DETAIL)
    row.update(writable(item, REFUND_DETAIL))
    row["PaymentNumber"] = row["PaymentNumber"] or 1
    return row


def _entry(item: Mapping[str, Any]) -> Row:
    row = blank(REFUND_ENTRY)
    _change_entry(row, item, inserting=True)
    return row


def _change_entry(row: Row, item: Mapping[str, Any], inserting: bool = False) -> None:
    row.update(writable(item, REFUND_ENTRY))
    if "RefundDetails" in item:
        merge_rows(row["RefundDetails"], item["RefundDetails"] or [], REFUND_DETAIL, create=_detail,
                   change=lambda r, i: r.update(writable(i, REFUND_DETAIL)), inserting_only=inserting)


def _validate(state: SageState, batch: Row, others: Mapping[tuple, Decimal]) -> dict[tuple, Decimal]:
    if batch["BankCode"] not in state.store.banks:
        raise invalid(f"Bank {batch['BankCode']!r} does not exist.")
    held: dict[tuple, Decimal] = {}
    for i, entry in enumerate(batch["Refunds"]):
        label = f"Entry {entry['EntryNumber'] or i + 1}"
        number = entry["CustomerNumber"]
        customer = state.customer(number)
        if customer is None:
            raise invalid(f"{label}: Customer {number or '(blank)'} does not exist.")
        currency = customer["CurrencyCode"] or "USD"
        entry["DocumentDate"] = entry["DocumentDate"] or batch["BatchDate"]
        entry["PostingDate"] = entry["PostingDate"] or entry["DocumentDate"]
        if not entry["RefundDetails"]:
            raise invalid(f"{label}: a refund needs at least one line (RefundDetails) naming the credit it refunds.")
        total = ZERO
        for line in entry["RefundDetails"]:
            where = f"{label}, line {line['LineNumber'] or '(new)'}"
            value = amount(line["CustomerRefundAmount"], f"{where}: CustomerRefundAmount", currency)
            if value <= 0:
                raise invalid(f"{where}: the refund amount must be greater than zero.")
            doc = state.document(number, line["DocumentNumber"]) if line["DocumentNumber"] else None
            if doc is None or doc["CustomerCurrencyAmountDue"] >= 0:
                raise invalid(f"{where}: DocumentNumber must name a posted credit of customer {number} with a balance "
                              f"(prepayment, unapplied cash or credit note); {line['DocumentNumber'] or 'none'} is not.")
            k = ("drawn", number, line["DocumentNumber"])
            held[k] = held.get(k, ZERO) + value
            line.update(DocumentType=doc["DocumentType"], DocumentAmountDue=doc["CustomerCurrencyAmountDue"])
            total += value
        entry["CustomerRefundAmount"] = total
    for (what, number, doc_no), total in held.items():
        doc = state.document(number, doc_no)
        assert doc is not None
        pending = others.get((what, number, doc_no), ZERO)
        if pending + total > -doc["CustomerCurrencyAmountDue"]:
            raise general(f"The amount refunded from document {doc_no} of customer {number} ({total}"
                          f"{f', plus {pending} pending in other batches' if pending else ''}) exceeds its balance "
                          f"{-doc['CustomerCurrencyAmountDue']}.")
    batch["NumberOfEntries"] = len(batch["Refunds"])
    batch["BatchTotal"] = sum((e["CustomerRefundAmount"] for e in batch["Refunds"]), ZERO)
    return held


def _finalize(state: SageState, batch: Row, number: int) -> None:
    batch["BatchNumber"] = number
    batch["DateLastEdited"] = state.today()
    number_rows(batch["Refunds"], "EntryNumber", batch)
    for entry in batch["Refunds"]:
        entry["BatchNumber"] = number
        entry["DocumentNumber"] = entry["DocumentNumber"] or state.document_number("RF")
        number_rows(entry["RefundDetails"], "LineNumber", entry, step=20)
        for line in entry["RefundDetails"]:
            line.update(BatchNumber=number, EntryNumber=entry["EntryNumber"])


def _store(state: SageState, batch: Row, held: dict[tuple, Decimal], old: Row | None = None) -> None:
    if old is not None:
        add_pending(state.store.pending, old.get("_held", {}), -1)
    add_pending(state.store.pending, held, +1)
    batch["_held"] = held
    state.store.refund_batches[batch["BatchNumber"]] = batch


def rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    return [state.store.refund_batches[k] for k in sorted(state.store.refund_batches)]


def get(state: SageState, key: tuple) -> Row | None:
    return state.store.refund_batches.get(key[0])


def create(state: SageState, payload: Any) -> Row:
    data = read(payload, REFUND_BATCH)
    check_lengths(data, REFUND_BATCH)
    status = wanted_status(data)
    batch = blank(REFUND_BATCH)
    batch.update({k: v for k, v in writable(data, REFUND_BATCH).items() if k != "BatchStatus"})
    batch["BatchStatus"] = "Open"
    batch["BatchDate"] = batch["BatchDate"] or state.today()
    batch["BankCode"] = batch["BankCode"] or DEFAULT_BANK
    merge_rows(batch["Refunds"], data.get("Refunds") or [], REFUND_ENTRY, create=_entry, change=_change_entry,
               inserting_only=True)
    held = _validate(state, batch, state.store.pending)
    _finalize(state, batch, state.next_number("batch:RF"))
    if status:
        batch["BatchStatus"] = status
    _store(state, batch, held)
    state.count("refund_batches_created")
    return batch


def update(state: SageState, key: tuple, payload: Any) -> Row:
    batch = get_or_404(state.store.refund_batches, key[0])
    data = read(payload, REFUND_BATCH)
    check_lengths(data, REFUND_BATCH)
    check_editable(batch, f"Batch {batch['BatchNumber']}")
    status = wanted_status(data)
    work = copy.deepcopy(batch)
    work.update({k: v for k, v in writable(data, REFUND_BATCH).items() if k != "BatchStatus"})
    if "Refunds" in data:
        merge_rows(work["Refunds"], data["Refunds"] or [], REFUND_ENTRY, create=_entry, change=_change_entry)
    others = dict(state.store.pending)
    add_pending(others, batch.get("_held", {}), -1)
    held = _validate(state, work, others)
    _finalize(state, work, batch["BatchNumber"])
    if status:
        work["BatchStatus"] = status
    _store(state, work, held, old=batch)
    return work


def post(state: SageState, payload: Any) -> Row:
    params = read(payload if payload is not None else {}, POST_REFUNDS)
    params.setdefault("PostAllBatches", "Donotpostallbatches")
    numbers = batches_to_post(state.store.refund_batches, params)
    sequence = post_batches(state, [state.store.refund_batches[n] for n in numbers])
    out = blank(POST_REFUNDS)
    out.update({k: v for k, v in params.items() if v is not None})
    out["PostingSequenceNumber"] = sequence
    return out


def post_batches(state: SageState, batches: list[Row]) -> int:
    room: dict[tuple[str, str], Decimal] = {}
    for batch in batches:  # dry run first
        for entry in batch["Refunds"]:
            for line in entry["RefundDetails"]:
                k = (entry["CustomerNumber"], line["DocumentNumber"])
                if k not in room:
                    doc = state.document(*k)
                    room[k] = -doc["CustomerCurrencyAmountDue"] if doc else ZERO
                if room[k] < line["CustomerRefundAmount"]:
                    raise general(f"Batch {batch['BatchNumber']} entry {entry['EntryNumber']}: document "
                                  f"{line['DocumentNumber']} no longer holds {line['CustomerRefundAmount']}.")
                room[k] -= line["CustomerRefundAmount"]
    sequence = 0
    for batch in batches:
        sequence = state.next_number("post:RF")
        for entry in batch["Refunds"]:
            on = entry["DocumentDate"]
            for line in entry["RefundDetails"]:
                doc = state.document(entry["CustomerNumber"], line["DocumentNumber"])
                assert doc is not None
                state.settle(doc, line["CustomerRefundAmount"], on)
            state.add_document({
                "CustomerNumber": entry["CustomerNumber"], "DocumentNumber": entry["DocumentNumber"],
                "DocumentType": "Refund", "DocumentDate": on, "DueDate": on, "PostingDate": entry["PostingDate"],
                "BatchNumber": batch["BatchNumber"], "EntryNumber": entry["EntryNumber"],
                "CustomerCurrencyInvoiceAmount": entry["CustomerRefundAmount"], "CustomerCurrencyAmountDue": ZERO,
                "FullyPaid": "Yes", "DatePaid": on, "DateLastActivity": on, "CheckReceiptNumber": entry["CheckNumber"],
                "DocumentDescription": entry["EntryDescription"]})
        add_pending(state.store.pending, batch.pop("_held", {}), -1)
        batch.update(BatchStatus="Posted", PostingSequenceNumber=sequence, DateLastEdited=state.today())
        state.count("refund_batches_posted")
    return sequence
