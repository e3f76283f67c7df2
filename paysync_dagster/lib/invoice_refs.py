"""Invoice references as typed in PayTrace ("inv 4213", "#4213", "INV-004213 ") in the ERP's form. Vectorized."""

from __future__ import annotations

import re

import pandas as pd

from paysync_dagster.lib.vector import per_unique


def normalize_invoice_refs(raw: pd.Series, prefix: str, digits: int) -> pd.Series:
    """``prefix`` + the first run of digits zero-padded to ``digits``; references without digits are
    upper-cased with separators removed; empty stays empty."""
    return per_unique(raw, lambda s: _normalize(s, prefix, digits))


_FIRST_NUMBER = re.compile(r"\d+")
_SEPARATORS = re.compile(r"[\s\-_#./]+")


def _normalize_one(text: str, prefix: str, digits: int) -> str:
    text = text.strip().upper()
    if "*" in text:
        # A card number was masked out of it: its last four digits are not an invoice number, and
        # reading them as one could apply the cash to a stranger's invoice.
        return _SEPARATORS.sub("", text)
    m = _FIRST_NUMBER.search(text)
    if m is None:
        return _SEPARATORS.sub("", text)
    number = m.group(0)
    # A longer number than the ERP's width is another kind of reference; keep its digits as they are.
    return prefix + number.zfill(digits) if len(number) <= digits else number


def _normalize(raw: pd.Series, prefix: str, digits: int) -> pd.Series:
    # One pass of plain Python per value beats five pandas string passes over object columns.
    return pd.Series([_normalize_one(str(v), prefix, digits) for v in raw.fillna("")], index=raw.index, dtype=object)


def invoice_refs_in_text(text: str, prefix: str, digits: int) -> list[str]:
    """Every invoice-looking reference in free text ("INV-004213 and INV-004214"), normalized, in order."""
    found = re.findall(rf"(?:{re.escape(prefix.rstrip('-_ '))}|#)[\s\-_]*(\d{{1,{digits}}})\b", text or "", flags=re.IGNORECASE)
    return list(dict.fromkeys(prefix + n.zfill(digits) for n in found))
