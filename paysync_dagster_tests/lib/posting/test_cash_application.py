"""Cash application against its goal and its rules.

The goal, on the labelled evaluation set (:mod:`paysync_dagster.sandbox.remittance`): at least 99 % of
payments that carry a usable reference applied exactly right, no wrong application at all, and every
payment without one left on account; the exact-reference baseline must do visibly worse, or the set
would not be measuring anything. Then properties over any book and any text (cash never reaches
another customer's invoice; money is conserved), and one explicit case per rule.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysync_dagster.lib.posting.matching import (Match, OpenInvoice, Payer, ReferenceRules, Target, allocate,
                                                  exact_reference_baseline, match_payment)
from paysync_dagster.sandbox.remittance import (ON_ACCOUNT, RIGHT, WRONG, EvaluationSet, LabelledPayment,
                                                applied, cash_application, evaluation_set, exact_reference,
                                                outcomes, score, totals)

RULES = ReferenceRules()


def _show(p: LabelledPayment, m: Match, got: dict[str, int]) -> str:
    return (f"{p.style}: invoice_id={p.invoice_reference!r} description={p.description!r} amount={p.amount_minor} "
            f"payer={p.payer} expected={dict(p.expected)} for {p.expected_customer!r}; "
            f"got {got} for {m.customer_account!r} (rule {m.rule}, tokens {m.tokens}, "
            f"exception {m.exception[0] if m.exception else None})")


@pytest.fixture(scope="module", params=[7, 8])
def evaluation(request: pytest.FixtureRequest) -> EvaluationSet:
    return evaluation_set(seed=request.param, per_style=20)


# --- (a) the goal -------------------------------------------------------------------------------------


def test_the_evaluation_meets_the_goal(evaluation: EvaluationSet) -> None:
    results = outcomes(evaluation, cash_application)
    with_ref = [(p, m, v) for p, m, v in results if p.has_reference]
    missed = [_show(p, m, applied(p, m, RULES)) for p, m, v in with_ref if v != RIGHT]
    assert len(with_ref) - len(missed) >= 0.99 * len(with_ref), "\n".join(missed)
    wrong = [_show(p, m, applied(p, m, RULES)) for p, m, v in results if v == WRONG]
    assert not wrong, "\n".join(wrong)
    applied_without = [_show(p, m, applied(p, m, RULES)) for p, m, v in results
                       if not p.has_reference and v != ON_ACCOUNT]
    assert not applied_without, "\n".join(applied_without)


def test_every_receipt_is_for_the_expected_customer(evaluation: EvaluationSet) -> None:
    # The payer's own account when identified (also when nothing is applied), a corroborated
    # reference's customer, or nobody: never a guess.
    off = [_show(p, m, applied(p, m, RULES)) for p, m, _v in outcomes(evaluation, cash_application)
           if m.customer_account != p.expected_customer]
    assert not off, "\n".join(off)


def test_the_set_covers_every_style_and_both_kinds_of_payment(evaluation: EvaluationSet) -> None:
    counts = score(evaluation, cash_application)
    assert len(counts) >= 24 and all(c.total == 20 for c in counts.values())
    assert 0 < totals(counts).with_reference < totals(counts).total


# --- (b) the baseline does worse ----------------------------------------------------------------------


def test_the_exact_reference_baseline_does_worse(evaluation: EvaluationSet) -> None:
    ours, base = totals(score(evaluation, cash_application)), totals(score(evaluation, exact_reference))
    assert base.applied_right_share_with_reference < 0.5 < ours.applied_right_share_with_reference
    # The decoys bite: typed exactly, another customer's invoice number is applied by the baseline.
    assert base.wrong > 0 and ours.wrong == 0


# --- (c) never another customer's invoice, never by amount alone --------------------------------------

NAMES = ("Acme Tools, Inc.", "Birchwood Dental LLC", "Cascade Freight Ltd", "Delta Marine Supply Inc.")
WORDS = ("and", "&", ",", "/", "PO", "P.O.", "SO", "Order", "#", "Acct", "Visa ****", "paid", "2026-12-03",
         "12/03/2026", "$45.00", "thanks", "Invoice No.", "inv", "INV-", "invoices", "Ref:", "RE:")
FORMS = ("INV-{n:06d}", "inv {n}", "#{n}", "INV{n}", "INV-{n}", "Invoice No. {n}", "Inv#{n}", "{n}", "{n:06d}",
         "PO {n}", "SO {n}", "****{n}")


@st.composite
def books(draw: st.DrawFn) -> dict[str, OpenInvoice]:
    n_customers = draw(st.integers(2, 4))
    # Close numbers on purpose: neighbours make typos and lists hit other customers' invoices.
    numbers = draw(st.lists(st.integers(100, 160), min_size=n_customers, max_size=14, unique=True))
    book = {}
    for k, n in enumerate(numbers):
        c = k if k < n_customers else draw(st.integers(0, n_customers - 1))
        number = f"INV-{n:06d}"
        book[number] = OpenInvoice(
            number, f"C{c}", draw(st.integers(1, 50_000)), "USD", f"2026-0{draw(st.integers(1, 9))}-15", f"e{n}",
            invoice_date=f"2026-0{draw(st.integers(1, 9))}-0{draw(st.integers(1, 9))}",
            # the same PO and order numbers at several customers, and numbers that are invoice numbers too
            purchase_order=draw(st.sampled_from(("", "7788", "7789", str(numbers[0])))),
            order_number=draw(st.sampled_from(("", "1234", "1235", str(numbers[-1])))),
            customer_name=NAMES[c])
    return book


@st.composite
def texts(draw: st.DrawFn, book: dict[str, OpenInvoice]) -> str:
    numbers = [int(n[4:]) for n in book] + [99, 161, 170]  # and some that are no open invoice
    piece = st.one_of(st.sampled_from(WORDS), st.integers(0, 99_999).map(str),
                      st.tuples(st.sampled_from(FORMS), st.sampled_from(numbers)).map(lambda f: f[0].format(n=f[1])))
    return draw(st.lists(piece, max_size=6).map(" ".join))


@st.composite
def payments(draw: st.DrawFn, identified: bool) -> tuple[dict[str, OpenInvoice], str, str, int, Payer]:
    book = draw(books())
    balances = [i.balance_minor for i in book.values()]
    amount = draw(st.one_of(st.integers(1, 200_000), st.sampled_from(balances),
                            st.lists(st.sampled_from(balances), min_size=2, max_size=3).map(sum)))
    accounts = sorted({i.customer_account for i in book.values()})
    payer = Payer(draw(st.sampled_from(accounts)) if identified else "", draw(st.sampled_from(("", *NAMES))))
    return book, draw(texts(book)), draw(texts(book)), amount, payer


@settings(max_examples=250, deadline=None)
@given(payments(identified=True))
def test_an_identified_payers_cash_goes_only_to_its_own_invoices(case: tuple) -> None:
    book, reference, description, amount, payer = case
    m = match_payment(reference, description, amount, payer, book, RULES)
    assert m.customer_account == payer.account
    assert all(inv.customer_account == payer.account for inv in m.invoices), (reference, description)
    allocations, _ = allocate(amount, m.invoices, RULES.split)
    assert all(a.invoice.customer_account == payer.account for a in allocations)


@settings(max_examples=200, deadline=None)
@given(payments(identified=False))
def test_an_unidentified_payment_pays_one_customer_at_most_and_names_it(case: tuple) -> None:
    book, reference, description, amount, payer = case
    m = match_payment(reference, description, amount, payer, book, RULES)
    assert {inv.customer_account for inv in m.invoices} <= {m.customer_account}
    if not m.invoices:
        assert m.customer_account == ""


@settings(max_examples=150, deadline=None)
@given(books(), st.lists(st.sampled_from([w for w in WORDS if not any(ch.isdigit() for ch in w)]), max_size=6),
       st.data())
def test_never_by_amount_alone(book: dict[str, OpenInvoice], words: list[str], data: st.DataObject) -> None:
    inv = data.draw(st.sampled_from(sorted(book.values(), key=lambda i: i.number)))
    m = match_payment(" ".join(words), "Card payment", inv.balance_minor, Payer(inv.customer_account), book, RULES)
    assert m.invoices == ()


# --- (d) money is conserved ---------------------------------------------------------------------------


@st.composite
def invoice_lists(draw: st.DrawFn) -> list[OpenInvoice]:
    out = []
    for k in range(draw(st.integers(0, 6))):
        parts = draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=3))
        # several parts: installments; one: the invoice itself is the target
        targets = tuple(Target(f"e{k}-{j}", b, f"2026-0{j + 1}-28") for j, b in enumerate(parts)) if parts[1:] else ()
        out.append(OpenInvoice(f"INV-{k:06d}", "C1", sum(parts), "USD", f"2026-0{draw(st.integers(1, 9))}-28",
                               f"e{k}", targets, invoice_date=f"2026-0{draw(st.integers(1, 9))}-01"))
    return out


@settings(max_examples=300, deadline=None)
@given(invoice_lists(), st.integers(0, 80_000), st.sampled_from(("oldest_first", "as_named")))
def test_allocation_conserves_money_and_never_overpays(invoices: list[OpenInvoice], amount: int, split: str) -> None:
    allocations, unapplied = allocate(amount, invoices, split)
    assert sum(a.amount_minor for a in allocations) + unapplied == amount
    assert all(a.amount_minor > 0 for a in allocations)
    total = sum(i.balance_minor for i in invoices)
    assert unapplied == max(0, amount - total)
    per_target: dict[str, int] = {}
    per_invoice: dict[str, int] = {}
    for a in allocations:
        per_target[a.target_id] = per_target.get(a.target_id, 0) + a.amount_minor
        per_invoice[a.invoice.number] = per_invoice.get(a.invoice.number, 0) + a.amount_minor
    limits = {t.erp_id: t.balance_minor for i in invoices for t in i.application_targets()}
    assert all(v <= limits[t] for t, v in per_target.items())
    assert all(per_invoice.get(i.number, 0) <= i.balance_minor for i in invoices)
    if split == "oldest_first":  # a younger invoice gets money only once every older one is paid in full
        oldest = sorted(invoices, key=lambda i: (i.invoice_date, i.due_date, i.number))
        short = [per_invoice.get(i.number, 0) < i.balance_minor for i in oldest]
        for k, inv in enumerate(oldest):
            if any(short[:k]):
                assert per_invoice.get(inv.number, 0) == 0


# --- (e) the rules, one case each ---------------------------------------------------------------------


ACME, BIRCH = ("1001", "Acme Tools, Inc."), ("1002", "Birchwood Dental LLC")


def _inv(number: int, customer: tuple[str, str], balance: int, invoiced: str, **kw: str) -> OpenInvoice:
    due = (date.fromisoformat(invoiced) + timedelta(days=30)).isoformat()
    return OpenInvoice(f"INV-{number:06d}", customer[0], balance, "USD", due, f"e{number}", invoice_date=invoiced,
                       customer_name=customer[1], **kw)


BOOK = {i.number: i for i in (
    _inv(4512, ACME, 15000, "2026-01-05", purchase_order="7788", order_number="1234"),
    _inv(4513, ACME, 2500, "2026-02-01"),
    _inv(4600, ACME, 9900, "2026-03-01", purchase_order="4500-7790"),
    _inv(2026, ACME, 4321, "2026-03-10"),  # its number reads like a year
    _inv(4700, BIRCH, 8800, "2026-02-10"),
)}  # INV-004400 (Acme's) was paid: not in the open book
PAYER = Payer(ACME[0], "Jordan Miller")
STRANGER = Payer("", "Jordan Miller")


def pays(reference: str, amount: int, payer: Payer = PAYER, description: str = "") -> tuple[dict[str, int], Match]:
    m = match_payment(reference, description, amount, payer, BOOK, RULES)
    got: dict[str, int] = {}
    for a in allocate(amount, m.invoices, RULES.split)[0]:
        got[a.invoice.number] = got.get(a.invoice.number, 0) + a.amount_minor
    return got, m


@pytest.mark.parametrize("typed", ["INV-004512", "inv 4512", "#4512", "INV4512", "INV-4512", "Invoice No. 4512",
                                   "Inv#4512", "invoice: 004512", "4512", "Remittance for inv# 4512 paid via card",
                                   "Pmt INV004512 thx", "RE: Invoice 4512 / Acct 1001", "Order 55 - Inv 4512"])
def test_one_invoice_however_typed_in_either_field(typed: str) -> None:
    assert pays(typed, 15000)[0] == {"INV-004512": 15000}
    assert pays("", 15000, description=f"Online payment: {typed}")[0] == {"INV-004512": 15000}


@pytest.mark.parametrize("typed", ["INV-004512, INV-004513", "4512/4513", "INV 4512 & 4513", "invoices 4512 and 4513",
                                   "INV-004512 INV-004513"])
def test_several_invoices(typed: str) -> None:
    got, m = pays(typed, 17500)
    assert got == {"INV-004512": 15000, "INV-004513": 2500} and m.rule == "multiple"


def test_references_are_read_from_both_fields_together() -> None:
    assert pays("INV-004513", 17500, description="and INV-004512")[0] == {"INV-004512": 15000, "INV-004513": 2500}


def test_a_short_payment_pays_the_oldest_first_and_an_overpayment_leaves_the_excess_on_account() -> None:
    assert pays("4513/4512", 16000)[0] == {"INV-004512": 15000, "INV-004513": 1000}
    assert pays("4513/4512", 14000)[0] == {"INV-004512": 14000}
    got, m = pays("INV-004513", 3000)
    assert got == {"INV-004513": 2500} and allocate(3000, m.invoices)[1] == 500


@pytest.mark.parametrize("typed", ["PO 7788", "P.O. #7788", "PO# 7788", "PO-7788", "Purchase order 7788"])
def test_a_purchase_order_names_its_invoice(typed: str) -> None:
    got, m = pays(typed, 15000)
    assert (got, m.rule) == ({"INV-004512": 15000}, "purchase_order")


def test_a_purchase_order_is_compared_without_separators_or_case_and_is_never_an_invoice_number() -> None:
    assert pays("PO 45007790", 9900)[0] == {"INV-004600": 9900}
    # 4600 here is a PO (on no invoice), though INV-004600 is open: only INV-004513 is named.
    assert pays("PO 4600 / INV-004513", 2500)[0] == {"INV-004513": 2500}


@pytest.mark.parametrize("typed", ["SO 1234", "Order #1234", "Sales order 1234"])
def test_a_sales_order_names_its_invoice(typed: str) -> None:
    got, m = pays(typed, 15000)
    assert (got, m.rule) == ({"INV-004512": 15000}, "sales_order")


def test_another_customers_invoice_is_not_applied_and_the_exception_names_both_customers() -> None:
    got, m = pays("INV-004700", 8800)
    assert got == {} and m.customer_account == ACME[0]
    assert m.exception is not None and m.exception[0] == "reference_other_customer"
    text = " ".join(m.exception)
    assert (ACME[0] in text or "Acme" in text) and (BIRCH[0] in text or "Birchwood" in text), m.exception
    # Named with one of the payer's own: the payer's is paid, the other's rejected.
    got, m = pays("INV-004512, INV-004700", 23800)
    assert got == {"INV-004512": 15000} and "INV-004700" in dict(m.rejected)


def test_an_unidentified_payer_is_identified_by_a_reference_the_amount_corroborates() -> None:
    got, m = pays("inv 4700", 8800, STRANGER)
    assert (got, m.customer_account, m.customer_source) == ({"INV-004700": 8800}, BIRCH[0], "reference+amount")
    got, m = pays("4512/4513", 17500, STRANGER)  # the sum of what it names
    assert (got, m.customer_account) == ({"INV-004512": 15000, "INV-004513": 2500}, ACME[0])


@pytest.mark.parametrize("name", ["BIRCHWOOD DENTAL", "Birchwood Dental, Inc.", "birchwod dental llc"])
def test_an_unidentified_payer_is_identified_by_a_reference_the_name_corroborates(name: str) -> None:
    got, m = pays("#4700", 5000, Payer("", name))
    assert (got, m.customer_account, m.customer_source) == ({"INV-004700": 5000}, BIRCH[0], "reference+name")


@pytest.mark.parametrize(("reference", "payer"), [("#4700", STRANGER), ("#4700", Payer("", "Acme Tools")),
                                                  ("", Payer("", "")), ("", STRANGER)])
def test_an_uncorroborated_or_missing_reference_leaves_an_unidentified_receipt(reference: str, payer: Payer) -> None:
    got, m = pays(reference, 5000, payer, description="Card payment")
    assert (got, m.customer_account) == ({}, "")
    assert m.exception is not None and m.exception[0] == "unidentified_payer"


@pytest.mark.parametrize("typed", ["INV-004521", "INV-004612", "inv 452", "inv 45122"])  # swap, change, drop, add
def test_a_one_character_typo_when_one_invoice_is_that_close_and_the_amount_is_its_balance(typed: str) -> None:
    got, m = pays(typed, 15000)
    assert (got, m.rule) == ({"INV-004512": 15000}, "typo")


def test_the_amount_settles_a_typo_one_character_from_two_invoices() -> None:
    # One character from INV-004512 and from INV-004513: only INV-004512's balance is the amount, so
    # the customer and the amount make it unambiguous; with an amount that fits neither, nothing.
    got, m = pays("INV-004515", 15000)
    assert (got, m.rule) == ({"INV-004512": 15000}, "typo")
    assert pays("INV-004515", 9900)[0] == {}


@pytest.mark.parametrize(("typed", "amount", "payer"), [
    ("INV-004521", 14000, PAYER),  # the amount is not the balance
    ("INV-004521", 15000, STRANGER),  # the payer is not identified
    ("INV-004701", 8800, PAYER),  # one character from another customer's invoice only
])
def test_otherwise_a_typo_stays_on_account(typed: str, amount: int, payer: Payer) -> None:
    got, m = pays(typed, amount, payer)
    assert got == {} and m.customer_account == payer.account


def test_a_paid_or_unknown_invoice_is_rejected_not_applied() -> None:
    got, m = pays("INV-004400", 5000)
    assert got == {} and "INV-004400" in dict(m.rejected) and m.customer_account == ACME[0]


@pytest.mark.parametrize("description", ["Visa ****4512", "MC ************4512", "411111******4512"])
def test_masked_card_digits_are_never_read(description: str) -> None:
    assert pays("", 15000, description=description)[0] == {}
    assert pays("INV-004513", 2500, description=description)[0] == {"INV-004513": 2500}


@pytest.mark.parametrize(("description", "amount"), [
    ("Paid 2026-12-03", 4321), ("Paid on 12/03/2026", 4321), ("$4512.00", 15000), ("4512.00", 15000),
    ("Paid $4,512.00", 15000)])
def test_dates_and_amounts_are_not_read(description: str, amount: int) -> None:
    assert pays("", amount, description=description)[0] == {}
    assert pays("INV-004513", 2500, description=f"{description} thanks")[0] == {"INV-004513": 2500}


def test_never_by_amount_alone_even_when_one_invoice_fits() -> None:
    got, m = pays("", 9900, description="Online payment")
    assert got == {} and m.customer_account == ACME[0]


def test_the_baseline_reads_only_the_number_as_typed() -> None:
    assert [i.number for i in exact_reference_baseline(" INV-004512 ", PAYER, BOOK).invoices] == ["INV-004512"]
    assert exact_reference_baseline("inv 4512", PAYER, BOOK).invoices == ()
