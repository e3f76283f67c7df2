"""Card data never reaches storage: drop card-number and CSC fields, mask any Luhn-valid digit run.

Used on every payload before it is written anywhere (landing table, logs, metadata).
"""

from __future__ import annotations

import re
from typing import Any

# Field names that carry a full card number or security code in PayTrace, storefront and gateway
# payloads. ``masked_number`` / ``masked_card_number`` are PayTrace's masked forms and are kept.
_CARD_FIELD = re.compile(
    r"^(number|card_?number|cc_?number|credit_?card_?number|pan|account_?number|encrypted_number|"
    r"csc|cvv2?|cvc2?|cid|card_?code|security_?code|card_?verification(_value)?|encrypted_csc|track_?data|track[12])$",
    re.IGNORECASE,
)
# 13-19 digits, optionally split by single spaces or dashes, as people type card numbers.
_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


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


def mask_card_numbers(text: str) -> tuple[str, int]:
    """Mask every 13-19 digit run that passes the Luhn check to its last four. Returns (text, count)."""
    count = 0

    def _mask(m: re.Match[str]) -> str:
        nonlocal count
        digits = re.sub(r"[ -]", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            count += 1
            return "*" * (len(digits) - 4) + digits[-4:]
        return m.group(0)

    return _DIGIT_RUN.sub(_mask, text), count


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
