"""Cash application: which open invoices a payment pays, for which customer, by which rule, and why.

The rules, in the order a careful clerk applies them:

1. **Read every reference** in the payment's ``invoice_id`` and ``description``
   (:func:`~paysync_dagster.lib.invoice_refs.read_references`): invoice numbers however typed, the
   customer's purchase-order number, the sales-order number. Rule ``exact`` (the reference as typed
   is an invoice number), ``reference`` (an invoice number read from what was typed),
   ``purchase_order``, ``sales_order``; several invoices: ``multiple``.
2. **Never the wrong customer.** When the payer is identified, cash goes only to that customer's
   invoices; another customer's invoice is rejected, and if that leaves nothing the cash stays on the
   payer's account with an exception naming both customers. When the payer is not identified, a
   reference identifies the customer only with corroboration: the amount equals the open balance of
   what it names, or the payer's name agrees with the customer's; otherwise the receipt is
   unidentified (no customer) and applied to nothing.
3. **A one-character typo** (one digit changed, dropped, added, or two swapped) only for an
   identified payer, when exactly one of its open invoices is that close and the amount equals that
   invoice's open balance: rule ``typo``.
4. Never by amount alone: a payment without a usable reference stays on account.

Several invoices share the payment by :func:`allocate`'s documented rule (the mapping file's
``invoice_reference.split``). ERP-neutral: an invoice is its number, customer, balance, dates, PO and
order numbers, and the ERP ids cash is applied to (Oracle: installments; an ERP without installments
has one target).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from rapidfuzz.distance import OSA

from paysync_dagster.lib.invoice_refs import (ANY, INVOICE, PURCHASE_ORDER, SALES_ORDER, Reference, compact,
                                              invoice_number, read_references)
from paysync_dagster.lib.names import names_agree

EXACT, REFERENCE, MULTIPLE, PO_RULE, SO_RULE, TYPO, NONE = (
    "exact", "reference", "multiple", "purchase_order", "sales_order", "typo", "none")
MATCH_RULES = (EXACT, REFERENCE, MULTIPLE, PO_RULE, SO_RULE, TYPO, NONE)
OLDEST_FIRST, AS_NAMED = "oldest_first", "as_named"
PAYER, BY_AMOUNT, BY_NAME = "payer", "reference+amount", "reference+name"


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
    invoice_date: str = ""
    purchase_order: str = ""  # the customer's PO number, as the ERP holds it
    order_number: str = ""  # the sales order it was billed from
    customer_name: str = ""

    def application_targets(self) -> tuple[Target, ...]:
        return self.targets or (Target(self.erp_id, self.balance_minor, self.due_date),)

    def less(self, target_id: str, amount_minor: int) -> OpenInvoice:
        """This invoice after ``amount_minor`` more was applied to ``target_id`` (negative: given back)."""
        targets = tuple(replace(t, balance_minor=t.balance_minor - amount_minor) if t.erp_id == target_id else t
                        for t in self.targets)
        return replace(self, balance_minor=self.balance_minor - amount_minor, targets=targets)


@dataclass(frozen=True)
class Payer:
    """Who paid, as normalization identified them: the ERP account ("" = not identified) and the name
    on the payment (the billing name), which can corroborate a reference."""

    account: str = ""
    name: str = ""


@dataclass(frozen=True)
class ReferenceRules:
    """The mapping file's ``invoice_reference``: how the ERP numbers invoices, how a payment naming
    several shares its amount."""

    prefix: str = "INV-"
    digits: int = 6
    split: str = OLDEST_FIRST


@dataclass(frozen=True)
class Match:
    invoices: tuple[OpenInvoice, ...]  # what the payment pays, in the order the split rule pays them
    rule: str
    score: float
    customer_account: str = ""  # whom the receipt is for ("" = an unidentified receipt)
    customer_source: str = ""  # payer | reference+amount | reference+name | ""
    tokens: tuple[str, ...] = ()  # the references read, as typed
    rejected: tuple[tuple[str, str], ...] = ()  # (invoice or reference, why it was not applied)
    exception: tuple[str, str, str] | None = None  # (reason code, reason, next step) for a person


@dataclass(frozen=True)
class Allocation:
    invoice: OpenInvoice
    target_id: str
    amount_minor: int


NO_MATCH = Match((), NONE, 0.0)


class InvoiceBook:
    """The open invoices of one currency, indexed by every key a reference can name them by."""

    def __init__(self, invoices: Mapping[str, OpenInvoice], rules: ReferenceRules):
        self.invoices, self.rules = invoices, rules
        self.by_key: dict[str, OpenInvoice] = {}
        self.by_po: dict[str, list[OpenInvoice]] = {}
        self.by_order: dict[str, list[OpenInvoice]] = {}
        prefix = compact(rules.prefix)
        for inv in invoices.values():
            self.by_key.setdefault(compact(inv.number), inv)
            for index, value, letters in ((self.by_po, inv.purchase_order, "PO"), (self.by_order, inv.order_number, "SO")):
                key = compact(value)
                for k in {key, key.removeprefix(letters)} - {""}:
                    index.setdefault(k, []).append(inv)
        self.prefix_key = prefix

    def named_by(self, ref: Reference) -> tuple[list[OpenInvoice], str]:
        """The open invoices one reference names, and the rule that read it."""
        # A PO or order number as typed first, then its digits: "SO-1234" names order 1234, and
        # "ORD000000000001" (Sage's OE numbering) or "ORDER-77" the order numbered so.
        if ref.kind == PURCHASE_ORDER:
            return list(self.by_po.get(ref.key) or self.by_po.get(ref.digits) or []), PO_RULE
        if ref.kind == SALES_ORDER:
            return list(self.by_order.get(ref.key) or self.by_order.get(ref.digits) or []), SO_RULE
        number = invoice_number(ref, self.rules.prefix, self.rules.digits)
        if number and compact(number) in self.by_key:
            return [self.by_key[compact(number)]], REFERENCE
        if ref.key in self.by_key:  # a number of another shape, as typed ("WEB-03111830001")
            return [self.by_key[ref.key]], REFERENCE
        if ref.kind == ANY:  # a bare number may be the customer's PO or order number
            for index, rule in ((self.by_po, PO_RULE), (self.by_order, SO_RULE)):
                if ref.key in index:
                    return list(index[ref.key]), rule
        return [], NONE

    def one_typo_away(self, refs: Sequence[Reference], account: str) -> list[tuple[OpenInvoice, float]]:
        """The account's open invoices one edit (change, drop, add, swap) from a reference's number."""
        found: dict[str, tuple[OpenInvoice, float]] = {}
        for ref in refs:
            if ref.kind not in (INVOICE, ANY) or not ref.digits:
                continue
            typed = ref.digits.lstrip("0")
            for inv in self.invoices.values():
                digits = _invoice_digits(inv.number, self.prefix_key)
                if inv.customer_account != account or not digits or digits == typed:
                    continue
                if OSA.distance(typed, digits, score_cutoff=1) <= 1:
                    found[inv.number] = (inv, round(OSA.normalized_similarity(typed, digits), 4))
        return list(found.values())


def _invoice_digits(number: str, prefix_key: str) -> str:
    key = compact(number)
    rest = key.removeprefix(prefix_key)
    return rest.lstrip("0") if rest.isdigit() else ""


def _order(invoices: Sequence[OpenInvoice], split: str) -> tuple[OpenInvoice, ...]:
    if split == AS_NAMED:
        return tuple(invoices)
    return tuple(sorted(invoices, key=lambda i: (i.invoice_date or "9999", i.due_date or "9999", i.number)))


def _who(account: str, invoices: Mapping[str, OpenInvoice]) -> str:
    name = next((i.customer_name for i in invoices.values() if i.customer_account == account and i.customer_name), "")
    return f"customer {account}" + (f" ({name})" if name else "")


def match_payment(invoice_reference: str, description: str, amount_minor: int, payer: Payer,
                  invoices: Mapping[str, OpenInvoice], rules: ReferenceRules) -> Match:
    """The invoices a payment pays and whom its receipt is for. ``invoices``: the open ones (balance >
    0) of the payment's currency, by number."""
    refs = list(dict.fromkeys(read_references(invoice_reference, rules.prefix)
                              + read_references(description, rules.prefix)))
    tokens = tuple(dict.fromkeys(r.text for r in refs))
    book = InvoiceBook(invoices, rules)
    named: dict[str, tuple[OpenInvoice, str]] = {}
    raw = (invoice_reference or "").strip()
    if raw in invoices:
        named[raw] = (invoices[raw], EXACT)
    unread: list[Reference] = []
    rejected: list[tuple[str, str]] = []
    for ref in refs:
        hits, rule = book.named_by(ref)
        if not hits:
            unread.append(ref)
            if ref.kind in (INVOICE, ANY) and invoice_number(ref, rules.prefix, rules.digits):
                rejected.append((invoice_number(ref, rules.prefix, rules.digits), "no open invoice has this number "
                                                                                   "(paid, not yet issued, or unknown)"))
            elif ref.kind in (PURCHASE_ORDER, SALES_ORDER):
                rejected.append((ref.text, f"no open invoice carries this {ref.kind.replace('_', ' ')} number"))
        for inv in hits:
            named.setdefault(inv.number, (inv, rule))
    if payer.account:
        return _for_payer(payer, named, unread, book, amount_minor, tokens, rejected, rules)
    return _unidentified(payer, named, invoices, amount_minor, tokens, rejected, rules)


