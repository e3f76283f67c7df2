"""What an ERP offers the posting loop (``ErpAdapter``), the records it speaks, and its three errors.

ERP-neutral: Oracle Fusion and Sage 300 each implement :class:`ErpAdapter`. Everything about
exactly-once lives in :mod:`.poster` and :mod:`.ledger`, once, for every ERP; an adapter only
translates (and batches, when its API can).

Errors an adapter raises, and what the poster does with them:

- :class:`OutcomeUnknown`: the ERP may or may not have acted (timeout after send, connection lost,
  5xx after send, an answer that cannot be read). The poster looks the effect up before any resend.
  A posting fact, not an HTTP one: adapters translate their client's errors into it.
- :class:`RejectedError`: the ERP refused; nothing was done. ``code`` is its message code.
  :class:`DuplicateError`: the ERP refused because the record exists already (the poster looks it
  up and records it).
- :class:`UnavailableError`: the ERP could not be reached or kept refusing to serve (429/503 after
  every retry); nothing was done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, runtime_checkable

from paysync_dagster.lib.posting.matching import OpenInvoice

__all__ = ["AfterRun", "AppliesWithReceipt", "ChartOfAccounts", "ApplySpec", "DuplicateError", "ErpAdapter", "ErpReceipt", "FetchedInvoice", "OutcomeUnknown", "ReceiptSpec",
           "RejectedError", "UnavailableError"]


class OutcomeUnknown(Exception):
    """The ERP may or may not have done what was asked: look it up before sending it again."""


class RejectedError(Exception):
    """The ERP refused the request; ``code`` is its message code (e.g. AR_RCP_DUP_NUM)."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


class DuplicateError(RejectedError):
    """The ERP refused a create because the record exists already (Oracle AR_RCP_DUP_NUM, Sage RecordDuplicate)."""


class UnavailableError(Exception):
    """The ERP did not serve the request (unreachable, or 429/503 after every retry): nothing was done."""


@dataclass(frozen=True)
class ReceiptSpec:
    reference: str  # the receipt number, deterministic from the PayTrace transaction id
    amount_minor: int
    currency: str
    receipt_date: date
    customer_account: str  # empty: an unidentified receipt
    comments: str = ""
    # (invoice number, target id, amount) sent with the receipt when the adapter applies with the
    # receipt (``applies_with_receipt``); empty otherwise
    applications: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True)
class ErpReceipt:
    erp_id: str
    reference: str
    amount_minor: int
    currency: str
    customer_account: str = ""
    unapplied_minor: int | None = None  # None when not read from the ERP
    reversed: bool = False


@dataclass(frozen=True)
class FetchedInvoice:
    """An open invoice as read from the ERP, with what its ``<erp>_open_invoices`` row shows."""

    invoice: OpenInvoice
    customer_name: str
    transaction_date: str
    original_minor: int


@dataclass(frozen=True)
class ApplySpec:
    receipt: ErpReceipt
    invoice_number: str
    target_id: str  # the ERP's id of what cash is applied to (an Oracle installment)
    amount_minor: int
    apply_date: date


class ErpAdapter(Protocol):
    """One ERP. ``batch_size``: receipts created or looked up per request; ``apply_batch_size``:
    applications per request (1: no batching). ``applies_with_receipt``: the receipt's create carries
    its applications and the ERP applies them itself (Oracle: remittance references that AutoMatch
    applies), so a receipt costs one call, and the adapter is also an :class:`AppliesWithReceipt`;
    otherwise each application is a call of its own. ``refunds_by_credit_note``: a refund of cash the
    receipt applied draws on a credit note the adapter enters, so the invoices stay paid (Sage 300);
    otherwise the refund takes the cash off the receipt's applications, last first, and the invoices
    reopen by it (Oracle)."""

    name: str
    batch_size: int
    apply_batch_size: int
    applies_with_receipt: bool
    refunds_by_credit_note: bool

    def customer_accounts(self) -> list[dict[str, Any]]:
        """Every customer account: ``account_number`` and ``name`` at least."""
        ...

    def open_invoices(self, as_of: date | None = None) -> tuple[list[FetchedInvoice], list[dict[str, Any]]]:
        """The open invoices dated on or before ``as_of`` (balance > 0), and the customer accounts."""
        ...

    def find_receipts(self, references: Sequence[str]) -> Mapping[str, ErpReceipt]:
        """The receipts that exist, by reference (a read: never changes anything)."""
        ...

    def create_receipts(self, specs: Sequence[ReceiptSpec]) -> Mapping[str, str]:
        """Create every receipt, all or none; returns reference -> ERP id."""
        ...

    def apply(self, items: Sequence[ApplySpec]) -> None:
        """Apply cash, all or none (each item a new application of its amount)."""
        ...

    def applications(self, receipt: ErpReceipt) -> Mapping[str, int]:
        """What the receipt has applied now, by target id (active applications only)."""
        ...

    def set_application(self, receipt: ErpReceipt, target_id: str, amount_minor: int) -> None:
        """Make the receipt's application on ``target_id`` exactly ``amount_minor``, from whatever it is
        now (so that repeating it after an uncertain outcome converges instead of doubling)."""
        ...

    def set_customer(self, receipt: ErpReceipt, customer_account: str) -> None:
        """Give an unidentified receipt its customer (setting the same account again changes nothing)."""
        ...

    def reverse(self, receipt: ErpReceipt, category: str, reason: str) -> None:
        """Reverse the receipt (every application is undone)."""
        ...

    def refund_marks(self, receipt: ErpReceipt) -> Mapping[str, int]:
        """The refunds recorded on the receipt: refund reference -> amount."""
        ...

    def mark_refund(self, receipt: ErpReceipt, reference: str, amount_minor: int, reason: str) -> None:
        """Record on the receipt that ``amount_minor`` of it was refunded under ``reference``."""
        ...



@runtime_checkable
class AppliesWithReceipt(Protocol):
    """An optional capability: the ERP applies cash itself from references the receipt carries
    (Oracle: remittance references that AutoMatch applies). Only an adapter whose
    ``applies_with_receipt`` is true is asked for it."""

    def add_references(self, receipt: ErpReceipt, references: Sequence[tuple[str, int]]) -> None:
        """Add (invoice number, amount) references to a receipt that exists, for the ERP's own
        matching to apply (each reference once: not repeatable)."""
        ...

    def references(self, receipt: ErpReceipt) -> Mapping[str, int]:
        """The invoices the receipt names for the ERP's own matching: invoice number -> amount."""
        ...


@runtime_checkable
class AfterRun(Protocol):
    """An optional capability: something the ERP needs once a posting run has sent a date's receipts
    (Sage 300: post PaySync's batch of the date and create its GL batch, when the mapping says so)."""

    def after_run(self, day: date) -> Any:
        """Finish the date's posting; safe to repeat (what was finished is not done again)."""
        ...


@runtime_checkable
class ChartOfAccounts(Protocol):
    """An optional capability: the ERP offers its chart of accounts, so the mapping file's GL accounts
    are checked against what it holds (Sage 300: ``GL/GLAccounts``)."""

    def gl_accounts(self) -> set[str]:
        """Every account the ERP holds, formatted and unformatted."""
        ...
