"""Invoice matching (exact, multiple, normalized, fuzzy above and below the threshold) and allocation."""

from hypothesis import given
from hypothesis import strategies as st

from paysync_dagster.lib.posting.matching import OpenInvoice, Target, allocate, match_invoices, similarity


def invoice(number: str, balance: int, account: str = "C1", targets: tuple[Target, ...] = ()) -> OpenInvoice:
    return OpenInvoice(number, account, balance, "USD", "2026-03-01", f"id-{number}", targets)


BOOK = {inv.number: inv for inv in (
    invoice("INV-004213", 15499), invoice("INV-004214", 2000), invoice("INV-004890", 700, "C2"),
    invoice("INV-007001", 100, "C3"))}


def match(raw: str, normalized: str = "", description: str = "", account: str = "", threshold: float = 0.86):  # noqa: ANN201
    return match_invoices(raw, normalized, description, account, BOOK, threshold=threshold, prefix="INV-", digits=6)


def test_exact_reference() -> None:
    m = match("INV-004213", "INV-004213")
    assert (m.rule, m.score, [i.number for i in m.invoices]) == ("exact", 1.0, ["INV-004213"])


def test_normalized_reference_as_typed_differently() -> None:
    m = match("inv 4213", "INV-004213")
    assert (m.rule, m.score, [i.number for i in m.invoices]) == ("normalized", 1.0, ["INV-004213"])


def test_several_invoices_named_in_the_description() -> None:
    m = match("INV-004213", "INV-004213", "Payment for INV-004213, INV-004214")
    assert (m.rule, [i.number for i in m.invoices]) == ("multiple", ["INV-004213", "INV-004214"])


def test_a_named_invoice_that_is_not_open_does_not_make_it_multiple() -> None:
    m = match("INV-004213", "INV-004213", "Payment for INV-004213, INV-009999")
    assert (m.rule, [i.number for i in m.invoices]) == ("exact", ["INV-004213"])


def test_fuzzy_above_the_threshold_within_the_customer() -> None:
    # One digit off: 9 of 10 characters in common.
    assert similarity("INV-004891", "INV-004890") == 0.9
    m = match("INV-4891", "INV-004891", account="C2")
    assert (m.rule, m.score, [i.number for i in m.invoices]) == ("fuzzy", 0.9, ["INV-004890"])


def test_fuzzy_below_the_threshold_matches_nothing_but_reports_the_best_score() -> None:
    m = match("INV-4891", "INV-004891", account="C2", threshold=0.95)
    assert (m.rule, m.invoices, m.score) == ("none", (), 0.9)


def test_fuzzy_looks_only_at_the_customers_invoices_when_the_customer_is_known() -> None:
    m = match("INV-4215", "INV-004215", account="C3")  # C3 has only INV-007001
    assert m.rule == "none" and m.score < 0.86


def test_fuzzy_ties_go_to_the_lowest_number() -> None:
    m = match("INV-4212", "INV-004212")  # INV-004213 and INV-004214 both differ by one digit
    assert (m.rule, [i.number for i in m.invoices]) == ("fuzzy", ["INV-004213"])


def test_no_reference_matches_nothing() -> None:
    assert match("", "").rule == "none"


def test_allocation_pays_in_order_and_leaves_the_rest_on_account() -> None:
    apps, unapplied = allocate(20_000, [BOOK["INV-004213"], BOOK["INV-004214"]])
    assert [(a.invoice.number, a.amount_minor) for a in apps] == [("INV-004213", 15499), ("INV-004214", 2000)]
    assert unapplied == 20_000 - 17499


def test_a_short_payment_pays_part_of_the_first_invoice() -> None:
    apps, unapplied = allocate(5000, [BOOK["INV-004213"], BOOK["INV-004214"]])
    assert [(a.invoice.number, a.amount_minor) for a in apps] == [("INV-004213", 5000)] and unapplied == 0


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