def _result(chosen: Sequence[tuple[OpenInvoice, str]], account: str, source: str, tokens: tuple[str, ...],
            rejected: list[tuple[str, str]], rules: ReferenceRules, exception: tuple[str, str, str] | None = None,
            score: float = 1.0) -> Match:
    if not chosen:
        return Match((), NONE, 0.0, account, source, tokens, tuple(rejected), exception)
    rule = MULTIPLE if len(chosen) > 1 else chosen[0][1]
    return Match(_order([inv for inv, _ in chosen], rules.split), rule, score, account, source, tokens,
                 tuple(rejected), exception)


def _for_payer(payer: Payer, named: Mapping[str, tuple[OpenInvoice, str]], unread: Sequence[Reference],
               book: InvoiceBook, amount_minor: int, tokens: tuple[str, ...], rejected: list[tuple[str, str]],
               rules: ReferenceRules) -> Match:
    own = [(inv, rule) for inv, rule in named.values() if inv.customer_account == payer.account]
    others = [inv for inv, _ in named.values() if inv.customer_account != payer.account]
    for inv in others:
        rejected.append((inv.number, f"belongs to {_who(inv.customer_account, book.invoices)}, not to the payer "
                                     f"{_who(payer.account, book.invoices)}"))
    exception = None
    if others:
        names = ", ".join(f"{inv.number} of {_who(inv.customer_account, book.invoices)}" for inv in others)
        exception = ("reference_other_customer",
                     f"the payment from {_who(payer.account, book.invoices)} names {names}; no cash was applied to "
                     f"another customer's invoice" + ("" if own else f", it stays on {payer.account}'s account"),
                     "ask the payer which invoices the payment is for; apply the receipt in the ERP, or correct "
                     "the reference or the customer mapping and replay the date")
    score = 1.0
    if not own and not others and unread:
        near = book.one_typo_away(unread, payer.account)
        fits = [(inv, s) for inv, s in near if inv.balance_minor == amount_minor]
        if len(fits) == 1:
            own, score = [(fits[0][0], TYPO)], fits[0][1]
        for inv, _s in near:
            if len(fits) != 1 or inv is not fits[0][0]:
                why = ("one character from the reference, but the amount is not its open balance"
                       if inv.balance_minor != amount_minor else "one character from the reference, as another is")
                rejected.append((inv.number, why))
    return _result(own, payer.account, PAYER, tokens, rejected, rules, exception, score)


