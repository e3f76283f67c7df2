"""A labelled evaluation set for cash application: an open-invoice book and payments as payers type them.

Each payment says what a careful clerk would do with it: which open invoices it pays and how much
each (``expected``; empty = the cash stays on account, or on an unidentified receipt), and whose
receipt it is (``expected_customer``; "" = unidentified). The styles are the ways references arrive
in PayTrace's ``invoice_id`` and ``description`` ("inv 4512", "#4512", "PO 7788 / INV-004512",
"invoices 4512 and 4513", remittance-advice phrasing), plus decoys where applying anything would be
a mistake (another customer's invoice, a paid invoice, an amount that fits, a typo whose amount does
not). The bench case ``cash_application`` and the tests score a matcher against it with :func:`score`.

Deterministic from the seed: the book comes from ``random.Random(seed)`` and each style from its own
``random.Random(f"{seed}/{style}")``, so changing ``per_style`` or adding a style leaves the others'
payments as they were.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from paysync_dagster.lib.posting.matching import (Match, OpenInvoice, Payer, ReferenceRules, Target, allocate,
                                                  exact_reference_baseline, match_payment)

RULES = ReferenceRules()  # "INV-" + 6 digits, oldest first
CURRENCY = "USD"
#: (name as the ERP holds it, the same without its legal suffix)
CUSTOMERS = (("Acme Tools, Inc.", "Acme Tools"), ("Birchwood Dental LLC", "Birchwood Dental"),
             ("Cascade Freight Ltd", "Cascade Freight"), ("Delta Marine Supply Inc.", "Delta Marine Supply"),
             ("Evergreen Bakery LLC", "Evergreen Bakery"), ("Foxglove Studio Ltd.", "Foxglove Studio"))
OPEN_PER_CUSTOMER, PAID_PER_CUSTOMER = 7, 2
#: billing names on cards: people, agreeing with no customer's name
CARDHOLDERS = ("Jordan Miller", "Priya Patel", "Sam Okafor", "Lena Brooks", "")
GENERIC = ("", "Online payment", "Card payment", "Thank you", "Web payment")


@dataclass(frozen=True)
class Customer:
    account: str  # digits, so that "Acct 1001" in a remittance is a plausible decoy number
    name: str
    core: str  # the name without its legal suffix


@dataclass(frozen=True)
class PaidInvoice:
    """An invoice already paid: not in the open book, but payers still quote it."""

    number: str
    customer_account: str
    amount_minor: int


@dataclass(frozen=True)
class LabelledPayment:
    style: str
    invoice_reference: str
    description: str
    amount_minor: int
    currency: str
    payer: Payer
    expected: tuple[tuple[str, int], ...]  # (invoice number, amount applied); empty = nothing applied
    expected_customer: str  # whom the receipt is for; "" = unidentified
    has_reference: bool  # carries a usable reference to an open invoice of the right customer


@dataclass(frozen=True)
class EvaluationSet:
    customers: tuple[Customer, ...]
    open_invoices: Mapping[str, OpenInvoice]  # the open book, by number: what the matcher is given
    paid_invoices: tuple[PaidInvoice, ...]
    payments: tuple[LabelledPayment, ...]
    rules: ReferenceRules


@dataclass
class Counts:
    """One style's (or all styles') outcomes. ``applied_right``: the allocations are exactly the
    expected ones (something expected) and the receipt is the expected customer's. ``wrong``: cash
    applied to an invoice not expected or of another customer, or the receipt given to another
    customer. ``on_account``: nothing applied. A payment applied to the right invoices in the wrong
    amounts is none of the three (``total`` still counts it)."""

    applied_right: int = 0
    wrong: int = 0
    on_account: int = 0
    total: int = 0
    with_reference: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.applied_right + other.applied_right, self.wrong + other.wrong,
                      self.on_account + other.on_account, self.total + other.total,
                      self.with_reference + other.with_reference)

    @property
    def applied_right_share_with_reference(self) -> float:
        return self.applied_right / self.with_reference if self.with_reference else 1.0


MatchFn = Callable[[LabelledPayment, Mapping[str, OpenInvoice], ReferenceRules], Match]


def cash_application(p: LabelledPayment, invoices: Mapping[str, OpenInvoice], rules: ReferenceRules) -> Match:
    return match_payment(p.invoice_reference, p.description, p.amount_minor, p.payer, invoices, rules)


def exact_reference(p: LabelledPayment, invoices: Mapping[str, OpenInvoice], rules: ReferenceRules) -> Match:
    return exact_reference_baseline(p.invoice_reference, p.payer, invoices)


RIGHT, WRONG, ON_ACCOUNT, OTHER = "applied right", "wrong", "on account", "right invoices, wrong amounts"


def applied(p: LabelledPayment, match: Match, rules: ReferenceRules) -> dict[str, int]:
    """What the match applies, by invoice number (installments summed), as the poster would."""
    allocations, _unapplied = allocate(p.amount_minor, match.invoices, rules.split)
    out: dict[str, int] = {}
    for a in allocations:
        out[a.invoice.number] = out.get(a.invoice.number, 0) + a.amount_minor
    return out


def verdict(p: LabelledPayment, match: Match, rules: ReferenceRules) -> str:
    got = applied(p, match, rules)
    expected = dict(p.expected)
    customers = {inv.customer_account for inv in match.invoices if inv.number in got}
    if (set(got) - set(expected) or customers - {p.expected_customer}
            or match.customer_account not in ("", p.expected_customer)):
        return WRONG
    if not got:
        return ON_ACCOUNT
    return RIGHT if got == expected and match.customer_account == p.expected_customer else OTHER


def outcomes(evaluation: EvaluationSet, match_fn: MatchFn) -> list[tuple[LabelledPayment, Match, str]]:
    out = []
    for p in evaluation.payments:
        m = match_fn(p, evaluation.open_invoices, evaluation.rules)
        out.append((p, m, verdict(p, m, evaluation.rules)))
    return out


def score(evaluation: EvaluationSet, match_fn: MatchFn) -> dict[str, Counts]:
    """Counts per style, in the order of :data:`STYLES`."""
    counts: dict[str, Counts] = {}
    for p, _m, v in outcomes(evaluation, match_fn):
        counts.setdefault(p.style, Counts())
        counts[p.style] += Counts(int(v == RIGHT), int(v == WRONG), int(v == ON_ACCOUNT), 1, int(p.has_reference))
    return counts


def totals(counts: Mapping[str, Counts]) -> Counts:
    return sum(counts.values(), Counts())


# --- the book ---------------------------------------------------------------------------------------


def osa(a: str, b: str) -> int:
    """Edits (change, drop, add, swap two adjacent) from ``a`` to ``b``: the typo distance."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def one_edit(s: str) -> set[str]:
    """Every number one typo from ``s`` (no leading zero: that would be a padding, not a typo)."""
    digits = "0123456789"
    out = {s[:i] + c + s[i + 1:] for i in range(len(s)) for c in digits}
    out |= {s[:i] + s[i + 1:] for i in range(len(s))}
    out |= {s[:i] + c + s[i:] for i in range(len(s) + 1) for c in digits}
    out |= {s[:i] + s[i + 1] + s[i] + s[i + 2:] for i in range(len(s) - 1)}
    return {v for v in out - {s} if len(v) >= 3 and v[0] != "0"}


