"""Which ERPs are on (PAYSYNC_ERPS), and what one ERP adds to the code location."""

import subprocess
import sys

import pytest

from paysync_dagster.defs.erp.connectors import ErpSettingError, erps_on
from paysync_dagster.defs.erp.factory import erp_assets


def test_the_setting_names_the_erps_in_order_without_repeats() -> None:
    assert [c.name for c in erps_on(" Oracle , oracle ")] == ["oracle"]
    assert [c.name for c in erps_on("sage,oracle")] == ["sage", "oracle"]
    assert [c.name for c in erps_on()] == ["oracle"]  # the default


@pytest.mark.parametrize(("raw", "says"), [("oracle,sap", "unknown ERP sap"), ("", "no ERP"), (" , ", "no ERP")])
def test_an_unknown_or_missing_erp_is_one_clear_error(raw: str, says: str) -> None:
    with pytest.raises(ErpSettingError, match=f"PAYSYNC_ERPS=.*{says}.*known: oracle, sage"):
        erps_on(raw)


@pytest.mark.parametrize(("erp", "reconciliation"), [("oracle", "reconciliation_report"),
                                                      ("sage", "sage_reconciliation_report")])
def test_one_factory_builds_an_erps_assets_named_for_it(erp: str, reconciliation: str) -> None:
    built = erp_assets(erp)
    assert [a.key.to_user_string() for a in built.all()] == [
        f"{erp}_customer_accounts", f"{erp}_open_invoices", f"{erp}_cash_receipts", f"{erp}_on_account_applications",
        reconciliation]
    assert {a.key.to_user_string() for a in built.all() if a.group_names_by_key[a.key] == erp} >= {
        f"{erp}_cash_receipts", f"{erp}_open_invoices"}
    # Every ERP asset asks for the warehouse and its ERP's resource, and nothing else.
    assert all(a.required_resource_keys - {"io_manager"} == {"warehouse", erp} for a in built.all())


def _asset_keys(env: dict[str, str]) -> list[str]:
    code = ("from paysync_dagster.definitions import defs\n"
            "print(' '.join(sorted(k.to_user_string() for k in defs().resolve_asset_graph().get_all_asset_keys())))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_an_erp_that_is_off_has_no_assets_and_needs_none_of_its_settings() -> None:
    oracle_only = _asset_keys({"PAYSYNC_ERPS": "oracle"})  # no SAGE300_* set at all
    assert "oracle_cash_receipts" in oracle_only and not any(k.startswith("sage_") for k in oracle_only)
    both = _asset_keys({"PAYSYNC_ERPS": "oracle,sage"})
    assert set(both) - set(oracle_only) == {"sage_customer_accounts", "sage_open_invoices", "sage_cash_receipts",
                                            "sage_on_account_applications", "sage_reconciliation_report"}
    sage_only = _asset_keys({"PAYSYNC_ERPS": "sage"})
    assert "sage_cash_receipts" in sage_only and not any(k.startswith("oracle_") for k in sage_only)


def test_the_code_location_refuses_an_unknown_erp_with_the_setting_named() -> None:
    code = "from paysync_dagster.definitions import defs; defs()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={"PAYSYNC_ERPS": "oracle,netsuite", "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "PAYSYNC_ERPS='oracle,netsuite': unknown ERP netsuite" in result.stderr
