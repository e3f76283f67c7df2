"""ERP status-word suggestions: the sample mapping's words come first, a word is judged by meaning before
spelling, and a vocabulary with nothing fitting gets no confident suggestion."""

from __future__ import annotations

import json

import pytest

from paysync_dagster.lib.mapping import CANONICAL_STATUSES, SAMPLE_MAPPING, load_mapping
from paysync_dagster.lib.suggest.status_words import (AUTO_ACCEPT, ERP_STATUS_VOCABULARY, SHOWN_FROM,
                                                      suggest_status_words)


def _best(erp: str, vocabulary=None) -> dict[str, object]:  # noqa: ANN001
    return {s.canonical: s for s in suggest_status_words(erp, vocabulary) if s.rank == 1}


@pytest.mark.parametrize("erp", ["oracle", "sage"])
def test_the_sample_mappings_words_come_first(erp: str) -> None:
    sample = getattr(load_mapping(SAMPLE_MAPPING).statuses, erp)
    in_vocabulary = {c: w for c, w in sample.items() if w in ERP_STATUS_VOCABULARY[erp]}
    assert in_vocabulary == sample  # every word of the sample is one the specs give
    best = _best(erp)
    assert {c: best[c].word for c in in_vocabulary} == in_vocabulary


def test_a_status_no_word_fits_gets_none() -> None:
    assert "declined" not in _best("oracle")  # a declined card payment never reaches Oracle as a receipt
    assert "authorized" not in _best("sage")  # nor an authorization Sage (no receipt is written)


def test_a_nonsense_vocabulary_gives_no_confident_suggestion() -> None:
    found = suggest_status_words("oracle", ["Blorf", "Zzyx", "Quux", "Frobnicated", "Mauve", "42", ""])
    assert all(s.confidence < SHOWN_FROM for s in found), [s.as_dict() for s in found]
    assert found == []


def test_meaning_before_spelling() -> None:
    vocabulary = ["Deposited", "Canceled", "Payment Declined", "Not Settled", "Chargeback", "Settlement Fee"]
    best = _best("oracle", vocabulary)
    assert best["settled"].word == "Deposited"  # not "Not Settled", though spelt alike
    assert best["voided"].word == "Canceled" and best["declined"].word == "Payment Declined"
    assert best["disputed"].word == "Chargeback"
    assert "Not Settled" not in [s.word for s in suggest_status_words("oracle", vocabulary) if s.canonical == "settled"]


def test_a_word_only_spelt_like_a_status_is_shown_low_and_says_so() -> None:
    found = [s for s in suggest_status_words("oracle", ["Settles"]) if s.canonical == "settled"]
    assert found and found[0].confidence < 0.5 and "only spelt like" in found[0].evidence
    # Spelt like settled, but known to mean something else: never a word for settled.
    unsettled = suggest_status_words("oracle", ["Unsettled"])
    assert [(s.canonical, s.word) for s in unsettled] == [("pending_settlement", "Unsettled")]


def test_the_band_needs_a_strong_meaning() -> None:
    for erp in ("oracle", "sage"):
        for s in suggest_status_words(erp):
            if s.confidence >= AUTO_ACCEPT:
                assert "same word" in s.evidence or "synonym" in s.evidence, s
            if "loose fit" in s.evidence:
                assert s.confidence < 0.65, s
    assert _best("oracle", ["Settled", "Voided"])["settled"].confidence >= 0.95


def test_a_close_second_lowers_the_first() -> None:
    best = _best("oracle", ["Cleared", "Deposited"])["settled"]
    assert best.confidence < AUTO_ACCEPT and "comes close" in best.evidence


def test_ranks_and_json() -> None:
    found = suggest_status_words("oracle")
    by_status: dict[str, list[int]] = {}
    for s in found:
        by_status.setdefault(s.canonical, []).append(s.rank)
    assert all(ranks == list(range(1, len(ranks) + 1)) for ranks in by_status.values())
    assert list(by_status) == [c for c in CANONICAL_STATUSES if c in by_status]
    rows = [s.as_dict() for s in found]
    assert json.loads(json.dumps(rows)) == rows and set(rows[0]) == {"erp", "canonical", "word", "confidence",
                                                                      "evidence", "rank"}


def test_the_default_vocabulary_and_an_unknown_erp() -> None:
    assert suggest_status_words("oracle") == suggest_status_words("oracle", ERP_STATUS_VOCABULARY["oracle"])
    assert suggest_status_words("sagepro") == []
    assert suggest_status_words("oracle", []) == []
