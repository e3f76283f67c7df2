import json
from decimal import Decimal
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysync_dagster.lib.scrub import (
    CARD_SEPARATORS,
    CARD_NUMBER_FIELD_NAMES,
    CSC_FIELD_NAMES,
    is_card_field,
    luhn_valid,
    mask_card_numbers,
    mask_then_cut,
    scrub,
)
from paysync_dagster.lib.timeutil import format_paytrace_timestamp
from paysync_dagster_tests.lib.test_scrub_property import SEPARATORS, WHITESPACE, luhn_windows

VISA = "4012000098765439"
TEST_CARD = "4111111111111111"
AMEX = "378282246310005"


def test_card_fields_are_dropped_and_masked_fields_kept() -> None:
    clean, n = scrub({"credit_card": {"number": VISA, "masked_number": "************5439", "expiration_month": 12}, "csc": "999", "CVV2": "1"})
    assert clean == {"credit_card": {"masked_number": "************5439", "expiration_month": 12}}
    assert n == 3


def test_luhn_valid_runs_in_free_text_are_masked_to_last_four() -> None:
    text, n = mask_card_numbers(f"customer said card {VISA} and 4012 0000 9876 5439 failed; order 1234567890123")
    assert VISA not in text and "4012 0000 9876 5439" not in text
    assert text.count("5439") == 2 and n == 2
    assert "1234567890123" in text  # not a Luhn-valid number: an order reference stays


def test_a_card_number_beside_other_digits_is_masked_and_the_other_digits_kept() -> None:
    for text, expected in [
        ("order 12 4111111111111111", "order 12 ************1111"),
        ("4111111111111111 12", "************1111 12"),
        ("ref 9 4111 1111 1111 1111", "ref 9 **** **** **** 1111"),
        ("card 4012 0000 9876 5439, qty 3", "card **** **** **** 5439, qty 3"),
    ]:
        assert mask_card_numbers(text) == (expected, 1)


def test_nested_lists_are_scrubbed() -> None:
    clean, n = scrub({"notes": [f"pan {VISA}", {"card_number": VISA}]})
    assert VISA not in str(clean) and n == 2


# Digit groups of any length joined by anything: documented separators (alone or in runs of up to
# four, one more than the rule joins), characters that are not separators, Unicode digits.
_pieces = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=9),
    st.text(alphabet="٤١١١４１", min_size=1, max_size=4),
    st.text(alphabet=SEPARATORS + WHITESPACE, min_size=1, max_size=4),
    st.sampled_from(["a", "*", ":", "#"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=16).map("".join))
def test_no_luhn_valid_run_survives(text: str) -> None:
    masked, _ = mask_card_numbers(text)
    assert luhn_windows(masked) == []
    assert mask_card_numbers(masked) == (masked, 0)


# -- numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [4111111111111111, 4111111111111111.0, 4.111111111111111e15, Decimal("4111111111111111"), -4111111111111111])
def test_a_json_number_holding_a_card_becomes_its_masked_string(value: object) -> None:
    clean, n = scrub({"note": value, "items": [value]})
    assert n == 2
    assert clean["note"] == clean["items"][0] and clean["note"].endswith("************1111")


@pytest.mark.parametrize("value", [4.111111111111111e18, 4111111111111111111, 41111111111111110000001])
def test_a_large_number_with_a_card_in_its_digits_is_masked(value: object) -> None:
    clean, n = scrub([value])
    assert n >= 1 and isinstance(clean[0], str) and luhn_windows(json.dumps(clean)) == []


@pytest.mark.parametrize("value", [0, 110, 8.1, 0.30000000000000004, 19.990000000000002, 123456789012, 1234567890123,
                                   True, False, None, float("inf"), Decimal("12.30")])
def test_other_numbers_are_kept_with_their_type(value: object) -> None:
    clean, n = scrub({"amount": value})
    assert n == 0 and clean["amount"] is value


# -- keys ----------------------------------------------------------------------------------------------


def test_a_key_holding_a_card_number_is_masked() -> None:
    clean, n = scrub({"note": {f"card {TEST_CARD}": "declined", 4012000098765439: 1}})
    assert clean == {"note": {"card ************1111": "declined", "************5439": 1}} and n == 2


def test_keys_that_mask_alike_are_both_kept() -> None:
    doc = {TEST_CARD: 1, "************1111": 2, "4111-1111-1111-1111": 3, "************1111~2": 4}
    clean, n = scrub(doc)
    assert clean == {"************1111": 1, "************1111~2": 2, "****-****-****-1111": 3, "************1111~2~2": 4}
    assert n == 2


