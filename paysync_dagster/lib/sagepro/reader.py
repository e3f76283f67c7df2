"""Sage Pro's Visual FoxPro tables, read only (spec ``sage_pro.md`` §1, §3, §6).

**Read-only guarantee.** Every file (``.dbf`` and its ``.fpt`` memo file) is opened with ``open(path, "rb")``
by dbfread and nowhere else; PaySync takes no lock (no ``fcntl``/``msvcrt``, no VFP byte-range lock), never
writes, never creates an index, memo or any other file, and so never changes a file's bytes or mtime (the
tests check the sha256, ``st_mtime_ns`` and the folder listing around a full read; the OS may still update
the access time). Sage Pro keeps writing its own files meanwhile: a row it is appending while PaySync reads
may come back torn (dbfread reads to the end of the file, not to the header's record count), so read a
copy or a quiet moment when a consistent cut matters.

**Library.** dbfread 2.0.7 (spec §3): it only reads, so nothing in it can write a Sage Pro file, and it
streams (``load=False``: one record at a time, large tables never held in memory; a method here opens the
table and checks its fields when called and returns an iterator). ``dbf`` 0.99.11 also reads VFP tables
but is a read-write library; it is used only by the tests to build fixture files. Neither reads a CDX
index, and none is needed: every read is a full scan.

What PaySync changes in dbfread's behaviour (its parser and table class are subclassed, nothing patched):

- **Numbers.** dbfread reads ``N``/``F`` as ``float`` (``"-516.00"`` -> ``-516.0``). Here they are read as
  ``Decimal`` from their text, so money stays exact; ``Y`` (currency) is already a ``Decimal``; ``B`` (double)
  is a float by nature and is read through ``repr`` and rounded to 9 decimals (binary noise such as
  ``0.30000000000000004`` goes, a real sub-cent amount does not). Money becomes integer minor units through
  :func:`paysync_dagster.lib.money.to_minor`, which refuses more decimals than the currency has rather than
  rounding a cent away. A blank numeric is 0 (as VFP reads it); a numeric field of asterisks (VFP's numeric
  overflow) is an error, where dbfread would read it as empty.
- **NULLs.** dbfread returns the VFP ``_NullFlags`` system column as raw bytes and parses a NULL field as
  whatever bytes it holds (a NULL ``Y`` reads as 0). Here the bits are decoded as VFP lays them out (Microsoft's
  table file structure): one bit per nullable field (field flag ``0x02``) in field order, least significant bit
  first; a ``V``/``Q`` (Varchar/Varbinary) field takes a "varlength" bit first, and its null bit, when nullable,
  follows. A field whose bit is set reads as NULL: ``""`` for text, ``None`` for dates, quantities, line numbers
  and the amounts typed ``int | None``; a NULL in an amount typed ``int`` (an invoice's ``invamt``/``paidamt``/
  ``balance``, a customer's ``balance``, a receipt's ``paidamt``/``disamt``) is a :class:`SageProError` naming
  the file, the row and the field, because a NULL amount is unknown, not zero.
- **Code page.** Taken from the header's language-driver byte (``0x03`` = cp1252, ``0x01`` = cp437, ...);
  dbfread's fallback for byte 0 (no code page marked) is ASCII, which would garble every accented name, so
  cp1252 (Sage Pro's Windows code page) is used there and for unknown bytes. Undecodable bytes are replaced
  (``char_decode_errors="replace"``), never fatal.
- **Memo file.** dbfread wants a memo file for any table with a ``B`` field, but in VFP ``B`` is an inline double,
  so a table with doubles and no memo fields would be refused. Here a ``.fpt`` is required exactly when the
  table has a memo-type field (``M``, ``G``, ``P``, ``W``); it is found next to the ``.dbf`` whatever the letter
  case (dbfread's own search is a glob, which a ``[`` in the data path would break). A missing one is an error
  naming it, never a silent ``None`` memo.
- **Field types.** A site's own columns may have any type; a column PaySync does not read is never parsed (nor
  its memo read), so it cannot stop a read. A value PaySync reads that cannot be parsed (a bad date, a short
  record) is an error naming the file, the row's key and the field.

**Layout.** Fields are found by name, case-insensitively (``lowernames=True``), never by position or width:
every Sage Pro site is customised (spec §1.1) and widths differ between product generations, so neither
widths nor the presence of site columns is assumed. A field PaySync requires (``layout.required``) that is
missing is an error naming the file and the field; an optional one that is missing reads as ``""``, ``None`` or
0. Deleted records (delete flag ``*``) are skipped, as VFP does with ``SET DELETED ON``. Strings are stripped
on both sides (VFP pads on the right; ``somast.sono`` is right-justified in ``C(10)``).
"""