class _Book:
    """The open book and what the style makers need to draw from it."""

    def __init__(self, rng: random.Random):
        n_customers = len(CUSTOMERS)
        per = OPEN_PER_CUSTOMER + PAID_PER_CUSTOMER
        # Invoice numbers run in sequence across customers with small gaps, as an ERP issues them:
        # a customer's invoices are often neighbours (4512, 4513), which is what makes typos ambiguous.
        numbers, n = [], rng.randint(4100, 4400)
        for _ in range(n_customers * per):
            numbers.append(n)
            n += rng.choice((1, 1, 1, 2, 3, 5, 8, 13))
        owners = [i for i in range(n_customers) for _ in range(per)]
        rng.shuffle(owners)
        self.numbers = {str(x) for x in numbers}  # every number in the book, open or paid, as digits
        self.reserved: set[str] = set()  # account, PO and order numbers
        self.customers = tuple(Customer(self.fresh(rng, 1000, 3999), name, core) for name, core in CUSTOMERS)
        used_balances: set[int] = set()

        def balance() -> int:
            while True:
                b = rng.randint(50_00, 9_000_00)
                if b not in used_balances:
                    used_balances.add(b)
                    return b

        self.open: dict[str, OpenInvoice] = {}
        self.paid: list[PaidInvoice] = []
        self.by_customer: dict[str, list[OpenInvoice]] = {}
        for ci, cust in enumerate(self.customers):
            mine = [x for x, o in zip(numbers, owners) if o == ci]
            paid = set(rng.sample(mine, PAID_PER_CUSTOMER))
            days = rng.sample(range(0, 240), len(mine))  # distinct invoice dates: "oldest" is never a tie
            pos = [self.fresh(rng, 60000, 99999) for _ in mine]
            orders = [self.fresh(rng, 50000, 59999) for _ in mine]
            invs = []
            for k, x in enumerate(mine):
                number = f"{RULES.prefix}{x:0{RULES.digits}d}"
                if x in paid:
                    self.paid.append(PaidInvoice(number, cust.account, balance()))
                    continue
                invoiced = date(2026, 1, 5) + timedelta(days=days[k])
                due = invoiced + timedelta(days=rng.choice((15, 30, 45)))
                bal, erp_id = balance(), f"3000{x}"
                targets: tuple[Target, ...] = ()
                if rng.random() < 0.25:  # two installments (Oracle payment schedules)
                    first = bal // 2
                    targets = (Target(f"{erp_id}-1", first, due.isoformat()),
                               Target(f"{erp_id}-2", bal - first, (due + timedelta(days=30)).isoformat()))
                invs.append(OpenInvoice(number, cust.account, bal, CURRENCY, due.isoformat(), erp_id, targets,
                                        invoiced.isoformat(), pos[k] if rng.random() < 0.6 else "",
                                        orders[k] if rng.random() < 0.6 else "", cust.name))
            # One purchase order and one sales order each cover two invoices: a PO pays them both.
            a, b = rng.sample(range(len(invs)), 2)
            shared = invs[a].purchase_order or self.fresh(rng, 60000, 99999)
            invs[a], invs[b] = replace(invs[a], purchase_order=shared), replace(invs[b], purchase_order=shared)
            a, b = rng.sample(range(len(invs)), 2)
            shared = invs[a].order_number or self.fresh(rng, 50000, 59999)
            invs[a], invs[b] = replace(invs[a], order_number=shared), replace(invs[b], order_number=shared)
            self.by_customer[cust.account] = invs
            self.open.update((inv.number, inv) for inv in invs)
        # One customer has two open invoices of the same balance: a payment of that amount fits both.
        cust = rng.choice(self.customers)
        a, b = rng.sample(self.by_customer[cust.account], 2)
        twin = replace(b, balance_minor=a.balance_minor, targets=())
        self.by_customer[cust.account] = [twin if i is b else i for i in self.by_customer[cust.account]]
        self.open[b.number] = twin
        self.twins = (cust, a, twin)
        self.typos = self._typo_candidates()

    def fresh(self, rng: random.Random, lo: int, hi: int) -> str:
        """A number for something that is not an invoice: two typos from every invoice number, so that
        reading it as an invoice (or a typo of one) can never land on a real one."""
        x = self.unused(rng, lo, hi)
        self.reserved.add(x)
        return x

    def unused(self, rng: random.Random, lo: int, hi: int) -> str:
        """Such a number that is nobody's account, PO or order either (for text only: not reserved, so
        that one style's payments do not change another's)."""
        while True:
            x = str(rng.randint(lo, hi))
            if x not in self.reserved and all(osa(x, n) >= 2 for n in self.numbers):
                return x

    def _typo_candidates(self) -> list[tuple[Customer, OpenInvoice, str]]:
        """(payer, invoice, typed number) where the typed number is one edit from exactly one of the
        payer's open invoices and is nobody's invoice, PO, order or account number."""
        twins = {self.twins[1].number, self.twins[2].number}
        out = []
        for cust in self.customers:
            mine = self.by_customer[cust.account]
            for inv in mine:
                if inv.number in twins:
                    continue
                for v in sorted(one_edit(_digits(inv))):
                    if v in self.numbers or v in self.reserved:
                        continue
                    if sum(osa(v, _digits(o)) <= 1 for o in mine) == 1:
                        out.append((cust, inv, v))
        return out


