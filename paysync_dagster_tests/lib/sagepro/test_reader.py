"""The Sage Pro reader against real Visual FoxPro tables written with the ``dbf`` package in a temporary
data folder: every VFP field type PaySync meets (C, N, F, I, Y, D, T, L, M with its .FPT, B and NULLs
through ``_NullFlags``), site columns and widths other than the spec's, a deleted record, a credit memo, a
paid invoice, a right-justified ``sono``, cp1252 text; folder and file names in both letter cases. Widths
the spec does not publish (``invno``, ``refno``, ...) are assumed here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import dbf
import dbfread
import pytest

from paysync_dagster.lib.sagepro.layout import ARCASH, ARCUST, ARMAST, SOMAST
from paysync_dagster.lib.sagepro.reader import (
    ProCashReceipt, ProCustomer, ProInvoice, ProInvoiceLine, ProSalesOrder, SageProError, SageProReader,
)

NULL = dbf.Null

ARCUST_SPEC = ("custno C(6); company C(50); contact C(30) null; title C(30); address1 C(35); address2 C(35); "
               "city C(20); state C(10); zip C(10); country C(15); phone C(20); email M; balance Y; currency C(3); "
               "lastpay D; lpymt Y; limit N(7,0); user1 C(20); staxcrt L; latitude N(9,5); cstmemo M")
ARMAST_SPEC = ("invno C(10); invdte D; custno C(6); salesmn C(4); ponum C(20) null; refno C(10); invamt N(12,2); "
               "disamt N(12,2); paidamt Y; balance B; glarec C(24); dtepaid T null; ornum C(10); arstat C(1); "
               "artype C(1); exempt L; currid C(3); num_autori C(37)")
ARTRAN_SPEC = ("invno C(10); custno C(6); invdte D; lineno I null; item C(15); descrip C(35); qtyshp F(10,3) null; "
               "price Y null; extprice N(12,2); currid C(3); loctid C(3); taxable C(1)")
ARCASH_SPEC = "invno C(10); custno C(6); dtepaid D; refno C(10); paidamt N(12,2); disamt Y; bankno C(4)"
SOMAST_SPEC = ("sono C(10); custno C(6); sodate D null; ordamt Y null; ponum C(20); ornum C(10); sostat C(1); "
               "currid C(3); sotrack C(20)")

LONG_COMPANY = "Müller GmbH & Co. KG, Zweigniederlassung Süd"  # 44 characters: wider than the spec's C(35)


def write_table(path: Path, spec: str, rows: list[dict], deleted: tuple[int, ...] = ()) -> Path:
    """A VFP table (type 0x30, code page cp1252) at ``path``, its .FPT beside it when it has memo fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = dbf.Table(str(path), spec, dbf_type="vfp", codepage="cp1252")
    table.open(dbf.READ_WRITE)
    try:
        for row in rows:
            table.append(row)
        for index in deleted:
            dbf.delete(table[index])
    finally:
        table.close()
    return path


