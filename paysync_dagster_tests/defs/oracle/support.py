"""Materializing the Oracle path against the composed sandbox, and reading back what Oracle holds."""

from __future__ import annotations

from typing import Any

import dagster as dg

from paysync_dagster_tests.defs.erp.support import ERPS, checks
from paysync_dagster_tests.defs.erp.support import materialize as materialize_erp
from paysync_dagster_tests.defs.oracle.state import assert_ledger_equals_sandbox, final_state, oracle_state

ORACLE_ASSETS = ERPS["oracle"].assets
UPSTREAM = ERPS["oracle"].upstream
ORACLE = ERPS["oracle"].posting


def materialize(url: str, warehouse_url: str, day: str, assets: list, **oracle_options: Any) -> dg.ExecuteInProcessResult:
    return materialize_erp(url, warehouse_url, day, assets, erp="oracle", **oracle_options)


__all__ = ["ORACLE", "ORACLE_ASSETS", "UPSTREAM", "assert_ledger_equals_sandbox", "checks", "final_state",
           "materialize", "oracle_state"]