# -- separators, scripts and runs -------------------------------------------------------------------

SEPARATOR_CASES = [
    " ", "  ", "   ", "\t", "\n", "\u00a0", "\u2007", "\u2009", "\u202f", "\u3000",
    "-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\uff0d",
    ".", "_", "/", "\\", "|", ",", "+", "\uff0e", "\uff0f", "\uff0c",
    "\ufe58", "\ufe63", "\uff3f", "\uff3c", "\uff5c", "\uff0b",
    "\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
    ", ", " - ", " / ", ". ", "\u2009\u2013\u2009",
]


@pytest.mark.parametrize("sep", SEPARATOR_CASES)
def test_digit_groups_with_any_documented_separator_are_masked(sep: str) -> None:
    text = "card " + sep.join(["4111", "1111", "1111", "1111"]) + " ok"
    assert mask_card_numbers(text) == ("card " + sep.join(["****", "****", "****", "1111"]) + " ok", 1)


@pytest.mark.parametrize("sep", SEPARATOR_CASES)
def test_uneven_groups_with_any_documented_separator_are_masked(sep: str) -> None:
    text = sep.join(["3782", "822463", "10005"])  # an Amex as printed on the card
    assert mask_card_numbers(text) == (sep.join(["****", "******", "*0005"]), 1)


def test_every_documented_separator_has_a_case() -> None:
    assert set(SEPARATORS) == set(CARD_SEPARATORS)
    assert set(SEPARATORS) <= set("".join(SEPARATOR_CASES))


@pytest.mark.parametrize("digits", [
    "４１１１ １１１１ １１１１ １１１１",  # fullwidth
    "٤١١١١١١١١١١١١١١١",  # Arabic-Indic
    "۴۱۱۱-۱۱۱۱-۱۱۱۱-۱۱۱۱",  # Extended Arabic-Indic (Persian)
    "४१११ ११११ ११११ ११११",  # Devanagari
    "4111 １１１１ ١١١١ 1111",  # mixed scripts
])
def test_card_numbers_in_any_decimal_digits_are_masked(digits: str) -> None:
    masked, n = mask_card_numbers(f"card {digits}.")
    assert n == 1 and luhn_windows(masked) == []
    assert [ch for ch in masked if ch.isdecimal()] == [ch for ch in digits if ch.isdecimal()][-4:]


@pytest.mark.parametrize("text", [
    f"card{TEST_CARD}x", f"ref#{TEST_CARD}#", f"order123{TEST_CARD}456", f"{TEST_CARD}{TEST_CARD}",
    f"77 0{TEST_CARD}9 88", f"id 1234-{TEST_CARD}-5678", f"2024031199{VISA}", f"{AMEX}{TEST_CARD}12",
])
def test_a_card_inside_a_longer_run_or_glued_to_letters_is_masked(text: str) -> None:
    masked, n = mask_card_numbers(text)
    assert n >= 1 and luhn_windows(masked) == []


def test_a_card_glued_to_letters_keeps_its_last_four() -> None:
    assert mask_card_numbers(f"card{TEST_CARD}x") == ("card************1111x", 1)


def test_a_long_digit_run_is_mostly_masked() -> None:
    run = str(7**300)[:200]
    masked, n = mask_card_numbers(run)
    assert n >= 10 and luhn_windows(masked) == [] and masked.count("*") > len(run) // 2


def test_a_luhn_valid_order_id_is_masked_too() -> None:
    # Recall over precision: the rule sees digits, not meaning.
    assert luhn_valid("1234567890128")
    assert mask_card_numbers("order 1234567890128") == ("order *********0128", 1)


def test_paytrace_and_iso_timestamps_are_never_masked() -> None:
    # ``:`` is not a separator: a date and a clock time together hold 13 digits or more.
    start = datetime(2025, 12, 10, 0, 0, 7)
    for minutes in range(0, 24 * 60, 7):
        moment = start + timedelta(minutes=minutes, seconds=minutes % 60)
        iso = moment.isoformat(sep=" ", timespec="microseconds") + "+00:00"
        for text in [format_paytrace_timestamp(moment, "UTC"), moment.strftime("%m/%d/%Y %H:%M:%S"), iso]:
            assert mask_card_numbers(text) == (text, 0)