def _digits(inv: OpenInvoice) -> str:
    return inv.number.removeprefix(RULES.prefix).lstrip("0")


def expected_allocation(amount_minor: int, invoices: Sequence[OpenInvoice]) -> tuple[tuple[str, int], ...]:
    """The documented split, computed here on its own (not by ``allocate``): oldest first by invoice
    date, due date, number; each up to its balance; the excess stays on account."""
    out, left = [], amount_minor
    for inv in sorted(invoices, key=lambda i: (i.invoice_date, i.due_date, i.number)):
        take = min(left, inv.balance_minor)
        if take > 0:
            out.append((inv.number, take))
            left -= take
    return tuple(out)


# --- how references are typed ------------------------------------------------------------------------

FORMS = {  # {n}: 4512, {p}: 004512
    "exact": ("INV-{p}",),
    "lowercase_space": ("inv {n}", "inv {p}", "Inv {n}"),
    "hash": ("#{n}", "#{p}", "# {n}"),
    "unpadded": ("INV-{n}", "inv-{n}", "{n}"),  # and bare: a number of 3+ digits on its own
    "no_separator": ("INV{n}", "INV{p}", "inv{n}"),
    "invoice_word": ("Invoice No. {n}", "Invoice #{n}", "invoice: {p}", "Inv#{n}", "Invoice {n}", "Invoice Number {n}"),
}
ANY_FORM = tuple(f for forms in FORMS.values() for f in forms)
PO_FORMS = ("PO {po}", "P.O. #{po}", "PO# {po}", "PO-{po}", "Purchase order {po}")
SO_FORMS = ("SO {so}", "Order #{so}", "Sales order {so}", "SO-{so}")
TWO_IN_ID = ("INV-{p1}, INV-{p2}", "{n1}/{n2}", "INV-{p1} INV-{p2}", "{n1}, {n2}", "inv {n1}; inv {n2}")
LISTS = ("INV {n1} & {n2}", "invoices {n1} and {n2}", "Inv# {n1}, {n2} & {n3}", "inv {n1} and {n2}")
SEVERAL = ("Payment for INV-{p1}, INV-{p2} and INV-{p3}", "Invoices: {n1}, {n2}, {n3}", "Paying #{n1} #{n2}",
           "Pmt for INV-{p1} INV-{p2}")
