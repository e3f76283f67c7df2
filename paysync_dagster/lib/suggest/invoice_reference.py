"""Suggested ``invoice_reference`` rules (``prefix``, ``digits``): how the ERP numbers its invoices, learnt
from the ERP's own invoice numbers and measured on what past payers typed, for a person to accept or
reject (nothing here applies a suggestion).

Candidates come from the shapes of the ERP's numbers ("INV-004211": the prefix "INV-" and 6 digits;
"SI-2031": "SI-" and 4; "100452": no prefix and 6), and the rule in force when one is given. Each is
measured the way PaySync will read payments under it: every reference in a payment's ``invoice_id`` and
``description`` (:func:`~paysync_dagster.lib.invoice_refs.read_references`), turned into an ERP invoice
number (:func:`~paysync_dagster.lib.invoice_refs.invoice_number`), and looked up among the ERP's numbers
(letters and digits only, case aside, as cash application does). A payment counts as matched when one of
the numbers it names that way exists in the ERP. Payments that name no invoice at all (empty, a thank-you
note, only a PO number) stay in the total, and the evidence says how many there are.

Confidence: mostly the share, of the payments some candidate reads into a real invoice, that this rule
reads (a payment naming only numbers the ERP has under no rule counts against none), partly the share of
the ERP's numbers having its shape; at or above ``AUTO_ACCEPT`` only when both are high, enough
payments back it and no other rule reads nearly as many.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paysync_dagster.lib.invoice_refs import ANY, INVOICE, Reference, compact, invoice_number, read_references

#: the auto-accept band, as for customer suggestions
AUTO_ACCEPT = 0.9
#: fewer matched payments than this and a rule is not judged strongly, however well it reads them
MIN_PAYMENTS = 20
#: at most this many shapes of ERP numbers are measured (the commonest), besides the rule in force
MAX_CANDIDATES = 8
#: a runner-up reading this share of the best rule's matches makes the best one uncertain
CLOSE_BEHIND = 0.8
#: the digits a mapping file accepts (InvoiceReference.digits)
DIGITS_RANGE = range(1, 21)

_SHAPE = re.compile(r"(\D*)(\d+)")
_QUOTED_MAX = 30  # a field longer than this is quoted by the reference read from it, not whole


@dataclass(frozen=True)
class ReferenceRuleSuggestion:
    prefix: str
    digits: int
    matched: int  # payments naming, under this rule, an invoice number the ERP has
    total: int  # payments read (those naming nothing included)
    share: float  # matched / total
    confidence: float
    evidence: str
    no_reference: int = 0  # payments naming no invoice reference at all under this rule
    erp_numbers: int = 0  # ERP invoice numbers of this shape
    erp_share: float = 0.0  # erp_numbers / every ERP invoice number
    current: bool = False  # the rule in force (``current``)
    examples: tuple[str, ...] = field(default_factory=tuple)  # "'inv 4211' -> INV-004211"

    def as_mapping(self) -> dict[str, Any]:
        """The mapping file's ``invoice_reference`` keys this suggestion sets."""
        return {"prefix": self.prefix, "digits": self.digits}

    def as_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "digits": self.digits, "matched": self.matched, "total": self.total,
                "share": self.share, "confidence": self.confidence, "evidence": self.evidence,
                "no_reference": self.no_reference, "erp_numbers": self.erp_numbers, "erp_share": self.erp_share,
                "current": self.current, "examples": list(self.examples)}


def invoice_shapes(invoice_numbers: Iterable[str]) -> tuple[Counter[tuple[str, int]], int, int]:
    """(prefix, digits) -> how many ERP numbers have that shape; with the count of numbers read and of
    those of no usable shape (digits inside the prefix, no digits at the end, more than 20 digits)."""
    shapes: Counter[tuple[str, int]] = Counter()
    total = other = 0
    for raw in invoice_numbers:
        number = _text(raw)
        if not number:
            continue
        total += 1
        m = _SHAPE.fullmatch(number)
        if m is None or len(m.group(2)) not in DIGITS_RANGE:
            other += 1
            continue
        shapes[(m.group(1), len(m.group(2)))] += 1
    return shapes, total, other


