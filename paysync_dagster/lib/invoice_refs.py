"""The references a payer typed in PayTrace's ``invoice_id`` and ``description``, read the way a clerk
reads them: every invoice, purchase-order and sales-order number, not only the first.

What the words before a number say decides what it is: "INV-004512", "inv 4512", "#4512",
"Invoice No. 4512" and bare "4512" are invoice numbers; "PO 7788", "P.O. #7788" and "Purchase order
7788" a purchase order; "SO 1234", "Order #1234" a sales order; a list goes on with commas, slashes,
"&" and "and" ("INV 4512 & 4513"). Numbers after other words that name something else ("Acct 1001",
"Phone 5551234") are not read. Never read: digits beside a masked card number ("****1111": reading its
last four as an invoice could apply the cash to a stranger's invoice), dates and amounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from paysync_dagster.lib.vector import per_unique

INVOICE, PURCHASE_ORDER, SALES_ORDER, ANY, OTHER = "invoice", "purchase_order", "sales_order", "any", "other"
#: words that say the numbers after them are invoices, purchase orders, sales orders, or something else
KEYWORDS = {
    **dict.fromkeys(("INV", "INVS", "INVOICE", "INVOICES", "INVOICED", "BILL", "BILLS"), INVOICE),
    **dict.fromkeys(("PO", "POS", "PURCHASEORDER"), PURCHASE_ORDER),
    **dict.fromkeys(("SO", "ORDER", "ORDERS", "ORD", "SALESORDER"), SALES_ORDER),
    **dict.fromkeys(("ACCT", "ACCOUNT", "ACC", "CUST", "CUSTOMER", "CUSTNO", "ID", "TEL", "PHONE", "PH", "FAX",
                     "ZIP", "QTY", "CHECK", "CHK", "CHEQUE", "CARD", "TXN", "TRANSACTION", "AUTH", "STORE",
                     "BATCH", "UNIT", "SUITE", "STE", "APT", "BOX", "DAY", "DAYS", "NET", "VENDOR"), OTHER),
}
#: words that keep the current meaning ("Invoice No. 4512", "invoices 4512 and 4513", "Ref: 4512")
FILLERS = frozenset({"NO", "NOS", "NUMBER", "NUMBERS", "NUM", "NBR", "NR", "REF", "REFS", "REFERENCE", "AND",
                     "FOR", "RE", "OF", "IN", "PMT", "PAYMENT", "PAID", "PAY", "TO", "THE", "FULL", "PARTIAL"})
#: a bare number (no word before it) must have at least this many digits to be read as an invoice
MIN_BARE_DIGITS = 3

_MASKED = re.compile(r"[0-9Xx*]*\*[0-9Xx*]*")
_DATE = re.compile(r"\b(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\b")
_AMOUNT = re.compile(r"[$€£]\s*\d[\d,]*(?:\.\d+)?|\b\d[\d,]*\.\d{2}\b")
_DOTTED = re.compile(r"\b([PS])\.\s?O\.?", re.IGNORECASE)  # P.O. / S.O.
_TWO_WORDS = re.compile(r"\b(PURCHASE|SALES)[\s\-_]+ORDER", re.IGNORECASE)
_TOKEN = re.compile(r"#|[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")
_LETTERS_DIGITS = re.compile(r"([A-Za-z]+)[-_]?(\d+)")


@dataclass(frozen=True)
class Reference:
    """One reference read: as typed, what the words before it say it is, and its digits."""

    text: str
    kind: str  # invoice | purchase_order | sales_order | any (a bare number)
    key: str  # upper case, letters and digits only ("INV004512"; "4512")
    digits: str  # the number without its letters ("004512"), "" for a code with letters inside


def compact(value: str) -> str:
    """Upper case, letters and digits only: "inv-004512 " -> "INV004512"."""
    return re.sub(r"[^0-9A-Z]", "", (value or "").upper())


def _readable(text: str) -> str:
    text = _MASKED.sub(" ", text or "")
    text = _DATE.sub(" ", text)
    text = _AMOUNT.sub(" ", text)
    text = _TWO_WORDS.sub(lambda m: m.group(1) + "ORDER", text)
    return _DOTTED.sub(lambda m: m.group(1).upper() + "O ", text)


def read_references(text: str, invoice_prefix: str = "INV-") -> list[Reference]:
    """Every reference in ``text``, in order, without repeats."""
    prefix_letters = compact(invoice_prefix)
    context, after_keyword = ANY, False
    out: dict[tuple[str, str], Reference] = {}
    for m in _TOKEN.finditer(_readable(text)):
        token = m.group(0)
        upper = token.upper()
        if token == "#":  # "#4512" is an invoice; "PO #7788" stays a purchase order
            if not after_keyword:
                context = INVOICE
            continue
        if upper.isalpha():
            after_keyword = upper in KEYWORDS or upper == prefix_letters
            if after_keyword:
                context = KEYWORDS.get(upper, INVOICE)
            elif upper not in FILLERS:
                context = ANY  # a word that says nothing: the next number is read on its own
            continue
        after_keyword = False
        kind, digits = context, token if token.isdigit() else ""
        glued = _LETTERS_DIGITS.fullmatch(token)
        if glued:  # "INV004512", "PO-7788", "SO1234": a keyword and its number in one token
            letters = glued.group(1).upper()
            kind = INVOICE if letters == prefix_letters else KEYWORDS.get(letters, "")
            context = kind or context
            digits = glued.group(2) if kind else ""
            kind = kind or ANY  # any other letters make a code of its own ("WEB-0311"), read as typed
        if kind == OTHER or (kind == ANY and digits and len(digits) < MIN_BARE_DIGITS):
            continue
        ref = Reference(token, kind, compact(token), digits)
        out.setdefault((ref.kind, ref.key), ref)
    return list(out.values())


def invoice_number(ref: Reference, prefix: str, digits: int) -> str:
    """The ERP invoice number a reference stands for (``prefix`` + digits zero-padded to ``digits``),
    or "" when it is not one (a code with letters, a longer number, a purchase or sales order)."""
    if ref.kind not in (INVOICE, ANY) or not ref.digits or len(ref.digits.lstrip("0") or "0") > digits:
        return ""
    return prefix + ref.digits.lstrip("0").zfill(digits)


def normalize_invoice_refs(raw: pd.Series, prefix: str, digits: int) -> pd.Series:
    """The first invoice number each reference names, in the ERP's form; a reference that names none
    is kept upper-cased without separators (a code such as an order number); empty stays empty."""
    return per_unique(raw, lambda s: _normalize(s, prefix, digits))


def _normalize_one(text: str, prefix: str, digits: int) -> str:
    refs = read_references(text, prefix)
    for ref in refs:
        number = invoice_number(ref, prefix, digits)
        if number:
            return number
    return compact(text) if "*" not in text else re.sub(r"[\s\-_#./]+", "", text.strip().upper())


def _normalize(raw: pd.Series, prefix: str, digits: int) -> pd.Series:
    # One pass of plain Python per value beats several pandas string passes over object columns.
    return pd.Series([_normalize_one(str(v), prefix, digits) for v in raw.fillna("")], index=raw.index, dtype=object)


def invoice_refs_in_text(text: str, prefix: str, digits: int) -> list[str]:
    """Every invoice number named in free text ("INV-004213 and INV-004214"), normalized, in order."""
    found = (invoice_number(r, prefix, digits) for r in read_references(text, prefix))
    return list(dict.fromkeys(n for n in found if n))
