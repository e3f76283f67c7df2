"""Suggested links from PayTrace vault customers to ERP customer accounts, each with a confidence and
its evidence in words, for a person to accept or reject (nothing here applies a suggestion).

What counts, strongest first: the same e-mail address; an ERP account number written inside the
PayTrace customer id ("C-1001", "ACME_300100200000287"; a number without digits only as the whole id);
the same phone number; the same street address (house number and street, USPS words and ordinals set
aside, in the same postal code or city) under a name that agrees; the name, compared the way a clerk
does (case, punctuation, legal words such as Inc or GmbH, common abbreviations, nicknames and titles,
word order and small typos set aside, one name within the other: "Uptown Wine Bar" and "Uptown Wine
Bar & Bistro", "Linda Baker" and "Tom & Linda Baker"); the place (postal code, city); the e-mail's
domain when it is an organisation's own. A name alone is never enough when the city says otherwise, a
domain two accounts share (sister companies) identifies neither without the name, a person at an
organisation's domain is shown for review but not in the band unless the place agrees too, and a name
two accounts share (a company's bill-to and ship-to accounts) stays below the band unless something
of one account alone (its e-mail, phone, street address or number) tells them apart. At most one
suggestion per PayTrace customer; a customer no account fits is unmatched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rapidfuzz import fuzz

from paysync_dagster.lib.streets import same_street, street_key
from paysync_dagster.lib.names import has_legal_words, name_key
from paysync_dagster.lib.suggest.vocabulary import ABBREVIATIONS, BUSINESS_WORDS, FREE_MAIL, NICKNAMES, TITLES

#: the auto-accept band: a suggestion at or above it may be accepted in bulk after review
AUTO_ACCEPT = 0.9
#: below this, a candidate is not shown at all
SHOWN_FROM = 0.5

#: how alike (0..100) two name keys must be to count as the same name, and as a near one
SAME_NAME, NEAR_NAME = 92.0, 85.0


@dataclass(frozen=True)
class Suggestion:
    paytrace_customer_id: str
    erp_account: str
    confidence: float
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return {"paytrace_customer_id": self.paytrace_customer_id, "erp_account": self.erp_account,
                "confidence": self.confidence, "evidence": self.evidence}


@dataclass(frozen=True)
class Suggestions:
    suggestions: list[Suggestion]
    unmatched: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"suggestions": [s.as_dict() for s in self.suggestions], "unmatched": self.unmatched}


@dataclass
class _Party:
    """What either side says of a customer, read once into comparable forms."""

    key: str  # the PayTrace customer id, or the ERP account number
    name: str
    name_key: str
    email: str
    domain: str
    phone: str
    postal: str
    street_number: str
    city: str
    state: str
    street: str = ""  # street_key of the address line: house number and street
    name_tokens: tuple[str, ...] = ()  # the name's words, nicknames written out, titles left out
    short_tokens: tuple[str, ...] = ()  # the name's words as written (abbreviations kept), titles left out
    person: bool = False  # the name reads as a person's (see _looks_like_a_person)
    legal: bool = False  # the name carries a legal form (Inc, LLC, ...)
    compact_id: str = ""  # the PayTrace customer id in letters and digits only
    id_pieces: frozenset[str] = frozenset()  # its runs of letters and digits, and the digit runs within them
    number: str = ""  # the ERP account number in letters and digits only
    number_pattern: re.Pattern[str] | None = None  # that number inside a compact id, not inside a longer number


def _text(value: Any) -> str:  # noqa: ANN401
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


def _expanded_name(name: str) -> str:
    """``name_key`` with abbreviations written out: "Acme Intl Mfg, Inc." -> "ACME INTERNATIONAL MANUFACTURING"."""
    words = re.sub(r"&", " AND ", (name or "").upper())
    return " ".join(ABBREVIATIONS.get(w, w) for w in name_key(words).split())


def _with_name(party: _Party) -> _Party:
    """``party`` with what its name says worked out once (not once per pair compared)."""
    return replace(party, person=_looks_like_a_person(party), legal=has_legal_words(party.name))


def _name_tokens(expanded: str) -> tuple[str, ...]:
    return tuple(NICKNAMES.get(w, w) for w in re.split(r"[ -]+", expanded) if w and w not in TITLES)


def _short_tokens(name: str) -> tuple[str, ...]:
    words = name_key(re.sub(r"&", " AND ", (name or "").upper())).split()
    return tuple(w for w in words if w not in TITLES)


def _phone(value: str) -> str:
    # An extension is not the number ("503 224 1189 ext 2", "x204").
    number = re.split(r"(?i)\s*(?:ext\.?|extension|x|#)\s*\d+\s*$", value or "")[0]
    digits = re.sub(r"\D", "", number)
    return digits[-10:] if len(digits) >= 7 else ""


def _postal(value: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", (value or "").upper())[:5]


def _street_number(street: str) -> str:
    match = re.match(r"\s*(\d+)", street or "")
    return match.group(1) if match else ""


def _email(value: str) -> tuple[str, str]:
    email = (value or "").strip().lower()
    if "@" not in email:
        return "", ""
    domain = email.rpartition("@")[2].upper()
    return email, "" if domain in FREE_MAIL else domain


def _address_parts(address: Mapping[str, Any]) -> dict[str, str]:
    line = _text(address.get("street_address"))
    return {"postal": _postal(_text(address.get("zip"))), "street_number": _street_number(line),
            "city": _text(address.get("city")).upper(), "state": _text(address.get("state")).upper(),
            "street": street_key(line)}


def paytrace_parties(customer: Mapping[str, Any]) -> list[_Party]:
    """A PayTrace vault customer, as ``customer/export`` gives it: one reading per address it has (billing,
    then shipping: a card billed at home may ship to the account's site), at least one. A customer id
    that is an e-mail address or a phone number stands for the one the record leaves blank."""
    billing = customer.get("billing_address") if isinstance(customer.get("billing_address"), Mapping) else {}
    shipping = customer.get("shipping_address") if isinstance(customer.get("shipping_address"), Mapping) else {}
    customer_id = _text(customer.get("customer_id"))
    email, domain = _email(_text(customer.get("email")) or (customer_id if "@" in customer_id else ""))
    phone = _phone(_text(customer.get("phone")))
    if not phone and re.fullmatch(r"\+?1?[\d\s().-]{10,16}", customer_id) and len(re.sub(r"\D", "", customer_id)) in (10, 11):
        phone = _phone(customer_id)
    name = _text(billing.get("name")) or _text(shipping.get("name"))
    expanded = _expanded_name(name)
    upper = customer_id.upper()
    base = _with_name(_Party(
        key=customer_id, name=name, name_key=expanded, email=email, domain=domain, phone=phone, postal="",
        street_number="", city="", state="", name_tokens=_name_tokens(expanded), short_tokens=_short_tokens(name),
        compact_id=re.sub(r"[^0-9A-Z]", "", upper),
        id_pieces=frozenset(re.findall(r"[0-9A-Z]+", upper)) | frozenset(re.findall(r"\d+", upper))))
    places = [_address_parts(a) for a in (billing, shipping)
              if _text(a.get("street_address")) or _text(a.get("city")) or _text(a.get("zip"))]
    return [replace(base, **place) for place in places] or [base]


def erp_party(account: Mapping[str, Any]) -> _Party:
    """An ERP account, as a row of ``paysync erp customers``' CSV."""
    email, domain = _email(_text(account.get("email")))
    name = _text(account.get("name"))
    expanded = _expanded_name(name)
    key = _text(account.get("account_number"))
    number = re.sub(r"[^0-9A-Z]", "", key.upper())
    pattern = None
    if any(c.isdigit() for c in number):
        # Never a piece of a longer number ("1027" is not in "CUST001027").
        pattern = re.compile((r"(?<!\d)" if number[0].isdigit() else "") + re.escape(number)
                             + (r"(?!\d)" if number[-1].isdigit() else ""))
    return _with_name(_Party(
        key=key, name=name, name_key=expanded, email=email, domain=domain, phone=_phone(_text(account.get("phone"))),
        postal=_postal(_text(account.get("postal_code"))), street_number=_street_number(_text(account.get("address_line1"))),
        city=_text(account.get("city")).upper(), state=_text(account.get("state")).upper(),
        street=street_key(_text(account.get("address_line1"))), name_tokens=_name_tokens(expanded),
        short_tokens=_short_tokens(name), number=number, number_pattern=pattern))


def _name_score(a: _Party, b: _Party) -> float:
    if not a.name_key or not b.name_key:
        return 0.0
    if a.name_key == b.name_key or (a.name_tokens and "".join(a.name_tokens) == "".join(b.name_tokens)):
        return 100.0  # the same words, or the same letters spaced otherwise ("Northstar" / "North Star")
    # Word order set aside, and one name a few words shorter than the other ("Acme" in "Acme Widgets").
    return max(fuzz.token_sort_ratio(a.name_key, b.name_key), fuzz.ratio(a.name_key, b.name_key))


def _words_within(small: tuple[str, ...], large: tuple[str, ...], *, prefixes: bool) -> bool:
    if not small or len("".join(small)) < 4:
        return False
    if len(small) > 1 and set(small).isdisjoint(large):
        return False  # not one word in common: most pairs, answered without comparing spellings
    remaining = list(large)
    for word in small:
        found = next((w for w in remaining if w == word
                      or (min(len(w), len(word)) >= 5 and fuzz.ratio(w, word) >= 88)
                      or (prefixes and len(word) >= 3 and w.startswith(word))), None)
        if found is None:
            return False
        remaining.remove(found)
    return True


def _name_within(a: _Party, b: _Party) -> bool:
    """Whether one name's words are all in the other's (each word once; a typo in a long word forgiven):
    "Uptown Wine Bar" in "Uptown Wine Bar & Bistro", "Linda Baker" in "Tom & Linda Baker". An
    organisation's words may also be cut short ("Summit Family Med" in "Summit Family Medicine"); a
    person's may not ("Chris" is not "Christine")."""
    small, large = sorted((a.name_tokens, b.name_tokens), key=len)
    if _words_within(small, large, prefixes=False):
        return True
    if a.person or b.person:
        return False
    short, long_ = sorted((a.short_tokens, b.short_tokens), key=len)
    return _words_within(short, long_, prefixes=True)


def _household(customer: _Party, account: _Party) -> bool:
    """A person and a person's or a family's account sharing a surname-long word ("Jen Mitchell" and
    "Mitchell Family", "Debbie Hoffman" and "Hoffman, William")."""
    if not customer.person:
        return False
    words = tuple(w for w in account.name_tokens if w != "FAMILY")
    if not words or account.legal or any(w in BUSINESS_WORDS for w in words):
        return False
    return bool({w for w in customer.name_tokens if len(w) >= 3} & set(words))


def _looks_like_a_person(party: _Party) -> bool:
    """Two to four words, none of a legal form or a business: "Ben Kowalski", not "Smith Orthodontics"."""
    return (2 <= len(party.name_tokens) <= 4 and not has_legal_words(party.name)
            and not any(w in BUSINESS_WORDS or w.isdigit() for w in party.name_tokens))


def _account_in_id(customer: _Party, account: _Party) -> bool:
    # Short numbers turn up in ids by chance ("C-12"): four characters at least. A number without digits
    # is a word ("CAFEROMA"), which an id may hold for its own reasons ("caferoma.sj"): only the whole id.
    # Else a piece of the id ("C20118-01", "ACME1001" holding 1001), or in the id without its separators
    # ("MS-00523", "MS00412-AMEX").
    number = account.number
    if len(number) < 4:
        return False
    if account.number_pattern is None:
        return number == customer.compact_id
    return number in customer.id_pieces or (number in customer.compact_id
                                            and account.number_pattern.search(customer.compact_id) is not None)


@dataclass(frozen=True)
class _Scored:
    account: _Party
    confidence: float
    evidence: tuple[str, ...]
    name: float = 0.0  # how alike the names are, 0..100
    # What ties the customer to this account alone, not to its company: "email", "number", "phone", "street".
    specific: frozenset[str] = frozenset()
    agrees: bool = False  # the names are the same, or one is within the other


def _score(customer: _Party, account: _Party) -> _Scored:
    name = _name_score(customer, account)
    same_name, near_name = name >= SAME_NAME, name >= NEAR_NAME
    within = not same_name and _name_within(customer, account)
    same_place = bool(customer.postal and customer.postal == account.postal) or bool(
        customer.city and customer.city == account.city and (not customer.state or customer.state == account.state))
    other_place = bool(customer.city and account.city and customer.city != account.city) or bool(
        customer.postal and account.postal and customer.postal != account.postal)
    same_address = same_place and same_street(customer.street, account.street)
    same_number = same_address or bool(customer.street_number and customer.street_number == account.street_number
                                       and same_place)
    evidence: list[str] = []
    specific: set[str] = set()
    strong = 0.0
    if customer.email and customer.email == account.email:
        strong = max(strong, 0.96)
        specific.add("email")
        evidence.append(f"the same e-mail address ({customer.email})")
    if _account_in_id(customer, account):
        strong = max(strong, 0.94)
        specific.add("number")
        evidence.append(f"the PayTrace customer id {customer.key!r} holds the account number {account.key}")
    if customer.phone and customer.phone == account.phone:
        strong = max(strong, 0.9)
        specific.add("phone")
        evidence.append("the same phone number")
    same_domain = bool(customer.domain and customer.domain == account.domain)
    if within:
        evidence.append(f"one name within the other ({customer.name!r} / {account.name!r})")
    elif name:
        evidence.append(f"names {name:.0f}% alike ({customer.name!r} / {account.name!r})")
    if same_domain:
        evidence.append(f"the e-mail domain {customer.domain.lower()}")
    place_word = "postal code" if customer.postal and customer.postal == account.postal else "city"
    if same_address:
        specific.add("street")
        evidence.append(f"the same street address and {place_word}")
    elif same_number:
        evidence.append(f"the same street number and {place_word}")
    elif same_place:
        evidence.append(f"the same {place_word}")
    elif other_place:
        evidence.append(f"another place ({customer.city or customer.postal} / {account.city or account.postal})")
    agrees = same_name or within
    person = customer.person
    people = person and account.person

    if strong:
        # A strong identifier, raised by an agreeing name and by the street address. A name that disagrees
        # says little by itself (a person pays for the company); a name that is another account's is a
        # conflict (see _without_conflict).
        confidence = strong + (0.03 if near_name or within else 0.0) + (0.02 if same_address else 0.0)
    elif agrees and same_address:
        confidence = 0.95  # the name, and where the card is billed, to the house number
    elif same_name and (same_number or (same_place and same_domain)):
        confidence = 0.95
    elif same_address and ((people and near_name) or _household(customer, account)):
        # One household: the same person written otherwise ("Kris" / "Kristin"), or a spouse or child.
        evidence.append("a person of the account's household, at its street address")
        confidence = 0.92
    elif same_name and (same_place or same_domain):
        confidence = 0.91
    elif within and same_domain:
        confidence = 0.91  # "Lakeview Vet Clinic" at the domain of "Lakeview Veterinary Clinic Inc"
    elif same_domain and same_address and person:
        evidence.append("a person's name, at the organisation's own domain and street address")
        confidence = 0.9
    elif near_name and same_domain and same_place:
        confidence = 0.85  # a sister company at the same domain and address has a name this close
    elif (near_name or within) and same_number:
        confidence = 0.85
    elif same_name and not other_place:
        confidence = 0.75  # the name alone: worth a look, not an automatic link
    elif within and same_place:
        confidence = 0.75
    elif within and not other_place:
        confidence = 0.6  # shown, and a second account of the company keeps the first out of the band
    elif near_name and (same_place or same_domain):
        confidence = 0.7
    elif same_domain and same_place and person:
        # A person at the organisation: their e-mail at its own domain, their card billed at its place.
        # A vault name of a business is another organisation's (a sister company shares the domain).
        evidence.append("a person's name, at the organisation's own domain and place")
        confidence = 0.9
    elif same_domain and person and not (customer.city or customer.postal):
        evidence.append("a person's name at the organisation's own domain, no address to confirm it")
        confidence = 0.75
    elif same_domain and same_place:
        confidence = 0.6
    elif same_address:
        # Another name at the account's street address: an employee, or a tenant of a landlord's unit.
        evidence.append("another name at the account's street address")
        confidence = 0.55
    else:
        confidence = 0.0
    return _Scored(account, round(min(confidence, 0.99), 2), tuple(evidence), name, frozenset(specific), agrees)


def suggest_customers(paytrace_customers: Iterable[Mapping[str, Any]],
                      erp_accounts: Sequence[Mapping[str, Any]]) -> Suggestions:
    """At most one suggestion per PayTrace customer (the best account, when it stands out), the rest
    unmatched. A customer without an id is skipped: nothing could be linked to it."""
    accounts = [erp_party(a) for a in erp_accounts if _text(a.get("account_number"))]
    suggestions: list[Suggestion] = []
    unmatched: list[str] = []
    for raw in paytrace_customers:
        readings = paytrace_parties(raw)
        if not readings[0].key:
            continue
        # Each account under the customer's address that ties it best (billing, or shipping).
        every = [max((_score(reading, a) for reading in readings), key=_rank) for a in accounts]
        scored = sorted((s for s in every if s.confidence >= SHOWN_FROM), key=_rank, reverse=True)
        best = _best(scored)
        if best is not None:
            best = _without_conflict(best, every)
        if best is None:
            unmatched.append(readings[0].key)
            continue
        suggestions.append(Suggestion(readings[0].key, best.account.key, best.confidence, "; ".join(best.evidence)))
    return Suggestions(suggestions, unmatched)


def _rank(scored: _Scored) -> tuple[float, int]:
    return scored.confidence, len(scored.specific)


def _without_conflict(best: _Scored, every: list[_Scored]) -> _Scored:
    """``best``, or below the band when the customer's name is another account's: the e-mail or the
    phone says one account, the name another (a shared mailbox, a reused card profile)."""
    named = next((s for s in every if s.account.key != best.account.key and s.name >= SAME_NAME
                  and s.name > best.name), None)
    if named is None or best.confidence < AUTO_ACCEPT or best.agrees:
        return best  # no other name, or the name agrees with this account too (one company's accounts)
    return _Scored(best.account, round(AUTO_ACCEPT - 0.1, 2),
                   (*best.evidence, f"but the name is account {named.account.key}'s ({named.account.name!r})"), best.name)


def _best(scored: list[_Scored]) -> _Scored | None:
    """The top candidate when it stands out: two accounts equally likely (a name, a domain or a phone
    two accounts share) identify neither, and a close second lowers the confidence below the band."""
    if not scored:
        return None
    if len(scored) == 1:
        return scored[0]
    first, second = scored[0], scored[1]
    if first.specific and all(first.specific > other.specific for other in scored[1:]
                              if other.confidence >= first.confidence - 0.1):
        # Something of this account alone on top of all that ties the runner-up (the company's domain, its
        # shared mailbox or phone): a ship-to told from its bill-to by its street, a facility by its own.
        return first
    if first.confidence - second.confidence < 0.01:
        return None
    if not first.specific and first.agrees and second.agrees and first.confidence >= AUTO_ACCEPT:
        # One name on two accounts (a bill-to and a ship-to, a chain's stores: the same, or one within the
        # other), and nothing of either alone.
        lowered = round(min(first.confidence, AUTO_ACCEPT - 0.1), 2)
        return _Scored(first.account, lowered, (*first.evidence, f"account {second.account.key} has the same name, and "
                                                "nothing here tells them apart"), first.name)
    if first.confidence - second.confidence < 0.1:
        lowered = round(min(first.confidence, AUTO_ACCEPT - 0.05), 2)
        return _Scored(first.account, lowered, (*first.evidence, f"account {second.account.key} is close behind"),
                       first.name)
    return first
