"""Suggested ``gl_accounts`` rules, learnt from how past receipts were accounted, for a person to accept or
reject (nothing here applies a suggestion).

The ``default`` is the account most payments went to. A rule is proposed for a group of payments (one
``kind``, one ``card_brand``, or one kind with one brand) that went to another account consistently: at
least ``min_support`` payments, at least ``min_agreement`` of them on that account. Rules are chosen one
at a time, the most certain first (the lower bound of its agreement), each judged on the payments the
rules before it leave; then, where a kind-and-brand group is still consistently given another account
than its own, a rule of its own puts it right; a rule is moved earlier where that reproduces more of the
history; rules the others imply (removing them gives no payment another account) are dropped; and the
list is ordered the way the mapping file reads it, more specific first (a kind-and-brand rule before
the kind's and the brand's rules; it never fires after them). A few mis-posted payments (noise) make no
rule: they lower the agreement of the rule that decides them, and its confidence.

Confidence: the lower bound (Wilson, 95%) of the rule's agreement on the payments it decides, so a
rule is in the auto-accept band (0.9) only when it decides many payments and nearly all of them agree.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paysync_dagster.lib.mapping import KINDS

#: the auto-accept band, as for customer suggestions
AUTO_ACCEPT = 0.9
#: a group needs this many payments to get a rule of its own
MIN_SUPPORT = 5
#: and this share of them on one account
MIN_AGREEMENT = 0.9

_FIELDS = ("kind", "card_brand")
Cell = tuple[str, str]  # (kind, card_brand): the smallest group a condition can name
Condition = tuple[tuple[str, str], ...]  # ((field, value), ...) in _FIELDS order


@dataclass(frozen=True)
class GlRuleSuggestion:
    when: dict[str, str]  # {"kind": "refund"}, {"card_brand": "AMEX"}, or both
    account: str
    support: int  # payments this rule decides where it stands in the list (earlier rules take theirs first)
    agreement: float  # share of them the history put on ``account``
    confidence: float
    evidence: str
    amount_minor: int | None = None  # their total amount, when the history gives amounts

    def as_mapping_rule(self) -> dict[str, Any]:
        return {"when": dict(self.when), "account": self.account}

    def as_dict(self) -> dict[str, Any]:
        return {"when": dict(self.when), "account": self.account, "support": self.support,
                "agreement": self.agreement, "confidence": self.confidence, "evidence": self.evidence,
                "amount_minor": self.amount_minor}


@dataclass(frozen=True)
class GlRulesSuggestion:
    default: str  # "" without history
    default_support: int  # payments no rule decides
    default_agreement: float  # share of them the history put on ``default``
    default_confidence: float
    default_evidence: str
    rules: tuple[GlRuleSuggestion, ...]  # in the order the mapping file must list them
    total: int  # payments with an account in the history
    reproduced: int  # of them, those the rules and the default give the account they were posted to
    reproduced_share: float
    evidence: str
    skipped: int = 0  # history rows without an account (not counted anywhere else)
    mixed: tuple[str, ...] = field(default_factory=tuple)  # groups split between accounts: for a person to look at

    def as_mapping_rules(self) -> list[dict[str, Any]]:
        """``gl_accounts.rules`` in the mapping file's shape: ``[{"when": {...}, "account": "..."}]``."""
        return [r.as_mapping_rule() for r in self.rules]

    def as_dict(self) -> dict[str, Any]:
        return {"default": self.default, "default_support": self.default_support,
                "default_agreement": self.default_agreement, "default_confidence": self.default_confidence,
                "default_evidence": self.default_evidence, "rules": [r.as_dict() for r in self.rules],
                "total": self.total, "reproduced": self.reproduced, "reproduced_share": self.reproduced_share,
                "evidence": self.evidence, "skipped": self.skipped, "mixed": list(self.mixed),
                "mapping": {"rules": self.as_mapping_rules(), "default": self.default}}