def _rule(current: Any) -> tuple[str, int] | None:  # noqa: ANN401
    """``current`` as (prefix, digits), or None when it is not a rule a mapping file could hold."""
    try:
        prefix, digits = _text(current[0]), int(current[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return (prefix, digits) if digits in DIGITS_RANGE else None


def _pair(payment: Any) -> tuple[str, str]:  # noqa: ANN401
    """(invoice_id, description) from a pair, or from a mapping with those keys (a warehouse row)."""
    if isinstance(payment, Mapping):
        return _text(payment.get("invoice_id")), _text(payment.get("description"))
    items = list(payment) if isinstance(payment, (tuple, list)) else [payment]
    return (_text(items[0]) if items else "", _text(items[1]) if len(items) > 1 else "")


def _text(value: Any) -> str:  # noqa: ANN401
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


@dataclass
class _Read:
    """One payment as read under one prefix: its references, and which field each came from."""

    texts: tuple[str, str]  # (invoice_id, description)
    refs: list[tuple[Reference, int]]  # (reference, the text it was read from: 0 invoice_id, 1 description)


def _read_all(payments: list[tuple[str, str]], prefix: str) -> list[_Read]:
    cache: dict[str, list[Reference]] = {}

    def refs(text: str) -> list[Reference]:
        if text not in cache:
            cache[text] = [r for r in read_references(text, prefix) if r.kind in (INVOICE, ANY)]
        return cache[text]

    out = []
    for invoice_id, description in payments:
        seen: set[tuple[str, str]] = set()
        found: list[tuple[Reference, int]] = []
        for where, text in enumerate((invoice_id, description)):
            for r in refs(text):
                if (r.kind, r.key) not in seen:
                    seen.add((r.kind, r.key))
                    found.append((r, where))
        out.append(_Read((invoice_id, description), found))
    return out


def _shape_of(typed: str) -> str:
    """How a reference was typed, digits and letters set aside: "inv 4211" -> "aaa 9", to vary examples."""
    return re.sub(r"\d+", "9", re.sub(r"[A-Za-z]+", "a", typed.lower()))


def _quoted(read: _Read, ref: Reference, where: int) -> str:
    """What the payer typed: the whole field when short, else the reference read from it; card numbers masked."""
    from paysync_dagster.lib.scrub import mask_card_numbers

    typed = read.texts[where] if len(read.texts[where]) <= _QUOTED_MAX else ref.text
    return mask_card_numbers(typed)[0]


@dataclass
class _Measure:
    prefix: str
    digits: int
    matched: int = 0
    no_reference: int = 0
    named_unknown: int = 0  # payments naming invoice numbers (under this rule) the ERP does not have
    examples: list[str] = field(default_factory=list)
    hits: set[int] = field(default_factory=set)  # the payments (by position) matched


def _measure(reads: list[_Read], prefix: str, digits: int, erp_keys: frozenset[str]) -> _Measure:
    m = _Measure(prefix, digits)
    shapes_seen: set[str] = set()
    for position, read in enumerate(reads):
        if not read.refs:
            m.no_reference += 1
            continue
        hit = None
        named = False
        for ref, where in read.refs:
            number = invoice_number(ref, prefix, digits)
            if not number:
                continue
            named = True
            if compact(number) in erp_keys:
                hit = (ref, where, number)
                break
        if hit is None:
            m.named_unknown += named
            continue
        m.matched += 1
        m.hits.add(position)
        ref, where, number = hit
        typed = _quoted(read, ref, where)
        shape = _shape_of(typed)
        if len(m.examples) < 3 and typed != number and shape not in shapes_seen:
            shapes_seen.add(shape)
            m.examples.append(f"{typed!r} -> {number}")
    return m


def _rule_words(prefix: str, digits: int) -> str:
    return f"{prefix!r} + {digits} digits" if prefix else f"{digits} digits, no prefix"


def suggest_invoice_reference(payments: Iterable[tuple[str, str] | Mapping[str, Any]], invoice_numbers: Iterable[str], *,
                              current: tuple[str, int] | None = None) -> list[ReferenceRuleSuggestion]:
    """Candidate ``invoice_reference`` rules, best first. ``payments``: (invoice_id, description) of past
    PayTrace payments; ``invoice_numbers``: the ERP's invoice numbers; ``current``: the (prefix, digits)
    in force, measured as well. Without payments or ERP numbers there is nothing to learn: []."""
    rows = [_pair(p) for p in payments]
    numbers = [n for n in (_text(x) for x in invoice_numbers) if n]
    if not rows or not numbers:
        return []
    shapes, erp_total, other = invoice_shapes(numbers)
    erp_keys = frozenset(compact(n) for n in numbers)
    candidates = [s for s, _ in sorted(shapes.items(), key=lambda kv: (-kv[1], kv[0]))][:MAX_CANDIDATES]
    current = _rule(current)
    if current is not None and current not in candidates:
        candidates.append(current)
    reads_by_prefix: dict[str, list[_Read]] = {}
    measures = []
    for prefix, digits in candidates:
        key = compact(prefix)
        if key not in reads_by_prefix:
            reads_by_prefix[key] = _read_all(rows, prefix)
        measures.append(_measure(reads_by_prefix[key], prefix, digits, erp_keys))

    total = len(rows)
    # The payments some rule reads into an ERP invoice: what a rule could read at best. A payment naming
    # only numbers the ERP has under no rule (paid elsewhere, mistyped) counts against none of them.
    findable = len(set().union(*(m.hits for m in measures)))
    scored = []
    for m in measures:
        read_rate = m.matched / findable if findable else 0.0
        erp_share = shapes.get((m.prefix, m.digits), 0) / erp_total
        base = 0.0 if m.matched == 0 else 0.6 * read_rate + 0.4 * erp_share
        scored.append((m, read_rate, erp_share, base))
    scored.sort(key=lambda t: (-t[3], -t[0].matched, t[0].prefix, t[0].digits))

    out = []
    for i, (m, read_rate, erp_share, base) in enumerate(scored):
        confidence = base
        notes: list[str] = []
        if 0 < m.matched < MIN_PAYMENTS:
            confidence = min(confidence, AUTO_ACCEPT - 0.15)
            notes.append(f"only {m.matched} payment{'s' if m.matched != 1 else ''} to judge by")
        rival = next((o for j, (o, *_rest) in enumerate(scored)
                      if j != i and 0 < CLOSE_BEHIND * m.matched <= o.matched <= m.matched), None)
        if rival is not None and m.matched:
            confidence = min(confidence, AUTO_ACCEPT - 0.05)
            notes.append(f"{_rule_words(rival.prefix, rival.digits)} reads nearly as many ({rival.matched})")
        is_current = (m.prefix, m.digits) == current
        out.append(ReferenceRuleSuggestion(
            prefix=m.prefix, digits=m.digits, matched=m.matched, total=total, share=round(m.matched / total, 4),
            confidence=round(min(confidence, 0.99), 2),
            evidence=_evidence(m, total, findable, erp_share, erp_total, other, shapes, is_current, notes),
            no_reference=m.no_reference, erp_numbers=shapes.get((m.prefix, m.digits), 0),
            erp_share=round(erp_share, 4), current=is_current, examples=tuple(m.examples)))
    out.sort(key=lambda s: (-s.confidence, -s.matched, s.prefix, s.digits))
    return out


def _evidence(m: _Measure, total: int, findable: int, erp_share: float, erp_total: int, other: int,
              shapes: Counter[tuple[str, int]], is_current: bool, notes: list[str]) -> str:
    parts = []
    if is_current:
        parts.append("the rule in force")
    if m.matched:
        parts.append(f"names an ERP invoice in {m.matched:,} of {total:,} past payments ({m.matched / total:.1%})")
        if findable > m.matched:
            parts.append(f"{m.matched / findable:.1%} of the {findable:,} payments any of these rules reads into "
                         "an ERP invoice")
    else:
        parts.append(f"names no ERP invoice in any of {total:,} past payments")
    if m.no_reference:
        parts.append(f"{m.no_reference:,} payment{'s name' if m.no_reference != 1 else ' names'} no invoice at all "
                     "(counted in the total)")
    if m.named_unknown:
        parts.append(f"{m.named_unknown:,} name{'s' if m.named_unknown == 1 else ''} only numbers the ERP does not "
                     "have under this rule")
    count = shapes.get((m.prefix, m.digits), 0)
    if count:
        parts.append(f"{erp_share:.0%} of the ERP's {erp_total:,} invoice numbers have this shape")
    else:
        parts.append(f"none of the ERP's {erp_total:,} invoice numbers has this shape")
    widths = sorted((d, n) for (p, d), n in shapes.items() if p == m.prefix and d != m.digits)
    if widths and count:
        listed = ", ".join(f"{d} digits ({n:,})" for d, n in widths[:3])
        parts.append(f"the ERP also numbers with this prefix in {listed}: those are not found under this rule")
    others = sorted(((p, d, n) for (p, d), n in shapes.items() if p != m.prefix), key=lambda t: -t[2])
    if others and count and erp_share < 1:
        p, d, n = others[0]
        parts.append(f"the next shape is {_rule_words(p, d)} ({n:,})")
    if other:
        parts.append(f"{other:,} ERP number{'s have' if other != 1 else ' has'} no prefix-and-digits shape")
    if m.examples:
        parts.append("e.g. " + ", ".join(m.examples))
    parts.extend(notes)
    return "; ".join(parts)