def _unidentified(payer: Payer, named: Mapping[str, tuple[OpenInvoice, str]], invoices: Mapping[str, OpenInvoice],
                  amount_minor: int, tokens: tuple[str, ...], rejected: list[tuple[str, str]],
                  rules: ReferenceRules) -> Match:
    by_customer: dict[str, list[tuple[OpenInvoice, str]]] = {}
    for inv, rule in named.values():
        by_customer.setdefault(inv.customer_account, []).append((inv, rule))
    corroborated: dict[str, str] = {}
    for account, chosen in by_customer.items():
        if sum(inv.balance_minor for inv, _ in chosen) == amount_minor:
            corroborated[account] = BY_AMOUNT
        elif any(names_agree(payer.name, inv.customer_name) for inv, _ in chosen):
            corroborated[account] = BY_NAME
    if len(corroborated) == 1:
        account, source = next(iter(corroborated.items()))
        for other, chosen in by_customer.items():
            if other != account:
                rejected.extend((inv.number, f"belongs to {_who(other, invoices)}, not to the customer the payment "
                                             f"was identified as") for inv, _ in chosen)
        return _result(by_customer[account], account, source, tokens, rejected, rules)
    for account, chosen in by_customer.items():
        why = ("several customers' invoices agree with the payment" if corroborated else
               "the payer is not identified and neither the amount (the open balance) nor the name agrees")
        rejected.extend((inv.number, f"{_who(account, invoices)}: {why}") for inv, _ in chosen)
    named_list = ", ".join(named) or "no open invoice"
    return Match((), NONE, 0.0, "", "", tokens, tuple(rejected), (
        "unidentified_payer",
        f"the payer is not identified (name {payer.name or 'not given'!r}; references read: "
        f"{', '.join(tokens) or 'none'}; naming {named_list}); posted as an unidentified receipt",
        "identify the customer (customers.map or customers.by_email in the mapping file) and replay the date: "
        "the receipt moves to that customer once and is applied"))


def exact_reference_baseline(invoice_reference: str, payer: Payer, invoices: Mapping[str, OpenInvoice]) -> Match:
    """The floor cash application is measured against: the reference as typed is an open invoice
    number, whoever's it is; nothing else is read."""
    raw = (invoice_reference or "").strip()
    if raw in invoices:
        return Match((invoices[raw],), EXACT, 1.0, invoices[raw].customer_account, "reference", (raw,))
    return Match((), NONE, 0.0, payer.account, PAYER if payer.account else "", (raw,) if raw else ())


def allocate(amount_minor: int, invoices: Sequence[OpenInvoice], split: str = OLDEST_FIRST) -> tuple[list[Allocation], int]:
    """Share a payment among the invoices it names, each invoice's targets in due order. The rule
    (``invoice_reference.split``): the amount equals their open balances: each is paid in full; less:
    the oldest invoice first (invoice date, then due date, then number; ``as_named``: in the order
    named), the rest left open; more: the excess stays on account. Returns (applications, unapplied)."""
    left = amount_minor
    out: list[Allocation] = []
    for inv in _order(invoices, split):
        for target in inv.application_targets():
            take = min(left, max(target.balance_minor, 0))
            if take > 0:
                out.append(Allocation(inv, target.erp_id, take))
                left -= take
    return out, left
