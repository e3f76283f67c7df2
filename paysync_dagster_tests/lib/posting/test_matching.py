"""Cash application rule by rule: references read, the payer's invoices only, corroboration of an
unidentified payer, one-character typos, purchase and sales orders, and allocation."""

from hypothesis import given
from hypothesis import strategies as st

from paysync_dagster.lib.posting.matching import OpenInvoice, Payer, ReferenceRules, Target, allocate, match_payment

RULES = ReferenceRules("INV-", 6)


def invoice(number: str, balance: int, account: str = "C1", targets: tuple[Target, ...] = (), *, day: str = "2026-03-01",
            po: str = "", order: str = "", name: str = "") -> OpenInvoice:
    return OpenInvoice(number, account, balance, "USD", day, f"id-{number}", targets, invoice_date=day,
                       purchase_order=po, order_number=order, customer_name=name or f"Customer {account}")


BOOK = {inv.number: inv for inv in (
    invoice("INV-004213", 15499, day="2026-02-01", name="Acme Tools, Inc."),
    invoice("INV-004214", 2000, day="2026-01-15", po="PO-7788", name="Acme Tools, Inc."),
    invoice("INV-004890", 700, "C2", name="Brightline LLC"), invoice("INV-007001", 100, "C3", order="SO-5531"))}


def match(reference: str, description: str = "", amount: int = 0, account: str = "", name: str = ""):  # noqa: ANN201
    return match_payment(reference, description, amount, Payer(account, name), BOOK, RULES)


def numbers(m) -> list[str]:  # noqa: ANN001
    return [i.number for i in m.invoices]


def test_exact_reference() -> None:
    m = match("INV-004213", account="C1")
    assert (m.rule, m.score, numbers(m), m.customer_account, m.exception) == ("exact", 1.0, ["INV-004213"], "C1", None)


def test_a_reference_after_other_words_and_numbers_is_read() -> None:
    m = match("PO 1234 / inv 4213", account="C1")
    assert (m.rule, numbers(m)) == ("reference", ["INV-004213"])
    assert m.tokens == ("1234", "4213")
    assert any(what == "1234" for what, _ in m.rejected)  # a PO number no open invoice carries


def test_every_invoice_in_the_reference_and_the_description_oldest_first() -> None:
    m = match("INV-004213, INV-004214", account="C1")
    assert (m.rule, numbers(m)) == ("multiple", ["INV-004214", "INV-004213"])  # INV-004214 is older
    m = match("", "Payment for inv 4213 and 4214", account="C1")
    assert numbers(m) == ["INV-004214", "INV-004213"]


def test_purchase_and_sales_order_numbers_name_invoices() -> None:
    assert (match("P.O. #7788", account="C1").rule, numbers(match("P.O. #7788", account="C1"))) == (
        "purchase_order", ["INV-004214"])
    m = match("Order 5531", account="C3")
    assert (m.rule, numbers(m)) == ("sales_order", ["INV-007001"])


def test_another_customers_invoice_is_never_applied_for_an_identified_payer() -> None:
    m = match("INV-004890", amount=700, account="C1")
    assert (m.invoices, m.customer_account) == ((), "C1")
    code, reason, _ = m.exception
    assert code == "reference_other_customer" and "C1" in reason and "C2" in reason and "Brightline" in reason


def test_own_invoices_are_applied_and_another_customers_reported() -> None:
    m = match("INV-004213 INV-004890", account="C1")
    assert numbers(m) == ["INV-004213"] and m.exception[0] == "reference_other_customer"


def test_an_unidentified_payer_is_identified_by_a_reference_the_amount_corroborates() -> None:
    m = match("INV-004890", amount=700)
    assert (numbers(m), m.customer_account, m.customer_source, m.exception) == (
        ["INV-004890"], "C2", "reference+amount", None)


def test_an_unidentified_payer_is_identified_by_a_reference_the_name_corroborates() -> None:
    m = match("INV-004890", amount=300, name="BRIGHTLINE")
    assert (numbers(m), m.customer_account, m.customer_source) == (["INV-004890"], "C2", "reference+name")


