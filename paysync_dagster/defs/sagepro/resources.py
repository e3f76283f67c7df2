"""Sage Pro's data folder as a Dagster resource: its reader, and the reads the shared ERP layer makes
(nothing is read at import; no file is ever written)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field

from paysync_dagster.lib.mapping import Mapping
from paysync_dagster.lib.sagepro.adapter import SageProAdapter, SageProReceipts
from paysync_dagster.lib.sagepro.layout import DEFAULT_COMPANY
from paysync_dagster.lib.sagepro.reader import SageProError, SageProReader


class SageProResource(dg.ConfigurableResource):
    """Sage Pro's Visual FoxPro tables of one company, read only (spec ``sage_pro.md`` §6).

    ``data_dir`` is the folder that holds ``ardata/`` and ``sodata/`` (``SAGEPRO_DATA_DIR``): a
    read-only share of the Sage Pro server or a copy of it; ``company`` the company suffix of the file
    names (``SAGEPRO_COMPANY``, ``01``: ``arcust01.dbf``). Files are opened read-only and never locked,
    so Sage Pro's users see nothing of PaySync. Nothing here holds a secret.
    """

    data_dir: str = Field(description="the Sage Pro data folder (holding ardata/ and sodata/)")
    company: str = Field(default=DEFAULT_COMPANY, description="the company suffix of the table names, e.g. 01")

    @contextmanager
    def client(self) -> Iterator[SageProReader]:
        """The folder's reader for the duration of the block (each read opens and closes its file)."""
        if not self.data_dir.strip():
            raise SageProError("SAGEPRO_DATA_DIR is not set: the Sage Pro data folder (holding ardata/ and sodata/), "
                               "a read-only share of the Sage Pro server or a copy of it")
        yield SageProReader(Path(self.data_dir), self.company)

    def adapter(self, client: SageProReader, mapping: Mapping) -> SageProAdapter:
        """The reads the shared assets make (customers, open invoices); Sage Pro takes no writes."""
        return SageProAdapter(client, currency=mapping.currency.base)

    def reader(self, client: SageProReader, mapping: Mapping) -> SageProReceipts:
        """What reconciliation reads back: the receipts a clerk keyed, by the reference the worksheet gave."""
        return SageProReceipts(client, mapping.receipts.receipt_number_prefix, currency=mapping.currency.base)
