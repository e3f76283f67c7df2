"""The mapping file as forms: every key the forms show reads back to the same file, an error lands on
the field of the key it names, and an edit rewrites only what changed (comments kept)."""

from __future__ import annotations

import pytest
import yaml

from paysync_dagster.lib.mapping import SAMPLE_MAPPING, parse_mapping
from paysync_dagster.lib.studio import forms

TEXT = SAMPLE_MAPPING.read_text(encoding="utf-8")


def _form(**changes: str) -> list[tuple[str, str]]:
    values = forms.field_values(forms.read_data(TEXT))
    values.update(changes)
    return list(values.items())


def test_the_forms_read_back_the_file_unchanged() -> None:
    sub = forms.from_form(forms.read_data(TEXT), _form())
    mapping, errors = forms.problems_by_field(sub)
    assert errors == {}
    assert mapping.model_dump() == parse_mapping(TEXT).model_dump()
    assert forms.updated_yaml(TEXT, sub.data) == TEXT


def test_every_section_of_the_model_has_a_form() -> None:
    shown = {item.path[0] for section in forms.SECTIONS for item in section.items}
    assert shown >= {"statuses", "gl_accounts", "customers", "currency", "receipts", "invoice_reference", "tolerances",
                     "alerts", "date_formats", "merchant_time_zone", "charges"}


@pytest.mark.parametrize(("field", "value", "words"), [
    ("gl_accounts.rules.2.account", "12110", "does not fit oracle's account format"),
    ("gl_accounts.default", "1", "does not fit oracle's account format"),
    ("tolerances.amount_minor", "five", "valid integer"),
    ("alerts.max_open_exceptions", "0", "greater than or equal to 1"),
    ("invoice_reference.digits", "40", "less than or equal to 20"),
    ("currency.rates.0.currency", "C4D", "not an ISO 4217 currency code"),
    ("currency.rates.1.rate", "-1", "greater than 0"),
    ("merchant_time_zone", "Mars/Olympus", "Mars/Olympus"),
    ("receipts.sage.bank_code", "MUCH-TOO-LONG", "at most 8 characters"),
    ("gl_accounts.format.0.pattern", "([", "not a valid regular expression"),
])
def test_an_error_lands_beside_the_field_of_its_key(field: str, value: str, words: str) -> None:
    sub = forms.from_form(forms.read_data(TEXT), _form(**{field: value}))
    mapping, errors = forms.problems_by_field(sub)
    assert mapping is None
    assert list(errors) == [field], errors
    assert words in " ".join(errors[field])


def test_a_customer_map_error_lands_on_its_row() -> None:
    values = _form(**{"customers.map.0.id": "CUST-9", "customers.map.0.oracle": "C1", "customers.map.1.id": "CUST-10"})
    values.append(("customers.map.1.oracle", ""))
    data = forms.read_data(TEXT)
    data["customers"]["lookup_fallback"] = ["id"]
    sub = forms.from_form(data, values + [("customers.lookup_fallback", "id, phone")])
    _mapping, errors = forms.problems_by_field(sub)
    assert list(errors) == ["customers.lookup_fallback"]
    assert sub.data["customers"]["map"] == {"CUST-9": {"oracle": "C1"}, "CUST-10": {}}


def test_blank_rows_are_no_rows_and_new_rows_are_added() -> None:
    values = dict(_form())
    values.update({"gl_accounts.rules.1.when.kind": "", "gl_accounts.rules.1.account": "",  # row 2 blanked: removed
                   "gl_accounts.rules.3.when.card_brand": "DISCOVER", "gl_accounts.rules.3.account": "101.10.12130.000"})
    sub = forms.from_form(forms.read_data(TEXT), values.items())
    mapping, errors = forms.problems_by_field(sub)
    assert errors == {}
    assert [(r.when.kind, r.when.card_brand, r.account) for r in mapping.gl_accounts.rules] == [
        ("refund", None, "101.10.12100.000"), (None, "AMEX", "101.10.12110.000"), (None, "DISCOVER", "101.10.12130.000")]


def test_an_edit_keeps_the_files_comments_and_changes_only_its_lines() -> None:
    sub = forms.from_form(forms.read_data(TEXT), _form(**{"gl_accounts.rules.2.account": "101.10.12120.000",
                                                          "tolerances.amount_minor": "5"}))
    text = forms.updated_yaml(TEXT, sub.data)
    before, after = TEXT.splitlines(), text.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [('      account: "101.10.12110.000"      # AmEx clearing (funded separately)',
                        '      account: "101.10.12120.000"      # AmEx clearing (funded separately)'),
                       ("  amount_minor: 0            # cents an ERP amount may differ from PayTrace's and still match",
                        "  amount_minor: 5            # cents an ERP amount may differ from PayTrace's and still match")]
    assert parse_mapping(text).tolerances.amount_minor == 5


def test_blank_optional_values_fall_back_to_their_defaults() -> None:
    sub = forms.from_form(forms.read_data(TEXT), _form(**{"tolerances.bank_date_window_days": "",
                                                          "statuses.sage.dispute_won": ""}))
    mapping, errors = forms.problems_by_field(sub)
    assert errors == {}
    assert mapping.tolerances.bank_date_window_days == 3  # the model's default
    assert "dispute_won" not in mapping.statuses.sage
    assert "bank_date_window_days" not in yaml.safe_load(forms.updated_yaml(TEXT, sub.data))["tolerances"]
