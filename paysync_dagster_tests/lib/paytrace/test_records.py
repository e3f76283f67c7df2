"""Every quirk of PayTrace's export records read into canonical values."""

from datetime import date, datetime

import pytest

from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace.records import latest_states, parse_record, state_of
from paysync_dagster_tests.lib.paytrace.records_fixtures import record

LA = "America/Los_Angeles"


def test_json_number_amount_becomes_cents() -> None:
    assert parse_record(record(amount=110), LA)["amount_minor"] == 11000
    assert parse_record(record(amount=12.34), LA)["amount_minor"] == 1234
    assert parse_record(record(amount=0.1), LA)["amount_minor"] == 10


def test_string_tax_amount_becomes_cents_and_empty_is_zero() -> None:
    assert parse_record(record(tax_amount="8.10"), LA)["tax_minor"] == 810
    assert parse_record(record(tax_amount=""), LA)["tax_minor"] == 0


def test_created_and_settled_without_zone_become_utc_and_business_date() -> None:
    row = parse_record(record(created__at="11/2/2026 9:30:00 PM", settled="11/3/2026 8:00:00 PM"), LA)
    assert row["created_at"] == datetime(2026, 11, 3, 5, 30)
    assert row["business_date"] == date(2026, 11, 2)
    assert row["settled_at"] == datetime(2026, 11, 4, 4, 0)
    assert row["state"] == "settled"


def test_empty_settled_means_not_settled() -> None:
    row = parse_record(record(settled=""), LA)
    assert row["settled_at"] is None and row["state"] == "approved"


def test_two_digit_expiration_year_and_asterisk_mask() -> None:
    row = parse_record(record(), LA)
    assert row["expiration_year"] == 2020 and row["expiration_month"] == 12
    assert row["masked_card_number"] == "************5454" and row["card_last_four"] == "5454"


def test_empty_strings_for_missing_values_stay_empty() -> None:
    row = parse_record(record(customer_id="", receipt_emailed_to=""), LA)
    assert row["customer_id"] == "" and row["receipt_emailed_to"] == ""


@pytest.mark.parametrize(
    ("changes", "state"),
    [
        ({}, "approved"),
        ({"approval_code": ""}, "declined"),
        ({"transaction_type": "VOID"}, "voided"),
        ({"transaction_type": "AUTHORIZATION"}, "authorized"),
        ({"transaction_type": "CAPTURE"}, "captured"),
        ({"transaction_type": "REFUND", "approval_code": ""}, "approved"),
        ({"transaction_type": "Sale", "settled": "4/10/2015 8:00:00 PM"}, "settled"),
    ],
)
def test_state_is_derived_from_type_approval_and_settlement(changes: dict, state: str) -> None:
    assert state_of(record(**changes)) == state


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"transaction_type": "PAYOUT"}, "transaction_type"),
        ({"amount": ...}, "amount"),
        ({"amount": "12.345"}, "amount"),
        ({"amount": -5}, "amount"),
        ({"created__at": "2015-04-10T16:06:30Z"}, "created.at"),
        ({"created": ...}, "created"),
        ({"transaction_type": ...}, "transaction_type"),
        ({"tax_amount": "eight"}, "tax_amount"),
        ({"settled": "yesterday"}, "settled"),
    ],
)
def test_bad_data_names_the_transaction_and_the_field(changes: dict, field: str) -> None:
    with pytest.raises(PayTraceDataError) as err:
        parse_record(record(**changes), LA)
    assert err.value.field == field
    assert err.value.transaction_id == 1143
    assert "1143" in str(err.value) and field in str(err.value)


def test_missing_transaction_id_is_named() -> None:
    with pytest.raises(PayTraceDataError) as err:
        parse_record(record(transaction_id=...), LA)
    assert err.value.field == "transaction_id"


def test_latest_state_wins_whatever_the_arrival_order() -> None:
    rows = [
        {"id": 5, "transaction_id": 1, "state": "settled"},
        {"id": 7, "transaction_id": 1, "state": "approved"},  # a late webhook for an older state
        {"id": 6, "transaction_id": 2, "state": "approved"},
        {"id": 9, "transaction_id": 1, "state": "chargeback_opened"},
    ]
    assert {r["transaction_id"]: r["state"] for r in latest_states(rows)} == {1: "chargeback_opened", 2: "approved"}
