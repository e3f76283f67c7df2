"""Labelled customer masters for the customer suggestions: ERP accounts, PayTrace vault customers as
``customer/export`` gives them, and for each vault customer the account it truly belongs to (or none).

Each style is a way a real master differs from the vault, or a decoy a careless matcher falls for:

- ``exact``: the same name and e-mail on both sides;
- ``legal_suffix``: "Acme Widgets Inc." beside "ACME WIDGETS, LLC";
- ``abbreviation``: "Northwind Intl Mfg" beside "Northwind International Manufacturing";
- ``typo``: one letter wrong in the vault's name, same city;
- ``word_order``: the words of the name in another order, same postal code;
- ``email_only``: a person's name on the card, the account's own e-mail address;
- ``domain_and_city``: a person's name, an address at the company's domain, the same city;
- ``phone``: a person's name, the account's phone number;
- ``id_embeds_account``: the vault id holds the ERP account number ("CUST-1042");
- decoys, whose right answer is no account: ``near_name_other_city`` (an account's name, another
  city, a free-mail address), ``sister_company`` (another company at the account's domain, in the same
  city), ``shared_name`` (a company with a bill-to and a ship-to account of one name, nothing to tell
  them apart: neither may be picked), ``stranger`` (someone no account resembles).

Seeded: the same seed gives the same master.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

STYLES = ("exact", "legal_suffix", "abbreviation", "typo", "word_order", "email_only", "domain_and_city", "phone",
          "id_embeds_account")
DECOYS = ("near_name_other_city", "sister_company", "shared_name", "stranger")

_FIRST = ("Harbor", "Summit", "Granite", "Cedar", "Lakeshore", "Northwind", "Bluewater", "Ironwood", "Redstone",
          "Silverline", "Oakridge", "Pinecrest", "Riverbend", "Stonegate", "Westfield", "Brightpath", "Clearview",
          "Eastgate", "Foxglove", "Goldleaf", "Highland", "Juniper", "Kingsley", "Larkspur", "Maplewood")
_SECOND = ("Medical", "Auto Parts", "Logistics", "Dental", "Builders", "Foods", "Analytics", "Outfitters", "Printing",
           "Veterinary", "Landscaping", "Electric", "Plumbing", "Consulting", "Robotics", "Textiles", "Bakery")
_ABBREVIABLE = (("International Manufacturing", "Intl Mfg"), ("Technology Services", "Tech Svcs"),
                ("Medical Group", "Med Grp"), ("Engineering Associates", "Eng Assoc"),
                ("Distribution Center", "Dist Ctr"), ("Construction Supply", "Const Supp"))
_SUFFIXES = ("Inc.", "LLC", "Ltd", "Corp.", "Co.", "Incorporated", "L.L.C.", "GmbH")
_PEOPLE = ("Ben Kowalski", "Maria Alvarez", "Chen Wei", "Priya Natarajan", "Tom O'Neil", "Aisha Bello",
           "Lars Eriksen", "Sofia Rossi", "Kenji Watanabe", "Grace Mensah", "Omar Haddad", "Eva Novak")
_CITIES = (("Spokane", "WA", "99201"), ("Boise", "ID", "83702"), ("Portland", "OR", "97201"), ("Tacoma", "WA", "98402"),
           ("Eugene", "OR", "97401"), ("Reno", "NV", "89501"), ("Fresno", "CA", "93721"), ("Billings", "MT", "59101"))
_STREETS = ("Cedar Ln", "Main St", "Oak Ave", "Pine Rd", "Lake Dr", "Hill St", "River Rd", "Elm St")


@dataclass
class CustomerMaster:
    accounts: list[dict[str, str]] = field(default_factory=list)  # rows of ``paysync erp customers``' CSV
    customers: list[dict[str, Any]] = field(default_factory=list)  # ``customer/export``'s customers
    truth: dict[str, str | None] = field(default_factory=dict)  # customer id -> its account, or None
    style: dict[str, str] = field(default_factory=dict)  # customer id -> the style it was made in

    def export_body(self) -> dict[str, Any]:
        """The body of PayTrace's ``customer/export`` answer."""
        return {"success": True, "response_code": 1, "status_message": "Your request has been successfully completed.",
                "customers": self.customers}


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "change"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    letter = rng.choice([c for c in "aeioustnrl" if c != word[i].lower()])
    return word[:i] + letter + word[i + 1:]


def _words(name: str) -> str:
    return " ".join(sorted(name.upper().split()))


def _domain(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())[:24] + ".example"