def wilson_lower(agreeing: int, n: int, z: float = 1.96) -> float:
    """The lower bound of a share's 95% Wilson interval: low for few payments, near the share for many."""
    if n <= 0:
        return 0.0
    p = agreeing / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def _text(value: Any) -> str:  # noqa: ANN401
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


def _amount(value: Any) -> int | None:  # noqa: ANN401
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


@dataclass
class _History:
    cells: dict[Cell, Counter[str]]  # (kind, brand) -> account -> payments
    amounts: dict[Cell, Counter[str]]  # (kind, brand) -> account -> amount_minor
    has_amounts: bool
    total: int
    skipped: int


def _read(history: Iterable[Mapping[str, Any]]) -> _History:
    cells: dict[Cell, Counter[str]] = {}
    amounts: dict[Cell, Counter[str]] = {}
    has_amounts = False
    total = skipped = 0
    for row in history:
        account = _text(row.get("gl_account"))
        if not account:
            skipped += 1
            continue
        cell = (_text(row.get("kind")).lower(), _text(row.get("card_brand")).upper())
        cells.setdefault(cell, Counter())[account] += 1
        amount = _amount(row.get("amount_minor"))
        if amount is not None:
            has_amounts = True
            amounts.setdefault(cell, Counter())[account] += amount
        total += 1
    return _History(cells, amounts, has_amounts, total, skipped)


def _conditions(cell: Cell) -> list[Condition]:
    """The conditions the mapping file can write that name this cell: its kind (one of KINDS), its brand
    (when it has one), and both."""
    kind, brand = cell
    out: list[Condition] = []
    if kind in KINDS:
        out.append((("kind", kind),))
    if brand:
        out.append((("card_brand", brand),))
    if kind in KINDS and brand:
        out.append((("kind", kind), ("card_brand", brand)))
    return out


def _matches(condition: Condition, cell: Cell) -> bool:
    values = dict(zip(_FIELDS, cell, strict=True))
    return all(values[f] == v for f, v in condition)


Rule = tuple[Condition, str]


def _assign(rules: list[Rule], default: str, cells: Iterable[Cell]) -> dict[Cell, tuple[int, str]]:
    """cell -> (index of the rule deciding it, -1 for the default; the account it gives)."""
    out = {}
    for cell in cells:
        out[cell] = next(((i, acct) for i, (cond, acct) in enumerate(rules) if _matches(cond, cell)), (-1, default))
    return out


def _reproduced(rules: list[Rule], default: str, h: _History) -> int:
    given = _assign(rules, default, h.cells)
    return sum(h.cells[c][acct] for c, (_i, acct) in given.items())


def _majority(counts: Counter[str]) -> tuple[str, int]:
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0])) if counts else ("", 0)


def _greedy(h: _History, default: str, min_support: int, min_agreement: float) -> list[Rule]:
    conditions = sorted({c for cell in h.cells for c in _conditions(cell)})
    rules: list[Rule] = []
    left = set(h.cells)
    used: set[Condition] = set()
    while True:
        best: tuple[tuple[float, int, int, Condition], Rule, set[Cell]] | None = None
        for cond in conditions:
            if cond in used:
                continue
            cells = {c for c in left if _matches(cond, c)}
            counts: Counter[str] = sum((h.cells[c] for c in cells), Counter())
            n = sum(counts.values())
            if n < min_support:
                continue
            account, agreeing = _majority(counts)
            if account == default or agreeing / n < min_agreement:
                continue
            # The most certain first; between equals the one deciding more, then the less specific.
            key = (wilson_lower(agreeing, n), n, -len(cond), tuple(reversed(cond)))
            if best is None or key > best[0]:
                best = (key, (cond, account), cells)
        if best is None:
            return rules
        rules.append(best[1])
        used.add(best[1][0])
        left -= best[2]


def _repair_pairs(rules: list[Rule], default: str, h: _History, min_support: int, min_agreement: float) -> list[Rule]:
    """A kind-and-brand group consistently on one account that the rules give another gets a rule of its own."""
    given = _assign(rules, default, h.cells)
    extra: list[Rule] = []
    for cell, counts in sorted(h.cells.items()):
        n = sum(counts.values())
        if n < min_support or cell[0] not in KINDS or not cell[1]:
            continue
        account, agreeing = _majority(counts)
        if agreeing / n >= min_agreement and given[cell][1] != account:
            extra.append(((("kind", cell[0]), ("card_brand", cell[1])), account))
    return extra + rules