AFTER_OTHER = ("PO {po} / INV-{p}", "Order {so} - Inv {n}", "Job 7 / INV-{p}", "Ticket {other} inv {n}")
REMITTANCE = ("Remittance for inv# {n} paid via card", "Pmt INV{p} thx", "RE: Invoice {n} / Acct {acct}",
              "Remit advice - invoice {p} - paid in full", "Payment of ${amt} for Invoice #{n} on 2026-12-03",
              "Per your statement: INV-{p}. Card ****{card}", "Paid inv {n} on 12/03/2026, thank you",
              "Acct {acct} remittance: Invoice No. {n}")


def _fill(template: str, invs: Sequence[OpenInvoice], **extra: object) -> str:
    values: dict[str, object] = dict(extra)
    for k, inv in enumerate(invs, 1):
        values[f"n{k}"], values[f"p{k}"] = _digits(inv), inv.number.removeprefix(RULES.prefix)
    if invs:
        values["n"], values["p"] = values["n1"], values["p1"]
    return template.format(**values)


def _typed(template: str, number: str) -> str:
    return template.format(n=number, p=number.zfill(RULES.digits))


def _noise(rng: random.Random, book: _Book, amount: int) -> str:
    """A description without a reference, but with numbers a careless reader would take for one:
    a masked card whose last four are an invoice number, a date, an amount."""
    card = rng.choice(sorted(book.numbers))
    return rng.choice((*GENERIC, f"Visa ****{card}", f"Card payment {date(2026, 12, 3).isoformat()}",
                       f"Paid 12/03/2026 ${amount / 100:.2f}", f"MC ************{card} {amount / 100:.2f}"))


