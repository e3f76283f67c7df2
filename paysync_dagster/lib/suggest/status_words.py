"""Suggested ERP words for PaySync's canonical statuses (the mapping file's ``statuses.oracle`` and
``statuses.sage``), for a person to accept or reject (nothing here applies a suggestion).

Each canonical status gets the ERP word that means the same, judged first by meaning (a small table of
words for each status and how near each comes, below) and only second by spelling (``rapidfuzz``: a
typed variant such as "Canceled"/"Cancelled", and a tie-breaker). A word that is only spelt like a
status, with no meaning in the table, is at most a low-confidence suggestion; a status no word of the
vocabulary fits gets none, rather than a wrong one. At most ``PER_STATUS`` words per status, best first.

Confidence: the meaning's strength (1 the same word, about 0.9 a synonym, lower a near or loose fit),
lowered when another word of the vocabulary comes close; in the auto-accept band (0.9) only for the
status's own word or a true synonym that stands out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from paysync_dagster.lib.mapping import CANONICAL_STATUSES

#: the auto-accept band, as for customer suggestions
AUTO_ACCEPT = 0.9
#: below this, a word is not suggested at all
SHOWN_FROM = 0.5
#: at most this many words per canonical status
PER_STATUS = 3
#: how alike (0..100) a word must be spelt to a word of the table to count as that word ("Canceled")
SAME_WORD = 90.0
#: a word with no meaning in the table, spelt this much like a status, is shown (low confidence)
SPELT_ALIKE = 85.0

# The words each ERP uses for the state of a receipt (a PaySync payment once written to the ERP).
ERP_STATUS_VOCABULARY: dict[str, tuple[str, ...]] = {
    "oracle": (
        # specs/oracle_fusion_rest.md §3.1 (standardReceipts attributes) names the receipt's `State` and
        # `Status` but gives none of their values. The values below are Oracle Receivables' receipt
        # lifecycle as generally documented, UNVERIFIED against the spec (marked [unverified] there for
        # anything not confirmed):
        # State (the receipt's cash lifecycle): Approved -> Confirmed -> Remitted -> Cleared (-> Risk
        # Eliminated, factored receipts), or Reversed.
        "Approved", "Confirmed", "Remitted", "Cleared", "Risk Eliminated", "Reversed",
        # Status (how much of the receipt is applied): Unidentified, Unapplied, Applied, Reversed; UNVERIFIED
        # in the spec, and the values PaySync's Oracle sandbox answers with (sandbox/oracle/app.py).
        "Unidentified", "Unapplied", "Applied",
    ),
    "sage": (
        # specs/sage300_webapi.md §0, "How the product requirements' vocabulary maps onto Sage 300":
        # "PaymentStatus `Paid`/`Failed`/`Refunded` | No such field [in Sage 300] ... Keep `PaymentStatus`
        # as a connector-side enum. Approved -> create + apply a CA receipt; Declined -> no Sage write
        # (log only); Refunded -> AR refund batch or AR adjustment/credit note".
        "Paid", "Failed", "Refunded",
        # specs/sage300_webapi.md §2.5, "Values seen: ... BatchStatus `Open`, `ReadyToPost`", and §0:
        # "batch lifecycle Open -> ReadyToPost -> posted through `$process`". A receipt batch's status, not
        # a payment's; the spelling of the posted value is UNVERIFIED (the spec gives no BatchStatus value
        # after ReadyToPost).
        "Open", "ReadyToPost", "Posted",
    ),
}

# What each canonical status is, in words, for the evidence.
_MEANS = {
    "authorized": "the card was authorized, nothing captured yet",
    "pending_settlement": "captured, the money not yet settled",
    "settled": "the money settled to the merchant's bank",
    "declined": "the card was declined, no money moved",
    "voided": "cancelled before settlement",
    "disputed": "a chargeback is open",
    "dispute_won": "the chargeback was won, the money stays",
    "dispute_lost": "the chargeback was lost, the money went back",
}

# Canonical status -> word (lower case, words apart) -> how near its meaning comes (1 = the same). A
# word missing here means nothing for that status, whatever its spelling.
MEANINGS: dict[str, dict[str, float]] = {
    "authorized": {"authorized": 1.0, "authorised": 1.0, "authorization": 0.95, "authorisation": 0.95,
                   "approved": 0.8, "on hold": 0.55, "held": 0.55, "pending": 0.5},
    "pending_settlement": {"pending settlement": 1.0, "unsettled": 0.9, "captured": 0.85, "remitted": 0.85,
                           "in transit": 0.8, "submitted": 0.75, "confirmed": 0.75, "pending": 0.7, "paid": 0.7,
                           "open": 0.6, "ready to post": 0.55, "approved": 0.5, "unapplied": 0.5},
    "settled": {"settled": 1.0, "settlement": 0.95, "cleared": 0.95, "funded": 0.9, "deposited": 0.9,
                "paid": 0.85, "fully paid": 0.85, "posted": 0.7, "completed": 0.65, "complete": 0.65,
                "closed": 0.6, "risk eliminated": 0.55, "applied": 0.5},
    "declined": {"declined": 1.0, "decline": 1.0, "denied": 0.9, "rejected": 0.9, "failed": 0.9, "refused": 0.85,
                 "failure": 0.85, "not authorized": 0.85, "error": 0.55},
    "voided": {"voided": 1.0, "void": 1.0, "reversed": 0.9, "cancelled": 0.9, "canceled": 0.9,
               "reversal": 0.85, "deleted": 0.6, "failed": 0.6, "refunded": 0.4},
    "disputed": {"disputed": 1.0, "dispute": 1.0, "chargeback": 0.95, "charged back": 0.9, "contested": 0.85,
                 "in dispute": 1.0, "on hold": 0.6, "reversed": 0.75, "refunded": 0.6},
    "dispute_won": {"dispute won": 1.0, "won": 0.85, "reinstated": 0.8, "representment won": 0.95,
                    "cleared": 0.7, "settled": 0.7, "paid": 0.65, "resolved": 0.6},
    "dispute_lost": {"dispute lost": 1.0, "lost": 0.85, "charged back": 0.85, "reversed": 0.8, "refunded": 0.75,
                     "written off": 0.7, "write off": 0.7},
}

# What one ERP's own words mean beside the table: (factor on the meaning, why). A batch's status says
# where the receipt's batch is, not what happened to the payment.
_ERP_NOTES: dict[str, dict[str, tuple[float, str]]] = {
    "sage": {"open": (0.8, "in Sage 300 a receipt batch's status, not a payment's"),
             "ready to post": (0.8, "in Sage 300 a receipt batch's status, not a payment's"),
             "posted": (0.8, "in Sage 300 a receipt batch's status, not a payment's")},
    "oracle": {"applied": (0.9, "in Oracle how much of the receipt is applied to invoices, not its cash state"),
               "unapplied": (0.9, "in Oracle how much of the receipt is applied to invoices, not its cash state")},
}

_NEGATIONS = frozenset({"not", "no", "non"})


@dataclass(frozen=True)
class StatusWordSuggestion:
    erp: str
    canonical: str
    word: str  # as the vocabulary spells it
    confidence: float
    evidence: str
    rank: int = 1  # 1 = the best word for this canonical status

    def as_dict(self) -> dict[str, Any]:
        return {"erp": self.erp, "canonical": self.canonical, "word": self.word, "confidence": self.confidence,
                "evidence": self.evidence, "rank": self.rank}


def words_of(word: str) -> str:
    """Lower case, words apart: "ReadyToPost" -> "ready to post", "Charged-Back" -> "charged back"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", word or "")
    return " ".join(re.findall(r"[a-z0-9]+", spaced.lower()))


