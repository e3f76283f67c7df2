"""reconciliation_report materialized after the PayTrace and Oracle path against the composed sandbox,
with the sandbox's bank statement: one status per transaction, batches tied or itemized, files,
checks, KPIs; then receipts edited and deleted in Oracle show as drift in the next report; and the
same days reconciled in Sage give the same statuses."""

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from paysync_dagster.defs.erp.factory import erp_assets
from paysync_dagster.lib.warehouse.tables import (normalized_payments, oracle_cash_receipts, payment_exceptions,
                                                  reconciliation_batches, reconciliation_kpis,
                                                  reconciliation_transactions, reconciliation_variances)
from paysync_dagster.sandbox.paytrace.bank import write_bank_files
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import SANDBOX_TZ, SANDBOX_WEEK, start_paytrace_sandbox
from paysync_dagster_tests.defs.erp.support import ERPS
from paysync_dagster_tests.defs.erp.support import materialize as erp_materialize
from paysync_dagster_tests.defs.oracle.support import ORACLE, UPSTREAM, checks, materialize, oracle_state
from paysync_dagster_tests.defs.oracle.test_assets import read
from paysync_dagster_tests.lib.posting.oracle_support import oracle_client

START = date.fromisoformat(SANDBOX_WEEK[0])
DAY1, DAY2 = START.isoformat(), (START + timedelta(days=1)).isoformat()
PER_DAY, SEED = 30, 11


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    with start_paytrace_sandbox(seed=SEED, per_day=PER_DAY) as server:
        yield server


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    bank, reports = tmp_path / "bank", tmp_path / "reports"
    write_bank_files(bank, SEED, START, date.fromisoformat(SANDBOX_WEEK[1]), PER_DAY, SANDBOX_TZ)
    monkeypatch.setenv("PAYSYNC_BANK_FILES_DIR", str(bank))
    monkeypatch.setenv("PAYSYNC_REPORTS_DIR", str(reports))
    return {"bank": bank, "reports": reports}


def report(url: str, warehouse: str, day: str) -> pd.DataFrame:
    result = materialize(url, warehouse, day, [erp_assets("oracle").reconciliation])
    assert result.success
    got = checks(result)
    assert got[("reconciliation_report", "batch_totals_equal_settled_transactions")]
    assert got[("reconciliation_report", "no_transaction_unaccounted")]
    return read(warehouse, reconciliation_transactions, reconciliation_transactions.c.business_date == date.fromisoformat(day))