from __future__ import annotations

import codecs
import math
import re
import struct
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

from dbfread import DBF
from dbfread.codepages import codepages as _DBFREAD_CODEPAGES
from dbfread.field_parser import FieldParser

from paysync_dagster.lib.money import MoneyError, exponent, to_minor
from paysync_dagster.lib.sagepro.layout import (
    ARCASH, ARCUST, ARMAST, ARTRAN, DEFAULT_COMPANY, SOMAST, TableLayout,
)

__all__ = [
    "ProCashReceipt", "ProCustomer", "ProInvoice", "ProInvoiceLine", "ProSalesOrder", "SageProError",
    "SageProReader",
]

DEFAULT_CURRENCY = "USD"
_DEFAULT_ENCODING = "cp1252"
_VFP_VERSIONS = (0x30, 0x31, 0x32)  # Visual FoxPro table types: the only ones with field flags and _NullFlags
_NULLABLE = 0x02  # field flag: the field can hold NULL
_MEMO_TYPES = frozenset("MGPW")  # VFP types stored in the memo file; B is an inline double in VFP
_CURRENCY_FIELDS = ("currid", "currency")  # ARMAST/ARTRAN/SOMAST carry currid, ARCUST currency
_B_DECIMALS = Decimal("1e-9")  # a double is rounded to this before it is read as money


class SageProError(Exception):
    """A Sage Pro table cannot be read as PaySync needs it. The message names the file (relative to the data
    folder) and, when one is at fault, the row and the field."""


@dataclass(frozen=True)
class ProCustomer:
    custno: str
    company: str
    contact: str
    address1: str
    address2: str
    city: str
    state: str
    zip: str
    country: str
    phone: str
    email: str
    balance_minor: int
    currency: str


@dataclass(frozen=True)
class ProInvoice:
    invno: str
    custno: str
    invdte: date | None
    ponum: str
    ornum: str  # the sales-order number (somast.sono)
    refno: str
    invamt_minor: int  # negative for a credit memo
    paidamt_minor: int
    balance_minor: int  # invamt - paidamt
    artype: str  # "C" = credit memo
    arstat: str  # "" = open
    currency: str
    dtepaid: date | None


@dataclass(frozen=True)
class ProInvoiceLine:
    invno: str
    custno: str
    lineno: int | None
    item: str
    descrip: str
    qtyshp: Decimal | None
    price_minor: int | None
    extprice_minor: int | None


@dataclass(frozen=True)
class ProSalesOrder:
    sono: str  # stripped: Sage Pro right-justifies it in C(10)
    custno: str
    ponum: str
    ornum: str
    sodate: date | None
    ordamt_minor: int | None
    sostat: str


@dataclass(frozen=True)
class ProCashReceipt:
    invno: str
    custno: str
    dtepaid: date | None
    refno: str
    paidamt_minor: int
    disamt_minor: int


# --------------------------------------------------------------------------------------------- dbfread


class _Null:
    """A field whose _NullFlags bit is set."""

    def __repr__(self) -> str:
        return "NULL"


_NULL = _Null()
_MISSING = object()  # the table has no such field


class _Unreadable:
    """A field value that could not be parsed; an error only if PaySync reads that field."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Varying(bytes):
    """The raw bytes of a V/Q field: their length depends on the varlength bit in _NullFlags."""


def _encoding_for(language_driver: int) -> str:
    """The code page the header's language-driver byte names; cp1252 when it names none or one unknown."""
    if language_driver:
        entry = _DBFREAD_CODEPAGES.get(language_driver)
        if entry is not None:
            try:
                return codecs.lookup(entry[0]).name
            except LookupError:
                pass
    return _DEFAULT_ENCODING


