"""Writing a stand-in Sage Pro company seeded like the other ERP sandboxes: the PayTrace generator's
customers (``customer_catalogue``) and the invoices its payments pay (``generate(...)`` days'
``.invoices``, PO numbers from the paying transactions' references), as :mod:`..sage.seed` and
:mod:`..oracle.seed` load them.

- ARCUST: one customer per catalogue account (``C10042``: always 6 characters, so it is the ``custno``
  as it is; a longer one is refused rather than cut), with company, contact, address, phone, e-mail,
  terms, and ``balance`` (Y) the sum of its open invoices. The Sage 300 seed's ``SUSPENSE`` customer
  is not written: it does not fit C(6).
- ARMAST: one open invoice per generated invoice, in invoice-number order: ``invno`` the invoice
  number, ``invamt`` = ``balance`` its amount, ``paidamt`` 0, ``arstat`` '' and ``artype`` '' (open
  invoice), ``ponum`` the paying transaction's PO number; terms ``Net <n> Days`` with ``pnet`` the days
  from ``invdte`` to the generator's due date (ARMAST has no due-date column). Every third invoice
  (the 1st, 4th, ...) comes from a sales order: ``ornum`` its number, right-justified in C(10) like
  ``somast.sono``, and a SOMAST row for it (``sostat`` 'C': invoiced in full, an inference).
- ARTRAN: one line per invoice, two (60 % / 40 %) for every second one, summing to ``invamt``.
- ARCASH and ARYMST are empty; SYSDATA holds the ``AR<co>`` and ``SO<co>`` records with the
  AR totals in ``num1`` (balance) and ``num2`` (invoices).

Money is a 2-place Decimal. Audit fields carry the user ``SEED`` and the document's own date, never
the wall clock, so the same spec writes the same rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE

from . import tables as T

SEED_USER = "SEED"
SEED_TIME = "09:00:00"
AR_CONTROL = "1200-000"
SALES_TAX = "2300-000"
FINANCE_CHARGE = "4050-000"
ORDER_EVERY = 3  # every third invoice comes from a sales order
SO_BASE = 200_000  # sono = SO_BASE + the invoice number's digits ("INV-004213" -> "    204213")
LINES = (("SVC-LABOR", "Service labor"), ("PARTS-GENERAL", "Parts and materials"))
COMPANY_NAME = "PaySync Sage Pro Stand-in"


@dataclass(frozen=True)
class StandInSpec:
    """The generator arguments (like the sandboxes' ``SeedSpec``; any object with these attributes will do)."""

    seed: int
    start_date: date
    end_date: date
    per_day: int
    tz_name: str = DEFAULT_MERCHANT_TIMEZONE


def check_company(company: str) -> str:
    if not re.fullmatch(r"\d\d", company or "") or company == "00":
        raise T.StandInError(f"company {company!r} is not a Sage Pro company id", "give two digits, 01 to 99")
    return company


def generated(spec: Any) -> tuple[list[dict], dict[str, str], tuple[dict, ...]]:
    """(invoices in invoice-number order, {invoice number: PO number}, customer catalogue) of ``spec``."""
    from paysync_dagster.sandbox.paytrace.generator import customer_catalogue, invoices_with_po_numbers

    invoices, po_numbers = invoices_with_po_numbers(spec.seed, spec.start_date, spec.end_date, spec.per_day,
                                                    getattr(spec, "tz_name", DEFAULT_MERCHANT_TIMEZONE))
    invoices.sort(key=lambda inv: str(inv["invoice_number"]))
    return invoices, po_numbers, customer_catalogue(spec.seed, spec.per_day, spec.start_date.year)


def _fit(value: Any, table: T.Table, field: str, what: str) -> str:
    text = str(value or "")
    if len(text) > table.width(field):
        raise ValueError(f"{what} {text!r} does not fit {table.name}.{field} C({table.width(field)})")
    return text


def _cut(value: Any, table: T.Table, field: str) -> str:
    return str(value or "")[:table.width(field)]


def _cents(amount_minor: Any) -> Decimal:
    return Decimal(int(amount_minor)).scaleb(-2).quantize(T.CENT)


def sales_order_number(invoice_number: str) -> str:
    digits = re.sub(r"\D", "", invoice_number) or "0"
    return str(SO_BASE + int(digits))


def _customers(catalogue: Iterable[Mapping[str, Any]], invoices: list[dict], start: date) -> list[dict]:
    people: dict[str, dict[str, Any]] = {}
    for c in catalogue:
        custno = _fit(c["account"], T.ARCUST, "custno", "customer account")
        _name, street, street2, city, region, postal, country = (list(c.get("billing") or ()) + [""] * 7)[:7]
        people[custno] = {
            "custno": custno, "company": _cut(c["company"], T.ARCUST, "company"),
            "contact": _cut(c.get("contact"), T.ARCUST, "contact"), "address1": _cut(street, T.ARCUST, "address1"),
            "address2": _cut(street2, T.ARCUST, "address2"), "city": _cut(city, T.ARCUST, "city"),
            "state": _cut(region, T.ARCUST, "state"), "zip": _cut(postal, T.ARCUST, "zip"),
            "country": _cut(country, T.ARCUST, "country"), "phone": _cut(c.get("phone"), T.ARCUST, "phone"),
            "email": str(c.get("email") or "")}
    for inv in invoices:
        custno = _fit(inv["customer_account"], T.ARCUST, "custno", "customer account")
        people.setdefault(custno, {"custno": custno, "company": _cut(inv["customer_name"], T.ARCUST, "company"),
                                   "email": str(inv.get("customer_email") or "")})
    by_customer: dict[str, list[dict]] = {}
    for inv in invoices:
        by_customer.setdefault(str(inv["customer_account"]), []).append(inv)
    entered = start - timedelta(days=365)
    rows = []
    for custno in sorted(people):
        own = by_customer.get(custno, [])
        total = sum((_cents(i["amount_minor"]) for i in own), Decimal("0.00"))
        last = max(own, key=lambda i: (i["invoice_date"], i["invoice_number"]), default=None)
        rows.append({
            **people[custno], "pterms": "Net 30 Days", "pnet": 30, "currency": "USD", "gllink": "Y",
            "aracct": AR_CONTROL, "sltxact": SALES_TAX, "fchgact": FINANCE_CHARGE, "history": "Y", "statfmt": "O",
            "limit": Decimal("10000.00"), "credlimit": Decimal("10000.00"), "balance": total, "hibalance": total,
            "ptdsls": total, "ytdsls": total, "lpymt": Decimal("0.00"),
            "lsale": _cents(last["amount_minor"]) if last else Decimal("0.00"),
            "ldate": date.fromisoformat(last["invoice_date"]) if last else None, "entered": entered,
            "cstmemo": "Stand-in customer from the PayTrace generator's catalogue.",
            "adduser": SEED_USER, "adddate": entered, "addtime": SEED_TIME,
            "user1": "STANDIN"})
    return rows


def _invoice_rows(invoices: list[dict], po_numbers: Mapping[str, str]) -> tuple[list[dict], list[dict], list[dict]]:
    armast, artran, somast = [], [], []
    for n, inv in enumerate(invoices):
        invno = _fit(inv["invoice_number"], T.ARMAST, "invno", "invoice number")
        custno = str(inv["customer_account"])
        issued = date.fromisoformat(inv["invoice_date"])
        due = date.fromisoformat(inv["due_date"]) if inv.get("due_date") else issued + timedelta(days=30)
        days = max(0, (due - issued).days)
        amount = _cents(inv["amount_minor"])
        ponum = _cut(po_numbers.get(inv["invoice_number"], ""), T.ARMAST, "ponum")
        ornum = sales_order_number(invno) if n % ORDER_EVERY == 0 else ""
        audit = {"adduser": SEED_USER, "adddate": issued, "addtime": SEED_TIME,
                 "lckuser": SEED_USER, "lckdate": issued, "lcktime": SEED_TIME}
        armast.append({
            "invno": invno, "invdte": issued, "custno": custno, "ponum": ponum, "invamt": amount,
            "paidamt": Decimal("0.00"), "balance": amount, "binvamt": amount, "bbal": amount,
            "glarec": AR_CONTROL, "pterms": f"Net {days} Days" if days else "COD", "pnet": days,
            "ornum": ornum, "ordate": issued if ornum else None, "exchrat": Decimal("1.000000"),
            "arstat": "", "artype": "", "currid": str(inv.get("currency") or "USD"), "batch": "OPENBAL",
            **audit})
        whole = int(inv["amount_minor"])
        parts = [whole] if n % 2 == 0 or whole < 2 else [whole * 60 // 100, whole - whole * 60 // 100]
        for lineno, cents in enumerate(parts, start=1):
            item, descrip = LINES[(n + lineno - 1) % len(LINES)]
            price = _cents(cents)
            artran.append({
                "invno": invno, "custno": custno, "invdte": issued, "lineno": lineno, "item": item,
                "descrip": descrip, "currid": "USD", "exchrat": Decimal("1.000000"), "glasst": "DEF", "glsale": "DEF",
                "qtyord": Decimal("1.00"), "qtyshp": Decimal("1.00"), "price": price, "bprice": price,
                "extprice": price, "bextpri": price, "taxable": "N",
                "ponum": _cut(f"Our SO # {ornum}" if ornum else ponum, T.ARTRAN, "ponum"), "loctid": "MAI",
                "adduser": SEED_USER, "adddate": issued, "addtime": SEED_TIME,
                "lckuser": SEED_USER, "lckdate": issued, "lcktime": SEED_TIME})
        if ornum:
            somast.append({
                "sono": ornum, "custno": custno, "sodate": issued, "ordate": issued,
                "pterms": f"Net {days} Days" if days else "COD", "pnet": days, "ordamt": amount, "shpamt": amount,
                "bordamt": amount, "bshpamt": amount, "ponum": ponum, "glarec": AR_CONTROL, "sostat": "C",
                "currid": "USD", "exchrat": Decimal("1.000000"), "loctid": "MAI", **audit})
    return armast, artran, somast


def write_company(out: Path, spec: Any, company: str = "01") -> dict[str, int]:
    """Write a stand-in Sage Pro company ``company`` seeded from ``spec`` (a :class:`StandInSpec` or the
    sandboxes' ``SeedSpec``) under ``out``; returns {file path relative to ``out``: rows}. The files of
    this company are rewritten; SYSDATA keeps other companies' records. Nothing else in ``out`` is touched."""
    company = check_company(company)
    out = Path(out)
    invoices, po_numbers, catalogue = generated(spec)
    arcust = _customers(catalogue, invoices, spec.start_date)
    armast, artran, somast = _invoice_rows(invoices, po_numbers)
    written: dict[str, int] = {}
    for table, rows in ((T.ARCUST, arcust), (T.ARMAST, armast), (T.ARTRAN, artran), (T.ARCASH, []),
                        (T.ARYMST, []), (T.SOMAST, somast)):
        written[table.relpath(company)] = T.create(out / table.relpath(company), table, rows)
    balance = sum((r["balance"] for r in armast), Decimal("0.00"))
    written[T.SYSDATA.relpath(company)] = _write_sysdata(out, company, balance, len(somast), spec.start_date)
    (out / T.MARKER).write_text(T.MARKER_TEXT, encoding="utf-8")
    return written


def _write_sysdata(out: Path, company: str, balance: Decimal, orders: int, start: date) -> int:
    """SYSDATA with this company's AR and SO records (other companies' records kept); returns its rows."""
    import dbf

    path = out / T.SYSDATA.relpath(company)
    keep: list[dict[str, Any]] = []
    if path.exists():
        old = dbf.Table(str(path))
        old.open(dbf.READ_ONLY)
        try:
            ours = {spec.split(" ")[0] for spec in T.SYSDATA.fields}
            names = [n for n in old.field_names if n.lower() in ours]
            for record in old:
                if dbf.is_deleted(record) or str(record.sysid).strip() in (f"AR{company}", f"SO{company}"):
                    continue
                keep.append({n.lower(): record[n] for n in names})
        finally:
            old.close()
    stamp = {"adduser": SEED_USER, "adddate": start, "addtime": SEED_TIME}
    mine = [{"sysid": f"AR{company}", "company": COMPANY_NAME, "num1": balance, "num2": balance, **stamp},
            {"sysid": f"SO{company}", "company": COMPANY_NAME, "num1": Decimal(orders), **stamp}]
    rows = sorted(keep + mine, key=lambda r: str(r["sysid"]).strip())
    return T.create(path, T.SYSDATA, rows)
