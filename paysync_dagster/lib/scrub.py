"""Card data never reaches storage: drop card-number and CSC fields, mask anything that may be a card number.

Used on every payload before it is written anywhere (landing table, logs, metadata), and on any text
before it is cut to a length, logged or hashed (``mask_then_cut``): a number cut first could leave
most of its digits behind.

**The rule.** ``scrub`` works on the parsed document: every dict key, every string and every number
(int or float; ``bool`` is not a number here) is checked, at any depth.

* A key that names a card number or security code (``CARD_NUMBER_FIELD_NAMES``,
  ``CSC_FIELD_NAMES``) drops its entry whatever the value. Names match ignoring case, ``_``, ``-``,
  spaces and camelCase (``cardNumber``, ``Card-Number``, ``CVV2``, ``securityCode``), and only the last
  segment of a dotted or bracketed path counts (``payment.cvv``, ``card[cvc]``). PayTrace's masked
  forms (``masked_number``, ``masked_card_number``, ``last_four``, ``card_last_four``) are not on the
  lists and are kept. A CSC is three or four digits, indistinguishable from any other small number,
  so the field name is the only way to find it.
* Every other key, string and number is masked by ``mask_card_numbers``; a number is read as it is
  written out (``4111111111111111``, ``4111111111111111.0``, ``4.111111111111111e+18``) and, if that
  held a card number, becomes the masked string (``"************1111"``); any other number is kept
  as it is, with its type. A number below 10^12 in size is never touched: it has fewer than 13
  digits before its point, and a float's further digits are rounding noise (``0.30000000000000004``),
  which masking would turn from an amount into text. A masked key that meets an existing key gets a
  ``~2`` (``~3``, ...) suffix, so neither entry is lost.

``mask_card_numbers`` reads text as *digit runs*: decimal digits (ASCII or any Unicode decimal
digit, e.g. fullwidth or Arabic-Indic) in groups joined by one to three separator characters. The
separators are what a person or a system puts between digit groups: any Unicode whitespace (space,
several spaces, tab, newline, no-break and other wide spaces), hyphens and dashes (``-``, en and em
dash, minus sign and the other Unicode dashes), ``.`` ``_`` ``/`` ``\\`` ``|`` ``,`` ``+`` (and
their fullwidth forms), and the invisible soft hyphen, zero-width spaces and joiners. Two are left
out on purpose: ``*``, which masking writes (``**** **** **** 1111`` stays four digits), and ``:``,
because it would join a date and a clock time into a run of 13 digits or more
(``12/10/2015 12:06:30`` is 14), and PayTrace's own timestamps must reach parsing intact.

In each run, with the separators removed, every window of 13 to 19 consecutive digits that passes
the Luhn check is masked to its last four: its other digits become ``*``, separators stay. Windows
made of whole groups are tried first, longest first, so ``order 12 4111 1111 1111 1111`` keeps the
12; then every remaining window, overlapping or embedded in a longer run (``card4111111111111111x``,
22 digits with a card inside), is checked, so that no Luhn-valid window of 13 to 19 digits survives
in the output: scrubbing the output again finds nothing.

**Recall over precision.** The rule looks at digits, not meaning. One random 13-19 digit window in
ten passes Luhn, so an order id, reference, phone list or date range that happens to pass is masked
too, and a long digit run (say 25 digits or more) is mostly masked; a PayTrace record's own fields
(transaction ids, amounts, ZIP codes, ``M/D/YYYY h:mm:ss`` timestamps, IPv4 addresses) hold
fewer than 13 digits in any run and are never touched. Likewise ``number`` and ``account_number`` are
dropped wherever they appear. A lost reference costs a manual match; a stored card number is a breach.
"""

from __future__ import annotations

import decimal
import functools
import itertools
import json
import math
import re
import unicodedata
from typing import Any

import orjson

# Field names that carry a full card number (or its raw track or swipe data) in PayTrace,
# storefront and gateway payloads.
CARD_NUMBER_FIELD_NAMES: tuple[str, ...] = (
    "number", "card_number", "cardnumber", "card_num", "card_no", "cc_number", "ccnum", "cc_num",
    "cc_no", "credit_card_number", "credit_card_num", "pan", "primary_account_number",
    "account_number", "acct_number", "encrypted_number", "track_data", "track1", "track2",
    "track1_data", "track2_data", "swipe", "encrypted_swipe",
)
# Field names that carry a card security code (CSC, CVV, CVC, CID, CVN, CVD: one value, many names).
CSC_FIELD_NAMES: tuple[str, ...] = (
    "csc", "cvv", "cvv2", "cvc", "cvc2", "cid", "cvn", "cv2", "cvd", "card_code", "security_code",
    "card_security_code", "card_verification", "card_verification_value", "verification_value",
    "encrypted_csc", "card_cvv", "card_cvc", "card_csc", "cc_cvv", "cc_csc", "cvv_code", "cvc_code",
    "csc_code", "cvv_number", "cvc_number", "csc_number",
)

