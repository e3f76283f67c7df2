"""Street lines as the USPS writes them, and a line's key for telling whether two lines are the same place.
Plain Python (no pandas): customer suggestions and contact standardization read it one line at a time."""

from __future__ import annotations

import re

# USPS Publication 28: the common street suffixes, directions and secondary unit designators.
USPS_STREET_WORDS = {
    "street": "St", "avenue": "Ave", "road": "Rd", "boulevard": "Blvd", "drive": "Dr", "lane": "Ln",
    "court": "Ct", "place": "Pl", "parkway": "Pkwy", "highway": "Hwy", "circle": "Cir", "terrace": "Ter",
    "square": "Sq", "trail": "Trl", "way": "Way", "suite": "Ste", "apartment": "Apt", "building": "Bldg",
    "floor": "Fl", "room": "Rm", "unit": "Unit", "north": "N", "south": "S", "east": "E", "west": "W",
    "northeast": "NE", "northwest": "NW", "southeast": "SE", "southwest": "SW",
}
#: the street suffixes among them (a line may leave its suffix out: "3245 SE Ankeny")
STREET_SUFFIXES = frozenset({"ST", "AVE", "RD", "BLVD", "DR", "LN", "CT", "PL", "PKWY", "HWY", "CIR", "TER", "SQ",
                             "TRL", "WAY"})
_UNIT_WORDS = frozenset({"STE", "APT", "BLDG", "FL", "RM", "UNIT"})
_ORDINALS = {"FIRST": "1ST", "SECOND": "2ND", "THIRD": "3RD", "FOURTH": "4TH", "FIFTH": "5TH", "SIXTH": "6TH",
             "SEVENTH": "7TH", "EIGHTH": "8TH", "NINTH": "9TH", "TENTH": "10TH", "ELEVENTH": "11TH",
             "TWELFTH": "12TH"}
_SHORT = {k.upper(): v.upper() for k, v in USPS_STREET_WORDS.items()}


def street_key(line: str) -> str:
    """A street line as a key two writings of one place share: upper case, USPS words and ordinals
    ("West First Avenue, Suite 200" and "W 1st Ave" -> "W 1ST AVE"), the unit dropped (a suite or an
    apartment is the same building); a post office box ("P.O. Box 12" -> "PO BOX 12") and a rural route
    box ("Rural Route 1 Box 44" -> "RR 1 BOX 44") as the USPS writes them; "" when the line has no house
    number to anchor it."""
    upper = (line or "").upper()
    box = re.match(r"\s*(?:P\.?\s*O\.?\s*|POST\s+OFFICE\s+)BOX\s*#?\s*(\w+)", upper)
    if box:
        return f"PO BOX {box.group(1)}"
    route = re.match(r"\s*(?:RR|R\.R\.|RURAL\s+(?:ROUTE|RTE))\s*#?\s*(\d+)\s*,?\s*BOX\s*#?\s*(\w+)", upper)
    if route:
        return f"RR {route.group(1)} BOX {route.group(2)}"
    words = re.sub(r"[^0-9A-Z#]+", " ", upper).split()
    out: list[str] = []
    for word in words:
        word = _ORDINALS.get(word, _SHORT.get(word, word))
        if word in _UNIT_WORDS or word.startswith("#"):
            break  # the unit and what follows it
        out.append(word)
    return " ".join(out) if out and out[0][0].isdigit() else ""


def same_street(a: str, b: str) -> bool:
    """Whether two street keys are one place: equal, or equal but for a suffix one of them leaves out."""
    if not a or not b:
        return False
    if a == b or a.replace(" ", "") == b.replace(" ", ""):  # "Half Moon Rd" / "Halfmoon Rd"
        return True
    wa, wb = a.split(), b.split()
    bare_a = [w for w in wa if w not in STREET_SUFFIXES]
    bare_b = [w for w in wb if w not in STREET_SUFFIXES]
    return bare_a == bare_b and (len(bare_a) == len(wa) or len(bare_b) == len(wb))
