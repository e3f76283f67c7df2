"""What a clerk keys into Sage Pro for a date's PayTrace payments: one proposal per payment, with its
keying-worksheet lines (PaySync never writes Sage Pro's tables: spec ``sage_pro.md`` §6).

Each approved card payment is matched to the open invoices (ARMAST) by the cash-application rules every
ERP uses (``lib/posting/matching.py``): the invoice number as typed or read, then the sales order
number (``ornum``), then the customer's PO number (``ponum``), then one-character typos of an invoice
number of the payer's ("fuzzy"), each with its rule and score; never by amount alone, never another
customer's invoice. The amount is shared among the invoices it names (``allocate``); what is left, or
a payment naming nothing, is an on-account line for the payer. A payer nobody can identify gets no
line (a receipt needs a customer in Sage Pro) but an exception; refunds, voids and chargebacks are
keyed by a person from the exception the proposal raises; declines and uncaptured authorizations need
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.posting.matching import NONE, OpenInvoice, Payer, ReferenceRules, allocate, match_payment

PROPOSED, ON_ACCOUNT, KEYED, SKIPPED, EXCEPTION = "proposed", "on_account", "keyed", "skipped", "exception"
RECEIPT_KINDS = ("sale", "capture")
LIVE_STATUSES = ("approved", "pending_settlement", "settled", "dispute_won", "captured")
TO_KEY_BY_HAND = ("refund", "void", "chargeback")


@dataclass(frozen=True)
class WorksheetLine:
    """One line of the keying worksheet: a cash receipt line as Sage Pro's ARCASH holds it."""

    batch: str
    customer_number: str
    invoice_number: str  # "" = on account
    amount_minor: int
    currency: str
    date: date
    reference: str  # the PayTrace transaction id (ARCASH.refno)


@dataclass(frozen=True)
class Proposal:
    """One payment of the date and what the clerk keys for it."""

    transaction_id: int
    business_date: date
    kind: str
    amount_minor: int
    currency: str
    outcome: str  # proposed | on_account | skipped | exception (keyed once Sage Pro shows it)
    customer_account: str = ""
    lines: tuple[WorksheetLine, ...] = ()
    rule: str = NONE
    score: float = 0.0
    tokens: tuple[str, ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()
    reason: str = ""
    exception: tuple[str, str, str] | None = None  # (reason code, reason, next step)
    keyed_minor: int = 0  # what Sage Pro shows keyed under the transaction's reference

    @property
    def applied_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines if line.invoice_number)

    @property
    def on_account_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines if not line.invoice_number)

    @property
    def invoices(self) -> tuple[str, ...]:
        return tuple(line.invoice_number for line in self.lines if line.invoice_number)


@dataclass
class Keyed:
    """What Sage Pro's ARCASH shows per reference (``refno``): amount and invoices."""

    amount_minor: int = 0
    invoices: set[str] = field(default_factory=set)


def batch_name(day: date) -> str:
    """The worksheet's batch: PS and the date's month and day (a Sage Pro batch is a short code; width
    not public, so kept to six characters)."""
    return f"PS{day:%m%d}"


def propose(payments: Iterable[Mapping[str, Any]], invoices: Mapping[str, OpenInvoice], rules: ReferenceRules,
            day: date, account_column: str) -> list[Proposal]:
    """One proposal per payment (``normalized_payments`` rows with the payer's Sage Pro account in
    ``account_column``); ``invoices``: the open ones by number. Invoices a proposal pays are less open
    for the next payment of the run, as they will be once keyed."""
    book = dict(invoices)
    batch = batch_name(day)
    out = []
    for p in sorted(payments, key=lambda p: int(p["transaction_id"])):
        proposal = _one(p, book, rules, day, batch, account_column)
        for line in proposal.lines:
            if line.invoice_number in book:
                inv = book[line.invoice_number]
                book[line.invoice_number] = inv.less(inv.erp_id or inv.number, line.amount_minor)
        out.append(proposal)
    return out