def test_a_posted_day_reconciles_and_edits_in_oracle_show_as_drift(sandbox: ServerThread, sqlite_url: str,
                                                                    folders: dict[str, Path]) -> None:
    for day in (DAY1, DAY2):
        assert materialize(sandbox.url, sqlite_url, day, UPSTREAM + ORACLE).success
    rows = report(sandbox.url, sqlite_url, DAY2)
    day2 = date.fromisoformat(DAY2)
    payments = read(sqlite_url, normalized_payments, normalized_payments.c.business_date == day2)
    outcomes = read(sqlite_url, oracle_cash_receipts, oracle_cash_receipts.c.business_date == day2).set_index("transaction_id")
    assert rows["transaction_id"].is_unique and set(payments["transaction_id"]) <= set(rows["transaction_id"])
    status = rows.set_index("transaction_id")["status"]
    # Posted right, nothing touched: every status is one a correct posting can have.
    assert set(status) <= {"matched", "declined_not_posted", "pending_settlement", "unapplied_in_erp"}, \
        rows[~rows["status"].isin(["matched", "declined_not_posted", "pending_settlement", "unapplied_in_erp"])].to_dict("records")
    declines = payments.loc[payments["status"] == "declined", "transaction_id"]
    assert (status[declines] == "declined_not_posted").all() and len(declines) > 0
    on_account = outcomes.index[(outcomes["outcome"] == "on_account") & outcomes["owns_receipt"].astype(bool)]
    settled_on_account = [t for t in on_account if status[t] != "pending_settlement"]
    assert (status[settled_on_account] == "unapplied_in_erp").all()
    assert (status == "matched").sum() > len(rows) / 2

    batches = read(sqlite_url, reconciliation_batches, reconciliation_batches.c.business_date == day2)
    variances = read(sqlite_url, reconciliation_variances, reconciliation_variances.c.business_date == day2)
    assert len(batches) == 1 and (batches["erp_variance_minor"] == 0).all(), variances.to_dict("records")  # ERP leg ties
    fees = variances[(variances["leg"] == "bank")]
    assert set(fees["cause"]) == {"fees"}  # the deposit arrived; the bank kept only its fee
    assert (batches["bank_variance_minor"] == fees["amount_minor"].sum()).all() and fees["amount_minor"].sum() > 0
    kpis = read(sqlite_url, reconciliation_kpis, reconciliation_kpis.c.business_date == day2).set_index("kpi")
    assert kpis.loc["batch_tie_out", ["numerator", "denominator"]].tolist() == [1, 1]
    assert kpis.loc["reconciled_matched", "denominator"] == len(rows)

    folder = folders["reports"] / DAY2
    csv = pd.read_csv(folder / f"reconciliation_{DAY2}.csv")
    assert sorted(csv["transaction_id"]) == sorted(rows["transaction_id"])
    # Why cash went where, per payment: the receipts' rule, references read and rejections.
    applied = csv[csv["applied_to_invoices"].fillna("") != ""]
    assert len(applied) and applied["match_rule"].isin(["exact", "reference", "multiple", "purchase_order",
                                                        "sales_order", "typo"]).all()
    assert applied["references_read"].notna().all() and "not_applied_and_why" in csv.columns
    assert openpyxl.load_workbook(folder / f"reconciliation_{DAY2}.xlsx").sheetnames[0] == "Summary"
    assert (folder / "matched_vs_unmatched.svg").read_text().startswith("<svg")

    # After posting, a clerk changes one receipt's customer, reverses another, and deletes a third
    # (Oracle deletes only what is not applied, so that one is unapplied first).
    state = {r["ReceiptNumber"]: r for r in oracle_state(sandbox.url)["receipts"]}
    matched = [t for t in status.index[status == "matched"] if f"PT-{t}" in state
               and state[f"PT-{t}"]["Status"] == "Applied"]
    unapplied = [t for t in status.index[status == "unapplied_in_erp"]
                 if state[f"PT-{t}"]["CustomerAccountNumber"] and not state[f"PT-{t}"]["applications"]]
    assert len(matched) >= 2 and unapplied
    deleted, reversed_, edited = matched[0], matched[1], unapplied[0]
    other = next(a for a in sorted({r["CustomerAccountNumber"] for r in state.values() if r["CustomerAccountNumber"]})
                 if a != state[f"PT-{edited}"]["CustomerAccountNumber"])
    with oracle_client(sandbox.url) as client:  # Oracle's own REST API, as a clerk's tool would call it
        client.update_receipt(state[f"PT-{edited}"]["StandardReceiptId"], {"CustomerAccountNumber": other})
        client.reverse_receipt(state[f"PT-{reversed_}"]["StandardReceiptId"], reason="NSF")
        for application in state[f"PT-{deleted}"]["applications"]:
            client.unapply_receipt(state[f"PT-{deleted}"]["StandardReceiptId"],
                                   receivable_application_id=application["ReceivableApplicationId"])
        client.delete_receipt(state[f"PT-{deleted}"]["StandardReceiptId"])

    again = report(sandbox.url, sqlite_url, DAY2).set_index("transaction_id")
    touched = [deleted, reversed_, edited]
    assert again.loc[touched, "status"].tolist() == ["drift"] * 3, again.loc[touched, "detail"].tolist()
    assert (again["status"].drop(touched) == status.drop(touched)).all()  # nothing else moved
    queue = read(sqlite_url, payment_exceptions, payment_exceptions.c.stage == "reconciliation")
    assert sorted(queue.loc[queue["reason_code"] == "drift", "transaction_id"]) == sorted(touched)
    assert (queue["status"] == "open").all() and queue["suggested_action"].str.len().min() > 20


def test_a_posted_day_reconciles_in_sage_as_in_oracle(sandbox: ServerThread, sqlite_url: str,
                                                      folders: dict[str, Path]) -> None:
    """The same days posted to both ERPs: Sage's reconciliation gives each transaction the status
    Oracle's gives it, ties the batch, and writes its own rows, KPIs and files."""
    oracle, sage = ERPS["oracle"], ERPS["sage"]
    for day in (DAY1, DAY2):
        run = erp_materialize(sandbox.url, sqlite_url, day, [*oracle.upstream, sage.assets.customer_accounts,
                                                             *oracle.posting, *sage.posting])
        assert run.success
    day2 = date.fromisoformat(DAY2)
    for erp in (oracle, sage):
        run = erp_materialize(sandbox.url, sqlite_url, DAY2, [erp.assets.reconciliation])
        assert run.success and all(ok for (asset, _), ok in checks(run).items()), checks(run)
    rows = read(sqlite_url, reconciliation_transactions, reconciliation_transactions.c.business_date == day2)
    by_erp = {erp: frame.set_index("transaction_id")["status"] for erp, frame in rows.groupby("erp")}
    assert set(by_erp) == {"oracle", "sage"} and (by_erp["sage"] == by_erp["oracle"].loc[by_erp["sage"].index]).all()
    assert (by_erp["sage"] == "matched").sum() > len(by_erp["sage"]) / 2
    batches = read(sqlite_url, reconciliation_batches, reconciliation_batches.c.business_date == day2)
    assert sorted(batches["erp"]) == ["oracle", "sage"] and (batches["erp_variance_minor"] == 0).all()
    kpis = read(sqlite_url, reconciliation_kpis, (reconciliation_kpis.c.business_date == day2)
                & (reconciliation_kpis.c.erp == "sage")).set_index("kpi")
    assert kpis.loc["batch_tie_out", ["numerator", "denominator"]].tolist() == [1, 1]
    csv = pd.read_csv(folders["reports"] / DAY2 / f"sage_reconciliation_{DAY2}.csv")
    assert sorted(csv["transaction_id"]) == sorted(by_erp["sage"].index)
