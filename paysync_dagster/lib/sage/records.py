"""Typed records of the Sage 300 Web API rows PaySync reads, with money in integer minor units.

Each ``parse_*`` takes one row as Sage returns it (a dict; every field optional, read by name, so a
``$select``-ed or cut-short row parses too) and returns a small frozen dataclass:

- amounts go through :func:`paysync_dagster.lib.money.to_minor` in the row's currency (``CurrencyCode``,
  ``DefaultBankCurrency``, ``CustomerCurrencyCode``; USD when absent), so ``110.000``, ``110`` and
  ``"110.00"`` read the same, and a non-zero digit beyond the currency's exponent is an error
  (:class:`~.errors.SageResponseError`), never a rounding;
- dates (``2026-04-01T00:00:00Z``, ``2026-04-01``, with or without ``Z``/offset/fraction) become
  :class:`datetime.date`; Sage's "no date" (``0001-01-01``, ``null``, ``""``) becomes None;
- flags (``FullyPaid`` as ``true``, ``"Yes"``, ``1`` or ``"0"``) become bool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from paysync_dagster.lib import money
from paysync_dagster.lib.sage.errors import SageResponseError

Json = dict[str, Any]


# -- field readers ---------------------------------------------------------------------------------------------

def minor(value: Any, currency: str | None = "USD", *, field: str = "amount") -> int | None:
    """A Sage amount (JSON number, ``110.000``, string) as integer minor units; None when absent."""
    if value is None or value == "":
        return None
    try:
        return money.to_minor(value, currency or "USD")
    except money.MoneyError as exc:
        raise SageResponseError(f"{field}: {exc}") from None


_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]*)?(?:Z|[+-]\d{2}:?\d{2})?\s*$")
_LEGACY_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")  # WCF style, seen in older ASP.NET APIs


def parse_date(value: Any, *, field: str = "date") -> date | None:
    """``2026-04-01T00:00:00Z`` / ``2026-04-01`` / a date or datetime -> date; Sage's empty date -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    m = _DATE.match(text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        if y <= 1:  # 0001-01-01: .NET's DateTime.MinValue, Sage's "no date"
            return None
        try:
            return date(y, mo, d)
        except ValueError:
            pass
    else:
        legacy = _LEGACY_DATE.match(text.strip())
        if legacy:
            return datetime.fromtimestamp(int(legacy.group(1)) / 1000, tz=timezone.utc).date()
    raise SageResponseError(f"{field}: not a date: {text[:40]!r}")


_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}


