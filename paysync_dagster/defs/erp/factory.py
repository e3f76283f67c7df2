"""One factory for every ERP's assets, and the definitions of the ERPs that are on.

Each ERP folder ``defs/<erp>/`` holds its resource and a ``definitions.py`` that asks for
:func:`erp_definitions`: its customer accounts, open invoices, cash receipts, on-account
applications and reconciliation, built here from its :class:`~.connectors.ErpConnector`. Nothing in
them is copied per ERP. The assets are built once per process (:func:`erp_assets`) and put in the
code location only when the ERP is on (``PAYSYNC_ERPS``), which is read when the definitions load; its
outbound flows only when their switches name it as well: card-on-file charges (``PAYSYNC_CARD_CHARGES``),
the customer vault sync (``PAYSYNC_VAULT_SYNC``) and ERP-initiated card refunds (``PAYSYNC_ERP_REFUNDS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import dagster as dg

from paysync_dagster.defs.erp.charges import card_charges_asset, charges_on
from paysync_dagster.defs.erp.connectors import CONNECTORS, ErpConnector, erps_on
from paysync_dagster.defs.erp.on_account import on_account_applications_asset
from paysync_dagster.defs.erp.posting import cash_receipts_asset, customer_accounts_asset, open_invoices_asset
from paysync_dagster.defs.erp.refunds import card_refunds_asset, erp_refunds_on
from paysync_dagster.defs.erp.vault_sync import vault_sync_asset, vault_sync_on
from paysync_dagster.defs.erp.worksheet import keying_worksheet_asset
from paysync_dagster.defs.reconciliation.assets import reconciliation_asset


@dataclass(frozen=True)
class ErpAssets:
    customer_accounts: dg.AssetsDefinition
    open_invoices: dg.AssetsDefinition
    cash_receipts: dg.AssetsDefinition  # Sage Pro: the keying worksheet's proposals
    on_account_applications: dg.AssetsDefinition | None  # none for an ERP keyed by hand
    reconciliation: dg.AssetsDefinition
    # The outbound flows (none for an ERP keyed by hand), each in the code location only for the ERPs
    # its switch names: PAYSYNC_CARD_CHARGES, PAYSYNC_VAULT_SYNC, PAYSYNC_ERP_REFUNDS.
    card_charges: dg.AssetsDefinition | None = None
    vault_sync: dg.AssetsDefinition | None = None
    card_refunds: dg.AssetsDefinition | None = None

    def outbound(self, name: str) -> list[dg.AssetsDefinition]:
        """The outbound flows switched on for the ERP ``name``."""
        return [a for a, on in ((self.card_charges, charges_on()), (self.vault_sync, vault_sync_on()),
                                (self.card_refunds, erp_refunds_on())) if a is not None and name in on]

    def all(self) -> list[dg.AssetsDefinition]:
        return [a for a in (self.customer_accounts, self.open_invoices, self.cash_receipts,
                            self.on_account_applications, self.reconciliation) if a is not None]


def build_erp_assets(c: ErpConnector) -> ErpAssets:
    open_invoices = open_invoices_asset(c)
    if c.keyed_by_hand:
        proposals = keying_worksheet_asset(c, open_invoices)
        return ErpAssets(customer_accounts_asset(c), open_invoices, proposals, None,
                         reconciliation_asset(c, proposals, None))
    cash_receipts = cash_receipts_asset(c, open_invoices)
    on_account = on_account_applications_asset(c, open_invoices, cash_receipts)
    return ErpAssets(customer_accounts_asset(c), open_invoices, cash_receipts, on_account,
                     reconciliation_asset(c, cash_receipts, on_account), card_charges_asset(c), vault_sync_asset(c),
                     card_refunds_asset(c))


@cache
def erp_assets(name: str) -> ErpAssets:
    """The assets of one ERP (built once per process, whether it is on or not)."""
    return build_erp_assets(CONNECTORS[name])


def erp_definitions(name: str) -> dg.Definitions:
    """What one ERP adds to the code location: its assets when it is on, nothing when it is off."""
    if name not in {c.name for c in erps_on()}:
        return dg.Definitions()
    assets = erp_assets(name)
    return dg.Definitions(assets=[*assets.all(), *assets.outbound(name)])


def customer_account_keys() -> list[dg.AssetKey]:
    """The customer-account assets of the ERPs that are on: what normalization reads payers against."""
    return [erp_assets(c.name).customer_accounts.key for c in erps_on()]