_NAME_NOISE = re.compile(r"[\s_\-]+")
_PATH_SEGMENTS = re.compile(r"[.\[\]]+")


def _normal_name(name: str) -> str:
    return _NAME_NOISE.sub("", name).casefold()


_DROPPED_NAMES = frozenset(_normal_name(n) for n in CARD_NUMBER_FIELD_NAMES + CSC_FIELD_NAMES)

# Characters that may stand between digit groups (whitespace comes from ``\s``). ``*`` and ``:``
# are left out: see the module docstring.
CARD_SEPARATORS = (
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"  # hyphen-minus and Unicode dashes
    "._/\\|,+"
    "\uff0e\uff3f\uff0f\uff3c\uff5c\uff0c\uff0b"  # fullwidth forms, typed along with fullwidth digits
    "\u00ad\u200b\u200c\u200d\u2060\ufeff"  # soft hyphen, zero-width spaces and joiners
)
_SEPARATOR = r"[\s" + "".join(re.escape(ch) for ch in CARD_SEPARATORS) + "]"
_RUN = re.compile(rf"\d+(?:{_SEPARATOR}{{1,3}}\d+)*")
# Thirteen digits joined by separator runs the rule accepts: nothing shorter can hold a card number,
# and this one C-level search spares every further step on names, amounts, dates and ZIP codes.
# Callers that need the same prefilter (pandas ``str.contains``) use its ``.pattern``.
MAYBE_CARD_NUMBER = re.compile(rf"\d(?:{_SEPARATOR}{{0,3}}\d){{12}}")

_MIN_DIGITS, _MAX_DIGITS, _KEPT = 13, 19, 4
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a Luhn-doubled digit, its two digits summed


def _digit_value(ch: str) -> int:
    return ord(ch) - 48 if ch <= "9" else unicodedata.decimal(ch)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = _digit_value(ch)
        total += _DOUBLED[d] if i % 2 else d
    return total % 10 == 0


def _luhn_prefixes(values: list[int]) -> tuple[list[int], list[int]]:
    """Prefix sums with the digits at even (first list) or odd (second) positions doubled, so the
    Luhn sum of any window is one subtraction: a window ``[i, j)`` doubles the positions of ``j``'s parity."""
    even, odd = [0], [0]
    for k, v in enumerate(values):
        if k % 2:
            even.append(even[-1] + v)
            odd.append(odd[-1] + _DOUBLED[v])
        else:
            even.append(even[-1] + _DOUBLED[v])
            odd.append(odd[-1] + v)
    return even, odd


def _window_valid(prefixes: tuple[list[int], list[int]], i: int, j: int) -> bool:
    sums = prefixes[j % 2]
    return (sums[j] - sums[i]) % 10 == 0


def _hide(masked: bytearray, i: int, j: int) -> None:
    masked[i : j - _KEPT] = b"\x01" * (j - _KEPT - i)


def _mask_group_spans(groups: list[tuple[int, int]], prefixes: tuple[list[int], list[int]], masked: bytearray) -> int:
    """The way a card is written: whole groups, the longest valid span from each group on, left to right."""
    count, g = 0, 0
    while g < len(groups):
        start, best = groups[g][0], None
        for h in range(g, len(groups)):
            end = groups[h][1]
            if end - start > _MAX_DIGITS:
                break
            if end - start >= _MIN_DIGITS and _window_valid(prefixes, start, end):
                best = end
        if best is None:
            g += 1
            continue
        _hide(masked, start, best)
        count += 1
        while g < len(groups) and groups[g][0] < best:
            g += 1
    return count


def _mask_other_windows(n: int, prefixes: tuple[list[int], list[int]], masked: bytearray) -> int:
    """Any window still wholly visible (embedded, glued, across group edges): mask the valid ones.

    A window that holds a masked digit can no longer show a card number, and masking only grows, so
    one pass from left to right leaves no visible valid window behind.
    """
    count, i = 0, 0
    while i <= n - _MIN_DIGITS:
        if masked[i]:
            i = masked.find(0, i)
            if i == -1:
                break
            continue
        stop = masked.find(1, i, i + _MAX_DIGITS)
        hi = min(n, i + _MAX_DIGITS) if stop == -1 else stop
        for j in range(hi, i + _MIN_DIGITS - 1, -1):  # the longest valid window hides the most
            if _window_valid(prefixes, i, j):
                _hide(masked, i, j)
                count += 1
                break
        i += 1
    return count


