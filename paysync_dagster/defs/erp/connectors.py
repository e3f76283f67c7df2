"""The ERPs PaySync posts to, what each brings to the shared ERP layer, and which are on.

An ERP is its client, posting adapter and reader (``lib/<erp>/``), a Dagster resource that hands
them out (:class:`ErpResource`), a sandbox, and one :class:`ErpConnector` line in ``CONNECTORS``; the
assets of ``defs/erp/`` are built for it by one factory. ``PAYSYNC_ERPS`` (a comma list, default
``oracle``) says which are on: an ERP that is off has no assets in the code location and needs none
of its settings. Read when the definitions load, never at import.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Table

from paysync_dagster.lib.mapping import Mapping
from paysync_dagster.lib.posting.erp import ErpAdapter
from paysync_dagster.lib.reconciliation.frames import ErpReader
from paysync_dagster.lib.warehouse import tables
from paysync_dagster.lib.warehouse.customer_accounts import account_column

ERPS_SETTING = "PAYSYNC_ERPS"
DEFAULT_ERPS = "oracle"


class ErpResource(Protocol):
    """What the shared assets ask of an ERP's Dagster resource."""

    def client(self) -> AbstractContextManager[Any]:
        """An open API client, closed on exit."""
        ...

    def adapter(self, client: Any, mapping: Mapping) -> ErpAdapter:
        """The posting adapter over ``client`` with the mapping file's settings."""
        ...

    def reader(self, client: Any, mapping: Mapping) -> ErpReader:
        """What reconciliation reads back from the ERP (PaySync's receipts as the mapping numbers them)."""
        ...


@dataclass(frozen=True)
class ErpConnector:
    """One ERP in the shared layer: its name (asset prefix, ledger and exception stage), the resource
    key its assets ask for, the pool that keeps one run at a time talking to its API, and its tables."""

    name: str
    title: str
    resource_key: str
    pool: str
    cash_receipts: Table
    open_invoices: Table
    late_applications: Table
    reconciliation_name: str  # the reconciliation asset's name
    # Sage Pro: PaySync never writes it; its receipts are proposed on a keying worksheet a clerk keys,
    # and found keyed when its tables are read back. No outbound flow runs for it.
    keyed_by_hand: bool = False

    @property
    def customer_account_column(self) -> str:
        """The column holding the payer's account in this ERP in what posting reads (from
        ``payment_customer_accounts``, see :func:`~paysync_dagster.lib.warehouse.customer_accounts.with_customer_accounts`)."""
        return account_column(self.name)


# Oracle's reconciliation keeps the name the product shipped with, so its history and links stay.
ORACLE = ErpConnector("oracle", "Oracle Fusion", "oracle", "oracle_fusion_api", tables.oracle_cash_receipts,
                      tables.oracle_open_invoices, tables.oracle_late_applications, "reconciliation_report")

SAGE = ErpConnector("sage", "Sage 300", "sage", "sage300_api", tables.sage_cash_receipts, tables.sage_open_invoices,
                    tables.sage_late_applications, "sage_reconciliation_report")

SAGEPRO = ErpConnector("sagepro", "Sage Pro", "sagepro", "sagepro_files", tables.sagepro_cash_receipts,
                       tables.sagepro_open_invoices, tables.sagepro_late_applications, "sagepro_reconciliation_report",
                       keyed_by_hand=True)

CONNECTORS: dict[str, ErpConnector] = {c.name: c for c in (ORACLE, SAGE, SAGEPRO)}


class ErpSettingError(ValueError):
    """``PAYSYNC_ERPS`` names an ERP PaySync does not know, or none."""


def erps_on(raw: str | None = None) -> list[ErpConnector]:
    """The ERPs that are on, in the order named (``PAYSYNC_ERPS``, default ``oracle``)."""
    raw = os.environ.get(ERPS_SETTING, DEFAULT_ERPS) if raw is None else raw
    names = list(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in CONNECTORS]
    if unknown or not names:
        raise ErpSettingError(f"{ERPS_SETTING}={raw!r}: " + (f"unknown ERP {', '.join(unknown)}" if unknown else "no ERP")
                              + f" (known: {', '.join(CONNECTORS)})")
    return [CONNECTORS[n] for n in names]


def erps_named(setting: str, raw: str | None = None) -> list[str]:
    """The ERPs an outbound flow's switch names (a comma list in the environment; none by default)."""
    raw = os.environ.get(setting, "") if raw is None else raw
    names = list(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    writable = [n for n, c in CONNECTORS.items() if not c.keyed_by_hand]
    unknown = [n for n in names if n not in writable]
    if unknown:
        raise ErpSettingError(f"{setting}={raw!r}: " + ", ".join(
            f"{n}: Sage Pro takes no writes from PaySync" if n in CONNECTORS else f"unknown ERP {n}" for n in unknown)
            + f" (an outbound flow runs for: {', '.join(writable)})")
    return names
