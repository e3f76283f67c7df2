"""The code location loads, and holds exactly the assets, checks, jobs, sensors and schedules expected."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from paysync_dagster.definitions import defs

REPO = Path(__file__).resolve().parents[1]

EXPECTED_ASSETS = {"paytrace_transactions", "paytrace_settlement_batches", "normalized_payments",
                   "oracle_open_invoices", "oracle_cash_receipts", "payment_anomalies", "reconciliation_report",
                   "oracle_on_account_applications", "oracle_customer_accounts"}
EXPECTED_CHECKS = {
    ("paytrace_transactions", "schema_valid"),
    ("paytrace_transactions", "landing_accounted"),
    ("paytrace_settlement_batches", "schema_valid"),
    ("paytrace_settlement_batches", "batch_totals_match_transactions"),
    ("normalized_payments", "unique_transaction_ids"),
    ("normalized_payments", "raw_equals_normalized_plus_exceptions"),
    ("oracle_open_invoices", "mapping_gl_accounts_in_erp"),
    ("oracle_cash_receipts", "one_outcome_per_payment"),
    ("oracle_cash_receipts", "ledger_matches_receipts"),
    ("reconciliation_report", "batch_totals_equal_settled_transactions"),
    ("reconciliation_report", "erp_receipts_equal_batch_net"),
    ("reconciliation_report", "no_transaction_unaccounted"),
}
EXPECTED_JOBS = {"paysync_daily_job", "paysync_live_job", "paytrace_export_pull_job"}
EXPECTED_SCHEDULES = {"paysync_nightly_schedule"}
EXPECTED_SENSORS = {"paytrace_landing_sensor", "paytrace_export_poller", "paysync_run_failure_alerts",
                    "paysync_check_failure_alerts", "paysync_queue_and_batch_alerts"}


def test_definitions_hold_the_expected_objects() -> None:
    d = defs()
    dg.Definitions.validate_loadable(d)
    graph = d.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    assert {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys} == EXPECTED_CHECKS
    assert {j.name for j in d.resolve_all_job_defs() if not j.name.startswith("__")} == EXPECTED_JOBS
    assert {s.name for s in d.schedules or []} == EXPECTED_SCHEDULES
    assert {s.name for s in d.sensors or []} == EXPECTED_SENSORS
    assert set(d.resources or {}) >= {"warehouse", "paytrace", "oracle"}


def test_normalization_reads_the_customer_list_as_a_declared_dependency() -> None:
    # So the first run of a new installation finds payers by name as every later run does.
    d = defs()
    graph = d.resolve_asset_graph()
    customers = dg.AssetKey("oracle_customer_accounts")
    assert customers in graph.get(dg.AssetKey("normalized_payments")).parent_keys
    live = d.resolve_job_def("paysync_live_job")
    assert customers in live.asset_layer.selected_asset_keys


def test_every_asset_is_daily_partitioned_in_the_merchant_zone() -> None:
    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        part = graph.get(key).partitions_def
        assert isinstance(part, dg.DailyPartitionsDefinition), key
        assert part.timezone == "America/Los_Angeles"


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path), "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