def _meaning(word: str, canonical: str) -> tuple[float, str]:
    """How near ``word`` (words apart) comes to ``canonical``, and the table's word it was read as."""
    tokens = set(word.split())
    best, as_word = 0.0, ""
    for known, strength in MEANINGS[canonical].items():
        if word == known:
            score = strength
        elif fuzz.ratio(word, known) >= SAME_WORD:
            score = strength * 0.95  # a spelling of the same word ("canceled", "cancelled")
        elif set(known.split()) <= tokens and not tokens & _NEGATIONS:
            score = strength * 0.9  # the word inside a longer phrase ("payment declined")
        else:
            continue
        if score > best:
            best, as_word = score, known
    return best, as_word


def _strength_words(strength: float) -> str:
    if strength >= 0.97:
        return "the same word as"
    if strength >= 0.85:
        return "a synonym of"
    if strength >= 0.65:
        return "a near meaning of"
    return "a loose fit for"


@dataclass(frozen=True)
class _Scored:
    word: str
    score: float
    meaning: float
    spelling: float  # 0..100, against the canonical status's name
    read_as: str
    note: str


def _score(erp: str, word: str, canonical: str) -> _Scored | None:
    key = words_of(word)
    if not key:
        return None
    meaning, read_as = _meaning(key, canonical)
    spelling = fuzz.ratio(key, canonical.replace("_", " "))
    note = ""
    factor, why = _ERP_NOTES.get(erp, {}).get(key, (1.0, ""))
    if meaning and factor != 1.0:
        meaning, note = meaning * factor, why
    if meaning:
        # Spelling only breaks near ties: meaning decides.
        return _Scored(word, min(meaning + 0.03 * spelling / 100, 0.99), meaning, spelling, read_as, note)
    # Spelt like the status but meaning nothing known: shown low, unless the table knows it means another
    # status ("Unsettled" is spelt like settled, and means pending settlement).
    if spelling >= SPELT_ALIKE and not any(_meaning(key, other)[0] for other in MEANINGS if other != canonical):
        return _Scored(word, 0.5, 0.0, spelling, "", "")
    return None


