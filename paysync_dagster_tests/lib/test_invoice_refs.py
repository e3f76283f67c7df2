"""Invoice references as typed in PayTrace, in the ERP's form."""

import pandas as pd

from paysync_dagster.lib.invoice_refs import invoice_refs_in_text, normalize_invoice_refs


def test_references_take_the_erps_form() -> None:
    raw = pd.Series(["inv 4213", "#4213", "INV-004213 ", "Invoice 4213", "po-abc", "", None, "1234567"])
    assert normalize_invoice_refs(raw, "INV-", 6).tolist() == [
        "INV-004213", "INV-004213", "INV-004213", "INV-004213", "POABC", "", "", "1234567"]


def test_a_reference_whose_card_number_was_masked_is_not_read_as_an_invoice_number() -> None:
    # "WEB-4111111111114512" was masked to keep the card number out: 4512 is not invoice INV-004512.
    assert normalize_invoice_refs(pd.Series(["WEB-************4512"]), "INV-", 6).tolist() == ["WEB************4512"]


def test_every_invoice_named_in_free_text() -> None:
    assert invoice_refs_in_text("Payment for INV-004213 and inv 4214, #4213 again", "INV-", 6) == [
        "INV-004213", "INV-004214"]
