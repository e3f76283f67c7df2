"""In-memory store of the Oracle Fusion sandbox: customers, invoices, credit memos, receipts, orders, tokens.

One :class:`OracleState` per sandbox. Every read and write happens under its re-entrant lock (HTTP
handlers run in Starlette's thread pool, the control API and tests call in from other threads), and
:meth:`OracleState.transaction` gives the all-or-nothing semantics of the batch endpoint by taking a
deep copy of the store and putting it back when the block raises.

Records are small dataclasses holding the wire attributes a client sent (``fields``) next to the
values the sandbox computes with (integer minor units, ids). Rendering to JSON lives in the
resource modules. Domain refusals are raised as :class:`ApiError`, which the app renders either as
Oracle's plain-text body or as ``o:errorDetails`` JSON.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

DEFAULT_USERS: Mapping[str, str] = {"paysync.integration": "paysync-demo-password"}
DEFAULT_BUSINESS_UNITS = ("Vision Operations", "US1 Business Unit")
DEFAULT_RECEIPT_METHODS = ("Manual", "ACH", "Check", "Credit Card", "Wire", "Lockbox", "PayTrace Card", "Card on File",
                           "Card Refund")
OBSOLETE_RECEIPT_METHODS = ("Bills of Exchange", "BOE Remittance")
DEFAULT_CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "MXN")
LEDGER_CURRENCY = "USD"
SANDBOX_USER = "PAYSYNC_SANDBOX"

# 15-digit surrogate keys like Oracle's (300100153164586); TCA ids like sample 10's (100100148385906).
FIRST_ID = 300100200000001
FIRST_PARTY_ID = 100100150000001


class ApiError(Exception):
    """A request Oracle would refuse: HTTP status and one or more (message text, message code)."""

    def __init__(self, status: int, detail: str, code: str | None = None, *,
                 more: tuple[tuple[str, str | None], ...] = (), headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.messages: list[tuple[str, str | None]] = [(detail, code), *more]
        self.headers = dict(headers or {})

    @classmethod
    def many(cls, status: int, messages: list[tuple[str, str | None]]) -> ApiError:
        return cls(status, messages[0][0], messages[0][1], more=tuple(messages[1:]))


def required_attribute(name: str) -> tuple[str, str]:
    """FND_CMN_REQ_ATTRIB_API_SERV with its placeholder filled (sample 11)."""
    return f"You must provide a value for the attribute {name}.", "FND_CMN_REQ_ATTRIB_API_SERV"


@dataclass
class Customer:
    """A TCA party with one customer account and one primary bill-to site (the sandbox's simplification)."""

    account_id: int
    account_number: str
    customer_id: int  # party id
    party_number: str
    customer_name: str
    site_use_id: int
    site_number: str
    site_address: str
    email: str | None
    created: str


@dataclass
class InvoiceLine:
    id: int
    number: int
    fields: dict[str, Any]
    amount_minor: int


@dataclass
class Installment:
    """An invoice installment = an AR payment schedule; its id is the ``appliedPaymentScheduleId``."""

    id: int
    invoice_id: int
    number: int
    due_date: str
    original_minor: int
    balance_minor: int


@dataclass
class Invoice:
    id: int
    number: str
    account_id: int
    currency: str
    fields: dict[str, Any]
    lines: list[InvoiceLine]
    installments: list[Installment]
    created: str
    updated: str
    version: int = 1

    @property
    def total_minor(self) -> int:
        return sum(i.original_minor for i in self.installments)

    @property
    def balance_minor(self) -> int:
        return sum(i.balance_minor for i in self.installments)

    @property
    def complete(self) -> bool:
        return self.fields.get("InvoiceStatus") == "Complete"


@dataclass
class CreditMemo:
    """A receivables credit memo (``receivablesCreditMemos``). ``amount_minor`` is the credit as a
    positive number; Oracle prints it negative (``EnteredAmount``)."""

    id: int
    number: str
    account_id: int
    currency: str
    amount_minor: int
    fields: dict[str, Any]
    created: str
    updated: str
    version: int = 1


@dataclass
class Application:
    """A receipt application to an installment; unapplying keeps the row with status UNAPP (history)."""

    id: int
    receipt_id: int
    installment_id: int
    invoice_id: int
    amount_minor: int
    apply_date: str
    gl_date: str
    called_from: str | None
    status: str = "APP"  # APP (active) or UNAPP (unapplied or reversed)
    unapplied_on: str | None = None


@dataclass
class RemittanceReference:
    id: int
    fields: dict[str, Any]
    created: str
    updated: str


@dataclass
class Receipt:
    id: int
    fields: dict[str, Any]  # wire attributes; Amount exactly as the client sent it (string or number)
    amount_minor: int
    currency: str
    account_id: int | None
    created: str
    updated: str
    remittance_references: list[RemittanceReference] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    reversal: dict[str, Any] | None = None
    version: int = 1

    @property
    def applied_minor(self) -> int:
        return sum(a.amount_minor for a in self.applications if a.status == "APP")

    @property
    def unapplied_minor(self) -> int:
        return 0 if self.reversal else self.amount_minor - self.applied_minor


@dataclass
class OrderLine:
    id: int
    number: int
    fields: dict[str, Any]
    amount_minor: int


@dataclass
class SalesOrder:
    header_id: int
    order_key: str
    order_number: str
    account_id: int
    currency: str
    fields: dict[str, Any]
    lines: list[OrderLine]
    created: str
    updated: str
    invoice_id: int | None = None
    version: int = 1


@dataclass
class Store:
    """Everything a batch may have to roll back; deep-copied by :meth:`OracleState.transaction`."""

    customers: dict[int, Customer] = field(default_factory=dict)
    invoices: dict[int, Invoice] = field(default_factory=dict)
    receipts: dict[int, Receipt] = field(default_factory=dict)
    orders: dict[int, SalesOrder] = field(default_factory=dict)
    credit_memos: dict[int, CreditMemo] = field(default_factory=dict)
    credit_memo_numbers: dict[str, int] = field(default_factory=dict)  # TransactionNumber -> credit memo id
    installment_index: dict[int, int] = field(default_factory=dict)  # installment id -> invoice id
    # Indexes for the look-ups every posting makes (by number), so a big catalogue stays fast.
    invoice_numbers: dict[str, int] = field(default_factory=dict)  # TransactionNumber -> invoice id
    invoices_by_account: dict[int, list[int]] = field(default_factory=dict)  # account id -> invoice ids
    receipt_numbers: dict[str, list[int]] = field(default_factory=dict)  # ReceiptNumber -> receipt ids
    customer_numbers: dict[str, int] = field(default_factory=dict)  # account number -> account id
    next_id: int = FIRST_ID
    next_party_id: int = FIRST_PARTY_ID
    next_transaction_number: int = 100001
    next_order_number: int = 84001
    next_credit_memo_number: int = 700001
    counters: Counter = field(default_factory=Counter)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class OracleState:
    """The sandbox's data and configuration. ``clock`` returns an aware UTC datetime (tests fix it)."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        business_units: tuple[str, ...] = DEFAULT_BUSINESS_UNITS,
        receipt_methods: tuple[str, ...] = DEFAULT_RECEIPT_METHODS,
        currencies: tuple[str, ...] = DEFAULT_CURRENCIES,
        ledger_currency: str = LEDGER_CURRENCY,
        clock: Callable[[], datetime] = utc_now,
        default_framework_version: int = 1,
        batch_actions: tuple[str, ...] = (),
    ):
        self.lock = threading.RLock()
        # Custom actions a batch part may invoke (spec §5: "partly supported"); none by default.
        self.batch_actions = frozenset(batch_actions)
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.business_units = tuple(business_units)
        self.receipt_methods = tuple(receipt_methods)
        self.currencies = tuple(currencies)
        self.ledger_currency = ledger_currency
        self.clock = clock
        self.default_framework_version = default_framework_version
        self.business_date: date | None = None  # when set, "today" for defaults (control API /clock)
        self.acting_user = SANDBOX_USER  # the authenticated user of the call in progress (CreatedBy)
        self.store = Store()
        self._baseline: Store | None = None
        # Bearer tokens carry this generation; bumping it expires every token issued so far.
        self.token_generation = 0
        self.token_secret = secrets.token_bytes(32)

    # -- time ------------------------------------------------------------------------------------

    def today(self) -> str:
        return (self.business_date or self.clock().astimezone(timezone.utc).date()).isoformat()

    def now(self) -> str:
        """A timestamp as Fusion prints them: ISO-8601 with milliseconds and an explicit offset."""
        moment = self.clock().astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"

    # -- ids and transactions --------------------------------------------------------------------

    def new_id(self) -> int:
        self.store.next_id += 1
        return self.store.next_id - 1

    def new_party_id(self) -> int:
        self.store.next_party_id += 1
        return self.store.next_party_id - 1

    def count(self, what: str, n: int = 1) -> None:
        self.store.counters[what] += n

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: if the block raises, the store is put back as it was."""
        with self.lock:
            saved = copy.deepcopy(self.store)
            try:
                yield
            except BaseException:
                counters = self.store.counters  # statistics survive a rollback
                self.store = saved
                self.store.counters = counters
                raise

    def mark_baseline(self) -> None:
        """Remember the current store (after startup seeding) as what ``reset`` goes back to."""
        with self.lock:
            self._baseline = copy.deepcopy(self.store)

    def reset(self, *, empty: bool = False) -> None:
        with self.lock:
            self.store = Store() if empty or self._baseline is None else copy.deepcopy(self._baseline)
            self.business_date = None
            self.expire_tokens()

    def expire_tokens(self) -> int:
        with self.lock:
            self.token_generation += 1
            return self.token_generation

    # -- look-ups ------------------------------------------------------------------------------------

    def customer_by_number(self, number: Any) -> Customer | None:
        account_id = self.store.customer_numbers.get(str(number)) if number is not None else None
        return self.store.customers.get(account_id) if account_id is not None else None

    def customers_by_name(self, name: str) -> list[Customer]:
        return [c for c in self.store.customers.values() if c.customer_name == name]

    def installment(self, installment_id: int) -> tuple[Invoice, Installment] | None:
        invoice_id = self.store.installment_index.get(installment_id)
        invoice = self.store.invoices.get(invoice_id) if invoice_id is not None else None
        if invoice is None:
            return None
        inst = next((i for i in invoice.installments if i.id == installment_id), None)
        return (invoice, inst) if inst is not None else None

    def invoice_by_number(self, number: str) -> Invoice | None:
        invoice_id = self.store.invoice_numbers.get(number)
        return self.store.invoices.get(invoice_id) if invoice_id is not None else None

    def invoices_of(self, account_id: int) -> list[Invoice]:
        return [self.store.invoices[i] for i in self.store.invoices_by_account.get(account_id, ())]

    def receipts_numbered(self, number: str) -> list[Receipt]:
        return [self.store.receipts[i] for i in self.store.receipt_numbers.get(number, ())]

    def index_invoice(self, invoice: Invoice, *, remove: bool = False) -> None:
        s = self.store
        if remove:
            s.invoice_numbers.pop(invoice.number, None)
            s.invoices_by_account.get(invoice.account_id, []).remove(invoice.id)
        else:
            s.invoice_numbers[invoice.number] = invoice.id
            s.invoices_by_account.setdefault(invoice.account_id, []).append(invoice.id)

    def index_receipt(self, receipt: Receipt, *, remove: bool = False) -> None:
        ids = self.store.receipt_numbers.setdefault(str(receipt.fields["ReceiptNumber"]), [])
        if remove:
            ids.remove(receipt.id)
        else:
            ids.append(receipt.id)

    def add_customer(self, account_number: str, name: str, *, email: str | None = None,
                     address: str | None = None) -> Customer:
        """Create (or return the existing) account ``account_number`` with its party and bill-to site."""
        with self.lock:
            existing = self.customer_by_number(account_number)
            if existing is not None:
                return existing
            party_id, account_id, site_use_id = self.new_party_id(), self.new_party_id(), self.new_party_id()
            customer = Customer(
                account_id=account_id, account_number=account_number, customer_id=party_id,
                party_number=f"P{account_number}", customer_name=name, site_use_id=site_use_id,
                site_number=f"{account_number}-BILL", site_address=address or f"{name} bill-to address",
                email=email, created=self.now())
            self.store.customers[account_id] = customer
            self.store.customer_numbers[account_number] = account_id
            return customer

    def counts(self) -> dict[str, int]:
        with self.lock:
            s = self.store
            return {"customers": len(s.customers), "invoices": len(s.invoices), "receipts": len(s.receipts),
                    "applications": sum(1 for r in s.receipts.values() for a in r.applications if a.status == "APP"),
                    "sales_orders": len(s.orders), "credit_memos": len(s.credit_memos),
                    **dict(sorted(s.counters.items()))}
