"""Integer keys for reconciliation: receipt numbers parsed to transaction ids, hash look-ups on them.

A million receipts are joined to a million transactions here, so strings are parsed once, as fixed
width code points with numpy, and every join afterwards is an int64 hash look-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_DIGITS = 18  # every 18-digit integer fits in int64; PayTrace ids have 9
_CHUNK = 250_000  # rows converted at a time: bounds the fixed-width copy to ~20 MB
_POWERS = 10 ** np.arange(MAX_DIGITS - 1, -1, -1, dtype=np.int64)


def parse_ids(refs: Any, prefix: str) -> np.ndarray:
    """The integer in each ``<prefix><digits>`` string; -1 where the string is not exactly that.

    Digits only (no sign, blank or leading zero), at most ``MAX_DIGITS`` of them, so that
    ``f"{prefix}{id}"`` gives back the very same string.
    """
    values = np.asarray(refs, dtype=object)
    out = np.full(len(values), -1, np.int64)
    k = len(prefix)
    width = k + MAX_DIGITS + 1  # one more than a valid string can fill: a longer one is caught
    head = np.array([ord(c) for c in prefix], np.uint32)
    for start in range(0, len(values), _CHUNK):
        chunk = values[start:start + _CHUNK]
        codes = chunk.astype(f"U{width}").view(np.uint32).reshape(len(chunk), width)
        digits = codes[:, k:]
        filled = digits != 0
        length = filled.sum(axis=1)
        ok = (codes[:, :k] == head).all(axis=1) & (length >= 1) & (length <= MAX_DIGITS)
        ok &= (filled == (np.arange(digits.shape[1]) < length[:, None])).all(axis=1)  # no gap
        ok &= (~filled | ((digits >= 48) & (digits <= 57))).all(axis=1)
        ok &= ~((digits[:, 0] == 48) & (length > 1))
        # Read left-aligned, as if padded with zeros to MAX_DIGITS, then drop the padding's powers of ten.
        padded = np.where(filled[:, :MAX_DIGITS], digits[:, :MAX_DIGITS].astype(np.int64) - 48, 0) @ _POWERS
        value = padded // _POWERS[np.clip(length, 1, MAX_DIGITS) - 1]
        out[start:start + len(chunk)] = np.where(ok, value, -1)
    return out


def lookup(keys: np.ndarray | pd.Index, query: np.ndarray) -> np.ndarray:
    """The position of each query value in ``keys`` (unique), -1 where it is absent.

    Pass a ``pd.Index`` to look up in the same keys many times: its hash table is built once.
    """
    if len(keys) == 0 or len(query) == 0:
        return np.full(len(query), -1, np.intp)
    return (keys if isinstance(keys, pd.Index) else pd.Index(keys)).get_indexer(query)


def any_of(values: np.ndarray, choices: tuple[str, ...]) -> np.ndarray:
    """``np.isin`` for a few strings, by hash-free equality (np.isin sorts object arrays)."""
    out = np.zeros(len(values), bool)
    for choice in choices:
        out |= values == choice
    return out


def take(values: np.ndarray, pos: np.ndarray, fill: Any) -> np.ndarray:
    """``values[pos]``, with ``fill`` where ``pos`` is -1."""
    if len(values) == 0:
        return np.full(len(pos), fill, dtype=values.dtype)
    out = values.take(pos)
    out[pos < 0] = fill
    return out


@dataclass
class Labels:
    """A string column as integer codes: testing it against a few names is then an integer pass."""

    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.intp))
    names: tuple[Any, ...] = ()

    @classmethod
    def of(cls, values: np.ndarray) -> Labels:
        codes, names = pd.factorize(values)
        return cls(codes, tuple(names))

    def isin(self, *choices: str) -> np.ndarray:
        out = np.zeros(len(self.codes), bool)
        for i, name in enumerate(self.names):
            if name in choices:
                out |= self.codes == i
        return out