def _place(rng: random.Random, book: _Book, ref: str, amount: int) -> tuple[str, str]:
    """(invoice_reference, description): the reference in PayTrace's invoice_id, or in the description."""
    if rng.random() < 0.7:
        return ref, _noise(rng, book, amount)
    return "", rng.choice(("{}", "Payment for {}", "{} - thanks")).format(ref)


def _full_or_part(rng: random.Random, invs: Sequence[OpenInvoice]) -> int:
    total = sum(i.balance_minor for i in invs)
    return total if rng.random() < 0.75 else rng.randint(1, total - 1)


# --- the styles --------------------------------------------------------------------------------------
# Each maker returns (invoice_reference, description, amount, payer, invoices it pays, expected customer)
# or, for payments that pay nothing, the same with no invoices.

Made = tuple[str, str, int, Payer, Sequence[OpenInvoice], str]


def _payer(rng: random.Random, cust: Customer) -> Payer:
    return Payer(cust.account, rng.choice((cust.name, *CARDHOLDERS)))


def _single(forms: Sequence[str]) -> Callable[[random.Random, _Book], Made]:
    def make(rng: random.Random, book: _Book) -> Made:
        cust = rng.choice(book.customers)
        inv = rng.choice(book.by_customer[cust.account])
        amount = _full_or_part(rng, [inv])
        ref, desc = _place(rng, book, _fill(rng.choice(forms), [inv]), amount)
        return ref, desc, amount, _payer(rng, cust), [inv], cust.account
    return make


def _several(templates: Sequence[str], where: str) -> Callable[[random.Random, _Book], Made]:
    def make(rng: random.Random, book: _Book) -> Made:
        cust = rng.choice(book.customers)
        template = rng.choice(templates)
        invs = rng.sample(book.by_customer[cust.account], 3 if "{n3}" in template or "{p3}" in template else 2)
        text = _fill(template, invs)
        amount = sum(i.balance_minor for i in invs)
        if where == "id":
            ref, desc = text, rng.choice(GENERIC)
        else:
            ref, desc = rng.choice(("", invs[0].number)), text
        return ref, desc, amount, _payer(rng, cust), invs, cust.account
    return make


def after_other_numbers(rng: random.Random, book: _Book) -> Made:
    cust = rng.choice(book.customers)
    inv = rng.choice(book.by_customer[cust.account])
    # The PO or order number is this invoice's alone, or one on no invoice: never another invoice's.
    mine = book.by_customer[cust.account]
    po = inv.purchase_order if [i.purchase_order for i in mine].count(inv.purchase_order) == 1 else ""
    so = inv.order_number if [i.order_number for i in mine].count(inv.order_number) == 1 else ""
    amount = _full_or_part(rng, [inv])
    ref, desc = _place(rng, book, _fill(rng.choice(AFTER_OTHER), [inv], po=po or book.unused(rng, 60000, 99999),
                                        so=so or book.unused(rng, 10, 99), other=book.unused(rng, 10000, 99999)),
                       amount)
    return ref, desc, amount, _payer(rng, cust), [inv], cust.account


def _by_order(field: str, forms: Sequence[str], key: str) -> Callable[[random.Random, _Book], Made]:
    def make(rng: random.Random, book: _Book) -> Made:
        cust = rng.choice(book.customers)
        value = rng.choice([getattr(i, field) for i in book.by_customer[cust.account] if getattr(i, field)])
        invs = [i for i in book.by_customer[cust.account] if getattr(i, field) == value]
        amount = _full_or_part(rng, invs)
        ref, desc = _place(rng, book, rng.choice(forms).format(**{key: value}), amount)
        return ref, desc, amount, _payer(rng, cust), invs, cust.account
    return make


