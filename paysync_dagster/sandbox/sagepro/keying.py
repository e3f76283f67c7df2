"""Playing the clerk who keys PaySync's keying worksheet into the Sage Pro stand-in.

The worksheet is a CSV, or an XLSX with the same header on its first sheet, with the columns
``batch,customer_number,invoice_number,amount,date,reference`` (in any order; other columns are
ignored): ``amount`` in currency units (``123.45``), ``date`` ``YYYY-MM-DD``, ``reference`` the PayTrace
transaction id. A line without an ``invoice_number`` is an on-account receipt. The total line per
currency that PaySync's worksheet ends with (``batch`` "total", no customer, invoice or reference) and
blank lines are not keyed.

For each line, as Sage Pro's cash-receipt posting most likely does (spec ``sage_pro.md`` §2.2, an
inference: no public code posts a receipt):

- an ARCASH row is appended: ``invno`` (blank on account), ``custno``, ``dtepaid`` the line's date,
  ``refno`` the reference, ``paidamt`` the amount, ``disamt`` 0, ``adduser`` ``CLRK``;
- a line naming an invoice raises that ARMAST row's ``paidamt`` by the amount, lowers ``balance`` (and
  its base-currency copy ``bbal``) by it and sets ``dtepaid``. An invoice not in ARMAST still gets its
  ARCASH row and is reported in ``unknown_invoices``;
- the customer's ARCUST ``balance`` is lowered, ``lastpay``/``lpymt`` set to the latest payment.

ARDIST, SYSDATA and the move of paid invoices to ARYMST are not done (not public; spec §2.2). The
worksheet's ``batch`` is not stored: no public ARCASH column is known to hold it.

Idempotent per (reference, invoice number): a pair already in ARCASH (or earlier in the same
worksheet) is skipped, so keying the same worksheet twice adds nothing the second time. The whole
worksheet is checked before anything is written: a bad line writes nothing. Only a folder written by
:func:`~.seed.write_company` (it holds :data:`~.tables.MARKER`) is written to.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from . import tables as T
from .seed import check_company

COLUMNS = ("batch", "customer_number", "invoice_number", "amount", "date", "reference")
CLERK = "CLRK"
_AMOUNT = re.compile(r"-?\d+(\.\d{1,2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HEADER_FIX = f"the first line must be the header {','.join(COLUMNS)}"


@dataclass(frozen=True)
class WorksheetLine:
    where: str  # "line 3" (CSV) or "row 3" (XLSX), the header being 1
    batch: str
    customer_number: str
    invoice_number: str  # "" = on account
    amount: Decimal
    date: date
    reference: str


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an id typed into a spreadsheet cell
    return str(value).strip()


def _rows(path: Path) -> tuple[str, list[tuple[int, list[Any]]]]:
    """("line" or "row", [(number, cells)]) of the worksheet, header first."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            return "line", [(n, row) for n, row in enumerate(csv.reader(f), start=1)]
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - zipfile/openpyxl errors: not a workbook
            raise T.StandInError(f"worksheet {path} is not an XLSX workbook ({type(exc).__name__})",
                                 "give the .xlsx PaySync wrote, or its .csv") from None
        try:
            sheet = book.worksheets[0]
            return "row", [(n, list(row)) for n, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
        finally:
            book.close()
    raise T.StandInError(f"worksheet {path} is neither .csv nor .xlsx", "give the keying worksheet as CSV or XLSX")


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = _text(value)
    if not _AMOUNT.fullmatch(text):
        return None
    return Decimal(text).quantize(T.CENT)


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def read_worksheet(path: Path) -> list[WorksheetLine]:
    """The worksheet's lines, every one checked; a :class:`~.tables.StandInError` names the first bad
    one (never quoting its values: a worksheet is data). Blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise T.StandInError(f"worksheet {path} does not exist",
                             "give the keying worksheet PaySync wrote (CSV or XLSX)")
    kind, rows = _rows(path)
    name = path.name
    if not rows:
        raise T.StandInError(f"{name} is empty", _HEADER_FIX)
    header = [_text(c).lower() for c in rows[0][1]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise T.StandInError(f"{name}: the header has no column{plural} {', '.join(missing)}", _HEADER_FIX)
    at = {c: header.index(c) for c in COLUMNS}
    lines = []
    for n, cells in rows[1:]:
        if not any(_text(c) for c in cells):
            continue
        cell = {c: (cells[i] if i < len(cells) else None) for c, i in at.items()}
        if _text(cell["batch"]).lower() == "total" and not any(
                _text(cell[c]) for c in ("customer_number", "invoice_number", "reference")):
            continue  # the worksheet's total line per currency: nothing to key
        where = f"{kind} {n}"

        def bad(what: str, fix: str) -> T.StandInError:
            return T.StandInError(f"{name} {where}: {what}", fix)

        customer, invoice, reference = (_text(cell["customer_number"]), _text(cell["invoice_number"]),
                                        _text(cell["reference"]))
        if not customer:
            raise bad("customer_number is empty", "give the Sage Pro customer number (custno)")
        if len(customer) > T.ARCASH.width("custno"):
            raise bad(f"customer_number is longer than {T.ARCASH.width('custno')} characters",
                      "give the Sage Pro customer number (custno C(6))")
        if len(invoice) > T.ARCASH.width("invno"):
            raise bad(f"invoice_number is longer than {T.ARCASH.width('invno')} characters",
                      "give the Sage Pro invoice number, or leave it empty for an on-account receipt")
        amount = _amount(cell["amount"])
        if amount is None or amount == 0:
            raise bad("amount is not an amount in currency units" if amount is None else "amount is zero",
                      "write it like 123.45 (a dot, at most 2 decimals, no currency sign or thousands separator)")
        day = _date(cell["date"])
        if day is None:
            raise bad("date is not a date", "write it as YYYY-MM-DD, e.g. 2026-03-05")
        if not reference:
            raise bad("reference is empty", "give the PayTrace transaction id")
        if len(reference) > T.ARCASH.width("refno"):
            raise bad(f"reference is longer than {T.ARCASH.width('refno')} characters",
                      "give the PayTrace transaction id")
        lines.append(WorksheetLine(where, _text(cell["batch"]), customer, invoice, amount, day, reference))
    return lines


def _tables(data_dir: Path, company: str) -> dict[str, Path]:
    if not data_dir.is_dir() or T.find(data_dir, T.MARKER) is None:
        raise T.StandInError(f"{data_dir} is not a Sage Pro stand-in (it has no {T.MARKER})",
                             "key worksheets only into a folder written by `paysync sandbox sagepro --out`")
    found = {}
    for table in (T.ARCASH, T.ARMAST, T.ARCUST):
        path = T.find(data_dir, table.relpath(company))
        if path is None:
            raise T.StandInError(f"{data_dir} has no {table.relpath(company)}",
                                 f"write company {company} with `paysync sandbox sagepro --out {data_dir} "
                                 f"--company {company}` first")
        found[table.name] = path
    return found


def key_worksheet(data_dir: Path, worksheet: Path, company: str = "01", on: date | None = None) -> dict:
    """Key ``worksheet`` into stand-in company ``company`` under ``data_dir`` (see the module docstring).
    ``on`` is the day the clerk keys it (``adddate``; default today). Returns
    ``{"keyed": n, "skipped_already_keyed": n, "unknown_invoices": [invoice numbers]}``."""
    import dbf

    company = check_company(company)
    data_dir = Path(data_dir)
    paths = _tables(data_dir, company)
    lines = read_worksheet(Path(worksheet))
    keyed_on = on or date.today()
    keyed_at = datetime.now().strftime("%H:%M:%S")

    arcash = dbf.Table(str(paths["arcash"]))
    armast = dbf.Table(str(paths["armast"]))
    arcust = dbf.Table(str(paths["arcust"]))
    arcash.open(dbf.READ_WRITE)
    try:
        armast.open(dbf.READ_WRITE)
        try:
            arcust.open(dbf.READ_WRITE)
            try:
                done = {(str(r.refno or "").strip(), str(r.invno or "").strip())
                        for r in arcash if not dbf.is_deleted(r)}
                invoices: dict[str, Any] = {}
                for r in armast:
                    if not dbf.is_deleted(r):
                        invoices.setdefault(str(r.invno or "").strip(), r)
                customers: dict[str, Any] = {}
                for r in arcust:
                    if not dbf.is_deleted(r):
                        customers.setdefault(str(r.custno or "").strip(), r)
                keyed = skipped = 0
                unknown: list[str] = []
                for line in lines:
                    key = (line.reference, line.invoice_number)
                    if key in done:
                        skipped += 1
                        continue
                    done.add(key)
                    arcash.append({"invno": line.invoice_number, "custno": line.customer_number,
                                   "dtepaid": line.date, "refno": line.reference, "paidamt": line.amount,
                                   "disamt": Decimal("0.00"), "adduser": CLERK, "adddate": keyed_on,
                                   "addtime": keyed_at})
                    keyed += 1
                    if line.invoice_number:
                        invoice = invoices.get(line.invoice_number)
                        if invoice is None:
                            if line.invoice_number not in unknown:
                                unknown.append(line.invoice_number)
                        else:
                            with invoice:
                                invoice.paidamt = T.money(invoice.paidamt) + line.amount
                                invoice.balance = T.money(invoice.balance) - line.amount
                                invoice.bbal = T.money(invoice.bbal) - line.amount
                                invoice.dtepaid = line.date
                                invoice.lckuser, invoice.lckdate, invoice.lcktime = CLERK, keyed_on, keyed_at
                    customer = customers.get(line.customer_number)
                    if customer is not None:
                        with customer:
                            customer.balance = T.money(customer.balance) - line.amount
                            if customer.lastpay is None or line.date >= customer.lastpay:
                                customer.lastpay, customer.lpymt = line.date, line.amount
                            customer.lckuser, customer.lckdate, customer.lcktime = CLERK, keyed_on, keyed_at
            finally:
                arcust.close()
        finally:
            armast.close()
    finally:
        arcash.close()
    T.mark_memo(paths["arcust"], T.ARCUST)
    return {"keyed": keyed, "skipped_already_keyed": skipped, "unknown_invoices": unknown}