def build_sage_pro(root: Path) -> Path:
    """A tiny Sage Pro company 01: ``ardata`` and ``SODATA``, ``ARCUST01.DBF`` in upper case."""
    write_table(root / "ardata" / "ARCUST01.DBF", ARCUST_SPEC, [
        {"custno": "MUELLR", "company": LONG_COMPANY, "contact": "Jürgen Weiß", "title": "Buchhaltung",
         "address1": "Hauptstraße 1", "address2": "Hinterhaus", "city": "München", "state": "BY", "zip": "80331",
         "country": "Germany", "phone": "+49 89 123456", "email": "  buchhaltung@mueller.example  ",
         "balance": Decimal("1234.56"), "currency": "EUR", "lastpay": date(2024, 3, 15), "lpymt": Decimal("49.00"),
         "limit": 5000, "user1": "pool cover", "staxcrt": True, "latitude": Decimal("48.13743"),
         "cstmemo": "Café au lait; pays by card. " * 20},
        {"custno": "ACME", "company": "Acme Corp", "contact": NULL, "title": "", "address1": "1 Main St",
         "address2": "", "city": "Springfield", "state": "IL", "zip": "62701", "country": "USA",
         "phone": "555-0100", "balance": Decimal("-42.50"), "currency": "", "staxcrt": False},
        {"custno": "GONE", "company": "Deleted Customer", "contact": "x", "balance": Decimal("99.00")},
    ], deleted=(2,))
    write_table(root / "ardata" / "armast01.dbf", ARMAST_SPEC, [
        # open, partly paid, never-paid date NULL
        {"invno": "1001", "invdte": date(2024, 3, 1), "custno": "ACME", "salesmn": "JD", "ponum": "PO-77",
         "refno": "R1", "invamt": Decimal("100.00"), "disamt": Decimal("0"), "paidamt": Decimal("30.00"),
         "balance": 70.0, "glarec": "1100-000", "dtepaid": NULL, "ornum": "177154", "arstat": "", "artype": "",
         "exempt": False, "currid": "USD", "num_autori": "1234567890"},
        # paid in full: balance 0, not open
        {"invno": "1002", "invdte": date(2024, 3, 2), "custno": "MUELLR", "ponum": "", "refno": "R2",
         "invamt": Decimal("50.00"), "paidamt": Decimal("50.00"), "balance": 0.0,
         "dtepaid": datetime(2024, 3, 15, 14, 30, 5), "ornum": "", "arstat": "P", "artype": "", "exempt": True,
         "currid": "EUR"},
        # credit memo: negative amounts (spec §1.2's real row), a blank invoice date, a NULL ponum
        {"invno": "188942", "custno": "ACME", "ponum": NULL, "refno": "", "invamt": Decimal("-516.00"),
         "paidamt": Decimal("-93.80"), "balance": -422.2, "dtepaid": datetime(2024, 4, 1), "ornum": "",
         "arstat": "", "artype": "C", "currid": ""},
        # a double with binary noise (0.1 + 0.2), in euros
        {"invno": "1004", "invdte": date(2024, 3, 4), "custno": "MUELLR", "ponum": "", "invamt": Decimal("0.30"),
         "paidamt": Decimal("0"), "balance": 0.1 + 0.2, "dtepaid": NULL, "currid": "EUR"},
        # yen: no minor unit
        {"invno": "1006", "invdte": date(2024, 3, 6), "custno": "ACME", "ponum": "", "invamt": Decimal("1200"),
         "paidamt": Decimal("0"), "balance": 1200.0, "dtepaid": NULL, "currid": "JPY"},
        # deleted: must not come back
        {"invno": "1005", "custno": "ACME", "ponum": "", "invamt": Decimal("999.00"), "balance": 999.0,
         "dtepaid": NULL},
    ], deleted=(5,))
    write_table(root / "ardata" / "artran01.dbf", ARTRAN_SPEC, [
        {"invno": "1001", "custno": "ACME", "invdte": date(2024, 3, 1), "lineno": 1, "item": "WIDGET-0000015X",
         "descrip": "Café table", "qtyshp": Decimal("2.5"), "price": Decimal("20.00"),
         "extprice": Decimal("50.00"), "currid": "USD", "loctid": "MN", "taxable": "Y"},
        {"invno": "1001", "custno": "ACME", "lineno": 2, "item": "SVC", "descrip": "Service",
         "qtyshp": Decimal("1"), "price": Decimal("20.00"), "extprice": Decimal("20.00"), "taxable": "N"},
        {"invno": "188942", "custno": "ACME", "lineno": NULL, "item": "RETURN", "descrip": "Returned goods",
         "qtyshp": NULL, "price": NULL, "extprice": Decimal("-516.00")},
        {"invno": "1006", "custno": "ACME", "lineno": 1, "item": "JP-1", "descrip": "Yen line",
         "qtyshp": Decimal("1"), "price": Decimal("1200"), "extprice": Decimal("1200"), "currid": "JPY"},
        {"invno": "1001", "custno": "ACME", "lineno": 3, "item": "DELETED", "descrip": "gone",
         "qtyshp": Decimal("1"), "price": Decimal("5.00"), "extprice": Decimal("5.00")},
    ], deleted=(4,))
    write_table(root / "ardata" / "arcash01.dbf", ARCASH_SPEC, [
        {"invno": "1001", "custno": "ACME", "dtepaid": date(2024, 3, 10), "refno": "TX123",
         "paidamt": Decimal("30.00"), "disamt": Decimal("0"), "bankno": "B1"},
        {"invno": "1002", "custno": "MUELLR", "dtepaid": date(2024, 3, 15), "refno": "CHK991",
         "paidamt": Decimal("49.00"), "disamt": Decimal("1.00")},
        {"invno": "188942", "custno": "ACME", "dtepaid": date(2024, 4, 1), "refno": "TX124",
         "paidamt": Decimal("-93.80"), "disamt": Decimal("0")},
        {"invno": "1004", "custno": "MUELLR", "refno": "NODATE", "paidamt": Decimal("0.10")},
        {"invno": "1001", "custno": "ACME", "dtepaid": date(2024, 3, 12), "refno": "VOIDED",
         "paidamt": Decimal("10.00")},
    ], deleted=(4,))
    write_table(root / "SODATA" / "somast01.dbf", SOMAST_SPEC, [
        {"sono": "    177154", "custno": "ACME", "sodate": date(2024, 2, 28), "ordamt": Decimal("100.00"),
         "ponum": "PO-77", "ornum": "", "sostat": "", "currid": "USD", "sotrack": "1Z999"},
        {"sono": "     17716", "custno": "MUELLR", "sodate": NULL, "ordamt": NULL, "ponum": "", "ornum": "",
         "sostat": "C", "currid": "EUR"},
        {"sono": "     17717", "custno": "ACME", "sodate": date(2024, 3, 1), "ordamt": Decimal("1.00")},
    ], deleted=(2,))
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return build_sage_pro(tmp_path / "data")


