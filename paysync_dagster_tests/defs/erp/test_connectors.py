"""Which ERPs are on (PAYSYNC_ERPS), and what one ERP adds to the code location."""

import subprocess
import sys

import pytest

from paysync_dagster.defs.erp.connectors import ErpSettingError, erps_on
from paysync_dagster.defs.erp.factory import erp_assets


def test_the_setting_names_the_erps_in_order_without_repeats() -> None:
    assert [c.name for c in erps_on(" Oracle , oracle ")] == ["oracle"]
    assert [c.name for c in erps_on()] == ["oracle"]  # the default


@pytest.mark.parametrize(("raw", "says"), [("oracle,sap", "unknown ERP sap"), ("", "no ERP"), (" , ", "no ERP")])
def test_an_unknown_or_missing_erp_is_one_clear_error(raw: str, says: str) -> None:
    with pytest.raises(ErpSettingError, match=f"PAYSYNC_ERPS=.*{says}.*known: oracle"):
        erps_on(raw)


def test_one_factory_builds_an_erps_assets_named_for_it() -> None:
    built = erp_assets("oracle")
    assert [a.key.to_user_string() for a in built.all()] == [
        "oracle_customer_accounts", "oracle_open_invoices", "oracle_cash_receipts", "oracle_on_account_applications",
        "reconciliation_report"]
    assert {a.key.to_user_string() for a in built.all() if a.group_names_by_key[a.key] == "oracle"} >= {
        "oracle_cash_receipts", "oracle_open_invoices"}
    # Every ERP asset asks for the warehouse and its ERP's resource, and nothing else.
    assert all(a.required_resource_keys - {"io_manager"} == {"warehouse", "oracle"} for a in built.all())


def test_the_code_location_refuses_an_unknown_erp_with_the_setting_named() -> None:
    code = "from paysync_dagster.definitions import defs; defs()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={"PAYSYNC_ERPS": "oracle,netsuite", "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "PAYSYNC_ERPS='oracle,netsuite': unknown ERP netsuite" in result.stderr