def _move_earlier(rules: list[Rule], default: str, h: _History) -> list[Rule]:
    """Moves a rule before another where that reproduces more of the history, until no move does."""
    best = _reproduced(rules, default, h)
    improved = True
    while improved:
        improved = False
        for i in range(1, len(rules)):
            for j in range(i):
                trial = rules[:j] + [rules[i]] + rules[j:i] + rules[i + 1:]
                score = _reproduced(trial, default, h)
                if score > best:
                    rules, best, improved = trial, score, True
                    break
            if improved:
                break
    return rules


def _prune(rules: list[Rule], default: str, h: _History) -> list[Rule]:
    """Drops each rule the others imply: without it, no payment loses the account it was posted to."""
    best = _reproduced(rules, default, h)
    i = 0
    while i < len(rules):
        trial = rules[:i] + rules[i + 1:]
        if _reproduced(trial, default, h) >= best:
            rules = trial
            continue
        i += 1
    return rules


def _specific_first(rules: list[Rule], default: str, h: _History) -> list[Rule]:
    """Kind-and-brand rules first (they fire only before the kind's and the brand's rules), the rest as
    chosen; kept as chosen if that would change any payment's account."""
    ordered = sorted(rules, key=lambda r: -len(r[0]))  # stable: the chosen order within each level

    def accounts(listed: list[Rule]) -> dict[Cell, str]:
        return {c: a for c, (_i, a) in _assign(listed, default, h.cells).items()}

    return ordered if accounts(ordered) == accounts(rules) else rules


def _describe(cond: Condition) -> str:
    words = {"kind": "kind", "card_brand": "card brand"}
    return " with ".join(f"{words[f]} {v}" for f, v in cond)


def _spread(counts: Counter[str], account: str, limit: int = 3) -> str:
    others = sorted(((a, n) for a, n in counts.items() if a != account), key=lambda kv: (-kv[1], kv[0]))
    listed = ", ".join(f"{a} ({n:,})" for a, n in others[:limit])
    more = len(others) - limit
    return listed + (f" and {more} more account{'s' if more != 1 else ''}" if more > 0 else "")


