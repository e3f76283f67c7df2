"""Cash application: which open invoices a payment pays, by which rule, with what confidence.

Rules in order: ``exact`` (the reference as typed is an invoice number), ``multiple`` (the payment
names several open invoices, in its reference and description), ``normalized`` (the reference after
normalization: prefix, zero padding, case, separators), ``fuzzy`` (the most similar open invoice
number of the customer, or of everyone when the customer is unknown, scoring at least the
threshold). A payment that matches nothing gets rule ``none`` with the best score seen, so a person
can see how close it came. ERP-neutral: an invoice is its number, customer, balance and the ERP ids
that cash is applied to (Oracle: installments; an ERP without installments has one target).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from paysync_dagster.lib.invoice_refs import invoice_refs_in_text

EXACT, MULTIPLE, NORMALIZED, FUZZY, NONE = "exact", "multiple", "normalized", "fuzzy", "none"


@dataclass(frozen=True)
class Target:
    """Where an application lands in the ERP (an Oracle installment = payment schedule)."""

    erp_id: str
    balance_minor: int
    due_date: str = ""


@dataclass(frozen=True)
class OpenInvoice:
    number: str
    customer_account: str
    balance_minor: int
    currency: str
    due_date: str = ""
    erp_id: str = ""
    targets: tuple[Target, ...] = ()  # in due order; empty = the invoice itself (erp_id) is the target

    def application_targets(self) -> tuple[Target, ...]:
        return self.targets or (Target(self.erp_id, self.balance_minor, self.due_date),)

    def less(self, target_id: str, amount_minor: int) -> OpenInvoice:
        """This invoice after ``amount_minor`` more was applied to ``target_id`` (negative: given back)."""
        targets = tuple(replace(t, balance_minor=t.balance_minor - amount_minor) if t.erp_id == target_id else t
                        for t in self.targets)
        return replace(self, balance_minor=self.balance_minor - amount_minor, targets=targets)


@dataclass(frozen=True)
class Match:
    invoices: tuple[OpenInvoice, ...]
    rule: str
    score: float


@dataclass(frozen=True)
class Allocation:
    invoice: OpenInvoice
    target_id: str
    amount_minor: int


NO_MATCH = Match((), NONE, 0.0)


def similarity(a: str, b: str) -> float:
    """0..1, how alike two invoice numbers are (Ratcliff/Obershelp, as difflib computes it)."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def match_invoices(
    raw_reference: str,
    normalized_reference: str,
    description: str,
    customer_account: str,
    invoices: Mapping[str, OpenInvoice],
    *,
    threshold: float,
    prefix: str,
    digits: int,
) -> Match:
    """The invoices a payment pays. ``invoices`` are the open ones (balance > 0) by number."""
    raw = (raw_reference or "").strip()
    named = [n for n in dict.fromkeys([normalized_reference, *invoice_refs_in_text(description, prefix, digits)])
             if n and n in invoices]
    if len(named) > 1:
        return Match(tuple(invoices[n] for n in named), MULTIPLE, 1.0)
    if raw and raw in invoices:
        return Match((invoices[raw],), EXACT, 1.0)
    if named:
        return Match((invoices[named[0]],), NORMALIZED, 1.0)
    probe = normalized_reference or raw.upper()
    if not probe:
        return NO_MATCH
    pool = [n for n, inv in invoices.items() if inv.customer_account == customer_account] if customer_account \
        else list(invoices)
    best, score = "", 0.0
    for number in sorted(pool):  # sorted: ties go to the lowest number, whatever the input order
        s = similarity(probe, number)
        if s > score:
            best, score = number, s
    if best and score >= threshold:
        return Match((invoices[best],), FUZZY, round(score, 4))
    return Match((), NONE, round(score, 4))


def allocate(amount_minor: int, invoices: Sequence[OpenInvoice]) -> tuple[list[Allocation], int]:
    """Apply up to each invoice's balance in the order given (the payer's), each invoice's targets in
    due order; what is left over stays on account. Returns (applications, unapplied)."""
    left = amount_minor
    out: list[Allocation] = []
    for inv in invoices:
        for target in inv.application_targets():
            take = min(left, max(target.balance_minor, 0))
            if take > 0:
                out.append(Allocation(inv, target.erp_id, take))
                left -= take
    return out, left
