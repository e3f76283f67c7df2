"""Each ERP's path materialized against the composed sandbox, and what each ERP holds read back, so
one test runs for every ERP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
from sqlalchemy import Engine

from paysync_dagster.defs.erp.connectors import CONNECTORS, ErpConnector
from paysync_dagster.defs.erp.factory import ErpAssets, erp_assets
from paysync_dagster.defs.normalize.assets import normalized_payments
from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster_tests.conftest import oracle_resource, paytrace_resource, sage_resource
from paysync_dagster_tests.defs.oracle import state as oracle_state
from paysync_dagster_tests.defs.sage import support as sage_state


@dataclass(frozen=True)
class ErpUnderTest:
    """One ERP as the tests drive it: its assets, where its API is (for fault injection), and how to
    read what it holds (``final_state``) and compare the posting ledger with it; ``left_to_a_person``:
    the ERP's refusals PaySync hands to a person by design (an exception naming what to do)."""

    name: str
    api_paths: tuple[str, ...]
    final_state: Callable[[str], dict[str, Any]]
    assert_ledger_equals_sandbox: Callable[[Engine, str], None]
    left_to_a_person: tuple[str, ...] = ()

    @property
    def connector(self) -> ErpConnector:
        return CONNECTORS[self.name]

    @property
    def assets(self) -> ErpAssets:
        return erp_assets(self.name)

    @property
    def upstream(self) -> list[dg.AssetsDefinition]:
        return [paytrace_transactions, paytrace_settlement_batches, self.assets.customer_accounts, normalized_payments]

    @property
    def posting(self) -> list[dg.AssetsDefinition]:
        return [self.assets.open_invoices, self.assets.cash_receipts]


ERPS = {
    "oracle": ErpUnderTest("oracle", ("/fscmRestApi/*", "/oauth2/*"), oracle_state.final_state,
                           oracle_state.assert_ledger_equals_sandbox),
    # Sage: a void or chargeback of a receipt already posted (the Web API cannot reverse it).
    "sage": ErpUnderTest("sage", ("/Sage300WebApi/*",), sage_state.final_state, sage_state.assert_ledger_equals_sandbox,
                         left_to_a_person=("SAGE_POSTED",)),
}


def materialize(url: str, warehouse_url: str, day: str, assets: list, *, erp: str = "oracle",
                **erp_options: Any) -> dg.ExecuteInProcessResult:
    """Materialize ``assets`` for ``day`` against the sandbox at ``url``; ``erp_options`` go to ``erp``'s resource."""
    return dg.materialize(assets, partition_key=day, raise_on_error=False, resources={
        "warehouse": WarehouseResource(database_url=warehouse_url), "paytrace": paytrace_resource(url),
        "oracle": oracle_resource(url, **(erp_options if erp == "oracle" else {})),
        "sage": sage_resource(url, **(erp_options if erp == "sage" else {}))})


def checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    return {(c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()}