def _mask_run(run: str) -> tuple[str, int]:
    """One digit run (groups and separators) with every Luhn-valid 13-19 digit window masked."""
    positions = [k for k, ch in enumerate(run) if ch.isdecimal()]
    n = len(positions)
    if n < _MIN_DIGITS:
        return run, 0
    prefixes = _luhn_prefixes([_digit_value(run[k]) for k in positions])
    groups, start = [], 0
    for k in range(1, n + 1):
        if k == n or positions[k] != positions[k - 1] + 1:
            groups.append((start, k))
            start = k
    masked = bytearray(n)
    count = _mask_group_spans(groups, prefixes, masked) + _mask_other_windows(n, prefixes, masked)
    if not count:
        return run, 0
    chars = list(run)
    for k in range(n):
        if masked[k]:
            chars[positions[k]] = "*"
    return "".join(chars), count


def mask_card_numbers(text: str) -> tuple[str, int]:
    """Mask every Luhn-valid 13-19 digit window of every digit run to its last four (the rule above).

    Returns (text, number of windows masked).
    """
    if MAYBE_CARD_NUMBER.search(text) is None:
        return text, 0
    count = 0

    def _mask(m: re.Match[str]) -> str:
        nonlocal count
        masked, n = _mask_run(m.group(0))
        count += n
        return masked

    return _RUN.sub(_mask, text), count


def mask_then_cut(text: str, limit: int) -> str:
    """``text`` masked, then cut to ``limit`` characters: a card number across the cut keeps at most
    its last four digits, where cutting first would leave the rest of it unrecognised."""
    return mask_card_numbers(text)[0][: max(limit, 0)]


_DROP, _KEEP, _MASK = "drop", "keep", "mask"


@functools.lru_cache(maxsize=4096)  # field names repeat in every record: one lookup per key
def _key_kind(name: str) -> str:
    """Whether a key names a card field (drop its entry), may hold a card number (mask it), or neither."""
    segments = [s for s in _PATH_SEGMENTS.split(name or "") if s]
    if segments and _normal_name(segments[-1]) in _DROPPED_NAMES:
        return _DROP
    return _KEEP if MAYBE_CARD_NUMBER.search(name or "") is None else _MASK


def is_card_field(name: str) -> bool:
    return _key_kind(name) is _DROP


_SHORT_INT = 10**12  # fewer than 13 digits: no card number fits


def _number_forms(value: int | float | decimal.Decimal) -> tuple[str, ...]:
    """The digits a number shows once written out, when it is large enough to hold a card number.

    A float or decimal below 10^12 is an amount or a ratio: its fractional digits are rounding
    noise (``0.30000000000000004``), not a card number, and masking them would spoil the amount.
    """
    if isinstance(value, int):
        return (str(value),) if not -_SHORT_INT < value < _SHORT_INT else ()
    finite = value.is_finite() if isinstance(value, decimal.Decimal) else math.isfinite(value)
    if not finite or -_SHORT_INT < value < _SHORT_INT:
        return ()
    if isinstance(value, decimal.Decimal):
        return (format(value, "f"), str(value))
    return (str(int(value)), repr(value)) if value.is_integer() else (repr(value),)


def _scrub_scalar(value: Any) -> tuple[Any, int]:
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        return value, 0
    for form in _number_forms(value):
        masked, n = mask_card_numbers(form)
        if n:
            return masked, n
    return value, 0


def _free_key(out: dict[Any, Any], key: Any) -> Any:
    """``key``, or the first of ``key~2``, ``key~3``, ... not taken: masking may make two keys equal."""
    if key not in out:
        return key
    suffix = 2
    while f"{key}~{suffix}" in out:
        suffix += 1
    return f"{key}~{suffix}"


def _scrub_dict(value: dict[Any, Any]) -> tuple[dict[Any, Any], int]:
    out: dict[Any, Any] = {}
    n = 0
    for key, item in value.items():
        kind = _key_kind(key if type(key) is str else str(key))
        if kind is _DROP:
            n += 1
            continue
        if kind is _MASK or type(key) is not str:
            key, k = _scrub_scalar(key)
            n += k
        clean, k = scrub(item)
        out[_free_key(out, key)] = clean
        n += k
    return out, n