def suggest_status_words(erp: str, vocabulary: Iterable[str] | None = None) -> list[StatusWordSuggestion]:
    """For each canonical status (CANONICAL_STATUSES order), up to ``PER_STATUS`` of ``vocabulary``'s
    words that mean it, best first (``rank`` 1). ``vocabulary``: the ERP's words for a receipt's state;
    by default ``ERP_STATUS_VOCABULARY[erp]`` (none for another ERP). A status no word fits is left out."""
    if vocabulary is None:
        vocabulary = ERP_STATUS_VOCABULARY.get(erp, ())
    words = list(dict.fromkeys(w.strip() for w in vocabulary if isinstance(w, str) and w.strip()))
    out: list[StatusWordSuggestion] = []
    for canonical in CANONICAL_STATUSES:
        scored = sorted((s for s in (_score(erp, w, canonical) for w in words) if s is not None and s.score >= SHOWN_FROM),
                        key=lambda s: (-s.score, s.word))
        for rank, s in enumerate(scored[:PER_STATUS], start=1):
            out.append(_suggestion(erp, canonical, s, rank, scored))
    return out


def _suggestion(erp: str, canonical: str, s: _Scored, rank: int, scored: list[_Scored]) -> StatusWordSuggestion:
    status = canonical.replace("_", " ")
    if s.meaning:
        evidence = [f"{s.word!r} is {_strength_words(s.meaning)} {status} ({_MEANS[canonical]})"]
        if words_of(s.word) != s.read_as:
            evidence.append(f"read as {s.read_as!r}")
        confidence = s.meaning
    else:
        evidence = [f"{s.word!r} is only spelt like {status} ({s.spelling:.0f}% alike); its meaning is not known "
                    "here: check it"]
        confidence = 0.4
    if s.note:
        evidence.append(s.note)
    others = [o for o in scored if o is not s]
    if rank == 1 and others and s.score - others[0].score < 0.1:
        confidence = min(confidence, AUTO_ACCEPT - 0.05)
        evidence.append(f"{others[0].word!r} comes close")
    elif rank > 1:
        confidence = min(confidence, scored[0].meaning or 0.4)
        evidence.append(f"{scored[0].word!r} fits better")
    if s.meaning and s.meaning < 0.65:
        evidence.append("a loose fit: check it")
    return StatusWordSuggestion(erp, canonical, s.word, round(min(confidence, 0.99), 2), "; ".join(evidence), rank)