def _one(p: Mapping[str, Any], book: Mapping[str, OpenInvoice], rules: ReferenceRules, day: date, batch: str,
         account_column: str) -> Proposal:
    txn, kind, status = int(p["transaction_id"]), str(p["kind"]), str(p.get("status") or "")
    amount, currency = int(p["amount_minor"]), str(p["currency"])
    base = Proposal(txn, day, kind, amount, currency, SKIPPED)
    if kind in TO_KEY_BY_HAND:
        what = {"refund": "a refund", "void": "a void", "chargeback": "a chargeback"}[kind]
        return Proposal(txn, day, kind, amount, currency, EXCEPTION, reason=f"{what} in PayTrace",
                        exception=(f"{kind}_to_key", f"{what} of {format_amount(amount, currency)} in PayTrace: Sage "
                                                     "Pro is keyed by hand",
                                   "record it against the original receipt in Sage Pro, then resolve this exception"))
    if kind not in RECEIPT_KINDS or status not in LIVE_STATUSES:
        return Proposal(txn, day, kind, amount, currency, SKIPPED, reason=f"{kind} ({status or 'no status'}): "
                                                                          "nothing to key")
    payer = Payer(str(p.get(account_column) or ""), str(p.get("billing_name") or p.get("customer_name") or ""))
    open_now = {n: inv for n, inv in book.items() if inv.balance_minor > 0 and inv.currency == currency}
    m = match_payment(str(p.get("invoice_reference_raw") or p.get("invoice_reference") or ""),
                      str(p.get("description") or ""), amount, payer, open_now, rules)
    account = m.customer_account
    if not account:
        return Proposal(txn, day, kind, amount, currency, EXCEPTION, rule=m.rule, score=m.score, tokens=m.tokens,
                        rejected=m.rejected, reason="payer not identified",
                        exception=m.exception or ("unidentified_payer", "nobody could identify the payer; a Sage Pro "
                                                  "receipt needs a customer",
                                                  "find the customer, link the payer in customers.map, replay the date"))
    allocations, left = allocate(amount, m.invoices, rules.split)
    lines = [WorksheetLine(batch, account, a.invoice.number, a.amount_minor, currency, day, str(txn)) for a in allocations]
    if left > 0:
        lines.append(WorksheetLine(batch, account, "", left, currency, day, str(txn)))
    outcome = PROPOSED if allocations else ON_ACCOUNT
    reason = (f"applied to {', '.join(a.invoice.number for a in allocations)}" if allocations else "no open invoice named")
    if allocations and left:
        reason += f"; {format_amount(left, currency)} on account"
    return Proposal(txn, day, kind, amount, currency, outcome, account, tuple(lines), m.rule, m.score, m.tokens,
                    m.rejected, reason, m.exception)


def with_keyed(proposals: Sequence[Proposal], keyed: Mapping[str, Keyed]) -> list[Proposal]:
    """The proposals with what Sage Pro shows keyed under their reference: a proposal is keyed when
    ARCASH holds its reference for its whole amount."""
    out = []
    for p in proposals:
        k = keyed.get(str(p.transaction_id))
        if p.lines and k is not None:
            p = replace(p, keyed_minor=k.amount_minor,
                        outcome=KEYED if k.amount_minor == p.amount_minor else p.outcome,
                        reason=p.reason if k.amount_minor == p.amount_minor else
                        f"{p.reason}; Sage Pro shows {format_amount(k.amount_minor, p.currency)} keyed of "
                        f"{format_amount(p.amount_minor, p.currency)}")
        out.append(p)
    return out


def keyed_by_reference(rows: Iterable[tuple[str, str, int]]) -> dict[str, Keyed]:
    """(refno, invno, paidamt minor) rows of ARCASH -> what is keyed per reference."""
    out: dict[str, Keyed] = {}
    for refno, invno, amount in rows:
        k = out.setdefault(refno.strip(), Keyed())
        k.amount_minor += amount
        if invno.strip():
            k.invoices.add(invno.strip())
    return out