class _Parser(FieldParser):
    """dbfread's parser, parsing only the fields PaySync reads, numbers as Decimal, never raising."""

    def __init__(self, table: Any, memofile: Any = None, *, wanted: frozenset[str] = frozenset()) -> None:
        super().__init__(table, memofile)
        self._wanted = wanted

    def field_type_supported(self, field_type: str) -> bool:
        return True  # a site column of any type is carried, and parsed only if PaySync reads it

    def parse(self, field: Any, data: bytes) -> Any:
        if field.type != "0" and field.name not in self._wanted:
            return None
        func = self._lookup.get(field.type)
        if func is None:
            return bytes(data)
        if len(data) != field.length:
            return _Unreadable(f"the record is cut short ({len(data)} of {field.length} bytes)")
        try:
            return func(field, data)
        except (ValueError, TypeError, OverflowError, struct.error, OSError, UnicodeError) as exc:
            return _Unreadable(f"cannot read {field.type} value {bytes(data)!r}: {exc}")

    def parseN(self, field: Any, data: bytes) -> Decimal | _Unreadable | None:
        text = data.strip(b" \x00")
        if not text:
            return None
        if b"*" in text:
            return _Unreadable(f"numeric overflow (the field holds {text.decode('ascii', 'replace')!r})")
        try:
            value = Decimal(text.replace(b",", b".").decode("ascii"))
        except (InvalidOperation, UnicodeError):
            return _Unreadable(f"not a number: {bytes(data)!r}")
        return value if value.is_finite() else _Unreadable(f"not a number: {bytes(data)!r}")

    parseF = parseN

    def parseV(self, field: Any, data: bytes) -> _Varying:
        return _Varying(data)

    def parseQ(self, field: Any, data: bytes) -> _Varying:
        return _Varying(data)


class _Table(DBF):
    """dbfread's DBF with the header's code page (cp1252 when unmarked) and PaySync's memo-file lookup."""

    def __init__(self, path: Path, label: str, wanted: frozenset[str]) -> None:
        self._label = label
        super().__init__(
            str(path), encoding=None, ignorecase=False, lowernames=True,
            parserclass=partial(_Parser, wanted=wanted), recfactory=None, load=False,
            ignore_missing_memofile=False, char_decode_errors="replace",
        )

    def _read_header(self, infile: Any) -> None:
        super()._read_header(infile)
        self.encoding = _encoding_for(self.header.language_driver)

    def _get_memofilename(self) -> str | None:
        vfp = self.header.dbversion in _VFP_VERSIONS
        memo_types = _MEMO_TYPES if vfp else _MEMO_TYPES | {"B"}
        if not any(field.type in memo_types for field in self.fields):
            return None
        dbf_path = Path(self.filename)
        stems = {dbf_path.stem.lower() + ext for ext in ((".fpt",) if vfp else (".fpt", ".dbt"))}
        found = sorted(p for p in dbf_path.parent.iterdir() if p.name.lower() in stems and p.is_file())
        if not found:
            stem, suffix = self._label.rsplit(".", 1) if "." in self._label else (self._label, "dbf")
            memo = f"{stem}.{'FPT' if suffix.isupper() else 'fpt'}"
            raise SageProError(f"{memo}: not found (the memo file of {self._label}, which has memo fields)")
        if len(found) > 1:
            raise SageProError(f"{self._label}: more than one memo file ({', '.join(p.name for p in found)})")
        return str(found[0])


def _bit(flags: bytes, index: int) -> bool:
    byte, bit = divmod(index, 8)
    return byte < len(flags) and bool(flags[byte] >> bit & 1)


@dataclass(frozen=True)
class _Opened:
    label: str  # the file, relative to the data folder, as found
    table: _Table
    key: str  # the field naming a row in error messages
    null_bits: dict[str, int]  # field -> its bit in _NullFlags
    varlength_bits: dict[str, int]
    flags_field: str | None  # the _NullFlags column's name


