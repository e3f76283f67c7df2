"""``paysync mapping suggest invoice-reference``, ``gl-rules`` and ``statuses`` from files."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from paysync_dagster_tests.cli.support import invoke, one_line


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _reference_files(tmp_path: Path) -> tuple[Path, Path, int]:
    """ERP numbers INV- + 6 digits and a minority SI- + 4; 300 payments, about 80% naming an INV invoice
    (counted here), the rest an SI invoice or nothing."""
    rng = random.Random(21)
    inv = rng.sample(range(4000, 100000), 400)
    si = rng.sample(range(2000, 3000), 40)
    payments, names_inv = [], 0
    for _ in range(300):
        roll = rng.random()
        if roll < 0.8:
            payments.append([rng.choice(["INV-{:06d}", "inv {}", "{}", "Invoice #{:06d}"]).format(rng.choice(inv)), ""])
            names_inv += 1
        elif roll < 0.9:
            payments.append([f"SI-{rng.choice(si)}", "parts"])
        else:
            payments.append(["", rng.choice(["", "thanks", "PO 7788"])])
    pay = _write_csv(tmp_path / "payments.csv", ["invoice_id", "description"], payments)
    numbers = [[f"INV-{x:06d}"] for x in inv] + [[f"SI-{x}"] for x in si]
    return pay, _write_csv(tmp_path / "invoices.csv", ["invoice_number"], numbers), names_inv


def test_invoice_reference_puts_the_erps_shape_first(tmp_path: Path) -> None:
    payments, invoices, names_inv = _reference_files(tmp_path)
    result = invoke("mapping", "suggest", "invoice-reference", "--payments", str(payments), "--invoices", str(invoices),
                    "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    best = answer["suggestions"][0]
    assert (best["prefix"], best["digits"], best["matched"], best["total"]) == ("INV-", 6, names_inv, 300)
    assert best["share"] == round(names_inv / 300, 4) and best["confidence"] >= 0.9
    assert answer["suggestions"][1]["prefix"] == "SI-" and answer["suggestions"][1]["confidence"] < best["confidence"]
    table = invoke("mapping", "suggest", "invoice-reference", "--payments", str(payments), "--invoices", str(invoices))
    assert table.exit_code == 0 and table.stdout.startswith("prefix 'INV-', 6 digits  confidence")


def test_invoice_reference_files_without_their_column_are_one_line_naming_file_and_column(tmp_path: Path) -> None:
    payments, invoices, _ = _reference_files(tmp_path)
    bad_invoices = _write_csv(tmp_path / "numbers.csv", ["number"], [["INV-000001"]])
    result = invoke("mapping", "suggest", "invoice-reference", "--payments", str(payments), "--invoices", str(bad_invoices))
    line = one_line(result)
    assert result.exit_code == 1 and "numbers.csv: the header has no invoice_number" in line
    bad_payments = _write_csv(tmp_path / "pay.csv", ["reference", "description"], [["INV-000001", ""]])
    result = invoke("mapping", "suggest", "invoice-reference", "--payments", str(bad_payments), "--invoices", str(invoices))
    assert result.exit_code == 1 and "pay.csv: the header has no invoice_id" in one_line(result)


def test_files_that_are_not_utf8_are_one_line_naming_the_file(tmp_path: Path) -> None:
    payments, invoices, _ = _reference_files(tmp_path)
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00not text")
    for args in (("invoice-reference", "--payments", str(binary), "--invoices", str(invoices)),
                 ("invoice-reference", "--payments", str(payments), "--invoices", str(binary)),
                 ("gl-rules", "--history", str(binary)),
                 ("statuses", "--erp", "oracle", "--vocabulary", str(binary))):
        result = invoke("mapping", "suggest", *args)
        assert result.exit_code == 1 and "binary: not UTF-8 text" in one_line(result), args


def _history_file(tmp_path: Path) -> Path:
    rng = random.Random(5)
    rows = []
    for _ in range(800):
        kind = rng.choices(["sale", "refund", "chargeback", "void"], [75, 15, 5, 5])[0]
        brand = rng.choices(["VISA", "MASTERCARD", "AMEX"], [55, 30, 15])[0]
        account = {"refund": "101.10.12100.000", "chargeback": "101.10.12150.000"}.get(
            kind, "101.10.12110.000" if brand == "AMEX" else "101.10.12000.000")
        if rng.random() < 0.03:
            account = "101.10.19999.000"
        rows.append([kind, brand, account, rng.randrange(100, 50000)])
    return _write_csv(tmp_path / "history.csv", ["kind", "card_brand", "gl_account", "amount_minor"], rows)


def test_gl_rules_gives_the_mapping_files_rules_in_order(tmp_path: Path) -> None:
    history = _history_file(tmp_path)
    result = invoke("mapping", "suggest", "gl-rules", "--history", str(history), "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["default"] == "101.10.12000.000"
    rules = answer["mapping"]["rules"]
    assert sorted(json.dumps(r, sort_keys=True) for r in rules) == sorted(json.dumps(r, sort_keys=True) for r in [
        {"when": {"kind": "refund"}, "account": "101.10.12100.000"},
        {"when": {"kind": "chargeback"}, "account": "101.10.12150.000"},
        {"when": {"card_brand": "AMEX"}, "account": "101.10.12110.000"}])
    assert rules[-1]["when"] == {"card_brand": "AMEX"}  # after the kinds: AmEx refunds keep the refund account
    assert 0.95 < answer["reproduced_share"] < 1.0
    table = invoke("mapping", "suggest", "gl-rules", "--history", str(history))
    assert table.exit_code == 0 and table.stderr == ""
    assert any(line.split()[:2] == ["default", "101.10.12000.000"] for line in table.stdout.splitlines())
    assert table.stdout.splitlines()[-1].startswith("3 rules and the default give")


def test_gl_rules_bad_files_are_one_line_naming_file_and_column(tmp_path: Path) -> None:
    no_account = _write_csv(tmp_path / "h1.csv", ["kind", "card_brand", "account"], [["sale", "VISA", "1"]])
    result = invoke("mapping", "suggest", "gl-rules", "--history", str(no_account))
    assert result.exit_code == 1 and "h1.csv: the header has no gl_account" in one_line(result)
    bad_amount = _write_csv(tmp_path / "h2.csv", ["kind", "card_brand", "gl_account", "amount_minor"],
                            [["sale", "VISA", "1", "12"], ["sale", "VISA", "1", "12.50"]])
    result = invoke("mapping", "suggest", "gl-rules", "--history", str(bad_amount))
    line = one_line(result)
    assert result.exit_code == 1 and "h2.csv, line 3: amount_minor is not a whole number" in line and "12.50" not in line


def test_statuses_from_the_specs_and_from_a_vocabulary_file(tmp_path: Path) -> None:
    result = invoke("mapping", "suggest", "statuses", "--erp", "oracle", "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    best = {s["canonical"]: s["word"] for s in answer["suggestions"] if s["rank"] == 1}
    assert best["settled"] == "Cleared" and best["pending_settlement"] == "Remitted" and best["voided"] == "Reversed"
    assert "declined" in answer["without_suggestion"]
    words = tmp_path / "words.txt"
    words.write_text("# our ERP\nBlorf\n\nZzyx\nQuux\n", encoding="utf-8")
    result = invoke("mapping", "suggest", "statuses", "--erp", "sage", "--vocabulary", str(words), "--format", "json")
    answer = json.loads(result.stdout)
    assert answer["vocabulary"] == ["Blorf", "Zzyx", "Quux"] and answer["suggestions"] == []
    assert len(answer["without_suggestion"]) == 8
    table = invoke("mapping", "suggest", "statuses", "--erp", "sage")
    assert table.exit_code == 0 and "settled -> Paid  confidence" in table.stdout
    assert "no word of the vocabulary fits: authorized" in table.stdout


def test_statuses_refuses_an_empty_vocabulary_and_an_unknown_erp(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# nothing\n", encoding="utf-8")
    result = invoke("mapping", "suggest", "statuses", "--erp", "oracle", "--vocabulary", str(empty))
    assert result.exit_code == 1 and "empty.txt: no words" in one_line(result)
    result = invoke("mapping", "suggest", "statuses", "--erp", "sap")
    assert result.exit_code == 2 and "sap" in one_line(result)
