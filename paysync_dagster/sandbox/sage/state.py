"""In-memory store of the Sage 300 sandbox: one company's customers, batches, posted documents and
receipts, GL accounts and batches, OE orders, banks, users and cookie sessions.

Every read and write happens under the state's re-entrant lock (handlers run in Starlette's thread
pool; the control API and tests call in from other threads). Writes are validate-then-apply: a
handler works on a copy of the one batch it changes and swaps it in only when the whole batch is
valid, and a posting run checks every batch before it changes any document, so a refused request
leaves nothing half-done, without copying the whole store.

Rows are dicts of typed values (see :mod:`.schema`). Posted documents are indexed by document
number and by customer, because every receipt applies to them and every cash-application lookup
filters them by number.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from .schema import POSTED_DOCUMENT, blank

DEFAULT_COMPANY = "SAMLTD"
DEFAULT_USERS: Mapping[str, str] = {"PAYSYNC": "PAYSYNC", "ADMIN": "ADMIN"}
DEFAULT_PAGE_SIZE = 100
DEFAULT_SESSION_IDLE_S = 1200.0  # ASP.NET's default session timeout (20 minutes)
CURRENCY = "USD"

# The chart the sandbox posts to besides the mapping's accounts (Sage sample-company style numbers).
AR_CONTROL_ACCOUNT = "1200-000"
REVENUE_ACCOUNT = "4000-000"
OPERATING_BANK_ACCOUNT = "1020-000"
DEFAULT_BANK = "PAYTRACE"
#: the customer a company set up for PaySync holds unidentified card receipts on (mapping receipts.sage)
SUSPENSE_CUSTOMER = "SUSPENSE"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Session:
    user: str
    last_seen: float
    expired: bool = False


@dataclass
class Store:
    """Everything ``reset`` puts back; deep-copied once as the baseline after seeding."""

    customers: dict[str, dict] = field(default_factory=dict)
    invoice_batches: dict[int, dict] = field(default_factory=dict)
    receipt_batches: dict[tuple[str, int], dict] = field(default_factory=dict)
    refund_batches: dict[int, dict] = field(default_factory=dict)
    documents: dict[tuple[str, str], dict] = field(default_factory=dict)
    docs_by_number: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    docs_by_customer: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    receipts: dict[tuple, dict] = field(default_factory=dict)
    gl_accounts: dict[str, dict] = field(default_factory=dict)
    gl_batches: dict[str, dict] = field(default_factory=dict)
    orders: dict[int, dict] = field(default_factory=dict)
    banks: dict[str, dict] = field(default_factory=dict)
    # Next numbers: batches per kind, document numbers per prefix, posting sequences per ledger.
    numbers: Counter = field(default_factory=Counter)
    # Internal per-document facts the wire rows do not show (payment count, which batch made it).
    doc_payments: dict[tuple[str, str], int] = field(default_factory=dict)
    gl_done: set[tuple[str, int]] = field(default_factory=set)  # (ledger, batch number) already sent to GL
    # What unposted batches hold against posted documents, so that two batches cannot both spend one
    # balance: ("applied", customer, document) = receipts applied to it; ("drawn", customer, document)
    # = a credit (prepayment, unapplied cash, credit note) applied elsewhere or refunded.
    pending: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)


class SageState:
    """The company database and the site's settings. ``clock`` returns an aware UTC datetime."""

    def __init__(self, *, company: str = DEFAULT_COMPANY, users: Mapping[str, str] | None = None,
                 allow_admin: bool = False, page_size: int = DEFAULT_PAGE_SIZE,
                 clock: Callable[[], datetime] = utc_now, session_idle_s: float | None = DEFAULT_SESSION_IDLE_S,
                 monotonic: Callable[[], float] = time.monotonic):
        self.lock = threading.RLock()
        self.company = company.upper()
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.allow_admin = allow_admin  # the site's AllowWebApiAccessForAdmin
        self.page_size = page_size
        self.clock = clock
        self.monotonic = monotonic
        self.session_idle_s = session_idle_s
        # An expired session cookie sent with Basic credentials: served with a new session (False) or
        # refused with 500 SessionError until the client drops the cookie (True).
        self.session_error_on_expired = False
        self.database_offline = False  # every API call answers 500 DBLinkError (the company database is down)
        self.business_date: date | None = None
        self._startup_settings = (page_size, allow_admin, session_idle_s)
        self.store = Store()
        self._baseline: Store | None = None
        self.sessions: dict[str, Session] = {}

    # -- time and numbering ------------------------------------------------------------------------

    def today(self) -> date:
        return self.business_date or self.clock().astimezone(timezone.utc).date()

    def next_number(self, what: str, start: int = 1) -> int:
        """The next value of a sequence (batch numbers, document numbers, posting sequences)."""
        n = self.store.numbers[what] or start
        self.store.numbers[what] = n + 1
        return n

    def document_number(self, prefix: str, digits: int = 6) -> str:
        """The next ``PY000020``-style document number of a prefix, skipping numbers already used."""
        while True:
            text = f"{prefix}{self.next_number('doc:' + prefix):0{digits}d}"
            if text not in self.store.docs_by_number:
                return text

    def count(self, what: str, n: int = 1) -> None:
        self.store.counters[what] += n

    # -- baseline and reset ------------------------------------------------------------------------

    def mark_baseline(self) -> None:
        with self.lock:
            self._baseline = copy.deepcopy(self.store)

    def reset(self, *, empty: bool = False) -> None:
        with self.lock:
            self.store = Store() if empty or self._baseline is None else copy.deepcopy(self._baseline)
            self.business_date = None
            self.page_size, self.allow_admin, self.session_idle_s = self._startup_settings
            self.session_error_on_expired = False
            self.database_offline = False
            self.sessions.clear()

    # -- sessions ----------------------------------------------------------------------------------

    def new_session(self, user: str) -> str:
        with self.lock:
            sid = secrets.token_hex(12)
            self.sessions[sid] = Session(user, self.monotonic())
            self.count("sessions_started")
            return sid

    def session(self, sid: str | None) -> Session | None:
        """The session of a cookie (expired ones too; ``expired`` says which), idle timeout applied."""
        if not sid:
            return None
        with self.lock:
            s = self.sessions.get(sid)
            if s is None:
                return None
            now = self.monotonic()
            if not s.expired and self.session_idle_s is not None and now - s.last_seen > self.session_idle_s:
                s.expired = True
            if not s.expired:
                s.last_seen = now
            return s

    def expire_sessions(self) -> int:
        """Expire every live session (the cookies stay known, as expired); returns how many."""
        with self.lock:
            live = [s for s in self.sessions.values() if not s.expired]
            for s in live:
                s.expired = True
            return len(live)

    # -- look-ups ----------------------------------------------------------------------------------

    def customer(self, number: str | None) -> dict | None:
        return self.store.customers.get(number) if number else None

    def document(self, customer: str, number: str) -> dict | None:
        return self.store.documents.get((customer, number))

    def documents_numbered(self, number: str) -> list[dict]:
        return [self.store.documents[k] for k in self.store.docs_by_number.get(number, ())]

    def documents_of(self, customer: str) -> list[dict]:
        return [self.store.documents[k] for k in self.store.docs_by_customer.get(customer, ())]

    def add_document(self, values: Mapping[str, Any], payments: int = 1) -> dict:
        """A posted document (AROBL row); amounts due follow the invoice amount unless given."""
        row = blank(POSTED_DOCUMENT)
        row.update(values)
        if "CustomerCurrencyAmountDue" not in values:
            row["CustomerCurrencyAmountDue"] = row["CustomerCurrencyInvoiceAmount"]
        row["FunctionalCurrencyInvoiceAmount"] = row["CustomerCurrencyInvoiceAmount"]
        row["FunctionalCurrencyAmountDue"] = row["CustomerCurrencyAmountDue"]
        row["CurrencyCode"] = row["CurrencyCode"] or CURRENCY
        if "FullyPaid" not in values:
            row["FullyPaid"] = "Yes" if row["CustomerCurrencyAmountDue"] == 0 else "No"
        key = (row["CustomerNumber"], row["DocumentNumber"])
        s = self.store
        if key in s.documents:
            raise KeyError(f"document {key} exists")
        s.documents[key] = row
        s.docs_by_number.setdefault(key[1], []).append(key)
        s.docs_by_customer.setdefault(key[0], []).append(key)
        s.doc_payments[key] = payments
        return row

    def settle(self, doc: dict, change: Decimal, on: date) -> None:
        """Move a document's amount due by ``change`` (an application lowers an invoice's, raises a
        prepayment's toward zero); paid in full at zero."""
        due = doc["CustomerCurrencyAmountDue"] + change
        doc["CustomerCurrencyAmountDue"] = due
        doc["FunctionalCurrencyAmountDue"] = due
        doc["DateLastActivity"] = on
        if due == 0:
            doc["FullyPaid"], doc["DatePaid"] = "Yes", on
        else:
            doc["FullyPaid"], doc["DatePaid"] = "No", None

    def balance_of(self, customer: str) -> Decimal:
        return sum((d["CustomerCurrencyAmountDue"] for d in self.documents_of(customer)), Decimal(0))

    def counts(self) -> dict[str, int]:
        with self.lock:
            s = self.store
            open_docs = sum(1 for d in s.documents.values() if d["CustomerCurrencyAmountDue"] != 0)
            return {"customers": len(s.customers), "documents": len(s.documents), "open_documents": open_docs,
                    "invoice_batches": len(s.invoice_batches), "receipt_batches": len(s.receipt_batches),
                    "refund_batches": len(s.refund_batches), "posted_receipts": len(s.receipts),
                    "gl_accounts": len(s.gl_accounts), "gl_batches": len(s.gl_batches), "orders": len(s.orders),
                    "banks": len(s.banks), **dict(sorted(s.counters.items()))}