def _typo(amount_fits: bool) -> Callable[[random.Random, _Book], Made]:
    def make(rng: random.Random, book: _Book) -> Made:
        cust, inv, typed = rng.choice(book.typos)
        amount = inv.balance_minor
        if not amount_fits:
            amount = rng.choice((rng.randint(1, amount - 1), amount + rng.randint(1, amount)))
        ref, desc = _place(rng, book, _typed(rng.choice(("INV-{p}", "inv {n}", "#{n}", "Invoice {n}")), typed), amount)
        return ref, desc, amount, _payer(rng, cust), [inv] if amount_fits else [], cust.account
    return make


def short_payment_two_invoices(rng: random.Random, book: _Book) -> Made:
    cust = rng.choice(book.customers)
    invs = rng.sample(book.by_customer[cust.account], 2)
    oldest = min(invs, key=lambda i: i.invoice_date)
    amount = rng.randint(max(1, oldest.balance_minor // 2), sum(i.balance_minor for i in invs) - 1)
    ref, desc = _place(rng, book, _fill(rng.choice(TWO_IN_ID + LISTS[:2]), invs), amount)
    return ref, desc, amount, _payer(rng, cust), invs, cust.account


def overpayment(rng: random.Random, book: _Book) -> Made:
    cust = rng.choice(book.customers)
    inv = rng.choice(book.by_customer[cust.account])
    amount = inv.balance_minor + rng.randint(1, inv.balance_minor)
    ref, desc = _place(rng, book, _fill(rng.choice(ANY_FORM), [inv]), amount)
    return ref, desc, amount, _payer(rng, cust), [inv], cust.account


def unidentified_payer_amount_corroborates(rng: random.Random, book: _Book) -> Made:
    cust = rng.choice(book.customers)
    if rng.random() < 0.75:
        invs = [rng.choice(book.by_customer[cust.account])]
        text = _fill(rng.choice(ANY_FORM), invs)
    else:
        invs = rng.sample(book.by_customer[cust.account], 2)
        text = _fill(rng.choice(TWO_IN_ID), invs)
    amount = sum(i.balance_minor for i in invs)
    ref, desc = _place(rng, book, text, amount)
    return ref, desc, amount, Payer("", rng.choice(CARDHOLDERS)), invs, cust.account


def name_variant(rng: random.Random, cust: Customer) -> str:
    """The customer's name as a cardholder types it: another case, another legal suffix, a letter dropped."""
    core = cust.core
    words = core.split()
    longest = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[longest]
    drop = rng.randint(1, len(w) - 2)
    dropped = " ".join(words[:longest] + [w[:drop] + w[drop + 1:]] + words[longest + 1:])
    return rng.choice((core.upper(), core.lower(), f"{core} Inc", f"{core}, LLC", f"{dropped} Ltd", dropped, cust.name))


def unidentified_payer_name_corroborates(rng: random.Random, book: _Book) -> Made:
    cust = rng.choice(book.customers)
    inv = rng.choice(book.by_customer[cust.account])
    amount = rng.randint(1, inv.balance_minor - 1)  # a part payment: only the name says who paid
    ref, desc = _place(rng, book, _fill(rng.choice(ANY_FORM), [inv]), amount)
    return ref, desc, amount, Payer("", name_variant(rng, cust)), [inv], cust.account


def remittance_advice(rng: random.Random, book: _Book) -> Made:
    cust = rng.choice(book.customers)
    inv = rng.choice(book.by_customer[cust.account])
    amount = _full_or_part(rng, [inv])
    text = _fill(rng.choice(REMITTANCE), [inv], acct=cust.account, amt=f"{amount / 100:.2f}",
                 card=rng.choice(sorted(book.numbers)))
    return rng.choice(("", "Remittance")), text, amount, _payer(rng, cust), [inv], cust.account


def decoy_other_customer(rng: random.Random, book: _Book) -> Made:
    cust, other = rng.sample(book.customers, 2)
    inv = rng.choice(book.by_customer[other.account])
    amount = inv.balance_minor  # the amount fits the other customer's invoice exactly: still not theirs
    # Half typed exactly: a number copied from the wrong statement is typed right.
    ref, desc = _place(rng, book, _fill(rng.choice((FORMS["exact"][0], rng.choice(ANY_FORM))), [inv]), amount)
    return ref, desc, amount, _payer(rng, cust), [], cust.account


def decoy_paid_invoice(rng: random.Random, book: _Book) -> Made:
    paid = rng.choice(book.paid)
    cust = next(c for c in book.customers if c.account == paid.customer_account)
    number = paid.number.removeprefix(RULES.prefix).lstrip("0")
    ref, desc = _place(rng, book, _typed(rng.choice(ANY_FORM), number), paid.amount_minor)
    return ref, desc, paid.amount_minor, _payer(rng, cust), [], cust.account


def decoy_amount_fits_two(rng: random.Random, book: _Book) -> Made:
    if rng.random() < 0.5:  # two open invoices of exactly this balance
        cust, a, _b = book.twins
        amount = a.balance_minor
    else:  # the sum of two open invoices
        cust = rng.choice(book.customers)
        amount = sum(i.balance_minor for i in rng.sample(book.by_customer[cust.account], 2))
    return "", _noise(rng, book, amount), amount, _payer(rng, cust), [], cust.account


def decoy_unidentified_uncorroborated(rng: random.Random, book: _Book) -> Made:
    cust = rng.choice(book.customers)
    inv = rng.choice(book.by_customer[cust.account])
    amount = rng.choice((rng.randint(1, inv.balance_minor - 1), inv.balance_minor + rng.randint(1, 10_000)))
    ref, desc = _place(rng, book, _fill(rng.choice((FORMS["exact"][0], rng.choice(ANY_FORM))), [inv]), amount)
    return ref, desc, amount, Payer("", rng.choice(CARDHOLDERS)), [], ""


def no_reference(rng: random.Random, book: _Book) -> Made:
    cust = rng.choice(book.customers)
    # Half the time the amount is exactly one open invoice's balance: still never applied by amount alone.
    amount = (rng.choice(book.by_customer[cust.account]).balance_minor if rng.random() < 0.5
              else rng.randint(1_00, 5_000_00))
    return rng.choice(("", "Card payment")), _noise(rng, book, amount), amount, _payer(rng, cust), [], cust.account


STYLES: dict[str, Callable[[random.Random, _Book], Made]] = {
    **{style: _single(forms) for style, forms in FORMS.items()},
    "after_other_numbers": after_other_numbers,
    "two_in_invoice_id": _several(TWO_IN_ID, "id"),
    "several_in_description": _several(SEVERAL, "description"),
    "list_and": _several(LISTS, "description"),
    "purchase_order": _by_order("purchase_order", PO_FORMS, "po"),
    "sales_order": _by_order("order_number", SO_FORMS, "so"),
    "typo": _typo(amount_fits=True),
    "short_payment_two_invoices": short_payment_two_invoices,
    "overpayment": overpayment,
    "unidentified_payer_amount_corroborates": unidentified_payer_amount_corroborates,
    "unidentified_payer_name_corroborates": unidentified_payer_name_corroborates,
    "remittance_advice": remittance_advice,
    "decoy_other_customer": decoy_other_customer,
    "decoy_paid_invoice": decoy_paid_invoice,
    "decoy_amount_fits_two": decoy_amount_fits_two,
    "decoy_unidentified_uncorroborated": decoy_unidentified_uncorroborated,
    "decoy_typo_amount_differs": _typo(amount_fits=False),
    "no_reference": no_reference,
}


def evaluation_set(seed: int = 7, per_style: int = 20) -> EvaluationSet:
    book = _Book(random.Random(seed))
    payments = []
    for style, make in STYLES.items():
        rng = random.Random(f"{seed}/{style}")
        for _ in range(per_style):
            ref, desc, amount, payer, invs, customer = make(rng, book)
            expected = expected_allocation(amount, invs)
            payments.append(LabelledPayment(style, ref, desc, amount, CURRENCY, payer, expected, customer,
                                            has_reference=bool(expected)))
    return EvaluationSet(book.customers, dict(book.open), tuple(book.paid), tuple(payments), RULES)