@pytest.fixture
def reader(data_dir: Path) -> SageProReader:
    return SageProReader(data_dir)


# ------------------------------------------------------------------------------------------- rows


def test_customers_every_field_cp1252_memo_null_and_deleted_skipped(reader: SageProReader) -> None:
    assert list(reader.customers()) == [
        ProCustomer(custno="MUELLR", company=LONG_COMPANY, contact="Jürgen Weiß", address1="Hauptstraße 1",
                    address2="Hinterhaus", city="München", state="BY", zip="80331", country="Germany",
                    phone="+49 89 123456", email="buchhaltung@mueller.example", balance_minor=123456, currency="EUR"),
        # contact is NULL; no email memo; a blank currency reads as USD
        ProCustomer(custno="ACME", company="Acme Corp", contact="", address1="1 Main St", address2="",
                    city="Springfield", state="IL", zip="62701", country="USA", phone="555-0100", email="",
                    balance_minor=-4250, currency="USD"),
    ]


def test_invoices_every_field_credit_memo_paid_double_yen_and_deleted_skipped(reader: SageProReader) -> None:
    invoices = list(reader.invoices())
    assert invoices == [
        ProInvoice(invno="1001", custno="ACME", invdte=date(2024, 3, 1), ponum="PO-77", ornum="177154", refno="R1",
                   invamt_minor=10000, paidamt_minor=3000, balance_minor=7000, artype="", arstat="", currency="USD",
                   dtepaid=None),
        ProInvoice(invno="1002", custno="MUELLR", invdte=date(2024, 3, 2), ponum="", ornum="", refno="R2",
                   invamt_minor=5000, paidamt_minor=5000, balance_minor=0, artype="", arstat="P", currency="EUR",
                   dtepaid=date(2024, 3, 15)),  # a T (datetime) field read as its date
        ProInvoice(invno="188942", custno="ACME", invdte=None, ponum="", ornum="", refno="", invamt_minor=-51600,
                   paidamt_minor=-9380, balance_minor=-42220, artype="C", arstat="", currency="USD",
                   dtepaid=date(2024, 4, 1)),
        ProInvoice(invno="1004", custno="MUELLR", invdte=date(2024, 3, 4), ponum="", ornum="", refno="",
                   invamt_minor=30, paidamt_minor=0, balance_minor=30, artype="", arstat="", currency="EUR",
                   dtepaid=None),
        ProInvoice(invno="1006", custno="ACME", invdte=date(2024, 3, 6), ponum="", ornum="", refno="",
                   invamt_minor=1200, paidamt_minor=0, balance_minor=1200, artype="", arstat="", currency="JPY",
                   dtepaid=None),
    ]
    assert all(i.balance_minor == i.invamt_minor - i.paidamt_minor for i in invoices)


