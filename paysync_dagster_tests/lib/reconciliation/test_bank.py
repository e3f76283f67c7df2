"""Bank statement files: the CSV and BAI2 readers, their writers, and folder reading."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from paysync_dagster.lib.reconciliation.bank import (
    BankFileError,
    batch_number,
    lines_frame,
    read_bank_file,
    read_bank_folder,
    write_bai2,
    write_csv,
)
from paysync_dagster.lib.reconciliation.frames import BANK_LINES

D1, D2 = date(2026, 3, 9), date(2026, 3, 10)

# In the order the BAI2 writer groups them: by value date, then currency in order of appearance.
LINES = lines_frame([
    ("DEP-1001", D1, 1234567, "USD", "deposit", 1001, "PAYTRACE DEPOSIT BATCH 1001"),
    ("FEE-1001", D1, -4567, "USD", "fee", 1001, "PAYTRACE FEES BATCH 1001"),
    ("CB-17", D1, -2500, "USD", "chargeback", None, 'CHARGEBACK, "CASE" 17/A'),
    ("DEP-1002", D1, -1999, "USD", "deposit", 1002, "paytrace deposit batch#1002"),
    ("FEE-REFUND-3", D1, 125, "USD", "fee", None, "FEE REFUND"),
    ("JP-1", D1, 150000, "JPY", "deposit", None, "YEN DEPOSIT"),
    ("MISC-9", D2, 0, "USD", "other", None, ""),
    ("MISC-10", D2, -700, "USD", "other", None, "SERVICE CHARGE /"),
])


def test_csv_round_trip(tmp_path: Path):
    path = write_csv(LINES, tmp_path / "statement.csv")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "date,amount,currency,type,reference,description"
    assert "2026-03-09,-45.67,USD,fee,FEE-1001,PAYTRACE FEES BATCH 1001" in text
    assert "2026-03-09,150000,JPY,deposit,JP-1,YEN DEPOSIT" in text
    back = read_bank_file(path)
    pd.testing.assert_frame_equal(back, LINES)
    assert list(back.columns) == list(BANK_LINES)
    assert str(back["amount_minor"].dtype) == "int64" and str(back["batch_number"].dtype) == "Int64"


def test_bai2_round_trip(tmp_path: Path):
    path = write_bai2(LINES, tmp_path / "statement.bai2", bank_id="BANK1", account_number="998877", as_of=D2)
    records = path.read_text().splitlines()
    assert records[0] == "01,BANK1,998877,260310,0000,1,,,2/"
    assert "16,466,1999,Z,DEP-1002,,paytrace deposit batch#1002/" in records  # a negative deposit is a debit
    assert [r[:3] for r in records].count("02,") == 2 and [r[:3] for r in records].count("03,") == 3
    assert records[-1] == f"99,{1234567 + 4567 + 2500 + 1999 + 125 + 150000 + 0 + 700},2,{len(records)}/"
    pd.testing.assert_frame_equal(read_bank_file(path), LINES)


def test_bai2_writer_refuses_what_the_file_cannot_carry(tmp_path: Path):
    bad_batch = lines_frame([("X-1", D1, 100, "USD", "deposit", 55, "NO BATCH NAMED")])
    with pytest.raises(ValueError, match="batch_number 55"):
        write_bai2(bad_batch, tmp_path / "a.bai2", bank_id="B", account_number="1", as_of=D1)
    with pytest.raises(ValueError, match="batch_number 55"):
        write_csv(bad_batch, tmp_path / "a.csv")
    comma_ref = lines_frame([("X,1", D1, 100, "USD", "deposit", None, "")])
    with pytest.raises(ValueError, match="bank reference"):
        write_bai2(comma_ref, tmp_path / "b.bai2", bank_id="B", account_number="1", as_of=D1)
    chargeback_credit = lines_frame([("X-2", D1, 100, "USD", "chargeback", None, "")])
    with pytest.raises(ValueError, match="chargeback credit"):
        write_bai2(chargeback_credit, tmp_path / "c.bai2", bank_id="B", account_number="1", as_of=D1)
    assert not list(tmp_path.iterdir())  # nothing half-written


# A hand-written prior-day file: summaries continued in an 88, every funds type, references and text
# carried on 88 records, text holding commas and slashes, a non-monetary detail, a detail with no bank
# reference, a second group in yen. Totals and counts worked out by hand:
#   account 1: 03 summaries 500000 - 12500 + 1234567; details 1234567 + 4567 + 2000 + 30000 + 2500 + 700 + 0 + 100
#              = 2996501 over 14 records (03, 88, 16, 16, 16, 16, 88, 88, 16, 88, 16, 16, 16, 49)
#   account 2: 150000 over 3 records; groups 16 and 5 records; file 1 + 16 + 5 + 1 = 23 records.
BAI2 = """\
01,SANDBOXBANK,PAYSYNC,261109,0630,1,,,2/
02,PAYSYNC,SANDBOXBANK,1,261106,2400,USD,2/
03,000012345678,USD,010,+500000,,,015,-12500,,/
88,100,1234567,2,/
16,165,1234567,0,DEP-1001,,PAYTRACE DEPOSIT BATCH 1001/
16,698,4567,1,FEE-1001,PAYTRACE FEES BATCH 1001,/
16,169,2000,V,261107,0900,ACH-77,,MISC ACH, FROM ACME/REF 12/
16,147,30000,S,10000,15000,5000/
88,CARD-9,BATCH #1003
88,PAYTRACE CARD DEPOSIT
16,555,2500,2,CB-1,,CHARGEBACK
88,ON BATCH 1001/
16,399,700,D,2,1,300,2,400,DIST-1,,MISC CREDIT/
16,890,,Z,INFO-1,,BALANCE NOTICE/
16,409,100,Z,,,SERVICE DEBIT/
49,2996501,14/
98,2996501,1,16/
02,PAYSYNC,SANDBOXBANK,1,261109,,,/
03,000099999999,JPY,/
16,301,150000,,JP-1,,YEN DEPOSIT
49,150000,3/
98,150000,1,5/
99,3146501,2,23/
"""


def test_hand_written_bai2_parses_to_the_exact_lines(tmp_path: Path):
    path = tmp_path / "prior_day.bai"
    path.write_text(BAI2)
    expected = lines_frame([
        ("DEP-1001", date(2026, 11, 6), 1234567, "USD", "deposit", 1001, "PAYTRACE DEPOSIT BATCH 1001"),
        ("FEE-1001", date(2026, 11, 6), -4567, "USD", "fee", 1001, ""),  # the batch from the customer reference
        ("ACH-77", date(2026, 11, 6), 2000, "USD", "deposit", None, "MISC ACH, FROM ACME/REF 12"),
        ("CARD-9", date(2026, 11, 6), 30000, "USD", "deposit", 1003, "PAYTRACE CARD DEPOSIT"),
        ("CB-1", date(2026, 11, 6), -2500, "USD", "chargeback", 1001, "CHARGEBACK ON BATCH 1001"),
        ("DIST-1", date(2026, 11, 6), 700, "USD", "deposit", None, "MISC CREDIT"),
        ("000012345678-2026-11-06-8", date(2026, 11, 6), -100, "USD", "other", None, "SERVICE DEBIT"),
        ("JP-1", date(2026, 11, 9), 150000, "JPY", "deposit", None, "YEN DEPOSIT"),
    ])
    pd.testing.assert_frame_equal(read_bank_file(path), expected)


def test_bai2_with_crlf_and_repeated_bank_references(tmp_path: Path):
    text = ("01,B,R,260309,0000,1,,,2\r\n02,R,B,1,260309\r\n03,1,USD\r\n16,475,100,,PROGRAM,,CHECK A\r\n"
            "16,475,200,,PROGRAM,,CHECK B\r\n49,300,4\r\n98,300,1,6\r\n99,300,1,8\r\n")
    path = tmp_path / "s.bai2"
    path.write_bytes(text.encode())
    frame = read_bank_file(path)
    assert list(frame["line_id"]) == ["PROGRAM", "PROGRAM#2"]
    assert list(frame["amount_minor"]) == [-100, -200]


def _mutate(old: str, new: str) -> str:
    assert old in BAI2
    return BAI2.replace(old, new, 1)


@pytest.mark.parametrize(("text", "line", "message"), [
    (_mutate("49,2996501,14/", "49,2996502,14/"), 16, "account control total is 2996502"),
    (_mutate("49,2996501,14/", "49,2996501,13/"), 16, "account number of records is 13"),
    (_mutate("98,150000,1,5/", "98,150000,1,6/"), 22, "group number of records is 6"),
    (_mutate("99,3146501,2,23/", "99,3146500,2,23/"), 23, "file control total is 3146500"),
    (_mutate("16,165,1234567,0,", "16,165,12345.67,0,"), 5, "amount '12345.67'"),
    (_mutate("16,409,100,Z,", "16,409,-100,Z,"), 15, "amount '-100'"),
    (_mutate("16,409,100,Z,", "16,409,,Z,"), 15, "amount ''"),
    (_mutate("16,409,100,Z,", "17,409,100,Z,"), 15, "unknown BAI2 record code '17'"),
    (_mutate("16,409,100,Z,", "16,050,100,Z,"), 15, "type code 050"),
    (_mutate("16,698,4567,1,", "16,698,4567,X,"), 6, "unknown funds type 'X'"),
    (_mutate("V,261107,0900", "V,261307,0900"), 7, "value date '261307'"),
    (_mutate("02,PAYSYNC,SANDBOXBANK,1,261106", "02,PAYSYNC,SANDBOXBANK,4,261106"), 2, "group status '4'"),
    (_mutate("01,SANDBOXBANK,PAYSYNC,261109,0630,1,,,2/", "01,SANDBOXBANK,PAYSYNC,261109,0630,1,,,3/"), 1,
     "only BAI version 2"),
    (BAI2.replace("99,3146501,2,23/\n", ""), 22, "ends without a 99 file trailer"),
    (BAI2.replace("49,150000,3/\n", ""), 21, "has no 49 account trailer"),
    (BAI2.replace("98,2996501,1,16/\n", ""), 17, "before the 98 trailer of the group opened on line 2"),
    (BAI2 + "01,X,Y,261109,0630,1,,,2/\n", 24, "after the 99 file trailer"),
    ("01,B,R,260309,0000,1,,,2/\n16,165,1,Z,R,,X/\n", 2, "outside an account"),
])
def test_malformed_bai2_names_the_line(tmp_path: Path, text: str, line: int, message: str):
    path = tmp_path / "bad.bai2"
    path.write_text(text)
    with pytest.raises(BankFileError) as info:
        read_bank_file(path)
    err = info.value
    assert (err.path, err.line_number) == (str(path), line), str(err)
    assert message in err.message
    assert str(err).startswith(f"{path}, line {line}: ")


CSV_OK = "date,amount,currency,type,reference,description\n2026-03-09,12.30,USD,deposit,R1,PAYTRACE DEPOSIT BATCH 5\n"


@pytest.mark.parametrize(("text", "line", "message"), [
    (CSV_OK + "2026-03-09,12.345,USD,fee,R2,x\n", 3, "more decimals than USD allows"),
    (CSV_OK + "2026-03-09,1e3,USD,fee,R2,x\n", 3, "amount '1e3'"),
    (CSV_OK + "2026-03-09,12.3.4,USD,fee,R2,x\n", 3, "amount '12.3.4'"),
    (CSV_OK + "\n2026-03-09,10,USD,refund,R2,x\n", 4, "type 'refund'"),
    (CSV_OK + "09/03/2026,10,USD,fee,R2,x\n", 3, "not an ISO date"),
    (CSV_OK + "2026-02-30,10,USD,fee,R2,x\n", 3, "not an ISO date"),
    (CSV_OK + "2026-03-09,10,US,fee,R2,x\n", 3, "ISO 4217"),
    (CSV_OK + "2026-03-09,10,USD,fee,,x\n", 3, "reference is empty"),
    (CSV_OK + "2026-03-09,10,USD,fee,R1,x\n", 3, "already used on line 2"),
    (CSV_OK + "2026-03-09,10,USD,fee,R2\n", 3, "expected 6 fields"),
    ("day,amount,currency,type,reference,description\n", 1, "the header must name"),
    ("", 1, "empty file"),
])
def test_malformed_csv_names_the_line(tmp_path: Path, text: str, line: int, message: str):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(BankFileError) as info:
        read_bank_file(path)
    assert info.value.line_number == line, str(info.value)
    assert message in info.value.message


def test_csv_with_bom_crlf_and_columns_in_another_order(tmp_path: Path):
    path = tmp_path / "bank.csv"
    path.write_bytes("\ufeffReference,Type,Date,Amount,Currency,Description\r\n"
                     "R9,Chargeback,2026-03-09,-7.05,usd,\"DISPUTE, BATCH 12\"\r\n".encode())
    expected = lines_frame([("R9", D1, -705, "USD", "chargeback", 12, "DISPUTE, BATCH 12")])
    pd.testing.assert_frame_equal(read_bank_file(path), expected)


def test_folder_reads_each_statement_line_once_within_the_dates(tmp_path: Path):
    write_csv(LINES, tmp_path / "march.csv")
    write_bai2(LINES, tmp_path / "march.bai2", bank_id="B", account_number="1", as_of=D2)
    later = lines_frame([("DEP-2000", date(2026, 3, 12), 500, "USD", "deposit", 2000, "PAYTRACE DEPOSIT BATCH 2000")])
    write_csv(later, tmp_path / "later.txt")
    (tmp_path / "notes.json").write_text("{}")  # not a bank file: ignored
    (tmp_path / ".partial.csv").write_text("garbage")  # hidden: ignored
    got = read_bank_folder(tmp_path, D1, D1)
    expected = LINES[LINES["value_date"] == D1].sort_values(["value_date", "line_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    assert len(read_bank_folder(tmp_path, D1, date(2026, 3, 31))) == len(LINES) + 1
    assert read_bank_folder(tmp_path, date(2026, 4, 1), date(2026, 4, 30)).empty


def test_folder_refuses_two_different_lines_under_one_reference(tmp_path: Path):
    write_csv(LINES, tmp_path / "a.csv")
    changed = LINES.copy()
    changed.loc[0, "amount_minor"] = 1234568
    write_csv(changed, tmp_path / "b.csv")
    with pytest.raises(BankFileError) as info:
        read_bank_folder(tmp_path, D1, D2)
    assert (Path(info.value.path).name, info.value.line_number) == ("b.csv", 2)
    assert "'DEP-1001' differs" in info.value.message and "a.csv, line 2" in info.value.message


@pytest.mark.parametrize(("texts", "expected"), [
    (("PAYTRACE DEPOSIT BATCH 1234",), 1234),
    (("paytrace fees batch#77",), 77),
    (("Batch # 0012",), 12),
    (("PAYTRACE DEPOSIT", "BATCH 9"), 9),
    (("BATCH 1 AND BATCH 2",), None),
    (("BATCH 5 ... BATCH 5",), 5),
    (("BATCHES 12", "REBATCH 3"), None),
    (("", ""), None),
])
def test_batch_number(texts: tuple[str, ...], expected: int | None):
    assert batch_number(*texts) == expected


def test_error_survives_pickling():
    err = pickle.loads(pickle.dumps(BankFileError("/x/y.bai2", 7, "bad")))
    assert (err.path, err.line_number, err.message, str(err)) == ("/x/y.bai2", 7, "bad", "/x/y.bai2, line 7: bad")
