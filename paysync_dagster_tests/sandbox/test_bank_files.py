"""The sandbox's bank statement: one deposit per batch equal to the net the PayTrace sandbox serves,
one fee per batch, both written as CSV and BAI2, and ``paysync sandbox bank-files``."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pandas as pd
import pytest

from paysync_dagster.lib.paytrace.batches import parse_batch
from paysync_dagster.lib.reconciliation.bank import read_bank_file, read_bank_folder
from paysync_dagster.lib.reconciliation.frames import BANK_LINES
from paysync_dagster.sandbox.paytrace.bank import bank_statement, write_bank_files
from paysync_dagster_tests.conftest import SANDBOX_TZ, SANDBOX_WEEK, paytrace_resource, start_paytrace_sandbox

START, END = (date.fromisoformat(d) for d in SANDBOX_WEEK)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served_batches() -> dict[int, dict]:
    """Batch summaries exactly as the running PayTrace sandbox serves them for the week."""
    with start_paytrace_sandbox(seed=11, per_day=40) as server:
        with paytrace_resource(server.url).client() as client:
            records = client.export_batches(START, END)
    return {b["batch_number"]: b for b in (parse_batch(r, SANDBOX_TZ) for r in records)}


def test_deposit_per_batch_equals_the_net_the_sandbox_serves(served_batches: dict[int, dict]):
    lines = bank_statement(11, START, END, 40, SANDBOX_TZ)
    assert list(lines.columns) == list(BANK_LINES)
    deposits = lines[lines["kind"] == "deposit"].set_index("batch_number")
    fees = lines[lines["kind"] == "fee"].set_index("batch_number")
    assert sorted(deposits.index) == sorted(fees.index) == sorted(served_batches)
    assert len(served_batches) == 7 and any(b["refund_minor"] for b in served_batches.values())
    for number, batch in served_batches.items():
        deposit, fee = deposits.loc[number], fees.loc[number]
        assert deposit["amount_minor"] == batch["net_minor"] == batch["sales_minor"] - batch["refund_minor"]
        percent = (Decimal(batch["sales_minor"]) * Decimal("0.029")).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        assert fee["amount_minor"] == -(int(percent) + 30 * batch["sales_count"])
        # Next Monday-to-Friday day after the batch's business date: Friday, Saturday and Sunday land on Monday.
        expected = batch["business_date"] + timedelta(days={4: 3, 5: 2}.get(batch["business_date"].weekday(), 1))
        assert deposit["value_date"] == fee["value_date"] == expected
        assert deposit["description"] == f"PAYTRACE DEPOSIT BATCH {number}"
        assert fee["description"] == f"PAYTRACE FEES BATCH {number}"
    # 2026-03-06..08 is Friday to Sunday: three batches, three deposits on Monday the 9th.
    assert (deposits["value_date"] == date(2026, 3, 9)).sum() == 3
    assert max(deposits["value_date"]) > END  # the last batch's money lands after the history


def test_statement_is_deterministic_with_unique_ids():
    first = bank_statement(11, START, END, 40, SANDBOX_TZ)
    pd.testing.assert_frame_equal(first, bank_statement(11, START, END, 40, SANDBOX_TZ))
    assert first["line_id"].is_unique
    # A longer history from the same start keeps the same lines for the same batches.
    longer = bank_statement(11, START, END + timedelta(days=2), 40, SANDBOX_TZ)
    pd.testing.assert_frame_equal(longer.iloc[: len(first)].reset_index(drop=True), first)
    other_seed = bank_statement(12, START, END, 40, SANDBOX_TZ)
    assert not set(other_seed["line_id"]) & set(first["line_id"])


def test_both_files_hold_the_statement(tmp_path: Path):
    lines = bank_statement(5, START, END, 25, SANDBOX_TZ)
    csv_path, bai2_path = write_bank_files(tmp_path / "bank", 5, START, END, 25, SANDBOX_TZ)
    assert (csv_path.suffix, bai2_path.suffix) == (".csv", ".bai2")
    pd.testing.assert_frame_equal(read_bank_file(csv_path), lines)
    pd.testing.assert_frame_equal(read_bank_file(bai2_path), lines)
    in_week = read_bank_folder(tmp_path / "bank", START, END)
    expected = lines[lines["value_date"] <= END].sort_values(["value_date", "line_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(in_week, expected)


def test_cli_writes_both_files_and_they_read_back_equal(tmp_path: Path):
    out = tmp_path / "statements"
    proc = subprocess.run([sys.executable, "-m", "paysync_dagster.cli", "sandbox", "bank-files", "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    paths = [Path(p) for p in proc.stdout.split()]
    assert [p.suffix for p in paths] == [".csv", ".bai2"] and all(p.parent == out for p in paths)
    from_csv, from_bai2 = (read_bank_file(p) for p in paths)
    pd.testing.assert_frame_equal(from_csv, from_bai2)
    assert len(from_csv) == 2 * 7 and set(from_csv["kind"]) == {"deposit", "fee"}  # one batch a day, defaults


def test_cli_with_explicit_history_and_bad_arguments(tmp_path: Path):
    args = [sys.executable, "-m", "paysync_dagster.cli", "sandbox", "bank-files", "--out", str(tmp_path),
            "--seed", "3", "--start-date", "2026-03-02", "--days", "3", "--per-day", "20",
            "--timezone", "America/New_York"]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    csv_path = Path(proc.stdout.split()[0])
    expected = bank_statement(3, date(2026, 3, 2), date(2026, 3, 4), 20, "America/New_York")
    pd.testing.assert_frame_equal(read_bank_file(csv_path), expected)
    bad = subprocess.run(args[:7] + ["--timezone", "Mars/Olympus"], capture_output=True, text=True, cwd=REPO,
                         timeout=300)
    assert bad.returncode == 2 and "Mars/Olympus" in bad.stderr