# Keys already known to be kept as they are (``_key_kind`` is ``_KEEP``): one C-level subset test per
# dict in ``untouched_json``. Bounded, like ``_key_kind``'s cache.
_KEPT_KEYS: set[str] = set()
_KEPT_KEYS_MAX = 4096
# ``json.dumps(value, separators=(",", ":"), sort_keys=True)``, but built once: dumps with arguments
# builds an encoder per call, a third of the cost of a record's text.
_COMPACT_SORTED_FINITE = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)
# For ``untouched_json``: ASCII digits become "0", the ASCII separators are deleted (joining groups
# across any number of them, a superset of the rule's one to three), every other byte becomes "x".
_DIGITS_ONLY = bytes(ord("0") if 48 <= b <= 57 else ord("x") for b in range(256))
_ASCII_SEPARATORS = b" " + bytes(ch for ch in CARD_SEPARATORS.encode("ascii", "ignore"))
_THIRTEEN_DIGITS = b"0" * _MIN_DIGITS
_ONLY_STR = frozenset({str})


def _keys_kept(d: dict[Any, Any]) -> bool:
    """Whether every key of ``d`` is a str (exactly: ``scrub`` reads any other key through ``str()``)
    that ``scrub`` keeps as it is."""
    if d.keys() <= _KEPT_KEYS:
        return set(map(type, d)) <= _ONLY_STR
    for key in d:
        if type(key) is not str or _key_kind(key) is not _KEEP:
            return False
    if len(_KEPT_KEYS) < _KEPT_KEYS_MAX:
        _KEPT_KEYS.update(d)
    return True


# The values ``untouched_json`` writes with orjson, in a dict or in a dict in it: exactly these types
# (no subclass, no list), which orjson writes as the standard encoder does once the text is plain ASCII
# and every float is one ``float_written_alike`` passes.
_SCALARS = frozenset({str, int, float, bool, type(None)})
_SCALARS_OR_DICT = _SCALARS | {dict}
# Sorted keys; a subclass of str, int or dict (keys included), a datetime or a dataclass is refused
# rather than written in orjson's own way.
_ORJSON_SORTED = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
                  | orjson.OPT_PASSTHROUGH_DATACLASS)
# As ``_DIGITS_ONLY``, and a backslash, DEL or any byte beyond ASCII becomes a backslash; deleted with
# ``_ASCII_SEPARATORS_KEEPING_BACKSLASH``, which keeps the backslash (a separator, but in JSON text
# always the start of an escape, which sends the document the long way).
_DIGITS_AND_ESCAPES = bytes(ord("0") if 48 <= b <= 57 else ord("\\") if b == 92 or b >= 127 else ord("x") for b in range(256))
_ASCII_SEPARATORS_KEEPING_BACKSLASH = _ASCII_SEPARATORS.replace(b"\\", b"")
_is_dict = dict.__instancecheck__
_is_float = float.__instancecheck__
_values_of = dict.values
_chain = itertools.chain.from_iterable


def float_written_alike(number: float) -> bool:
    """Whether orjson writes this float as ``repr`` does (and so ``json``): zero, and every finite
    float from 10^-4 up to 10^16 in size, which both write in plain decimals, shortest round-trip
    digits. Outside, ``repr`` switches to an exponent (``1e-05``) where orjson may not (``0.00001``),
    and orjson writes NaN and infinities as ``null`` where the standard encoder refuses them."""
    return 1e-4 <= abs(number) < 1e16 or number == 0.0


def _plain_document(value: dict[Any, Any], kinds: set[type]) -> bool:
    """For a dict whose values are all of ``_SCALARS_OR_DICT`` (``kinds``, their types): whether it is
    what ``plain_json`` asks for: its dict values hold ``_SCALARS`` only, every key of both is one
    ``scrub`` keeps, and every float is one ``float_written_alike`` passes."""
    values = value.values()
    nested = list(filter(_is_dict, values)) if dict in kinds else []
    inner = set(map(type, _chain(map(_values_of, nested))))
    if not inner <= _SCALARS:
        return False
    if not (value.keys() <= _KEPT_KEYS and all(map(_KEPT_KEYS.issuperset, nested))):
        if not _keys_kept(value) or not all(map(_keys_kept, nested)):
            return False
    if float in kinds and not all(map(float_written_alike, filter(_is_float, values))):
        return False
    return float not in inner or all(map(float_written_alike, filter(_is_float, _chain(map(_values_of, nested)))))


