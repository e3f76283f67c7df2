import enum
import json
import math
import uuid
from decimal import Decimal
from datetime import datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paysync_dagster.lib.paytrace.contract import problem_in_values
from paysync_dagster.lib.scrub import (
    CARD_SEPARATORS,
    CARD_NUMBER_FIELD_NAMES,
    CSC_FIELD_NAMES,
    float_written_alike,
    is_card_field,
    keeps_as_is,
    luhn_valid,
    mask_card_numbers,
    mask_then_cut,
    plain_json,
    scrub,
    untouched_json,
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


# -- the clean-document shortcut (``untouched_json``, ``plain_json``) ------------------------------------


def _standard_text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


_TRICKY_FLOATS = [0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e-05, 1e-07, 5e-324, 1e16, 9999999999999998.0, 1e22, -1e16,
                  123456789012.5, 4111111111111111.0, 0.30000000000000004, float("nan"), float("inf"), -float("inf")]
_TRICKY_TEXT = ["", "plain", "caf\u00e9", "\x7f", "tab\there", "quote\"d", "back\\slash", "nul\x00", "lone\ud800",
                "e+16", "1e+16", "{brace}", "4111 1111 1111 1111", "4111-1111-1111-1111", "12/10/2015 12:06:30",
                "\uff14\uff11\uff11\uff11", "order 1234567890123", "\u2028", "**** 1111"]
# Mostly printable ASCII (what a clean document is made of, so that the shortcut is taken often),
# with any text, the tricky values and card-like keys mixed in.
_ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
_KEYS = st.one_of(st.text(alphabet="abcdefghij_.[]-", min_size=1, max_size=8), st.text(max_size=8),
                  st.sampled_from(["masked_number", "number", "cvv", "card_number", "amount", f"card {TEST_CARD}", "a.b", "zip"]))
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(),
    st.sampled_from(_TRICKY_FLOATS), _ASCII, _ASCII, st.text(max_size=20), st.sampled_from(_TRICKY_TEXT),
)
_DOCUMENTS = st.dictionaries(_KEYS, st.recursive(
    _SCALARS, lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=4), max_leaves=8,
), max_size=6)


# Documents that are mostly clean (a record's shape: values and dicts of values, keys no card field
# can be spelt from), so that the property below meets the shortcut's own text most times.
_CLEAN_KEYS = st.text(alphabet="abefghjklmo_", min_size=1, max_size=6)
_CLEAN_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**13), max_value=10**13), st.integers(-999, 10**9),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\{'), max_size=12),
    st.integers(-(10**9), 10**11).map(lambda cents: cents / 100), st.floats(min_value=-1e17, max_value=1e17),
    st.sampled_from(_TRICKY_FLOATS), st.sampled_from(_TRICKY_TEXT),
)
_MOSTLY_CLEAN = st.dictionaries(_CLEAN_KEYS, _CLEAN_VALUES | st.dictionaries(_CLEAN_KEYS, _CLEAN_VALUES, max_size=5), max_size=8)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_DOCUMENTS, _MOSTLY_CLEAN))
def test_a_document_the_shortcut_writes_is_clean_and_written_as_the_standard_encoder_writes_it(doc: dict) -> None:
    text = untouched_json(doc)
    if text is None:
        return
    assert text == _standard_text(doc)  # byte for byte: readers and older rows see no difference
    clean, n = scrub(doc)
    assert n == 0 and clean == doc
    assert problem_in_values(doc) is None


_ENCODER_BEFORE = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)


def _untouched_json_before(value: object) -> str | None:
    """``untouched_json`` as it was before orjson wrote plain documents: the reference it must agree with."""
    from paysync_dagster.lib.scrub import _ASCII_SEPARATORS, _DIGITS_ONLY, _THIRTEEN_DIGITS, _keys_kept

    if type(value) is not dict or not _keys_kept(value):
        return None
    nested = [v for v in value.values() if type(v) is dict]
    for d in nested:
        if not _keys_kept(d):
            return None
    try:
        text = _ENCODER_BEFORE.encode(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if "\\" in text or "e+" in text or text.count("{") != 1 + len(nested):
        return None
    if _THIRTEEN_DIGITS in text.encode("ascii").translate(_DIGITS_ONLY, _ASCII_SEPARATORS):
        return None
    return text


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_DOCUMENTS, _MOSTLY_CLEAN))
def test_the_shortcut_takes_every_document_it_took_before_orjson_wrote_for_it_with_the_same_text(doc: dict) -> None:
    before = _untouched_json_before(doc)
    if before is not None:  # (it may take more now, e.g. "e+" in a string: the property above holds it to json and scrub)
        assert untouched_json(doc) == before