def test_open_invoices_are_those_with_a_balance_credit_memos_included(reader: SageProReader) -> None:
    assert [i.invno for i in reader.open_invoices()] == ["1001", "188942", "1004", "1006"]


def test_invoice_lines_all_and_by_invoice_number(reader: SageProReader) -> None:
    line_1001_1 = ProInvoiceLine(invno="1001", custno="ACME", lineno=1, item="WIDGET-0000015X", descrip="Café table",
                                 qtyshp=Decimal("2.5"), price_minor=2000, extprice_minor=5000)
    line_1001_2 = ProInvoiceLine(invno="1001", custno="ACME", lineno=2, item="SVC", descrip="Service",
                                 qtyshp=Decimal("1"), price_minor=2000, extprice_minor=2000)
    credit = ProInvoiceLine(invno="188942", custno="ACME", lineno=None, item="RETURN", descrip="Returned goods",
                            qtyshp=None, price_minor=None, extprice_minor=-51600)  # NULL I, F and Y
    yen = ProInvoiceLine(invno="1006", custno="ACME", lineno=1, item="JP-1", descrip="Yen line",
                         qtyshp=Decimal("1"), price_minor=1200, extprice_minor=1200)
    assert list(reader.invoice_lines()) == [line_1001_1, line_1001_2, credit, yen]
    assert list(reader.invoice_lines(["1001 ", "188942"])) == [line_1001_1, line_1001_2, credit]
    assert list(reader.invoice_lines(set())) == []
    assert isinstance(line_1001_1.qtyshp, Decimal)
    with pytest.raises(TypeError):
        reader.invoice_lines("1001")


def test_sales_orders_sono_stripped_null_date_and_amount(reader: SageProReader) -> None:
    assert list(reader.sales_orders()) == [
        ProSalesOrder(sono="177154", custno="ACME", ponum="PO-77", ornum="", sodate=date(2024, 2, 28),
                      ordamt_minor=10000, sostat=""),
        ProSalesOrder(sono="17716", custno="MUELLR", ponum="", ornum="", sodate=None, ordamt_minor=None, sostat="C"),
    ]
    # the order link of spec §1.2: armast.ornum -> somast.sono
    orders = {o.sono: o for o in reader.sales_orders()}
    assert orders[next(i for i in reader.invoices() if i.invno == "1001").ornum].custno == "ACME"


