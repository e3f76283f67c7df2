"""General ledger: ``GL/GLAccounts`` (GET), ``GL/GLJournalBatches`` (GET, POST) and
``AR/ARCreateGLBatch('$process')``.

Accounts are keyed by ``UnformattedAccount`` (the account without separators: ``('1200000')``; the
spec marks this key unverified); ``AccountNumber`` is the formatted account (``1200-000``). A journal
line's ``AccountNumber`` may be written either way.

A journal batch POST is numbered by the server (``"000001"``, six digits), its entries ``"00001"`` and
their lines ``"0000000020"`` (+20). Each entry must balance (debits positive, credits negative, summing
to zero) and post only to active detail accounts; ``Status`` may be Open or ReadyToPost. GL posting
(``GLPostJournal``) is not modelled.

``ARCreateGLBatch`` turns posted AR batches into one GL batch with ``SourceLedger`` AR: receipt batches
(``ProcessReceiptBatch`` set, through ``ReceiptThroughPostingSequenceNumber``), invoice batches
(``ProcessInvoiceBatch``, ``InvoiceThroughPostingSequenceNumber``) and refund batches
(``ProcessRefundBatch``, ``RefundThroughPostingSequenceNumber``); a ``Process...`` value that is empty or
starts with "Do not"/"No" leaves that ledger out, and a missing "through" number means all. Each AR
batch is sent once. One journal entry per AR entry: a receipt debits the bank's GL account and credits
AR control (a discount taken debits sales discounts); an invoice debits AR control and credits revenue
(line ``RevenueAccount`` or the default) and sales tax; a credit note the reverse; a refund debits AR
control and credits the bank. ApplyDocument entries move nothing in the GL. The answer echoes the
parameters with ``GLBatchNumber`` (empty when there was nothing to send).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .batches import Row
from .errors import SageError, general, invalid
from .schema import (CREATE_GL_BATCH, JOURNAL_BATCH, JOURNAL_DETAIL, JOURNAL_HEADER, blank, check_lengths, read,
                     writable)
from .state import AR_CONTROL_ACCOUNT, REVENUE_ACCOUNT, SageState

ZERO = Decimal(0)
TAX_ACCOUNT = "2300-000"
DISCOUNT_ACCOUNT = "4900-000"


def bare(account: str) -> str:
    return "".join(ch for ch in account if ch.isalnum())


def find_account(state: SageState, account: str) -> Row | None:
    return state.store.gl_accounts.get(bare(account))


def account_rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    return [state.store.gl_accounts[k] for k in sorted(state.store.gl_accounts)]


def get_account(state: SageState, key: tuple) -> Row | None:
    return state.store.gl_accounts.get(key[0])


def batch_rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    return [state.store.gl_batches[k] for k in sorted(state.store.gl_batches)]


def get_batch(state: SageState, key: tuple) -> Row | None:
    return state.store.gl_batches.get(key[0])


def _check_entry(state: SageState, header: Row, label: str) -> None:
    total = ZERO
    if not header["JournalDetails"]:
        raise invalid(f"{label}: an entry needs journal details.")
    for line in header["JournalDetails"]:
        account = find_account(state, line["AccountNumber"]) if line["AccountNumber"] else None
        if account is None:
            raise invalid(f"{label}: account {line['AccountNumber'] or '(blank)'} does not exist.")
        if account["Status"] != "Active" or account["PostToAccount"] != "Detail":
            raise general(f"{label}: account {account['AccountNumber']} is inactive or does not allow posting.")
        line["AccountNumber"] = account["AccountNumber"]
        line["SourceCurrencyAmount"] = line["SourceCurrencyAmount"] or line["Amount"]
        total += line["Amount"]
    if total != 0:
        raise general(f"{label} is out of balance by {total}.")


def _store_batch(state: SageState, batch: Row) -> Row:
    number = f"{state.next_number('batch:GL'):06d}"
    batch["BatchNumber"] = number
    debits = credits = ZERO
    for e, header in enumerate(batch["JournalHeaders"], start=1):
        header.update(BatchNumber=number, EntryNumber=f"{e:05d}")
        for t, line in enumerate(header["JournalDetails"], start=1):
            line.update(BatchNumber=number, EntryNumber=header["EntryNumber"], TransactionNumber=f"{20 * t:010d}")
            debits += max(line["Amount"], ZERO)
            credits += max(-line["Amount"], ZERO)
    batch.update(NumberOfEntries=len(batch["JournalHeaders"]), Debits=debits, Credits=credits,
                 DateCreated=state.today())
    state.store.gl_batches[number] = batch
    return batch


def create_batch(state: SageState, payload: Any) -> Row:
    data = read(payload, JOURNAL_BATCH)
    check_lengths(data, JOURNAL_BATCH)
    status = data.get("Status") or "Open"
    if status not in ("Open", "ReadyToPost"):
        raise SageError("InvalidAction", f"Status cannot be {status} on a new batch: only Open or ReadyToPost.")
    batch = blank(JOURNAL_BATCH)
    batch.update(writable(data, JOURNAL_BATCH), Status=status)
    batch["SourceLedger"] = batch["SourceLedger"] or "GL"
    for i, item in enumerate(data.get("JournalHeaders") or [], start=1):
        header = blank(JOURNAL_HEADER)
        header.update(writable(item, JOURNAL_HEADER))
        header["SourceLedger"] = header["SourceLedger"] or batch["SourceLedger"]
        header["SourceType"] = header["SourceType"] or "JE"
        header["DocumentDate"] = header["DocumentDate"] or state.today()
        header["PostingDate"] = header["PostingDate"] or header["DocumentDate"]
        for line_item in item.get("JournalDetails") or []:
            line = blank(JOURNAL_DETAIL)
            line.update(writable(line_item, JOURNAL_DETAIL))
            header["JournalDetails"].append(line)
        _check_entry(state, header, f"Entry {i:05d}")
        batch["JournalHeaders"].append(header)
    state.count("gl_batches_created")
    return _store_batch(state, batch)


# -- ARCreateGLBatch -------------------------------------------------------------------------------

def _wanted(value: str | None) -> bool:
    text = (value or "").strip().lower().replace(" ", "")
    return bool(text) and not text.startswith(("donot", "no"))


def _line(account: str, value: Decimal, description: str, reference: str) -> Row:
    return {**blank(JOURNAL_DETAIL), "AccountNumber": account, "Amount": value, "SourceCurrencyAmount": value,
            "Description": description[:60], "Reference": reference[:60]}


def _header(source_type: str, description: str, on: Any, lines: list[Row]) -> Row:
    return {**blank(JOURNAL_HEADER), "SourceLedger": "AR", "SourceType": source_type, "Description": description[:60],
            "DocumentDate": on, "PostingDate": on, "JournalDetails": [l for l in lines if l["Amount"] != 0]}


def _account(state: SageState, account: str) -> str:
    row = find_account(state, account)
    return row["AccountNumber"] if row else account


def _receipt_entries(state: SageState, batch: Row) -> list[Row]:
    bank = state.store.banks.get(batch["BankCode"], {})
    bank_account = _account(state, bank.get("GLAccount", ""))
    out = []
    for e in batch["ReceiptsAdjustments"]:
        if e["ReceiptTransactionType"] == "ApplyDocument":
            continue
        discount = sum((l["CustomerDiscountAmountTaken"] for l in e["AppliedReceiptsAdjustments"]
                        if e["ReceiptTransactionType"] == "Receipt"), ZERO)
        ref = e["CheckReceiptNumber"] or e["DocumentNumber"]
        text = f"{e['ReceiptTransactionType']} {e['DocumentNumber']} {e['CustomerNumber']}"
        out.append(_header("CA", text, e["ReceiptDateAdjustmentDate"], [
            _line(bank_account, e["BankReceiptAmount"], text, ref),
            _line(_account(state, DISCOUNT_ACCOUNT), discount, text, ref),
            _line(_account(state, AR_CONTROL_ACCOUNT), -(e["CustomerReceiptAmount"] + discount), text, ref)]))
    return out


def _invoice_entries(state: SageState, batch: Row) -> list[Row]:
    out = []
    for inv in batch["Invoices"]:
        sign = Decimal(-1) if inv["DocumentType"] == "CreditNote" else Decimal(1)
        text = f"{inv['DocumentType']} {inv['DocumentNumber']} {inv['CustomerNumber']}"
        lines = [_line(_account(state, AR_CONTROL_ACCOUNT), sign * inv["DocumentTotalIncludingTax"], text,
                       inv["DocumentNumber"])]
        for d in inv["InvoiceDetails"]:
            lines.append(_line(_account(state, d["RevenueAccount"] or REVENUE_ACCOUNT), -sign * d["ExtendedAmountWithoutTIP"],
                               d["Description"] or text, inv["DocumentNumber"]))
        lines.append(_line(_account(state, TAX_ACCOUNT), -sign * inv["TaxTotal"], text, inv["DocumentNumber"]))
        out.append(_header("IN", text, inv["DocumentDate"], lines))
    return out


def _refund_entries(state: SageState, batch: Row) -> list[Row]:
    bank_account = _account(state, state.store.banks.get(batch["BankCode"], {}).get("GLAccount", ""))
    out = []
    for e in batch["Refunds"]:
        text = f"Refund {e['DocumentNumber']} {e['CustomerNumber']}"
        out.append(_header("RF", text, e["DocumentDate"], [
            _line(_account(state, AR_CONTROL_ACCOUNT), e["CustomerRefundAmount"], text, e["DocumentNumber"]),
            _line(bank_account, -e["CustomerRefundAmount"], text, e["DocumentNumber"])]))
    return out


def create_gl_batch(state: SageState, payload: Any) -> Row:
    params = read(payload if payload is not None else {}, CREATE_GL_BATCH)
    s = state.store
    plan = (("CA", "ProcessReceiptBatch", "ReceiptThroughPostingSequenceNumber",
             {n: b for (t, n), b in s.receipt_batches.items() if t == "CA"}, _receipt_entries),
            ("IN", "ProcessInvoiceBatch", "InvoiceThroughPostingSequenceNumber", s.invoice_batches, _invoice_entries),
            ("RF", "ProcessRefundBatch", "RefundThroughPostingSequenceNumber", s.refund_batches, _refund_entries))
    headers: list[Row] = []
    done: list[tuple[str, int]] = []
    for ledger, flag, through_name, batches, entries in plan:
        if not _wanted(params.get(flag)):
            continue
        through = params.get(through_name)
        for number in sorted(batches):
            batch = batches[number]
            if batch["BatchStatus"] != "Posted" or (ledger, number) in s.gl_done:
                continue
            if through is not None and batch["PostingSequenceNumber"] > through:
                continue
            headers.extend(h for h in entries(state, batch) if h["JournalDetails"])
            done.append((ledger, number))
    out = blank(CREATE_GL_BATCH)
    out.update({k: v for k, v in params.items() if v is not None})
    if headers:
        batch = {**blank(JOURNAL_BATCH), "Description": "AR batches sent to the general ledger", "Status": "Open",
                 "SourceLedger": "AR", "JournalHeaders": headers}
        out["GLBatchNumber"] = _store_batch(state, batch)["BatchNumber"]
        s.gl_done.update(done)
        state.count("gl_batches_from_ar")
    return out
