"""Properties of card-data scrubbing, checked against a reading of the rule written independently
of the scrubber: digit runs, separators, Luhn windows and field names are re-derived here."""

import json
import unicodedata
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from paysync_dagster.lib.scrub import CSC_FIELD_NAMES, mask_card_numbers, scrub

# The documented separators; whitespace is any character ``str.isspace`` accepts.
SEPARATORS = (
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d._/\\|,+"
    "\uff0e\uff3f\uff0f\uff3c\uff5c\uff0c\uff0b\u00ad\u200b\u200c\u200d\u2060\ufeff"
)
WHITESPACE = " \t\n\u00a0\u2007\u2009\u202f\u3000"
MAX_SEPARATOR_RUN = 3


def is_separator(ch: str) -> bool:
    return ch.isspace() or ch in SEPARATORS


def digit_runs(text: str) -> list[list[int]]:
    """The digit values of each run: digits joined by at most three separator characters."""
    runs: list[list[int]] = []
    current: list[int] = []
    gap = 0
    for ch in text:
        if ch.isdecimal():
            if gap > MAX_SEPARATOR_RUN and current:
                runs.append(current)
                current = []
            current.append(unicodedata.decimal(ch))
            gap = 0
        elif is_separator(ch) and current:
            gap += 1
        else:
            if current:
                runs.append(current)
            current, gap = [], 0
    if current:
        runs.append(current)
    return runs


def luhn(values: list[int]) -> bool:
    total = 0
    for i, d in enumerate(reversed(values)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_windows(text: str) -> list[str]:
    """Every Luhn-valid window of 13 to 19 consecutive digits in ``text``'s digit runs."""
    found = []
    for run in digit_runs(text):
        for length in range(13, 20):
            for i in range(len(run) - length + 1):
                window = run[i : i + length]
                if luhn(window):
                    found.append("".join(map(str, window)))
    return found


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number of 13 to 19 digits: random digits and the check digit that completes them."""
    length = draw(st.integers(13, 19))
    body = draw(st.lists(st.integers(0, 9), min_size=length - 1, max_size=length - 1))
    check = next(d for d in range(10) if luhn([*body, d]))
    return "".join(map(str, [*body, check]))


separator_runs = st.text(alphabet=SEPARATORS + WHITESPACE, min_size=1, max_size=MAX_SEPARATOR_RUN)


@st.composite
def written_cards(draw: st.DrawFn) -> str:
    """A card number as a person or a system may write it: random groups, random separators."""
    digits = draw(card_numbers())
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=6)))
    groups = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)])]
    return groups[0] + "".join(draw(separator_runs) + g for g in groups[1:])


filler = st.text(alphabet="0123456789 abcXYZ-./,*:", max_size=30)


@settings(max_examples=200, deadline=None)
@given(before=filler, card=written_cards(), after=filler)
def test_a_card_written_anywhere_leaves_no_luhn_valid_window(before: str, card: str, after: str) -> None:
    masked, count = mask_card_numbers(before + card + after)
    assert count >= 1
    assert luhn_windows(masked) == []
    assert mask_card_numbers(masked) == (masked, 0)  # the output is clean by the scrubber's own reading


@settings(max_examples=200, deadline=None)
@given(before=st.text(alphabet="abc XYZ*", max_size=20), card=written_cards(), after=st.text(alphabet="abc XYZ*", max_size=20))
def test_a_card_among_words_keeps_exactly_its_last_four(before: str, card: str, after: str) -> None:
    masked, count = mask_card_numbers(f"{before}#{card}#{after}")
    shown = [ch for ch in masked.split("#")[1] if ch.isdecimal()]
    digits = [ch for ch in card if ch.isdecimal()]
    assert count == 1 and shown == digits[-4:]


# -- documents --------------------------------------------------------------------------------------

# Filler that cannot form 13 digits across JSON tokens on its own (lists of at most four numbers of
# at most three digits each), so any Luhn-valid window in the output would be the scrubber's miss.
_names = st.text(alphabet="xyzqw", min_size=1, max_size=6)  # never a card field's name
_leaves = st.none() | st.booleans() | st.integers(0, 999) | st.sampled_from([0.5, 8.1, 2.25]) | st.text(alphabet="abc XY.-", max_size=12)
documents = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_names, inner, max_size=4),
    max_leaves=12,
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


_spellings = st.sampled_from([str, str.upper, _camel, lambda n: n.replace("_", "-")])
csc_names = st.tuples(st.sampled_from(CSC_FIELD_NAMES), _spellings).map(lambda t: t[1](t[0]))


def _dicts(doc: Any) -> list[dict]:
    found = [doc] if isinstance(doc, dict) else []
    for child in doc.values() if isinstance(doc, dict) else doc if isinstance(doc, list) else []:
        found += _dicts(child)
    return found


def _keys(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [*doc, *(k for v in doc.values() for k in _keys(v))]
    if isinstance(doc, list):
        return [k for v in doc for k in _keys(v)]
    return []


def _normal(name: str) -> str:
    return "".join(ch for ch in name if ch not in "_- ").lower()


@st.composite
def documents_with_card_data(draw: st.DrawFn) -> tuple[Any, set[str]]:
    """A document with card numbers placed as string values, int values and keys, and CSCs under
    CSC names; returns it with the normalized CSC names placed."""
    doc = {"root": draw(documents)}
    placed: set[str] = set()
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(_dicts(doc)))
        how = draw(st.sampled_from(["str", "int", "key", "csc"]))
        if how == "str":
            target[draw(_names)] = f"{draw(filler)} {draw(written_cards())} {draw(filler)}"
        elif how == "int":
            target[draw(_names)] = int(draw(card_numbers().filter(lambda c: c[0] != "0")))  # all its digits
        elif how == "key":
            target[draw(written_cards())] = draw(_leaves)
        else:
            name = draw(csc_names)
            target[name] = draw(st.integers(100, 9999) | st.from_regex(r"\A[0-9]{3,4}\Z"))
            placed.add(_normal(name))
    return doc, placed


@settings(max_examples=200, deadline=None)
@given(documents_with_card_data())
def test_a_scrubbed_document_holds_no_card_number_and_no_csc_field(case: tuple[Any, set[str]]) -> None:
    doc, csc_names_placed = case
    clean, count = scrub(doc)
    stored = json.dumps(clean, ensure_ascii=False)
    assert luhn_windows(stored) == []
    assert not {_normal(k) for k in _keys(clean)} & csc_names_placed
    assert count >= 1
    assert scrub(clean) == (clean, 0)  # nothing left to find
