"""The local Sage Pro stand-in (``paysync_dagster.sandbox.sagepro``): Visual FoxPro tables with the
layouts PaySync reads, seeded from the PayTrace generator, and a clerk keying PaySync's worksheet."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import dbfread
import pytest

from paysync_dagster.lib.sagepro import layout
from paysync_dagster.sandbox.paytrace.generator import ID, REFERENCE, customer_catalogue, generate
from paysync_dagster.sandbox.sagepro import COLUMNS, StandInError, StandInSpec, key_worksheet, write_company
from paysync_dagster.sandbox.sagepro import tables as T
from paysync_dagster_tests.cli.support import invoke, one_line

SPEC = StandInSpec(seed=11, start_date=date(2026, 3, 2), end_date=date(2026, 3, 6), per_day=20)
HISTORY_ARGS = ("--seed", "11", "--start-date", "2026-03-02", "--days", "5", "--per-day", "20")
FILES = ("ardata/arcust01.dbf", "ardata/armast01.dbf", "ardata/artran01.dbf", "ardata/arcash01.dbf",
         "ardata/arymst01.dbf", "sodata/somast01.dbf", "sysdata.dbf")


def _money(value: object) -> Decimal:
    return T.money(value)


def _rows(root: Path, relpath: str) -> list[dict]:
    return [dict(r) for r in dbfread.DBF(str(root / relpath))]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("sagepro")
    return root, write_company(root, SPEC)


@pytest.fixture
def company(written: tuple[Path, dict[str, int]], tmp_path: Path) -> Path:
    """A copy of the written company that a test may key into."""
    return Path(shutil.copytree(written[0], tmp_path / "company"))


def _generated() -> tuple[list[dict], dict[str, str]]:
    invoices, po = [], {}
    for day in generate(SPEC.seed, SPEC.start_date, SPEC.end_date, SPEC.per_day, SPEC.tz_name):
        refs = {rec[ID]: rec[REFERENCE] for rec in day.transactions if rec[REFERENCE]}
        for inv in day.invoices:
            invoices.append(inv)
            found = [refs[i] for i in inv["paid_by"] if i in refs]
            if found:
                po[inv["invoice_number"]] = found[0]
    return invoices, po


def _worksheet_csv(path: Path, lines: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
    return path


def _open_invoices(root: Path, n: int) -> list[dict]:
    return _rows(root, "ardata/armast01.dbf")[:n]


# -- the tables ---------------------------------------------------------------------------------------


def test_writes_the_visual_foxpro_tables_with_the_layout_fields(written: tuple[Path, dict[str, int]]) -> None:
    root, counts = written
    assert sorted(counts) == sorted(FILES)
    for relpath in FILES:
        head = (root / relpath).read_bytes()[:32]
        assert head[0] == 0x30, relpath  # Visual FoxPro
        assert head[29] == 0x03, relpath  # code page mark: cp1252
        assert head[28] & 0x01 == 0, relpath  # no structural CDX claimed
        assert len(dbfread.DBF(str(root / relpath))) == counts[relpath]
    assert not list(root.rglob("*.cdx")) and not list(root.rglob("*.CDX"))  # no index upkeep tested (spec §5)
    assert (root / "ardata/arcust01.fpt").exists()  # EMAIL, CSTMEMO are memos
    for table in layout.TABLES:
        names = {n.lower() for n in dbfread.DBF(str(root / table.folder / table.file_name("01"))).field_names}
        assert set(table.required) <= names, table.name
        if table is not layout.ARCASH:
            assert set(table.optional) <= names, table.name
        if table is not layout.ARCASH:
            assert "user1" in names, table.name  # a site-custom column readers must tolerate
    # ARCASH: the six public columns (spec §1.4) and the add* audit fields, nothing invented beyond them.
    arcash = [n.lower() for n in dbfread.DBF(str(root / "ardata/arcash01.dbf")).field_names]
    assert arcash == ["invno", "custno", "dtepaid", "refno", "paidamt", "disamt", "adduser", "adddate", "addtime"]
    arcust = {f.name.lower(): f for f in dbfread.DBF(str(root / "ardata/arcust01.dbf")).fields}
    assert (arcust["custno"].type, arcust["custno"].length) == ("C", 6)
    assert {arcust[n].type for n in ("balance", "lpymt", "lsale", "ytdsls", "credit")} == {"Y"}
    assert (arcust["adddate"].type, arcust["addtime"].type, arcust["addtime"].length) == ("D", "C", 8)
    assert (arcust["cstmemo"].type, arcust["aracct"].length) == ("M", 24)
    artran = {f.name.lower(): f for f in dbfread.DBF(str(root / "ardata/artran01.dbf")).fields}
    assert (artran["item"].type, artran["item"].length) == ("C", 15)
    somast = {f.name.lower(): f for f in dbfread.DBF(str(root / "sodata/somast01.dbf")).fields}
    assert (somast["sono"].type, somast["sono"].length) == ("C", 10)
    assert counts["ardata/arcash01.dbf"] == counts["ardata/arymst01.dbf"] == 0
    assert [r["SYSID"] for r in _rows(root, "sysdata.dbf")] == ["AR01", "SO01"]


def test_invoices_and_customers_agree_with_the_generator(written: tuple[Path, dict[str, int]]) -> None:
    root, _ = written
    invoices, po = _generated()
    armast = _rows(root, "ardata/armast01.dbf")
    assert [r["INVNO"] for r in armast] == sorted(inv["invoice_number"] for inv in invoices)
    by_number = {inv["invoice_number"]: inv for inv in invoices}
    for row in armast:
        inv = by_number[row["INVNO"]]
        amount = Decimal(inv["amount_minor"]).scaleb(-2)
        assert _money(row["INVAMT"]) == _money(row["BALANCE"]) == amount
        assert _money(row["PAIDAMT"]) == 0 and row["ARSTAT"] == row["ARTYPE"] == ""
        assert row["CUSTNO"] == inv["customer_account"]
        assert row["INVDTE"] == date.fromisoformat(inv["invoice_date"])
        assert row["PONUM"] == po.get(row["INVNO"], "")
    assert any(row["PONUM"] for row in armast)
    catalogue = customer_catalogue(SPEC.seed, SPEC.per_day, SPEC.start_date.year)
    arcust = {r["CUSTNO"]: r for r in _rows(root, "ardata/arcust01.dbf")}
    assert sorted(arcust) == sorted(c["account"] for c in catalogue)
    for c in catalogue:
        row = arcust[c["account"]]
        assert (row["COMPANY"], row["CONTACT"], row["PHONE"], row["EMAIL"]) == (
            c["company"], c["contact"], c["phone"], c["email"])
        assert (row["ADDRESS1"], row["CITY"], row["ZIP"]) == (c["billing"][1], c["billing"][3], c["billing"][5])
        own = [_money(r["BALANCE"]) for r in armast if r["CUSTNO"] == c["account"]]
        assert row["BALANCE"] == sum(own, Decimal("0"))


def test_invoice_lines_sum_to_the_invoice(written: tuple[Path, dict[str, int]]) -> None:
    root, _ = written
    lines: dict[str, list[Decimal]] = defaultdict(list)
    for row in _rows(root, "ardata/artran01.dbf"):
        lines[row["INVNO"]].append(_money(row["EXTPRICE"]))
    armast = _rows(root, "ardata/armast01.dbf")
    assert sorted(lines) == [r["INVNO"] for r in armast]
    for row in armast:
        assert sum(lines[row["INVNO"]], Decimal("0")) == _money(row["INVAMT"])
    assert {len(v) for v in lines.values()} == {1, 2}


def test_sales_orders_are_right_justified_and_linked(written: tuple[Path, dict[str, int]]) -> None:
    root, _ = written
    armast = _rows(root, "ardata/armast01.dbf")
    somast = _rows(root, "sodata/somast01.dbf")
    ornums = [r["ORNUM"] for r in armast if r["ORNUM"].strip()]
    assert len(ornums) == len(somast) == (len(armast) + 2) // 3
    for sono in (r["SONO"] for r in somast):
        assert len(sono) == 10 and sono.startswith(" ") and sono.strip().isdigit()
    assert sorted(ornums) == sorted(r["SONO"] for r in somast)
    raw = (root / "sodata/somast01.dbf").read_bytes()
    assert f" {somast[0]['SONO']}".encode() in raw  # padded on disk, not by the reader


def test_a_longer_customer_number_is_refused_not_cut() -> None:
    from paysync_dagster.sandbox.sagepro.seed import _customers

    with pytest.raises(ValueError, match="does not fit arcust.custno C"):
        _customers([{"account": "C1234567", "company": "X"}], [], SPEC.start_date)


# -- keying the worksheet -----------------------------------------------------------------------------


def test_keying_a_csv_worksheet_appends_receipts_and_lowers_balances(company: Path, tmp_path: Path) -> None:
    first, second = _open_invoices(company, 2)
    arcust_before = {r["CUSTNO"]: r for r in _rows(company, "ardata/arcust01.dbf")}
    lines = [
        {"batch": "B1", "customer_number": first["CUSTNO"], "invoice_number": first["INVNO"],
         "amount": str(_money(first["INVAMT"])), "date": "2026-03-07", "reference": "392483066"},
        {"batch": "B1", "customer_number": second["CUSTNO"], "invoice_number": second["INVNO"],
         "amount": "1.50", "date": "2026-03-07", "reference": "392483067"},
        {"batch": "B1", "customer_number": second["CUSTNO"], "invoice_number": "", "amount": "20",
         "date": "2026-03-08", "reference": "392483070"},  # on account
        {"batch": "B1", "customer_number": first["CUSTNO"], "invoice_number": "INV-000001", "amount": "5.00",
         "date": "2026-03-07", "reference": "392483071"},  # not in ARMAST
    ]
    sheet = _worksheet_csv(tmp_path / "keying.csv", lines)
    counts = key_worksheet(company, sheet, on=date(2026, 3, 9))
    assert counts == {"keyed": 4, "skipped_already_keyed": 0, "unknown_invoices": ["INV-000001"]}

    arcash = _rows(company, "ardata/arcash01.dbf")
    assert [(r["INVNO"], r["CUSTNO"], r["REFNO"], _money(r["PAIDAMT"]), _money(r["DISAMT"]), r["DTEPAID"])
            for r in arcash] == [
        (first["INVNO"], first["CUSTNO"], "392483066", _money(first["INVAMT"]), 0, date(2026, 3, 7)),
        (second["INVNO"], second["CUSTNO"], "392483067", Decimal("1.50"), 0, date(2026, 3, 7)),
        ("", second["CUSTNO"], "392483070", Decimal("20.00"), 0, date(2026, 3, 8)),
        ("INV-000001", first["CUSTNO"], "392483071", Decimal("5.00"), 0, date(2026, 3, 7))]
    assert {r["ADDDATE"] for r in arcash} == {date(2026, 3, 9)}

    armast = {r["INVNO"]: r for r in _rows(company, "ardata/armast01.dbf")}
    paid = armast[first["INVNO"]]
    assert _money(paid["BALANCE"]) == 0 and _money(paid["PAIDAMT"]) == _money(first["INVAMT"])
    assert paid["DTEPAID"] == date(2026, 3, 7)
    part = armast[second["INVNO"]]
    assert _money(part["BALANCE"]) == _money(second["INVAMT"]) - Decimal("1.50")
    assert _money(part["PAIDAMT"]) == Decimal("1.50")
    assert _money(part["INVAMT"]) == _money(second["INVAMT"])
    assert part["ORNUM"] == second["ORNUM"]  # a right-justified key survives the update

    arcust = {r["CUSTNO"]: r for r in _rows(company, "ardata/arcust01.dbf")}
    if first["CUSTNO"] != second["CUSTNO"]:
        assert arcust[second["CUSTNO"]]["BALANCE"] == arcust_before[second["CUSTNO"]]["BALANCE"] - Decimal("21.50")
        assert (arcust[second["CUSTNO"]]["LASTPAY"], arcust[second["CUSTNO"]]["LPYMT"]) == (date(2026, 3, 8), 20)
    assert (company / "ardata/arcust01.dbf").read_bytes()[28] & 0x02  # still flagged as having memos

    # The same worksheet again: nothing added, nothing changed.
    before = {p: (company / p).read_bytes() for p in ("ardata/arcash01.dbf", "ardata/armast01.dbf")}
    again = key_worksheet(company, sheet, on=date(2026, 3, 9))
    assert again == {"keyed": 0, "skipped_already_keyed": 4, "unknown_invoices": []}
    assert len(_rows(company, "ardata/arcash01.dbf")) == 4
    assert {p: (company / p).read_bytes() for p in before} == before


def test_keying_an_xlsx_worksheet(company: Path, tmp_path: Path) -> None:
    from openpyxl import Workbook

    (invoice,) = _open_invoices(company, 1)
    book = Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    # As a spreadsheet holds them: a number for the amount and the id, a date cell for the date.
    sheet.append(["B7", invoice["CUSTNO"], invoice["INVNO"], 12.34, date(2026, 3, 10), 392483099])
    sheet.append([None] * 6)  # a blank row is skipped
    sheet.append(["B7", invoice["CUSTNO"], None, "3", "2026-03-10", "392483100"])
    path = tmp_path / "keying.xlsx"
    book.save(path)
    assert key_worksheet(company, path) == {"keyed": 2, "skipped_already_keyed": 0, "unknown_invoices": []}
    arcash = _rows(company, "ardata/arcash01.dbf")
    assert [(r["INVNO"], r["REFNO"], _money(r["PAIDAMT"])) for r in arcash] == [
        (invoice["INVNO"], "392483099", Decimal("12.34")), ("", "392483100", Decimal("3.00"))]
    row = next(r for r in _rows(company, "ardata/armast01.dbf") if r["INVNO"] == invoice["INVNO"])
    assert _money(row["BALANCE"]) == _money(invoice["INVAMT"]) - Decimal("12.34")
    assert key_worksheet(company, path)["skipped_already_keyed"] == 2


def test_keying_the_worksheet_paysync_writes(company: Path, tmp_path: Path) -> None:
    """Both files of ``lib.sagepro.worksheet`` (with their total lines) key the same receipts."""
    from paysync_dagster.lib.sagepro.proposals import WorksheetLine
    from paysync_dagster.lib.sagepro.worksheet import write_worksheet

    first, second = _open_invoices(company, 2)
    day = date(2026, 3, 7)
    lines = [WorksheetLine("PS0307", first["CUSTNO"], first["INVNO"], 1999, "USD", day, "392483066"),
             WorksheetLine("PS0307", second["CUSTNO"], "", 500, "USD", day, "392483067")]
    csv_path, xlsx_path = write_worksheet(tmp_path / "out", "keying-2026-03-07", lines)
    other = Path(shutil.copytree(company, tmp_path / "other"))
    expected = {"keyed": 2, "skipped_already_keyed": 0, "unknown_invoices": []}
    assert key_worksheet(company, csv_path) == key_worksheet(other, xlsx_path) == expected
    for root in (company, other):
        assert [(r["INVNO"], r["CUSTNO"], r["REFNO"], _money(r["PAIDAMT"]), r["DTEPAID"])
                for r in _rows(root, "ardata/arcash01.dbf")] == [
            (first["INVNO"], first["CUSTNO"], "392483066", Decimal("19.99"), day),
            ("", second["CUSTNO"], "392483067", Decimal("5.00"), day)]
    assert key_worksheet(company, xlsx_path)["skipped_already_keyed"] == 2  # either file, keyed once


@pytest.mark.parametrize("cells, message", [
    ({"amount": "12,50"}, "keying.csv line 3: amount is not an amount in currency units"),
    ({"amount": "1.234"}, "keying.csv line 3: amount is not an amount in currency units"),
    ({"date": "03/07/2026"}, "keying.csv line 3: date is not a date"),
    ({"reference": ""}, "keying.csv line 3: reference is empty"),
    ({"customer_number": "C1000000"}, "keying.csv line 3: customer_number is longer than 6 characters"),
])
def test_a_bad_line_is_named_and_nothing_is_written(company: Path, tmp_path: Path, cells: dict,
                                                    message: str) -> None:
    (invoice,) = _open_invoices(company, 1)
    good = {"batch": "B1", "customer_number": invoice["CUSTNO"], "invoice_number": invoice["INVNO"],
            "amount": "1.00", "date": "2026-03-07", "reference": "1"}
    sheet = _worksheet_csv(tmp_path / "keying.csv", [good, {**good, "reference": "2", **cells}])
    before = {p: (company / p).read_bytes() for p in FILES}
    with pytest.raises(StandInError) as refused:
        key_worksheet(company, sheet)
    assert refused.value.what == message
    assert {p: (company / p).read_bytes() for p in FILES} == before


def test_keys_only_into_a_stand_in(tmp_path: Path) -> None:
    sheet = _worksheet_csv(tmp_path / "keying.csv", [])
    (tmp_path / "ardata").mkdir()
    with pytest.raises(StandInError, match="is not a Sage Pro stand-in"):
        key_worksheet(tmp_path, sheet)


# -- the command line ---------------------------------------------------------------------------------


def test_cli_writes_the_company_and_keys_a_worksheet(tmp_path: Path) -> None:
    out = tmp_path / "sagepro"
    done = invoke("sandbox", "sagepro", "--out", str(out), *HISTORY_ARGS)
    assert done.exit_code == 0, done.output
    printed = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()}
    written = write_company(tmp_path / "direct", SPEC)
    assert printed == {str(out / name): str(rows) for name, rows in written.items()}
    assert _rows(out, "ardata/armast01.dbf") == _rows(tmp_path / "direct", "ardata/armast01.dbf")

    (invoice,) = _open_invoices(out, 1)
    sheet = _worksheet_csv(tmp_path / "keying.csv", [
        {"batch": "B1", "customer_number": invoice["CUSTNO"], "invoice_number": invoice["INVNO"], "amount": "2.00",
         "date": "2026-03-07", "reference": "392483066"}])
    done = invoke("sandbox", "sagepro", "key", "--worksheet", str(sheet), "--data-dir", str(out))
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == ["keyed 1", "skipped_already_keyed 0", "unknown_invoices 0"]
    done = invoke("sandbox", "sagepro", "key", "--worksheet", str(sheet), "--data-dir", str(out), "--company", "01")
    assert done.stdout.splitlines() == ["keyed 0", "skipped_already_keyed 1", "unknown_invoices 0"]


def test_cli_refuses_a_bad_header_in_one_line_and_writes_nothing(company: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "keying.csv"
    sheet.write_text("batch,customer_number,invoice,amount,date\nB1,C10000,INV-1,1.00,2026-03-07\n")
    before = {p: (company / p).read_bytes() for p in FILES}
    done = invoke("sandbox", "sagepro", "key", "--worksheet", str(sheet), "--data-dir", str(company))
    assert done.exit_code == 2
    assert one_line(done) == ("paysync sandbox sagepro key: keying.csv: the header has no columns invoice_number, "
                              "reference; the first line must be the header "
                              "batch,customer_number,invoice_number,amount,date,reference")
    assert done.stdout == ""
    assert {p: (company / p).read_bytes() for p in FILES} == before


def test_cli_refuses_a_missing_worksheet_or_out(company: Path, tmp_path: Path) -> None:
    done = invoke("sandbox", "sagepro", "key", "--worksheet", str(tmp_path / "nope.csv"), "--data-dir", str(company))
    assert done.exit_code == 2
    assert one_line(done).startswith(f"paysync sandbox sagepro key: worksheet {tmp_path / 'nope.csv'} does not exist;")
    done = invoke("sandbox", "sagepro", *HISTORY_ARGS)
    assert done.exit_code == 2
    assert one_line(done).startswith("paysync sandbox sagepro: --out is missing;")
    done = invoke("sandbox", "sagepro", "--company", "7", "--out", str(tmp_path / "x"))
    assert done.exit_code == 2 and "--company '7' is not a Sage Pro company id" in one_line(done)
    assert not (tmp_path / "x").exists()


def test_a_second_company_shares_sysdata_and_is_keyed_by_its_id(company: Path, tmp_path: Path) -> None:
    counts = write_company(company, StandInSpec(seed=12, start_date=date(2026, 3, 2), end_date=date(2026, 3, 2),
                                                per_day=10), company="02")
    assert "ardata/armast02.dbf" in counts and counts["sysdata.dbf"] == 4
    assert [r["SYSID"] for r in _rows(company, "sysdata.dbf")] == ["AR01", "AR02", "SO01", "SO02"]
    (invoice,) = _rows(company, "ardata/armast02.dbf")[:1]
    sheet = _worksheet_csv(tmp_path / "keying.csv", [
        {"batch": "B1", "customer_number": invoice["CUSTNO"], "invoice_number": invoice["INVNO"], "amount": "1.00",
         "date": "2026-03-07", "reference": "1"}])
    assert key_worksheet(company, sheet, company="02")["keyed"] == 1
    assert len(_rows(company, "ardata/arcash02.dbf")) == 1 and not _rows(company, "ardata/arcash01.dbf")