def test_cash_receipts_by_date_paid(reader: SageProReader) -> None:
    r1001 = ProCashReceipt(invno="1001", custno="ACME", dtepaid=date(2024, 3, 10), refno="TX123", paidamt_minor=3000,
                           disamt_minor=0)
    r1002 = ProCashReceipt(invno="1002", custno="MUELLR", dtepaid=date(2024, 3, 15), refno="CHK991",
                           paidamt_minor=4900, disamt_minor=100)
    r_credit = ProCashReceipt(invno="188942", custno="ACME", dtepaid=date(2024, 4, 1), refno="TX124",
                              paidamt_minor=-9380, disamt_minor=0)
    undated = ProCashReceipt(invno="1004", custno="MUELLR", dtepaid=None, refno="NODATE", paidamt_minor=10,
                             disamt_minor=0)
    assert list(reader.cash_receipts()) == [r1001, r1002, r_credit, undated]
    assert list(reader.cash_receipts(date(2024, 3, 10), date(2024, 3, 15))) == [r1001, r1002]
    assert list(reader.cash_receipts(start=date(2024, 3, 11))) == [r1002, r_credit]
    assert list(reader.cash_receipts(end=date(2024, 3, 10))) == [r1001]


# ------------------------------------------------------------------------------------------- files


def test_table_path_is_case_insensitive_on_folder_and_file(reader: SageProReader, data_dir: Path) -> None:
    assert reader.table_path(ARCUST) == data_dir / "ardata" / "ARCUST01.DBF"
    assert reader.table_path(SOMAST) == data_dir / "SODATA" / "somast01.dbf"


def test_a_missing_table_is_an_error_naming_it_raised_when_the_method_is_called(data_dir: Path) -> None:
    (data_dir / "ardata" / "arcash01.dbf").unlink()
    reader = SageProReader(data_dir)
    with pytest.raises(SageProError) as err:
        reader.cash_receipts()  # before any iteration
    assert str(err.value) == f"ardata/arcash01.dbf: not found under {data_dir} (company 01)"
    with pytest.raises(SageProError, match=r"^ardata/arcash01\.dbf: not found"):
        reader.table_path(ARCASH)


def test_a_missing_folder_or_another_company_is_a_missing_table(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SageProError, match=r"^ardata/armast02\.dbf: not found under .* \(company 02\)$"):
        SageProReader(data_dir, company="02").invoices()
    with pytest.raises(SageProError, match=r"^sodata/somast01\.dbf: not found"):
        SageProReader(tmp_path / "nowhere").sales_orders()


def test_another_company_reads_its_own_files(data_dir: Path) -> None:
    shutil.copy(data_dir / "ardata" / "armast01.dbf", data_dir / "ardata" / "ARMAST02.DBF")
    assert [i.invno for i in SageProReader(data_dir, "02").invoices()][:2] == ["1001", "1002"]
    with pytest.raises(ValueError):
        SageProReader(data_dir, "../01")


def test_the_same_folder_in_two_letter_cases_is_an_error_not_a_guess(data_dir: Path) -> None:
    shutil.copytree(data_dir / "ardata", data_dir / "ARDATA")
    with pytest.raises(SageProError, match=r"^ardata/armast01\.dbf: found more than once .*\(ARDATA, ardata\)"):
        SageProReader(data_dir).invoices()


def test_a_missing_required_field_is_an_error_naming_the_file_and_the_field(tmp_path: Path) -> None:
    write_table(tmp_path / "ardata" / "armast01.dbf", "invno C(10); custno C(6); invamt N(12,2); paidamt Y",
                [{"invno": "1", "custno": "A", "invamt": Decimal("1.00"), "paidamt": Decimal("0")}])
    with pytest.raises(SageProError) as err:
        SageProReader(tmp_path).invoices()
    assert str(err.value) == "ardata/armast01.dbf: no field 'balance' (fields: invno, custno, invamt, paidamt)"


def test_a_missing_memo_file_is_an_error_naming_it(data_dir: Path) -> None:
    (data_dir / "ardata" / "ARCUST01.FPT").unlink()
    with pytest.raises(SageProError, match=r"^ardata/ARCUST01\.FPT: not found \(the memo file of ardata/ARCUST01\.DBF"):
        SageProReader(data_dir).customers()