def test_an_uncorroborated_reference_leaves_an_unidentified_receipt() -> None:
    m = match("INV-004890", amount=300, name="Someone Else")
    assert (m.invoices, m.customer_account, m.exception[0]) == ((), "", "unidentified_payer")
    assert m.rejected and m.rejected[0][0] == "INV-004890"


def test_no_reference_and_no_payer_is_an_unidentified_receipt() -> None:
    m = match("", amount=700)
    assert (m.invoices, m.customer_account, m.exception[0]) == ((), "", "unidentified_payer")


def test_never_by_amount_alone() -> None:
    assert match("", "thanks", amount=700, account="C2").invoices == ()


def test_a_one_character_typo_needs_the_customer_and_the_amount() -> None:
    m = match("INV-004891", amount=700, account="C2")
    assert (m.rule, numbers(m), m.score) == ("typo", ["INV-004890"], 0.75)
    assert match("INV-004891", amount=699, account="C2").invoices == ()  # the amount does not agree
    assert match("INV-004891", amount=700).invoices == ()  # nobody identified
    assert match("INV-004980", amount=700, account="C2").rule == "typo"  # two digits swapped
    # Two of the payer's invoices one character away, one fits the amount: that one.
    assert numbers(match("INV-004215", amount=2000, account="C1")) == ["INV-004214"]


def test_a_paid_invoice_is_reported_not_applied() -> None:
    m = match("INV-009999", amount=500, account="C1")
    assert m.invoices == () and m.rejected[0][0] == "INV-009999" and "paid" in m.rejected[0][1]


def test_digits_of_a_masked_card_number_dates_and_amounts_are_not_references() -> None:
    book = {"INV-004512": invoice("INV-004512", 4500), "INV-002026": invoice("INV-002026", 4500)}
    m = match_payment("", "card ****4512 paid 2026-12-03 $45.00", 4500, Payer("C1"), book, RULES)
    assert m.invoices == () and m.tokens == ()


def test_allocation_pays_in_full_and_leaves_the_rest_on_account() -> None:
    apps, unapplied = allocate(20_000, [BOOK["INV-004213"], BOOK["INV-004214"]])
    assert sorted((a.invoice.number, a.amount_minor) for a in apps) == [("INV-004213", 15499), ("INV-004214", 2000)]
    assert unapplied == 20_000 - 17499


def test_a_short_payment_pays_the_oldest_invoice_first() -> None:
    apps, unapplied = allocate(5000, [BOOK["INV-004213"], BOOK["INV-004214"]])
    assert [(a.invoice.number, a.amount_minor) for a in apps] == [("INV-004214", 2000), ("INV-004213", 3000)]
    assert unapplied == 0
    apps, _ = allocate(5000, [BOOK["INV-004213"], BOOK["INV-004214"]], "as_named")
    assert [(a.invoice.number, a.amount_minor) for a in apps] == [("INV-004213", 5000)]


def test_allocation_fills_installments_in_due_order() -> None:
    inv = invoice("INV-000010", 300, targets=(Target("i1", 100, "2026-03-01"), Target("i2", 200, "2026-04-01")))
    apps, unapplied = allocate(250, [inv])
    assert [(a.target_id, a.amount_minor) for a in apps] == [("i1", 100), ("i2", 150)] and unapplied == 0
    after = inv.less("i1", 100).less("i2", 150)
    assert after.balance_minor == 50 and after.targets[1].balance_minor == 50


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**7), max_size=6))
def test_allocation_never_creates_or_loses_a_cent(amount: int, balances: list[int]) -> None:
    invoices = [invoice(f"INV-{i:06d}", b) for i, b in enumerate(balances)]
    apps, unapplied = allocate(amount, invoices)
    assert sum(a.amount_minor for a in apps) + unapplied == amount
    assert all(0 < a.amount_minor <= a.invoice.balance_minor for a in apps)
    assert unapplied == max(0, amount - sum(balances))