@pytest.mark.parametrize("value", [*_TRICKY_FLOATS, *_TRICKY_TEXT, 2**63, 2**64, -(2**63) - 1, 10**13, 123456789012])
def test_the_shortcut_on_each_tricky_value_agrees_with_the_standard_encoder_or_declines(value: object) -> None:
    doc = {"amount": 110, "value": value, "nested": {"value": value, "city": "Spokane"}}
    text = untouched_json(doc)
    if text is not None:
        assert text == _standard_text(doc) and scrub(doc) == (doc, 0)
    if isinstance(value, float) and not math.isfinite(value):
        assert text is None
    if isinstance(value, str) and not value.isascii():
        assert text is None


class _Colour(enum.Enum):
    RED = 1


class _Level(enum.IntEnum):
    HIGH = 3


class _Text(str):
    pass


@pytest.mark.parametrize("value", [_Colour.RED, uuid.UUID(int=5), datetime(2026, 1, 1), _Text("x"), (1, 2), {1, 2}, b"x", Decimal("1.5")])
def test_values_the_standard_encoder_cannot_write_or_writes_otherwise_are_not_taken_by_the_shortcut(value: object) -> None:
    doc = {"value": value, "nested": {"value": value}}
    try:
        expected: str | None = _standard_text(doc)
    except (TypeError, ValueError):
        expected = None
    text = untouched_json(doc)
    assert text is None or text == expected


def test_an_int_enum_and_a_key_that_is_a_str_subclass_are_handled_as_the_standard_encoder_does() -> None:
    doc = {"level": _Level.HIGH, "nested": {"level": _Level.HIGH}}
    assert untouched_json(doc) in (None, _standard_text(doc))
    keyed = {_Text("amount"): 1}
    assert untouched_json(keyed) is None  # scrub reads a key that is not exactly str through str(): the long way


def test_a_paytrace_record_takes_the_orjson_path_and_matches_the_standard_encoder() -> None:
    from paysync_dagster_tests.lib.paytrace.records_fixtures import record

    for rec in (record(), record(amount=956.3), record(amount=0.1, tax_amount=""), record(credit_card=None)):
        text = untouched_json(rec)
        assert text is not None and text == _standard_text(rec)
        assert plain_json(rec) == text
    assert untouched_json(record(description=f"paid with {VISA}")) is None
    assert untouched_json(record(billing_address__name="Jos\u00e9")) is None  # escaped by the standard encoder: the long way


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_written_alike_are_written_alike(number: float) -> None:
    if float_written_alike(number):
        assert orjson.dumps(number) == json.dumps(number).encode()


def test_keeps_as_is_names_kept_keys_only() -> None:
    assert keeps_as_is("masked_number") and keeps_as_is("amount")
    assert not keeps_as_is("number") and not keeps_as_is("cvv") and not keeps_as_is(f"card {TEST_CARD}")
    assert not keeps_as_is(_Text("amount")) and not keeps_as_is(5)  # type: ignore[arg-type]


def test_plain_json_declines_what_the_scrub_would_touch() -> None:
    assert plain_json({"a": {"b": 1}, "c": "{x}"}) == '{"a":{"b":1},"c":"{x}"}'
    assert plain_json({"note": f"card {VISA}"}) is None
    assert plain_json({"note": "4012 0000 9876 5439"}) is None
    assert plain_json({"note": "4012\\0000\\9876\\5439"}) is None
    assert plain_json({"note": "caf\u00e9"}) is None
    assert plain_json({"note": "\x7f"}) is None
    assert plain_json({"note": "nul\x00"}) is None
    assert plain_json({"n": 2**64}) is None
    assert plain_json({_Text("a"): 1}) is None


def test_a_dict_deeper_than_a_record_goes_the_long_way() -> None:
    assert untouched_json({"a": {"b": {"c": 1}}}) is None
    assert untouched_json({"a": [{"b": 1}]}) is None
    assert untouched_json({"a": {"b": 1}, "l": [1, "x"]}) == '{"a":{"b":1},"l":[1,"x"]}'
