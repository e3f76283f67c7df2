"""``paysync mapping suggest customers`` from files and ``paysync mapping evaluate``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from paysync_dagster.cli.suggest import ERP_ACCOUNT_COLUMNS
from paysync_dagster.sandbox.customer_master import customer_master
from paysync_dagster_tests.cli.support import invoke, one_line


def _files(tmp_path: Path) -> tuple[Path, Path, dict]:
    master = customer_master(seed=5, per_style=3)
    paytrace = tmp_path / "customers.json"
    paytrace.write_text(json.dumps(master.export_body()), encoding="utf-8")
    erp = tmp_path / "accounts.csv"
    with erp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ERP_ACCOUNT_COLUMNS)
        writer.writeheader()
        writer.writerows(master.accounts)
    return paytrace, erp, master.truth


def test_suggestions_print_as_json_one_per_customer_at_most(tmp_path: Path) -> None:
    paytrace, erp, truth = _files(tmp_path)
    result = invoke("mapping", "suggest", "customers", "--paytrace", str(paytrace), "--erp", str(erp), "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    ids = [s["paytrace_customer_id"] for s in answer["suggestions"]]
    assert len(ids) == len(set(ids)) and set(ids).isdisjoint(answer["unmatched"])
    assert set(ids) | set(answer["unmatched"]) == set(truth)
    assert all(set(s) == {"paytrace_customer_id", "erp_account", "confidence", "evidence"} for s in answer["suggestions"])
    in_band = [s for s in answer["suggestions"] if s["confidence"] >= 0.9]
    assert in_band and all(truth[s["paytrace_customer_id"]] == s["erp_account"] for s in in_band)


def test_a_csv_without_account_numbers_is_one_line_naming_the_column(tmp_path: Path) -> None:
    paytrace, _, _ = _files(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("number,name\n1001,Acme\n", encoding="utf-8")
    result = invoke("mapping", "suggest", "customers", "--paytrace", str(paytrace), "--erp", str(bad))
    assert result.exit_code != 0 and "account_number" in one_line(result)


def test_evaluate_prints_ours_beside_the_baseline() -> None:
    result = invoke("mapping", "evaluate", "--seed", "1", "--per-style", "10", "--format", "json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)["figures"]
    assert figures["paysync"]["band_precision"] >= 0.98 > figures["baseline"]["band_precision"]
    assert figures["paysync"]["false_matches"] == 0 < figures["baseline"]["false_matches"]


def test_files_that_are_not_utf8_are_one_line_naming_the_file(tmp_path: Path) -> None:
    paytrace, erp, _ = _files(tmp_path)
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00not text")
    for args in (("--paytrace", str(binary), "--erp", str(erp)), ("--paytrace", str(paytrace), "--erp", str(binary))):
        result = invoke("mapping", "suggest", "customers", *args)
        assert result.exit_code != 0 and "binary: not UTF-8 text" in one_line(result)


LABELLED = Path(__file__).resolve().parents[1] / "lib" / "suggest"
# Hand-written masters (lib/suggest/labelled*/README.md): bill-to and ship-to accounts, chains, households,
# sister companies at one domain or building, near names elsewhere, nicknames, street lines written otherwise.
HAND_WRITTEN_SETS = sorted(p for p in LABELLED.glob("labelled*/*") if (p / "truth.csv").is_file())


def test_evaluate_meets_the_goals_on_the_hand_written_sets() -> None:
    assert len(HAND_WRITTEN_SETS) >= 3
    result = invoke("mapping", "evaluate", *(a for p in HAND_WRITTEN_SETS for a in ("--set", str(p))), "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["masters"] == [p.name for p in HAND_WRITTEN_SETS] and answer["seeds"] == []
    ours, baseline = answer["figures"]["paysync"], answer["figures"]["baseline"]
    assert ours["band_precision"] >= 0.98 and ours["recall_any"] >= 0.9 and ours["band_recall"] >= 0.9
    assert ours["false_matches"] <= 0.01 * ours["without_account"]
    assert ours["band_recall"] > baseline["band_recall"] + 0.4
    for name, figures in answer["per_master"].items():
        assert figures["paysync"]["band_precision"] >= 0.95, (name, figures)


def test_a_labelled_set_that_does_not_hold_together_is_one_line_naming_the_file(tmp_path: Path) -> None:
    paytrace, erp, truth = _files(tmp_path)
    result = invoke("mapping", "evaluate", "--set", str(tmp_path))
    assert result.exit_code != 0 and "no truth.csv" in one_line(result)
    rows = [f"{cid},{account or ''}" for cid, account in truth.items()]
    (tmp_path / "truth.csv").write_text("paytrace_customer_id,erp_account\n" + "\n".join(rows[:-1]) + "\n", encoding="utf-8")
    result = invoke("mapping", "evaluate", "--set", str(tmp_path))
    assert result.exit_code != 0 and "no label for 1 customer" in one_line(result)
    cid = next(iter(truth))
    (tmp_path / "truth.csv").write_text("paytrace_customer_id,erp_account\n" + "\n".join(rows[1:] + [f"{cid},NO-SUCH"]) + "\n",
                                        encoding="utf-8")
    result = invoke("mapping", "evaluate", "--set", str(tmp_path))
    assert result.exit_code != 0 and "erp_account 'NO-SUCH' is not in accounts.csv" in one_line(result)
    (tmp_path / "truth.csv").write_text("paytrace_customer_id,erp_account\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = invoke("mapping", "evaluate", "--set", str(tmp_path), "--seed", "2", "--per-style", "3")
    assert result.exit_code == 0, result.output
    assert "2 labelled master(s)" in result.stdout and "each master:" in result.stdout
