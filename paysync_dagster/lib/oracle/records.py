"""Typed records of Oracle Fusion REST answers, with money in integer minor units.

Each ``parse_*`` takes an item (a dict as Oracle returns it, possibly cut short: every field is
optional) and returns a small frozen dataclass. Amounts go through :func:`paysync_dagster.lib.money.to_minor`
with the currency the item names (``Currency``, ``InvoiceCurrencyCode``, ``EnteredCurrency``; USD when
absent), so an amount sent as ``"451.23"`` or ``451.23`` reads the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from paysync_dagster.lib import money
from paysync_dagster.lib.oracle.errors import OracleMessage, OracleResponseError, parse_error_body

Json = dict[str, Any]


def _minor(value: Any, currency: str | None) -> int | None:
    if value is None or value == "":
        return None
    return money.to_minor(value, currency or "USD")


def self_href(item: Mapping[str, Any]) -> str | None:
    """The ``self`` link of an item (follow it rather than building keys: they may be hashes)."""
    for link in item.get("links") or ():
        if isinstance(link, dict) and link.get("rel") == "self":
            return link.get("href")
    return None


@dataclass(frozen=True)
class Page:
    items: list[Json]
    count: int
    has_more: bool
    limit: int | None
    offset: int | None
    total_results: int | None


def parse_page(body: Any, *, path: str = "") -> Page:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise OracleResponseError("a collection answer without an items array", path=path)
    items = [i for i in body["items"] if isinstance(i, dict)]
    return Page(items, int(body.get("count", len(items))), bool(body.get("hasMore", False)),
                body.get("limit"), body.get("offset"), body.get("totalResults"))


@dataclass(frozen=True)
class Receipt:
    receipt_id: int | None
    receipt_number: str | None
    receipt_date: str | None
    amount_minor: int | None
    currency: str
    unapplied_minor: int | None
    customer_account_number: str | None
    status: str | None
    state: str | None
    href: str | None


def parse_receipt(item: Mapping[str, Any]) -> Receipt:
    currency = item.get("Currency") or "USD"
    return Receipt(item.get("StandardReceiptId"), item.get("ReceiptNumber"), item.get("ReceiptDate"),
                   _minor(item.get("Amount"), currency), currency, _minor(item.get("UnappliedAmount"), currency),
                   item.get("CustomerAccountNumber"), item.get("Status"), item.get("State"), self_href(item))


@dataclass(frozen=True)
class RemittanceReference:
    reference_id: int | None
    match_by: str | None
    reference_number: str | None
    amount_minor: int | None
    created_by: str | None


def parse_remittance_reference(item: Mapping[str, Any], currency: str = "USD") -> RemittanceReference:
    return RemittanceReference(item.get("RemittanceReferenceId"), item.get("ReceiptMatchBy"),
                               item.get("ReferenceNumber"), _minor(item.get("ReferenceAmount"), currency),
                               item.get("CreatedBy"))


@dataclass(frozen=True)
class Invoice:
    invoice_id: int | None
    transaction_number: str | None
    transaction_date: str | None
    due_date: str | None
    customer_account_number: str | None
    currency: str
    status: str | None
    total_minor: int | None  # EnteredAmount [unverified name]
    balance_minor: int | None  # InvoiceBalanceAmount [3P name]
    href: str | None


def parse_invoice(item: Mapping[str, Any]) -> Invoice:
    currency = item.get("InvoiceCurrencyCode") or "USD"
    return Invoice(item.get("CustomerTransactionId"), item.get("TransactionNumber"), item.get("TransactionDate"),
                   item.get("DueDate"), item.get("BillToCustomerNumber"), currency, item.get("InvoiceStatus"),
                   _minor(item.get("EnteredAmount"), currency), _minor(item.get("InvoiceBalanceAmount"), currency),
                   self_href(item))


@dataclass(frozen=True)
class Installment:
    installment_id: int | None
    number: int | None
    due_date: str | None
    original_minor: int | None
    balance_minor: int | None


def parse_installment(item: Mapping[str, Any], currency: str = "USD") -> Installment:
    return Installment(item.get("InstallmentId"), item.get("InstallmentSequenceNumber"), item.get("InstallmentDueDate"),
                       _minor(item.get("OriginalAmount"), currency), _minor(item.get("InstallmentBalanceDue"), currency))


@dataclass(frozen=True)
class PaymentSchedule:
    installment_id: int | None
    transaction_id: int | None
    transaction_number: str | None
    number: int | None
    status: str | None
    due_date: str | None
    currency: str
    original_minor: int | None
    balance_minor: int | None


def parse_payment_schedule(item: Mapping[str, Any]) -> PaymentSchedule:
    currency = item.get("EnteredCurrency") or "USD"
    return PaymentSchedule(item.get("InstallmentId"), item.get("TransactionId"), item.get("TransactionNumber"),
                           item.get("InstallmentNumber"), item.get("InstallmentStatus"),
                           item.get("PaymentScheduleDueDate"), currency, _minor(item.get("TotalOriginalAmount"), currency),
                           _minor(item.get("TotalBalanceAmount"), currency))


APPLIED_STATUSES = ("APPLIED", "APP")  # ApplicationStatus of an active application (display name or code)
UNAPPLIED_STATUSES = ("UNAPPLIED", "UNAPP")


@dataclass(frozen=True)
class ReceiptApplication:
    """A row of receivablesCustomerAccountActivities' ``standardReceiptApplications`` child.

    Its attribute names come from third-party lists of the resource (spec §3.1, "Reading
    applications"): ``ApplicationAmount`` in ``EnteredCurrency``, ``ApplicationStatus``, and the invoice
    installment (payment schedule id) as ``ReferenceInstallmentId``. Every field may be missing (None),
    and so is an amount that cannot be read."""

    application_id: int | str | None
    receipt_id: int | str | None
    receipt_number: str | None
    installment_id: str | None  # ReferenceInstallmentId, as text (the id applyReceipt was keyed by)
    transaction_id: int | str | None
    transaction_number: str | None
    transaction_status: str | None
    amount_minor: int | None
    currency: str
    status: str | None
    application_date: str | None
    accounting_date: str | None

    @property
    def applied(self) -> bool | None:
        """True for an active application, False for an unapplied one, None when the status is unreadable."""
        status = str(self.status or "").strip().upper()
        if status in APPLIED_STATUSES:
            return True
        if status in UNAPPLIED_STATUSES:
            return False
        return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _id_text(value: Any) -> str | None:
    """An id as text: ``300100200000001``, ``"300100200000001"`` and ``300100200000001.0`` read the same."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _text(value)


def parse_application(item: Mapping[str, Any], currency: str = "USD") -> ReceiptApplication:
    """Read by name, tolerating missing attributes; ``currency`` is the receipt's, for rows without
    ``EnteredCurrency``."""
    cur = _text(item.get("EnteredCurrency")) or currency or "USD"
    try:
        amount = _minor(item.get("ApplicationAmount"), cur)
    except (ValueError, TypeError, ArithmeticError):  # MoneyError is a ValueError
        amount = None
    return ReceiptApplication(
        item.get("ApplicationId"), item.get("StandardReceiptId"), _text(item.get("ReceiptNumber")),
        _id_text(item.get("ReferenceInstallmentId")), item.get("ReferenceTransactionId"),
        _text(item.get("ReferenceTransactionNumber")), _text(item.get("ReferenceTransactionStatus")), amount, cur,
        _text(item.get("ApplicationStatus")), _text(item.get("ApplicationDate")), _text(item.get("AccountingDate")))


@dataclass(frozen=True)
class AccountActivity:
    """A row of receivablesCustomerAccountActivities or ...SiteActivities (sample 10)."""

    account_id: int | None
    account_number: str | None
    customer_name: str | None
    customer_id: int | None
    site_use_id: int | None
    site_number: str | None
    open_receivables_minor: int | None


def parse_account_activity(item: Mapping[str, Any], currency: str = "USD") -> AccountActivity:
    open_ = item.get("TotalOpenReceivablesForSite", item.get("TotalOpenReceivables"))
    return AccountActivity(item.get("AccountId"), item.get("AccountNumber"), item.get("CustomerName"),
                           item.get("CustomerId"), item.get("BillToSiteUseId"), item.get("BillToSiteNumber"),
                           _minor(open_, currency))


@dataclass(frozen=True)
class SalesOrder:
    header_id: int | None
    order_number: str | None
    source_transaction_system: str | None
    source_transaction_id: str | None
    source_transaction_number: str | None
    business_unit: str | None
    buying_party_id: int | None
    status: str | None
    order_key: str | None  # from the self link, else SourceTransactionSystem:SourceTransactionId
    href: str | None


def parse_sales_order(item: Mapping[str, Any]) -> SalesOrder:
    href = self_href(item)
    key = unquote(href.rstrip("/").rsplit("/", 1)[-1]) if href else None
    if key is None and item.get("SourceTransactionSystem") and item.get("SourceTransactionId"):
        key = f"{item['SourceTransactionSystem']}:{item['SourceTransactionId']}"
    return SalesOrder(item.get("HeaderId"), item.get("OrderNumber"), item.get("SourceTransactionSystem"),
                      item.get("SourceTransactionId"), item.get("SourceTransactionNumber"), item.get("BusinessUnitName"),
                      item.get("BuyingPartyId"), item.get("StatusCode"), key, href)


@dataclass(frozen=True)
class BatchPart:
    id: Any
    path: str | None
    operation: str | None
    payload: Any
    messages: list[OracleMessage]


def parse_batch_response(body: Any, *, path: str = "") -> list[BatchPart]:
    """Parts of a batch answer; a part whose payload is an error carries its messages."""
    if not isinstance(body, dict) or not isinstance(body.get("parts"), list):
        raise OracleResponseError("a batch answer without a parts array", path=path)
    out = []
    for part in body["parts"]:
        if not isinstance(part, dict):
            continue
        payload = part.get("payload")
        messages: list[OracleMessage] = []
        if isinstance(payload, dict) and ("o:errorDetails" in payload or ("title" in payload and "status" in payload)):
            messages = parse_error_body(json.dumps(payload), "application/json")
        elif isinstance(payload, str):
            messages = parse_error_body(payload)
        out.append(BatchPart(part.get("id"), part.get("path"), part.get("operation"), payload, messages))
    return out


@dataclass(frozen=True)
class FrameworkVersions:
    version: str | None
    default: int | None
    allowed: tuple[int, ...]


def parse_framework_versions(body: Any) -> FrameworkVersions:
    """The context root's answer (sample 13): the latest resource version and its framework versions."""
    items = body.get("items") if isinstance(body, dict) else None
    if not items:
        raise OracleResponseError("a context-root answer without items")
    latest = next((i for i in items if isinstance(i, dict) and i.get("isLatest")), items[0])
    ext = latest.get("adf:extension") or {}
    default = ext.get("defaultFrameworkVersion")
    return FrameworkVersions(latest.get("version"), int(default) if default not in (None, "") else None,
                             tuple(int(v) for v in ext.get("allowedFrameworkVersions") or ()))
