"""Customer names as a clerk compares them: without case, punctuation or legal words, and the
organisation an e-mail address comes from."""

from __future__ import annotations

import re

from rapidfuzz import fuzz

#: how alike (0..100) two names must be to agree
NAME_AGREES = 90.0
_LEGAL_WORDS = re.compile(r"\b(INC|INCORPORATED|LLC|L L C|LTD|LIMITED|CORP|CORPORATION|CO|COMPANY|PLC|LP|LLP|GMBH|AG|"
                          r"SA|SAS|BV|NV|PTY|THE)\b")
#: second-level labels of country domains ("acme.co.uk"): not the organisation
_REGISTRY_LABELS = frozenset({"CO", "COM", "ORG", "NET", "AC", "GOV", "EDU", "LTD", "PLC", "GEN", "BIZ"})


def name_key(name: str) -> str:
    """"The Acme Co., Inc." -> "ACME"."""
    words = re.sub(r"[^0-9A-Z]+", " ", (name or "").upper())
    return " ".join(_LEGAL_WORDS.sub(" ", words).split())


def has_legal_words(name: str) -> bool:
    """Whether a name carries a legal form ("Inc", "LLC", "Co", ...): the name of an organisation."""
    return bool(_LEGAL_WORDS.search(re.sub(r"[^0-9A-Z]+", " ", (name or "").upper())))


def names_agree(a: str, b: str) -> bool:
    ka, kb = name_key(a), name_key(b)
    return bool(ka and kb) and fuzz.token_sort_ratio(ka, kb) >= NAME_AGREES


def compact_names(name: str) -> set[str]:
    """The forms an organisation's name takes in its domain: letters and digits only, with and without
    its legal words ("Zed Corp" -> {"ZEDCORP", "ZED"})."""
    return {form for form in (re.sub(r"[^0-9A-Z]", "", (name or "").upper()), name_key(name).replace(" ", "")) if form}


def email_organisation(email: str) -> str:
    """The organisation label of an e-mail address, compacted: "ap@lakeshore-medical.co.uk" ->
    "LAKESHOREMEDICAL"; "" when there is none."""
    domain = (email or "").rpartition("@")[2]
    labels = [label for label in domain.upper().split(".")[:-1] if label and label not in _REGISTRY_LABELS]
    return re.sub(r"[^0-9A-Z]", "", labels[-1]) if labels else ""
