"""Invoice references as typed in PayTrace ("inv 4213", "#4213", "INV-004213 ") in the ERP's form. Vectorized."""

from __future__ import annotations

import re

import pandas as pd

from paysync_dagster.lib.vector import per_unique


def normalize_invoice_refs(raw: pd.Series, prefix: str, digits: int) -> pd.Series:
    """``prefix`` + the first run of digits zero-padded to ``digits``; references without digits are
    upper-cased with separators removed; empty stays empty."""
    return per_unique(raw, lambda s: _normalize(s, prefix, digits))


def _normalize(raw: pd.Series, prefix: str, digits: int) -> pd.Series:
    text = raw.fillna("").astype(str).str.strip().str.upper()
    number = text.str.extract(r"(\d+)", expand=False)
    has_number = number.notna() & (number.str.len() <= digits)
    out = text.str.replace(r"[\s\-_#./]+", "", regex=True)
    out[has_number] = prefix + number[has_number].str.zfill(digits)
    # A longer number than the ERP's width is another kind of reference; keep its digits as they are.
    long_number = number.notna() & ~has_number
    out[long_number] = number[long_number]
    return out


def normalize_invoice_ref(raw: str, prefix: str, digits: int) -> str:
    return str(normalize_invoice_refs(pd.Series([raw]), prefix, digits).iloc[0])


def invoice_refs_in_text(text: str, prefix: str, digits: int) -> list[str]:
    """Every invoice-looking reference in free text ("INV-004213 and INV-004214"), normalized, in order."""
    found = re.findall(rf"(?:{re.escape(prefix.rstrip('-_ '))}|#)[\s\-_]*(\d{{1,{digits}}})\b", text or "", flags=re.IGNORECASE)
    return list(dict.fromkeys(prefix + n.zfill(digits) for n in found))