def parse_flag(value: Any, *, field: str = "flag") -> bool | None:
    """``true``/``"Yes"``/``1``/``"1"`` -> True, their opposites -> False, absent -> None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)) or (isinstance(value, float) and value.is_integer()):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SageResponseError(f"{field}: not a flag: {str(value)[:20]!r}")


def parse_int(value: Any, *, field: str = "number") -> int | None:
    """``65``, ``"65"``, ``65.0`` -> 65; absent -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SageResponseError(f"{field}: not a number: {value!r}")
    if isinstance(value, int):
        return value
    try:
        dec = Decimal(str(value).strip())
    except ArithmeticError:
        raise SageResponseError(f"{field}: not a number: {str(value)[:20]!r}") from None
    if not dec.is_finite() or dec != dec.to_integral_value():
        raise SageResponseError(f"{field}: not a whole number: {str(value)[:20]!r}")
    return int(dec)


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _first(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return None


# -- collection envelope -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """One page of a collection: its rows, the ``@odata.nextLink`` (None on the last page), the
    ``@odata.count`` when asked for, and the ``@odata.context``."""

    value: list[Json]
    next_link: str | None
    count: int | None
    context: str | None


def parse_page(body: Any, *, path: str = "") -> Page:
    """A collection answer. Reads the ``@odata.*`` names and the older ``odata.*`` ones (count as a string)."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise SageResponseError("a collection answer without a value array", path=path)
    rows = [r for r in body["value"] if isinstance(r, dict)]
    next_link = body.get("@odata.nextLink", body.get("odata.nextLink"))
    count = body.get("@odata.count", body.get("odata.count"))
    return Page(rows, str(next_link) if next_link else None, parse_int(count, field="@odata.count"),
                _str(body.get("@odata.context", body.get("odata.context"))))


# -- AR posted documents (ARPostedDocuments) ---------------------------------------------------------------------

@dataclass(frozen=True)
class PostedDocument:
    customer_number: str | None
    document_number: str | None
    document_type: str | None
    order_number: str | None
    po_number: str | None
    document_date: date | None
    due_date: date | None
    batch_number: int | None
    entry_number: int | None
    currency: str
    invoice_amount_minor: int | None  # CustomerCurrencyInvoiceAmount
    amount_due_minor: int | None  # CustomerCurrencyAmountDue
    fully_paid: bool | None
    date_paid: date | None
    check_receipt_number: str | None
    description: str | None

    @property
    def is_open(self) -> bool:
        """Something is still due (FullyPaid false, or an amount due above zero when the flag is absent)."""
        if self.fully_paid is not None:
            return not self.fully_paid and (self.amount_due_minor is None or self.amount_due_minor != 0)
        return bool(self.amount_due_minor)


def parse_posted_document(row: Mapping[str, Any]) -> PostedDocument:
    currency = _str(row.get("CurrencyCode")) or "USD"
    return PostedDocument(
        _str(row.get("CustomerNumber")), _str(row.get("DocumentNumber")), _str(row.get("DocumentType")),
        _str(row.get("OrderNumber")) or None, _str(row.get("PONumber")) or None,
        parse_date(row.get("DocumentDate"), field="DocumentDate"), parse_date(row.get("DueDate"), field="DueDate"),
        parse_int(row.get("BatchNumber"), field="BatchNumber"), parse_int(row.get("EntryNumber"), field="EntryNumber"),
        currency,
        minor(row.get("CustomerCurrencyInvoiceAmount"), currency, field="CustomerCurrencyInvoiceAmount"),
        minor(row.get("CustomerCurrencyAmountDue"), currency, field="CustomerCurrencyAmountDue"),
        parse_flag(row.get("FullyPaid"), field="FullyPaid"), parse_date(row.get("DatePaid"), field="DatePaid"),
        _str(row.get("CheckReceiptNumber")) or None, _str(row.get("DocumentDescription")) or None,
    )


# -- AR receipt batches (ARReceiptAndAdjustmentBatches) ------------------------------------------------------------

@dataclass(frozen=True)
class AppliedLine:
    """An ``AppliedReceiptsAdjustments`` row: ``amount_minor`` is ``CustomerReceiptAmount`` (what is applied)."""

    batch_type: str | None
    batch_number: int | None
    entry_number: int | None
    line_number: int | None
    customer_number: str | None
    document_number: str | None
    payment_number: int | None
    amount_minor: int | None
    discount_minor: int | None
    document_amount_due_minor: int | None
    transaction_type: str | None


def parse_applied_line(row: Mapping[str, Any], currency: str = "USD") -> AppliedLine:
    return AppliedLine(
        _str(row.get("BatchType")), parse_int(row.get("BatchNumber"), field="BatchNumber"),
        parse_int(row.get("EntryNumber"), field="EntryNumber"), parse_int(row.get("LineNumber"), field="LineNumber"),
        _str(row.get("CustomerNumber")), _str(row.get("DocumentNumber")) or None,
        parse_int(row.get("PaymentNumber"), field="PaymentNumber"),
        minor(row.get("CustomerReceiptAmount"), currency, field="CustomerReceiptAmount"),
        minor(row.get("CustomerDiscountAmountTaken"), currency, field="CustomerDiscountAmountTaken"),
        minor(row.get("DocumentAmountDue"), currency, field="DocumentAmountDue"),
        _str(_first(row, "ReceiptTransactionType", "TransactionType")),
    )


@dataclass(frozen=True)
class ReceiptEntry:
    """A ``ReceiptsAdjustments`` row (an unposted receipt lives only here, §5)."""

    batch_type: str | None
    batch_number: int | None
    entry_number: int | None
    customer_number: str | None
    receipt_date: date | None
    check_receipt_number: str | None
    document_number: str | None
    description: str | None
    reference: str | None
    payment_code: str | None
    transaction_type: str | None  # Receipt, Prepayment, ApplyDocument, ...
    currency: str
    bank_amount_minor: int | None  # BankReceiptAmount
    amount_minor: int | None  # CustomerReceiptAmount
    applied_minor: int | None  # TotalCustomerAmountApplied
    unapplied_minor: int | None  # CustomerUnappliedAmount
    applied: tuple[AppliedLine, ...]


def parse_receipt_entry(row: Mapping[str, Any], currency: str = "USD") -> ReceiptEntry:
    currency = _str(row.get("CustomerCurrencyCode")) or currency
    lines = row.get("AppliedReceiptsAdjustments") or ()
    return ReceiptEntry(
        _str(row.get("BatchType")), parse_int(row.get("BatchNumber"), field="BatchNumber"),
        parse_int(row.get("EntryNumber"), field="EntryNumber"), _str(row.get("CustomerNumber")) or None,
        parse_date(row.get("ReceiptDateAdjustmentDate"), field="ReceiptDateAdjustmentDate"),
        _str(row.get("CheckReceiptNumber")) or None, _str(row.get("DocumentNumber")) or None,
        _str(row.get("EntryDescription")) or None, _str(row.get("EntryReference")) or None,
        _str(row.get("PaymentCode")) or None, _str(row.get("ReceiptTransactionType")), currency,
        minor(row.get("BankReceiptAmount"), currency, field="BankReceiptAmount"),
        minor(row.get("CustomerReceiptAmount"), currency, field="CustomerReceiptAmount"),
        minor(row.get("TotalCustomerAmountApplied"), currency, field="TotalCustomerAmountApplied"),
        minor(row.get("CustomerUnappliedAmount"), currency, field="CustomerUnappliedAmount"),
        tuple(parse_applied_line(line, currency) for line in lines if isinstance(line, dict)),
    )


@dataclass(frozen=True)
class ReceiptBatch:
    batch_type: str | None  # BatchRecordType: CA receipts, AD adjustments
    batch_number: int | None
    batch_date: date | None
    description: str | None
    status: str | None  # Open, ReadyToPost, Posted, ...
    bank_code: str | None
    currency: str
    number_of_entries: int | None
    total_minor: int | None
    posting_sequence_number: int | None
    entries: tuple[ReceiptEntry, ...]

    @property
    def is_open(self) -> bool:
        return (self.status or "").replace(" ", "").lower() == "open"

    def entry_by_check_number(self, check_receipt_number: str) -> ReceiptEntry | None:
        return next((e for e in self.entries if e.check_receipt_number == check_receipt_number), None)


def parse_receipt_batch(row: Mapping[str, Any]) -> ReceiptBatch:
    currency = _str(row.get("DefaultBankCurrency")) or "USD"
    entries = row.get("ReceiptsAdjustments") or ()
    return ReceiptBatch(
        _str(_first(row, "BatchRecordType", "BatchType")), parse_int(row.get("BatchNumber"), field="BatchNumber"),
        parse_date(row.get("BatchDate"), field="BatchDate"), _str(row.get("Description")) or None,
        _str(row.get("BatchStatus")), _str(row.get("BankCode")) or None, currency,
        parse_int(row.get("NumberOfEntries"), field="NumberOfEntries"),
        minor(row.get("BatchTotal"), currency, field="BatchTotal"),
        parse_int(row.get("PostingSequenceNumber"), field="PostingSequenceNumber"),
        tuple(parse_receipt_entry(e, currency) for e in entries if isinstance(e, dict)),
    )


# -- AR posted receipts (ARPostedReceipts) ------------------------------------------------------------------------

@dataclass(frozen=True)
class PostedReceipt:
    """A receipt after posting. The 2022 reference gives ARPostedReceipts a six-part key but no field
    table; the names read here are the receipt entry's (alternatives in brackets are tried too)."""

    customer_number: str | None
    check_receipt_number: str | None
    document_number: str | None
    batch_type: str | None
    batch_number: int | None
    entry_number: int | None
    receipt_date: date | None  # ReceiptDate [ReceiptDateAdjustmentDate, DocumentDate]
    bank_code: str | None
    payment_code: str | None
    transaction_type: str | None
    currency: str
    amount_minor: int | None  # CustomerReceiptAmount [ReceiptAmount, BankReceiptAmount]
    unapplied_minor: int | None  # CustomerUnappliedAmount [UnappliedAmount]
    reference: str | None
    description: str | None


def parse_posted_receipt(row: Mapping[str, Any]) -> PostedReceipt:
    currency = _str(_first(row, "CustomerCurrencyCode", "CurrencyCode", "BankCurrency")) or "USD"
    return PostedReceipt(
        _str(row.get("CustomerNumber")) or None, _str(row.get("CheckReceiptNumber")) or None,
        _str(row.get("DocumentNumber")) or None, _str(_first(row, "BatchType", "BatchRecordType")),
        parse_int(row.get("BatchNumber"), field="BatchNumber"), parse_int(row.get("EntryNumber"), field="EntryNumber"),
        parse_date(_first(row, "ReceiptDate", "ReceiptDateAdjustmentDate", "DocumentDate"), field="ReceiptDate"),
        _str(row.get("BankCode")) or None, _str(row.get("PaymentCode")) or None,
        _str(_first(row, "ReceiptTransactionType", "TransactionType")), currency,
        minor(_first(row, "CustomerReceiptAmount", "ReceiptAmount", "BankReceiptAmount"), currency,
              field="CustomerReceiptAmount"),
        minor(_first(row, "CustomerUnappliedAmount", "UnappliedAmount"), currency, field="CustomerUnappliedAmount"),
        _str(row.get("EntryReference")) or None, _str(_first(row, "EntryDescription", "Description")) or None,
    )


# -- AR customers --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Customer:
    customer_number: str | None
    name: str | None
    short_name: str | None
    group_code: str | None
    status: str | None
    on_hold: bool | None
    account_set: str | None
    terms: str | None
    currency: str
    email: str | None
    phone: str | None
    address_lines: tuple[str, ...]
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    contact_name: str | None
    payment_code: str | None
    credit_limit_minor: int | None
    balance_due_minor: int | None
    date_last_maintained: date | None

    @property
    def is_active(self) -> bool:
        return (self.status or "Active").lower() == "active" and not self.on_hold


def parse_customer(row: Mapping[str, Any]) -> Customer:
    currency = _str(row.get("CurrencyCode")) or "USD"
    lines = tuple(str(row[f"AddressLine{i}"]) for i in range(1, 5) if row.get(f"AddressLine{i}") not in (None, ""))
    return Customer(
        _str(row.get("CustomerNumber")), _str(row.get("CustomerName")) or None, _str(row.get("ShortName")) or None,
        _str(row.get("GroupCode")) or None, _str(row.get("Status")), parse_flag(row.get("OnHold"), field="OnHold"),
        _str(row.get("AccountSet")) or None, _str(row.get("Terms")) or None, currency,
        _str(row.get("Email")) or None, _str(row.get("PhoneNumber")) or None, lines, _str(row.get("City")) or None,
        _str(row.get("StateProvince")) or None, _str(row.get("ZipPostalCode")) or None,
        _str(row.get("Country")) or None, _str(row.get("ContactName")) or None, _str(row.get("PaymentCode")) or None,
        minor(row.get("CreditLimitCustomerCurrency"), currency, field="CreditLimitCustomerCurrency"),
        minor(row.get("BalanceDueInCustomerCurrency"), currency, field="BalanceDueInCustomerCurrency"),
        parse_date(row.get("DateLastMaintained"), field="DateLastMaintained"),
    )


# -- GL accounts ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GLAccount:
    account_number: str | None  # formatted, e.g. 1000 or 6000-100
    unformatted_account: str | None
    description: str | None
    account_type: str | None
    normal_balance: str | None  # NormalBalanceDRCR: Debit / Credit
    status: str | None
    post_to_account: str | None
    group_code: str | None

    @property
    def is_active(self) -> bool:
        return (self.status or "Active").lower() == "active"


def parse_gl_account(row: Mapping[str, Any]) -> GLAccount:
    return GLAccount(
        _str(row.get("AccountNumber")), _str(row.get("UnformattedAccount")), _str(row.get("Description")) or None,
        _str(row.get("AccountType")), _str(row.get("NormalBalanceDRCR")), _str(row.get("Status")),
        _str(row.get("PostToAccount")), _str(row.get("AccountGroupCode")) or None,
    )


# -- invoice batches (ARInvoiceBatches), read when PaySync verifies its own test data ---------------------------------

@dataclass(frozen=True)
class InvoiceEntry:
    batch_number: int | None
    entry_number: int | None
    customer_number: str | None
    document_number: str | None
    document_type: str | None
    order_number: str | None
    document_date: date | None
    due_date: date | None
    currency: str
    total_minor: int | None  # DocumentTotalIncludingTax, else the payment schedules' AmountDue


def parse_invoice_entry(row: Mapping[str, Any]) -> InvoiceEntry:
    currency = _str(row.get("CurrencyCode")) or "USD"
    total = minor(row.get("DocumentTotalIncludingTax"), currency, field="DocumentTotalIncludingTax")
    if total is None:
        schedules = [s for s in row.get("InvoicePaymentSchedules") or () if isinstance(s, dict)]
        amounts = [minor(s.get("AmountDue"), currency, field="AmountDue") for s in schedules]
        total = sum(a for a in amounts if a is not None) if any(a is not None for a in amounts) else None
    return InvoiceEntry(
        parse_int(row.get("BatchNumber"), field="BatchNumber"), parse_int(row.get("EntryNumber"), field="EntryNumber"),
        _str(row.get("CustomerNumber")), _str(row.get("DocumentNumber")) or None, _str(row.get("DocumentType")),
        _str(row.get("OrderNumber")) or None, parse_date(row.get("DocumentDate"), field="DocumentDate"),
        parse_date(row.get("DueDate"), field="DueDate"), currency, total,
    )


@dataclass(frozen=True)
class InvoiceBatch:
    batch_number: int | None
    batch_date: date | None
    description: str | None
    status: str | None
    invoices: tuple[InvoiceEntry, ...]


def parse_invoice_batch(row: Mapping[str, Any]) -> InvoiceBatch:
    return InvoiceBatch(
        parse_int(row.get("BatchNumber"), field="BatchNumber"), parse_date(row.get("BatchDate"), field="BatchDate"),
        _str(row.get("Description")) or None, _str(row.get("BatchStatus")),
        tuple(parse_invoice_entry(i) for i in row.get("Invoices") or () if isinstance(i, dict)),
    )