def keeps_as_is(name: str) -> bool:
    """Whether ``scrub`` keeps a key of this name as it is (neither dropped nor masked)."""
    return type(name) is str and _key_kind(name) is _KEEP


def plain_json(value: dict[Any, Any]) -> str | None:
    """``untouched_json(value)`` for a document the caller has looked at already, when it answers for
    all of this: ``value`` is a dict whose values are exactly str, int, float, bool, None, or dicts
    whose values are exactly str, int, float, bool or None (no subclass, no list, nothing deeper),
    every key is one ``keeps_as_is`` passes, and every float is one ``float_written_alike`` passes.
    Then orjson writes the standard encoder's text (see ``untouched_json``), checked here as there;
    None sends the document the long way, as there. (The export path looks at its records in one
    pass with the contract's reading; ``untouched_json`` looks at any other document itself.)"""
    try:
        raw = orjson.dumps(value, option=_ORJSON_SORTED)
    except TypeError:  # orjson.JSONEncodeError: a key not exactly str, an integer beyond 64 bits
        return None
    # One translation shows a backslash (any escape), DEL or non-ASCII byte as a backslash and joins
    # digit groups. No "e+" to look for: every float here is written in plain decimals.
    shown = raw.translate(_DIGITS_AND_ESCAPES, _ASCII_SEPARATORS_KEEPING_BACKSLASH)
    if b"\\" in shown or _THIRTEEN_DIGITS in shown:
        return None
    return raw.decode("ascii")


def untouched_json(value: dict[Any, Any]) -> str | None:
    """``json.dumps(value, separators=(",", ":"), sort_keys=True)`` when ``scrub(value)`` would return
    an equal document (nothing to drop, nothing to mask); None when it might not, or cannot be told
    cheaply. A shortcut for the common case only: it never decides what is masked, ``scrub`` does.

    The text is written once, by a C encoder, and read once instead of walking every value: in
    text with no backslash every string, key and number is plain ASCII as it stands (any other
    character, and every control character, would be escaped), so a card number ``scrub`` would
    find shows as 13 ASCII digits or more joined by ASCII separators, which one translation and
    one substring test rule out. A float from 10^12 up in exponent form (``1e+16``) is read by
    ``scrub`` through its integer digits, so any ``e+`` in the text takes the long way too. Keys
    to drop are looked up per dict, and the dicts are counted: a dict the lookup did not reach
    (deeper, or in a list) sends the document the long way. So do non-finite numbers, keys that
    are not exactly str, and anything the encoder cannot write.

    A document of plain values (exactly str, int, float, bool, None, and dicts of them, no deeper:
    the shape of a PayTrace record) is written by orjson, several times faster, and its text is
    returned only when it is the standard encoder's to the byte: plain ASCII with no backslash and
    no DEL (the standard encoder escapes DEL and everything beyond ASCII, orjson does not), every
    float one ``float_written_alike`` passes, keys sorted (orjson sorts by UTF-8 bytes, the same
    order as code points), integers within 64 bits (orjson refuses the others). Any other
    document (a list in it, say) is written by the standard encoder, as it always was.

    So a document this returns text for also holds no NUL and no lone surrogate (both would be
    escaped), no non-finite number and no integer of 13 digits or more: nothing
    ``contract.problem_in_values`` refuses, which the landing path relies on.
    """
    if type(value) is not dict:
        return None
    kinds = set(map(type, value.values()))
    if kinds <= _SCALARS_OR_DICT and _plain_document(value, kinds):
        return plain_json(value)
    if not _keys_kept(value):
        return None
    nested = [v for v in value.values() if type(v) is dict]
    for d in nested:
        if not _keys_kept(d):
            return None
    try:
        text = _COMPACT_SORTED_FINITE.encode(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if "\\" in text or "e+" in text or text.count("{") != 1 + len(nested):
        return None
    if _THIRTEEN_DIGITS in text.encode("ascii").translate(_DIGITS_ONLY, _ASCII_SEPARATORS):
        return None
    return text


def scrub(value: Any) -> tuple[Any, int]:
    """A copy of a parsed JSON document with card fields dropped and card numbers masked (the rule above).

    Returns (clean value, number of fields dropped plus card numbers masked).
    """
    if type(value) is str:
        return mask_card_numbers(value)
    if isinstance(value, dict):
        return _scrub_dict(value)
    if isinstance(value, (list, tuple)):
        items, n = [], 0
        for item in value:
            clean, k = scrub(item)
            items.append(clean)
            n += k
        return (tuple(items) if isinstance(value, tuple) else items), n
    return _scrub_scalar(value)
