from hypothesis import given
from hypothesis import strategies as st

from paysync_dagster.lib.scrub import luhn_valid, mask_card_numbers, scrub

VISA = "4012000098765439"


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


@given(st.text(alphabet="0123456789 -abc", max_size=60))
def test_no_luhn_valid_run_survives(text: str) -> None:
    import re

    masked, _ = mask_card_numbers(text)
    for run in re.findall(r"(?<!\d)\d{13,19}(?!\d)", masked):
        assert not luhn_valid(run)