def test_a_vfp_table_with_doubles_and_no_memo_field_needs_no_memo_file(data_dir: Path) -> None:
    # dbfread alone refuses it: it takes VFP's B (an inline double) for a memo field
    path = data_dir / "ardata" / "armast01.dbf"
    assert not list(path.parent.glob("armast01.[fF][pP][tT]"))
    with pytest.raises(dbfread.exceptions.MissingMemoFile):
        dbfread.DBF(str(path))
    assert len(list(SageProReader(data_dir).invoices())) == 5


def test_a_null_amount_an_int_field_needs_is_an_error_naming_the_row_and_field(tmp_path: Path) -> None:
    write_table(tmp_path / "ardata" / "armast01.dbf",
                "invno C(10); custno C(6); invamt N(12,2); paidamt Y; balance Y null",
                [{"invno": "9001", "custno": "A", "invamt": Decimal("1.00"), "paidamt": Decimal("0"),
                  "balance": NULL}])
    with pytest.raises(SageProError) as err:
        list(SageProReader(tmp_path).invoices())
    assert str(err.value).startswith("ardata/armast01.dbf: invno '9001': field 'balance': NULL")


def test_sub_cent_money_and_a_bad_currency_are_errors_naming_the_field(tmp_path: Path) -> None:
    spec = "invno C(10); custno C(6); invamt N(12,2); paidamt Y; balance Y; currid C(3)"
    write_table(tmp_path / "ardata" / "armast01.dbf", spec,
                [{"invno": "9002", "custno": "A", "invamt": Decimal("12.35"), "paidamt": Decimal("12.3456"),
                  "balance": Decimal("0.0044")}])
    with pytest.raises(SageProError, match=r"^ardata/armast01\.dbf: invno '9002': field 'paidamt': .*more decimals"):
        list(SageProReader(tmp_path).invoices())
    shutil.rmtree(tmp_path / "ardata")
    write_table(tmp_path / "ardata" / "armast01.dbf", spec,
                [{"invno": "9003", "custno": "A", "invamt": Decimal("1.00"), "paidamt": Decimal("0"),
                  "balance": Decimal("1.00"), "currid": "US$"}])
    with pytest.raises(SageProError, match=r"^ardata/armast01\.dbf: invno '9003': field 'currid': not an ISO 4217"):
        list(SageProReader(tmp_path).invoices())


def test_a_numeric_overflow_is_an_error_not_an_empty_amount(tmp_path: Path) -> None:
    path = write_table(tmp_path / "ardata" / "armast01.dbf",
                       "invno C(10); custno C(6); invamt N(6,2); paidamt Y; balance Y",
                       [{"invno": "9004", "custno": "A", "invamt": Decimal("123.45"), "paidamt": Decimal("0"),
                         "balance": Decimal("1.00")}])
    content = path.read_bytes()
    assert content.count(b"123.45") == 1
    path.write_bytes(content.replace(b"123.45", b"******"))  # what VFP stores after "Numeric overflow"
    with pytest.raises(SageProError, match=r"invno '9004': field 'invamt': numeric overflow"):
        list(SageProReader(tmp_path).invoices())


def test_a_header_without_code_page_reads_as_cp1252(data_dir: Path) -> None:
    path = data_dir / "ardata" / "ARCUST01.DBF"
    content = bytearray(path.read_bytes())
    assert content[29] == 0x03  # cp1252, as the dbf package writes it
    content[29] = 0x00  # no code page marked: dbfread alone would decode as ASCII
    path.write_bytes(bytes(content))
    assert next(SageProReader(data_dir).customers()).company == LONG_COMPANY


