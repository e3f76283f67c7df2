"""A customer's contact details, standardized so the ERP's and PayTrace's copies compare and each side
gets them in its own format.

The fields are the columns ``paysync erp customers`` writes (``CONTACT_FIELDS``). Standardizing
collapses white space; writes US state names as their two-letter codes and country names as their
ISO codes (normalization's tables, ``lib/address.py``), ZIP codes as 12345 or 12345-6789, street
suffixes and unit words as the USPS abbreviates them (Street -> St, Suite -> Ste), e-mails in lower
case, and North American phone numbers as ten digits. Two copies are the same when their standardized values are equal regardless of letter case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from paysync_dagster.lib.address import COUNTRIES, US_STATES  # normalization's tables: one list of each
from paysync_dagster.lib.streets import USPS_STREET_WORDS

CONTACT_FIELDS = ("name", "email", "phone", "address_line1", "address_line2", "city", "state", "postal_code",
                  "country")

_WORD = re.compile(r"[A-Za-z]+\.?")


def _spaces(value: object) -> str:
    return " ".join(str(value or "").split())


def _street(value: str) -> str:
    def short(m: re.Match[str]) -> str:
        word = m.group(0).rstrip(".").lower()
        return USPS_STREET_WORDS.get(word, m.group(0))
    return _WORD.sub(short, value)


def _phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) == 10 else value


def _postal(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if re.fullmatch(r"\d{5}(-?\d{4})?", value.replace(" ", "")):
        return digits if len(digits) == 5 else f"{digits[:5]}-{digits[5:]}"
    return value.upper()


def standardize(raw: Mapping[str, object]) -> dict[str, str]:
    """The standardized copy of a contact (every field of ``CONTACT_FIELDS``, "" when missing)."""
    v = {f: _spaces(raw.get(f)) for f in CONTACT_FIELDS}
    v["email"] = v["email"].lower()
    v["phone"] = _phone(v["phone"])
    v["address_line1"], v["address_line2"] = _street(v["address_line1"]), _street(v["address_line2"])
    state, country = v["state"], v["country"]
    v["state"] = US_STATES.get(state.upper(), state.upper() if len(state) == 2 else state)
    v["postal_code"] = _postal(v["postal_code"])
    v["country"] = COUNTRIES.get(country.upper(), country.upper() if len(country) == 2 else country)
    return v


def same(a: Mapping[str, str], b: Mapping[str, str], fields: tuple[str, ...] = CONTACT_FIELDS) -> bool:
    """Whether two standardized copies agree on ``fields`` (letter case aside)."""
    return all(a.get(f, "").casefold() == b.get(f, "").casefold() for f in fields)


def differing(a: Mapping[str, str], b: Mapping[str, str], fields: tuple[str, ...] = CONTACT_FIELDS) -> list[str]:
    return [f for f in fields if a.get(f, "").casefold() != b.get(f, "").casefold()]


def phone_for_paytrace(digits: str) -> str:
    """PayTrace's profiles show North American numbers as 555-010-0199."""
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if re.fullmatch(r"\d{10}", digits) else digits


def phone_for_sage(digits: str) -> str:
    """Sage 300's customer phone is kept as the digits (its screens apply the mask)."""
    return digits


# The PayTrace profile <-> contact fields. PayTrace's export gives billing_address{name, street_address,
# street_address2, city, state, zip, country (when present)}, email, phone (spec §4).
def from_paytrace(profile: Mapping[str, object]) -> dict[str, str]:
    b = profile.get("billing_address") if isinstance(profile.get("billing_address"), Mapping) else {}
    assert isinstance(b, Mapping)
    return standardize({"name": b.get("name"), "email": profile.get("email"), "phone": profile.get("phone"),
                        "address_line1": b.get("street_address"), "address_line2": b.get("street_address2"),
                        "city": b.get("city"), "state": b.get("state"), "postal_code": b.get("zip"),
                        "country": b.get("country")})


def to_paytrace(contact: Mapping[str, str], fields: list[str]) -> dict[str, object]:
    """The ``customer/update`` arguments that set ``fields`` (billing address fields sent are the only
    ones that change)."""
    names = {"name": "name", "address_line1": "street_address", "address_line2": "street_address2",
             "city": "city", "state": "state", "postal_code": "zip", "country": "country"}
    billing = {names[f]: contact[f] for f in fields if f in names}
    out: dict[str, object] = {"billing_address": billing or None}
    if "email" in fields:
        out["email"] = contact["email"]
    if "phone" in fields:
        out["phone"] = phone_for_paytrace(contact["phone"])
    return out
