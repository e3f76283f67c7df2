"""Card data never reaches storage: drop card-number and CSC fields, mask any Luhn-valid digit run.

Used on every payload before it is written anywhere (landing table, logs, metadata).
"""

from __future__ import annotations

import functools
import re
from typing import Any

# Field names that carry a full card number or security code in PayTrace, storefront and gateway
# payloads. ``masked_number`` / ``masked_card_number`` are PayTrace's masked forms and are kept.
_CARD_FIELD = re.compile(
    r"^(number|card_?number|cc_?number|credit_?card_?number|pan|account_?number|encrypted_number|"
    r"csc|cvv2?|cvc2?|cid|card_?code|security_?code|card_?verification(_value)?|encrypted_csc|track_?data|track[12])$",
    re.IGNORECASE,
)
# Digit groups joined by single spaces or dashes, as people type card numbers ("4012 0000 9876 5439").
_DIGIT_GROUPS = re.compile(r"\d+(?:[ -]\d+)*")
_SEPARATOR = re.compile(r"([ -])")
# Thirteen digits with at most single separators between them: nothing shorter can hold a card
# number, and this C-level search spares the per-group work on dates, ZIP codes and amounts.
_MAYBE_CARD = re.compile(r"\d(?:[ -]?\d){12}")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mask_groups(run: str) -> tuple[str, int]:
    """Within one run of digit groups, mask every span of whole groups holding 13-19 digits that
    passes the Luhn check ("order 12 4111 1111 1111 1111" masks the card and keeps "12")."""
    parts = _SEPARATOR.split(run)
    groups, seps = parts[0::2], parts[1::2]
    count, i = 0, 0
    while i < len(groups):
        best, total = None, 0
        for j in range(i, len(groups)):
            total += len(groups[j])
            if total > 19:
                break
            if total >= 13 and luhn_valid("".join(groups[i : j + 1])):
                best = j  # the longest valid span wins
        if best is None:
            i += 1
            continue
        digits = sum(len(g) for g in groups[i : best + 1])
        hidden = digits - 4
        for k in range(i, best + 1):
            take = min(hidden, len(groups[k]))
            groups[k] = "*" * take + groups[k][take:]
            hidden -= take
        count += 1
        i = best + 1
    out = groups[0] + "".join(sep + g for sep, g in zip(seps, groups[1:]))
    return out, count


def mask_card_numbers(text: str) -> tuple[str, int]:
    """Mask every 13-19 digit card number (whole digit groups, Luhn-valid) to its last four. Returns (text, count)."""
    if _MAYBE_CARD.search(text) is None:
        return text, 0
    count = 0

    def _mask(m: re.Match[str]) -> str:
        nonlocal count
        masked, n = _mask_groups(m.group(0))
        count += n
        return masked

    return _DIGIT_GROUPS.sub(_mask, text), count


@functools.lru_cache(maxsize=4096)  # field names repeat in every record
def is_card_field(name: str) -> bool:
    return bool(_CARD_FIELD.match(name or ""))


def scrub(value: Any) -> tuple[Any, int]:
    """A copy of a JSON-like value with card fields dropped and card numbers masked.

    Returns (clean value, number of things removed or masked).
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        n = 0
        for key, item in value.items():
            if is_card_field(str(key)):
                n += 1
                continue
            clean, k = scrub(item)
            out[key] = clean
            n += k
        return out, n
    if isinstance(value, list):
        items, n = [], 0
        for item in value:
            clean, k = scrub(item)
            items.append(clean)
            n += k
        return items, n
    if isinstance(value, str):
        return mask_card_numbers(value)
    return value, 0