def suggest_gl_rules(history: Iterable[Mapping[str, Any]], *, min_support: int = MIN_SUPPORT,
                     min_agreement: float = MIN_AGREEMENT) -> GlRulesSuggestion:
    """The ``default`` and the rules, in order, that give past payments the accounts they were posted to.
    ``history``: rows with ``kind``, ``card_brand``, ``gl_account`` (and optionally ``amount_minor``);
    rows without an account are skipped. Kinds are read lower-case, brands upper-case (as the mapping
    file compares them); a kind outside the mapping's KINDS gets no kind condition."""
    h = _read(history)
    if not h.total:
        why = "no history with an account to learn from" + (f" ({h.skipped:,} rows without one)" if h.skipped else "")
        return GlRulesSuggestion("", 0, 0.0, 0.0, why, (), 0, 0, 0.0, why, h.skipped)
    overall: Counter[str] = sum(h.cells.values(), Counter())
    default, default_count = _majority(overall)

    rules = _greedy(h, default, min_support, min_agreement)
    rules = _repair_pairs(rules, default, h, min_support, min_agreement)
    rules = _move_earlier(rules, default, h)
    rules = _prune(rules, default, h)
    rules = _specific_first(rules, default, h)

    given = _assign(rules, default, h.cells)
    suggestions = []
    for i, (cond, account) in enumerate(rules):
        decided = [c for c, (j, _a) in given.items() if j == i]
        counts: Counter[str] = sum((h.cells[c] for c in decided), Counter())
        n, agreeing = sum(counts.values()), counts[account]
        group = sum(sum(h.cells[c].values()) for c in h.cells if _matches(cond, c))
        words = (f"{_describe(cond)}: {agreeing:,} of {n:,} payments ({agreeing / n:.1%}) went to {account}"
                 + (f"; the other {n - agreeing:,} to {_spread(counts, account)}" if n > agreeing else ""))
        if group > n:
            words += f"; {group - n:,} more payments of this group are decided by the rules above it"
        if account == default:
            words += "; the same account as the default, kept so a later rule does not take these payments"
        amount = sum(h.amounts.get(c, Counter())[account] for c in decided) if h.has_amounts else None
        suggestions.append(GlRuleSuggestion(dict(cond), account, n, round(agreeing / n, 4),
                                            round(min(wilson_lower(agreeing, n), 0.99), 2), words, amount))

    rest = [c for c, (j, _a) in given.items() if j == -1]
    rest_counts: Counter[str] = sum((h.cells[c] for c in rest), Counter())
    rest_n, rest_agreeing = sum(rest_counts.values()), rest_counts[default]
    default_words = f"the account of {default_count:,} of {h.total:,} payments ({default_count / h.total:.1%})"
    if rules:
        default_words += (f", and of {rest_agreeing:,} of the {rest_n:,} payments no rule decides"
                          f" ({rest_agreeing / rest_n:.1%})" if rest_n else "; every payment is decided by a rule")
    if rest_n > rest_agreeing:
        default_words += f"; the other {rest_n - rest_agreeing:,} went to {_spread(rest_counts, default)}"

    reproduced = sum(h.cells[c][a] for c, (_i, a) in given.items())
    mixed = _mixed(h, given, min_support, min_agreement)
    summary = (f"{len(rules) or 'no'} rule{'s' if len(rules) != 1 else ''} and the default give {reproduced:,} of "
               f"{h.total:,} past payments ({reproduced / h.total:.1%}) the account they were posted to")
    if reproduced < h.total:
        off = h.total - reproduced
        summary += f"; {off:,} {'was' if off == 1 else 'were'} posted elsewhere"
    if mixed:
        summary += f"; {len(mixed)} group{'s are' if len(mixed) != 1 else ' is'} split between accounts (see mixed)"
    if h.skipped:
        summary += f"; {h.skipped:,} rows without an account were skipped"
    return GlRulesSuggestion(
        default=default, default_support=rest_n, default_agreement=round(rest_agreeing / rest_n, 4) if rest_n else 0.0,
        default_confidence=round(min(wilson_lower(rest_agreeing, rest_n), 0.99), 2), default_evidence=default_words,
        rules=tuple(suggestions), total=h.total, reproduced=reproduced, reproduced_share=round(reproduced / h.total, 4),
        evidence=summary, skipped=h.skipped, mixed=tuple(mixed))


def _mixed(h: _History, given: dict[Cell, tuple[int, str]], min_support: int, min_agreement: float) -> list[str]:
    """Groups of at least ``min_support`` payments of which the proposed rules reproduce less than
    ``min_agreement``: no rule could say where they go, a person should. A kind-and-brand group first;
    its kind's or brand's group only when none of its kind-and-brand groups is listed."""
    found: list[tuple[int, Condition, str]] = []
    for level in (2, 1):
        conditions = sorted({c for cell in h.cells for c in _conditions(cell) if len(c) == level})
        for cond in conditions:
            if level == 1 and any(set(cond) <= set(listed) for _n, listed, _w in found):
                continue
            cells = [c for c in h.cells if _matches(cond, c)]
            counts: Counter[str] = sum((h.cells[c] for c in cells), Counter())
            n = sum(counts.values())
            right = sum(h.cells[c][given[c][1]] for c in cells)
            if n >= min_support and right / n < min_agreement:
                top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
                found.append((n, cond, f"{_describe(cond)}: {n:,} payments, "
                              + ", ".join(f"{k / n:.0%} to {a}" for a, k in top)
                              + f"; the rules reproduce {right / n:.0%}"))
    return [words for _n, _c, words in sorted(found, key=lambda t: (-t[0], t[1]))]