@pytest.mark.parametrize("text", ["", "Steve Smith", "8320 E. West St.", "85284", "110.00", "4/10/2015 4:06:30 PM", "10.1.1.1",
                                  "192.168.100.200", "************5454", "**** **** **** 5454", "INV-20240311-0042", "+1 509 555 1234"])
def test_ordinary_record_text_is_untouched(text: str) -> None:
    assert mask_card_numbers(text) == (text, 0)


# -- field names ---------------------------------------------------------------------------------------

REQUIRED_CARD_NAMES = ["number", "card_number", "cardnumber", "cc_number", "ccnum", "credit_card_number", "pan", "account_number",
                       "acct_number", "encrypted_number", "track_data", "track1", "track2"]
REQUIRED_CSC_NAMES = ["csc", "cvv", "cvv2", "cvc", "cvc2", "cid", "card_code", "security_code", "card_security_code", "card_verification",
                      "card_verification_value", "cvn", "cv2", "verification_value", "encrypted_csc", "card_cvv", "cc_cvv", "cvv_code", "csc_code"]


def test_the_documented_lists_hold_the_required_names() -> None:
    assert set(REQUIRED_CARD_NAMES) <= set(CARD_NUMBER_FIELD_NAMES)
    assert set(REQUIRED_CSC_NAMES) <= set(CSC_FIELD_NAMES)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@pytest.mark.parametrize("name", sorted(set(REQUIRED_CARD_NAMES + REQUIRED_CSC_NAMES + list(CARD_NUMBER_FIELD_NAMES + CSC_FIELD_NAMES))))
def test_each_card_and_csc_field_is_dropped_at_any_depth(name: str) -> None:
    for variant in {name, name.upper(), _camel(name), name.replace("_", "-").title(), name.replace("_", " ")}:
        for value in ["123", 1234, VISA, {"nested": "x"}, None]:
            card = {variant: value, "masked_number": "************5439"}
            doc = {"transaction": {"credit_card": card, "lines": [{variant: value, "qty": 1}]}, variant: value}
            clean, n = scrub(doc)
            assert clean == {"transaction": {"credit_card": {"masked_number": "************5439"}, "lines": [{"qty": 1}]}}, variant
            assert n == 3


@pytest.mark.parametrize("name", ["cardNumber", "Card-Number", "CVV2", "securityCode", "Security Code", "CARD_CODE", "payment.cvv", "card[cvc]",
                                  "credit_card.number", "card[number]"])
def test_card_field_names_match_in_any_spelling_or_path(name: str) -> None:
    assert is_card_field(name)


@pytest.mark.parametrize("name", ["masked_number", "masked_card_number", "last_four", "card_last_four", "csc_response", "avs_response",
                                  "credit_card", "expiration_month", "invoice_id", "transaction_id", "number_of_items", "card.masked_number", ""])
def test_masked_forms_and_other_fields_are_kept(name: str) -> None:
    assert not is_card_field(name)


def test_deeply_nested_lists_and_dicts_are_scrubbed() -> None:
    doc: object = {"cvv": "123", "memo": f"pay {TEST_CARD}"}
    for depth in range(30):
        doc = [{"level": depth, "inner": doc, "ids": [TEST_CARD, 5]}]
    clean, n = scrub(doc)
    text = json.dumps(clean)
    assert luhn_windows(text) == [] and '"cvv"' not in text and n == 1 + 1 + 30
    assert isinstance(clean, list) and clean[0]["level"] == 29


def test_scrub_returns_a_copy() -> None:
    doc = {"a": [TEST_CARD], "cvv": "123"}
    scrub(doc)
    assert doc == {"a": [TEST_CARD], "cvv": "123"}


# -- masking before a cut -------------------------------------------------------------------------------


@pytest.mark.parametrize("card", [TEST_CARD, "4111 1111 1111 1111", AMEX, "6011000990139424"])
def test_a_card_across_the_cut_leaves_at_most_four_of_its_digits(card: str) -> None:
    prefix = "event evt_"
    text = prefix + card + " retried"
    for limit in range(len(text) + 1):
        out = mask_then_cut(text, limit)
        assert len(out) == min(limit, len(text)) and out == mask_card_numbers(text)[0][:limit]
        assert sum(ch.isdigit() for ch in out[len(prefix) :][: len(card)]) <= 4


def test_cutting_first_would_have_kept_the_card() -> None:
    text = f"id {TEST_CARD}"
    assert mask_card_numbers(text[:18])[0] == text[:18]  # 15 digits, not Luhn-valid: cutting first leaks them
    assert mask_then_cut(text, 18) == "id ************111"