def customer_master(seed: int = 1, per_style: int = 20) -> CustomerMaster:
    """A labelled master: ``per_style`` vault customers of each style and decoy, over one ERP master."""
    rng = random.Random(seed)
    master = CustomerMaster()
    used_names: set[str] = set()  # names as sorted words: another order is the same company (word_order)
    serial = iter(range(1001, 10**6))

    def company_name() -> str:
        while True:
            if rng.random() < 0.25:
                long, _ = rng.choice(_ABBREVIABLE)
                name = f"{rng.choice(_FIRST)} {long}"
            else:
                name = f"{rng.choice(_FIRST)} {rng.choice(_FIRST)} {rng.choice(_SECOND)}"
            if _words(name) not in used_names:
                used_names.add(_words(name))
                return name

    def account(name: str, *, city: tuple[str, str, str] | None = None, email: str | None = None) -> dict[str, str]:
        city = city or rng.choice(_CITIES)
        row = {"account_number": str(next(serial)), "name": f"{name} {rng.choice(_SUFFIXES)}",
               "email": email or f"ap@{_domain(name)}", "phone": f"509-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
               "address_line1": f"{rng.randrange(100, 9999)} {rng.choice(_STREETS)}", "address_line2": "",
               "city": city[0], "state": city[1], "postal_code": city[2], "country": "US"}
        master.accounts.append(row)
        return row

    def customer(style: str, truth: str | None, *, name: str, email: str = "", phone: str = "",
                 street: str = "", city: tuple[str, str, str] | None = None, customer_id: str | None = None) -> None:
        city = city or rng.choice(_CITIES)
        cid = customer_id or f"{style[:3].upper()}{rng.randrange(10**7, 10**8)}"
        master.customers.append({
            "customer_id": cid,
            "credit_card": {"masked_number": f"************{rng.randrange(1000, 9999)}", "expiration_month": 12,
                            "expiration_year": 30},
            "billing_address": {"name": name, "street_address": street or f"{rng.randrange(100, 9999)} {rng.choice(_STREETS)}",
                                "street_address2": "", "city": city[0], "state": city[1], "zip": city[2]},
            "shipping_address": {"name": "", "street_address": "", "street_address2": "", "city": "", "state": "",
                                 "zip": ""},
            "email": email, "phone": phone,
        })
        master.truth[cid] = truth
        master.style[cid] = style

    def place(row: dict[str, str]) -> tuple[str, str, str]:
        return row["city"], row["state"], row["postal_code"]

    for _ in range(per_style):
        for style in STYLES:
            base = company_name()
            row = account(base)
            person = rng.choice(_PEOPLE)
            if style == "exact":
                customer(style, row["account_number"], name=row["name"], email=row["email"], city=place(row))
            elif style == "legal_suffix":
                other = rng.choice([s for s in _SUFFIXES if s != row["name"].rsplit(" ", 1)[-1]])
                customer(style, row["account_number"], name=f"{base.upper()}, {other}", city=place(row),
                         email=row["email"] if rng.random() < 0.5 else "")
            elif style == "abbreviation":
                long = next((pair for pair in _ABBREVIABLE if base.endswith(pair[0])), None)
                short = base.replace(long[0], long[1]) if long else base.replace(" and ", " & ")
                customer(style, row["account_number"], name=short, city=place(row))
            elif style == "typo":
                words = base.split()
                j = max(range(len(words)), key=lambda k: len(words[k]))
                words[j] = _typo(rng, words[j])
                customer(style, row["account_number"], name=" ".join(words), city=place(row))
            elif style == "word_order":
                words = base.split()
                customer(style, row["account_number"], name=" ".join(words[1:] + words[:1]), city=place(row))
            elif style == "email_only":
                customer(style, row["account_number"], name=person, email=row["email"].upper())
            elif style == "domain_and_city":
                first = person.split()[0].lower().replace("'", "")
                customer(style, row["account_number"], name=person, email=f"{first}@{row['email'].split('@')[1]}",
                         city=place(row))
            elif style == "phone":
                customer(style, row["account_number"], name=person, phone=row["phone"].replace("-", ""))
            elif style == "id_embeds_account":
                customer(style, row["account_number"], name=person, customer_id=f"CUST-{row['account_number']}")
        # Decoys: each vault customer's right answer is no account at all.
        base = company_name()
        row = account(base)
        elsewhere = rng.choice([c for c in _CITIES if c[0] != row["city"]])
        customer("near_name_other_city", None, name=row["name"], city=elsewhere,
                 email=f"{rng.choice(_PEOPLE).split()[0].lower().replace(chr(39), '')}@gmail.com")
        base = company_name()
        row = account(base)
        sister = f"{base.split()[0]} {rng.choice(_FIRST)} {rng.choice(_SECOND)}"
        while _words(sister) in used_names:
            sister = f"{base.split()[0]} {rng.choice(_FIRST)} {rng.choice(_SECOND)}"
        used_names.add(_words(sister))
        customer("sister_company", None, name=f"{sister} LLC", city=place(row),
                 email=f"billing@{row['email'].split('@')[1]}")
        base = company_name()
        city = rng.choice(_CITIES)
        bill_to = account(base, city=city)
        ship_to = account(base, city=city, email=bill_to["email"])
        ship_to["name"] = bill_to["name"]
        customer("shared_name", None, name=bill_to["name"], city=city)
        customer("stranger", None, name=rng.choice(_PEOPLE), city=rng.choice(_CITIES),
                 email=f"{rng.randrange(10**5)}@yahoo.com")
    return master