def test_varchar_length_and_null_bits_follow_vfp_order(tmp_path: Path) -> None:
    """A VFP 9 Varchar (V) field takes a "varlength" bit and then its null bit in _NullFlags, before the next
    nullable field's bit. The dbf package cannot write V fields (type 0x32 tables), so a C field it wrote is
    turned into one byte by byte."""
    spec = "sono C(10); custno C(6); ponum C(12) null; ordamt Y null"
    path = write_table(tmp_path / "sodata" / "somast01.dbf", spec, [
        {"sono": "1", "custno": "A", "ponum": "PO-1", "ordamt": Decimal("5.00")},
        {"sono": "2", "custno": "A", "ponum": "x", "ordamt": Decimal("7.00")},
        {"sono": "3", "custno": "A", "ponum": "PO-123456789", "ordamt": Decimal("1.00")},
    ])
    table = dbfread.DBF(str(path), lowernames=True)
    fields = {f.name: f for f in table.fields}
    start, record_length = table.header.headerlen, table.header.recordlen
    content = bytearray(path.read_bytes())
    content[0] = 0x32  # Visual FoxPro with Varchar/Varbinary
    content[32 + 32 * 2 + 11] = ord("V")  # ponum's descriptor: the third field
    ponum, flags = fields["ponum"], fields["_nullflags"]
    # bits: 0 = ponum varlength, 1 = ponum null, 2 = ordamt null
    for recno, (flag_byte, ponum_bytes) in enumerate([
            (0b001, b"PO-1".ljust(11, b" ") + bytes([4])),  # shorter than the field: its length in the last byte
            (0b010, b" " * 12),  # NULL ponum, ordamt 7.00
            (0b100, b"PO-123456789"),  # full length (bit 0 clear); NULL ordamt
    ]):
        record = start + recno * record_length
        content[record + ponum.address:record + ponum.address + 12] = ponum_bytes
        content[record + flags.address] = flag_byte
    path.write_bytes(bytes(content))
    assert list(SageProReader(tmp_path).sales_orders()) == [
        ProSalesOrder(sono="1", custno="A", ponum="PO-1", ornum="", sodate=None, ordamt_minor=500, sostat=""),
        ProSalesOrder(sono="2", custno="A", ponum="", ornum="", sodate=None, ordamt_minor=700, sostat=""),
        ProSalesOrder(sono="3", custno="A", ponum="PO-123456789", ornum="", sodate=None, ordamt_minor=None,
                      sostat=""),
    ]


def test_methods_stream(reader: SageProReader) -> None:
    for rows in (reader.customers(), reader.invoices(), reader.open_invoices(), reader.invoice_lines(),
                 reader.sales_orders(), reader.cash_receipts()):
        assert iter(rows) is rows  # an iterator over the file, not a list
        next(rows)


# ------------------------------------------------------------------------------------------- read only


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file's sha256, mtime and mode, every folder's mtime (a file created or removed would move it)."""
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder",
                                              p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(root.rglob("*"))}


def test_reading_every_table_changes_no_byte_no_mtime_and_creates_no_file(data_dir: Path) -> None:
    past = 978_307_200_000_000_123  # 2001-01-01, odd nanoseconds: any rewrite would move it
    for path in data_dir.rglob("*"):
        os.utime(path, ns=(past, past))
    before = _snapshot(data_dir)
    assert {name for name, (digest, _, _) in before.items() if digest != "folder"} == {
        "ardata/ARCUST01.DBF", "ardata/ARCUST01.FPT", "ardata/armast01.dbf", "ardata/artran01.dbf",
        "ardata/arcash01.dbf", "SODATA/somast01.dbf"}
    reader = SageProReader(data_dir)
    for layout in (ARCUST, ARMAST, ARCASH, SOMAST):
        reader.table_path(layout)
    assert list(reader.customers()) and list(reader.invoices()) and list(reader.open_invoices())
    assert list(reader.invoice_lines()) and list(reader.invoice_lines(["1001"])) and list(reader.sales_orders())
    assert list(reader.cash_receipts()) and list(reader.cash_receipts(date(2024, 1, 1), date(2024, 12, 31)))
    assert _snapshot(data_dir) == before