class _Row:
    """One record's values by lower-case field name, read into the types the dataclasses hold."""

    def __init__(self, opened: _Opened, values: dict[str, Any]) -> None:
        self._opened = opened
        self._values = values

    def _error(self, name: str, reason: str) -> SageProError:
        key_value = self._values.get(self._opened.key)
        key = key_value.strip() if isinstance(key_value, str) else "?"
        return SageProError(f"{self._opened.label}: {self._opened.key} {key!r}: field {name!r}: {reason}")

    def _get(self, name: str) -> Any:
        value = self._values.get(name, _MISSING)
        if isinstance(value, _Unreadable):
            raise self._error(name, value.reason)
        return value

    def text(self, name: str) -> str:
        value = self._get(name)
        if value is _MISSING or value is _NULL or value is None:
            return ""
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, bytes):  # a binary memo, a V/Q field, a type dbfread does not know
            return value.decode(self._opened.table.encoding, errors="replace").strip("\x00").strip()
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return str(value)
        raise self._error(name, f"not text: {value!r}")

    def date(self, name: str) -> date | None:
        value = self._get(name)
        if value is _MISSING or value is _NULL or value is None:
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        raise self._error(name, f"not a date: {value!r}")

    def integer(self, name: str) -> int | None:
        value = self._get(name)
        if value is _MISSING or value is _NULL or value is None:
            return None
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            if re.fullmatch(r"[+-]?[0-9]+", value, re.ASCII):
                return int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
        elif isinstance(value, Decimal | float) and math.isfinite(value) and value == int(value):
            return int(value)
        raise self._error(name, f"not a whole number: {value!r}")

    def quantity(self, name: str) -> Decimal | None:
        value = self._get(name)
        if value is _MISSING or value is _NULL:
            return None
        if value is None:  # a blank numeric: VFP reads it as 0
            return Decimal(0)
        if isinstance(value, float) and math.isfinite(value):
            return Decimal(repr(value))
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return Decimal(value)
        raise self._error(name, f"not a number: {value!r}")

    def currency(self) -> str:
        for name in _CURRENCY_FIELDS:
            code = self.text(name)
            if code:
                try:
                    exponent(code)
                except MoneyError as exc:
                    raise self._error(name, str(exc)) from None
                return code
        return DEFAULT_CURRENCY

    def money(self, name: str, currency: str) -> int:
        """An amount PaySync needs: a missing field is 0, a NULL one an error."""
        amount = self.optional_money(name, currency)
        if amount is None:
            if self._values.get(name, _MISSING) is _MISSING:
                return 0
            raise self._error(name, "NULL, where PaySync needs an amount (a NULL amount is unknown, not zero)")
        return amount

    def optional_money(self, name: str, currency: str) -> int | None:
        """An amount that may be absent: a missing or NULL field is None, a blank one 0."""
        value = self._get(name)
        if value is _MISSING or value is _NULL:
            return None
        if value is None:  # a blank numeric: VFP reads it as 0
            return 0
        if isinstance(value, float):  # B (double)
            if not math.isfinite(value):
                raise self._error(name, f"not an amount: {value!r}")
            try:
                value = Decimal(repr(value)).quantize(_B_DECIMALS)
            except InvalidOperation:
                raise self._error(name, f"not an amount: {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self._error(name, f"not an amount: {value!r}")
        try:
            return to_minor(value, currency)
        except MoneyError as exc:
            raise self._error(name, str(exc)) from None


# --------------------------------------------------------------------------------------------- reader


class SageProReader:
    """Reads one Sage Pro company's AR and SO tables under ``data_dir`` (the folder holding ``ardata`` and
    ``sodata``). Each method opens its table and checks its fields when called (a missing table or field
    raises :class:`SageProError` there) and returns an iterator that streams the rows."""

    def __init__(self, data_dir: Path, company: str = DEFAULT_COMPANY) -> None:
        if not isinstance(company, str) or re.fullmatch(r"[0-9]{2}", company) is None:
            raise ValueError(f"a Sage Pro company id is two digits (01..99), not {company!r}")
        self.data_dir = Path(data_dir)
        self.company = company

    # ----------------------------------------------------------------------------------- files

    def table_path(self, layout: TableLayout) -> Path:
        """``<data_dir>/<folder>/<name><company>.dbf``, the folder and the file found whatever their case."""
        wanted = f"{layout.folder}/{layout.file_name(self.company)}"
        folder = self._find(self.data_dir, layout.folder, wanted, want_dir=True)
        return self._find(folder, layout.file_name(self.company), wanted, want_dir=False)

    def _find(self, parent: Path, name: str, wanted: str, *, want_dir: bool) -> Path:
        try:
            entries = list(parent.iterdir())
        except FileNotFoundError:
            entries = []
        except OSError as exc:
            raise SageProError(f"{wanted}: cannot list {parent}: {exc}") from exc
        found = sorted(p for p in entries if p.name.lower() == name.lower()
                       and (p.is_dir() if want_dir else p.is_file()))
        if not found:
            raise SageProError(f"{wanted}: not found under {self.data_dir} (company {self.company})")
        if len(found) > 1:
            raise SageProError(f"{wanted}: found more than once under {self.data_dir}, in letter cases that differ "
                               f"({', '.join(str(p.relative_to(self.data_dir)) for p in found)})")
        return found[0]

    def _open(self, layout: TableLayout, key: str) -> _Opened:
        path = self.table_path(layout)
        label = path.relative_to(self.data_dir).as_posix()
        wanted = frozenset(layout.required + layout.optional + _CURRENCY_FIELDS)
        try:
            table = _Table(path, label, wanted)
        except SageProError:
            raise
        except Exception as exc:  # an unreadable header, whatever dbfread raises
            raise SageProError(f"{label}: cannot read the table header: {exc}") from exc
        names = [f.name for f in table.fields if f.type != "0"]
        missing = [name for name in layout.required if name not in names]
        if missing:
            what = "field" if len(missing) == 1 else "fields"
            raise SageProError(f"{label}: no {what} {', '.join(repr(m) for m in missing)} (fields: {', '.join(names)})")
        null_bits: dict[str, int] = {}
        varlength_bits: dict[str, int] = {}
        flags_field = None
        if table.header.dbversion in _VFP_VERSIONS:
            flags_field = next((f.name for f in table.fields if f.type == "0"), None)
            bit = 0
            for field in table.fields:
                if field.type == "0":
                    continue
                if field.type in "VQ":
                    varlength_bits[field.name] = bit
                    bit += 1
                if field.reserved1 & 0xFF & _NULLABLE:  # byte 18 of the field descriptor: the field flags
                    null_bits[field.name] = bit
                    bit += 1
        return _Opened(label, table, key, null_bits, varlength_bits, flags_field)

    def _rows(self, opened: _Opened) -> Iterator[_Row]:
        table = opened.table
        try:
            for items in table:  # dbfread streams from disk (load=False), deleted records skipped
                values = dict(items)
                flags = values.pop(opened.flags_field, b"") if opened.flags_field else b""
                if isinstance(flags, _Unreadable):
                    flags = b""
                for name, index in opened.varlength_bits.items():
                    raw = values.get(name)
                    if isinstance(raw, _Varying) and _bit(flags, index):
                        values[name] = _Varying(raw[: raw[-1]] if raw else b"")
                for name, index in opened.null_bits.items():
                    if _bit(flags, index):
                        values[name] = _NULL
                yield _Row(opened, values)
        except SageProError:
            raise
        except Exception as exc:  # an I/O error or a damaged file mid-read
            raise SageProError(f"{opened.label}: cannot read the records: {exc}") from exc

    def _stream(self, layout: TableLayout, key: str, build: Callable[[_Row], Any | None]) -> Iterator[Any]:
        opened = self._open(layout, key)  # now, so that a missing table or field raises here

        def rows() -> Iterator[Any]:
            for row in self._rows(opened):
                item = build(row)
                if item is not None:
                    yield item

        return rows()

    # ----------------------------------------------------------------------------------- tables

    def customers(self) -> Iterator[ProCustomer]:
        """Every customer (ARCUST)."""
        def build(row: _Row) -> ProCustomer:
            currency = row.currency()
            return ProCustomer(
                custno=row.text("custno"), company=row.text("company"), contact=row.text("contact"),
                address1=row.text("address1"), address2=row.text("address2"), city=row.text("city"),
                state=row.text("state"), zip=row.text("zip"), country=row.text("country"), phone=row.text("phone"),
                email=row.text("email"), balance_minor=row.money("balance", currency), currency=currency,
            )
        return self._stream(ARCUST, "custno", build)

    def invoices(self) -> Iterator[ProInvoice]:
        """Every invoice header (ARMAST), paid ones and credit memos included."""
        return self._stream(ARMAST, "invno", self._invoice)

    def open_invoices(self) -> Iterator[ProInvoice]:
        """The invoices and credit memos with a balance: ``balance <> 0`` (spec §1.2, §5).

        ``arstat`` does not decide: the spec infers only that an empty ``arstat`` means open, and what the
        other marks mean is not public, so a row with a balance is kept whatever its ``arstat`` (which the
        result carries for the caller to judge), and a row with balance 0 is never open."""
        return (invoice for invoice in self.invoices() if invoice.balance_minor != 0)

    @staticmethod
    def _invoice(row: _Row) -> ProInvoice:
        currency = row.currency()
        return ProInvoice(
            invno=row.text("invno"), custno=row.text("custno"), invdte=row.date("invdte"), ponum=row.text("ponum"),
            ornum=row.text("ornum"), refno=row.text("refno"), invamt_minor=row.money("invamt", currency),
            paidamt_minor=row.money("paidamt", currency), balance_minor=row.money("balance", currency),
            artype=row.text("artype"), arstat=row.text("arstat"), currency=currency, dtepaid=row.date("dtepaid"),
        )

    def invoice_lines(self, invnos: Collection[str] | None = None) -> Iterator[ProInvoiceLine]:
        """The invoice lines (ARTRAN), of the given invoice numbers only when given (compared stripped)."""
        if isinstance(invnos, str):
            raise TypeError("invnos is a collection of invoice numbers, not one string")
        only = None if invnos is None else frozenset(str(n).strip() for n in invnos)

        def build(row: _Row) -> ProInvoiceLine | None:
            invno = row.text("invno")
            if only is not None and invno not in only:
                return None
            currency = row.currency()
            return ProInvoiceLine(
                invno=invno, custno=row.text("custno"), lineno=row.integer("lineno"), item=row.text("item"),
                descrip=row.text("descrip"), qtyshp=row.quantity("qtyshp"),
                price_minor=row.optional_money("price", currency),
                extprice_minor=row.optional_money("extprice", currency),
            )
        return self._stream(ARTRAN, "invno", build)

    def sales_orders(self) -> Iterator[ProSalesOrder]:
        """Every sales order header (SOMAST)."""
        def build(row: _Row) -> ProSalesOrder:
            return ProSalesOrder(
                sono=row.text("sono"), custno=row.text("custno"), ponum=row.text("ponum"), ornum=row.text("ornum"),
                sodate=row.date("sodate"), ordamt_minor=row.optional_money("ordamt", row.currency()),
                sostat=row.text("sostat"),
            )
        return self._stream(SOMAST, "sono", build)

    def cash_receipts(self, start: date | None = None, end: date | None = None) -> Iterator[ProCashReceipt]:
        """The cash-receipt applications (ARCASH) paid from ``start`` to ``end``, both included, by ``dtepaid``.
        With a bound given, a row without a date is left out."""
        def build(row: _Row) -> ProCashReceipt | None:
            paid = row.date("dtepaid")
            if start is not None or end is not None:
                if paid is None or (start is not None and paid < start) or (end is not None and paid > end):
                    return None
            currency = row.currency()
            return ProCashReceipt(
                invno=row.text("invno"), custno=row.text("custno"), dtepaid=paid, refno=row.text("refno"),
                paidamt_minor=row.money("paidamt", currency), disamt_minor=row.money("disamt", currency),
            )
        return self._stream(ARCASH, "invno", build)
