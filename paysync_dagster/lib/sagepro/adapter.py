"""Sage Pro in the shared ERP layer: what the shared assets read from it (customers, open invoices) and what
reconciliation reads back (the receipts a clerk keyed), all from its tables through :class:`SageProReader`.
Sage Pro takes no writes from PaySync (spec ``sage_pro.md`` §6): its cash receipts are proposed on a
keying worksheet (``proposals.py``, ``worksheet.py``) and found keyed here afterwards.

A receipt, to reconciliation, is every ARCASH row with one reference (``refno`` = the PayTrace
transaction id the worksheet asked the clerk to key): its number is the receipt prefix and the
reference (``PT-<id>``), as PaySync numbers receipts in every ERP; its amount the rows' ``paidamt``;
applied the rows naming an invoice, unapplied the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import pandas as pd

from paysync_dagster.lib.posting.erp import FetchedInvoice
from paysync_dagster.lib.posting.matching import OpenInvoice
from paysync_dagster.lib.reconciliation.frames import ERP_RECEIPTS, ERP_REFUNDS, erp_frame, window_day
from paysync_dagster.lib.sagepro.reader import ProCashReceipt, SageProReader

NAME = "sagepro"


def receipt_id(refno: str) -> str:
    """The id a keyed receipt has to reconciliation (Sage Pro has no receipt number PaySync knows)."""
    return f"ARCASH-{refno}"


class SageProAdapter:
    """The reads the shared ERP assets make, over one data folder."""

    name = NAME

    def __init__(self, reader: SageProReader, *, currency: str = "USD"):
        self.reader, self.currency = reader, currency

    def customer_accounts(self) -> list[dict[str, Any]]:
        return [{"account_number": c.custno, "name": c.company, "email": c.email}
                for c in self.reader.customers() if c.custno]

    def customer_master(self) -> list[dict[str, str]]:
        """Every customer in ``paysync erp customers``' columns."""
        return [{"account_number": c.custno, "name": c.company, "email": c.email, "phone": c.phone,
                 "address_line1": c.address1, "address_line2": c.address2, "city": c.city, "state": c.state,
                 "postal_code": c.zip, "country": c.country} for c in self.reader.customers() if c.custno]

    def open_invoices(self, as_of: date | None = None, *, add_back: Mapping[str, int] | None = None
                      ) -> tuple[list[FetchedInvoice], list[dict[str, Any]]]:
        """ARMAST's open items (balance above zero: a credit memo's negative balance pays nothing) dated on
        or before ``as_of``, with the sales order (``ornum``) and PO (``ponum``) numbers they name.
        ``add_back``: invoice -> an amount keyed against it that is to count as still open (a date's own
        receipts, keyed since its worksheet, when the date is proposed again: its proposals stay the same)."""
        customers = {c.custno: c for c in self.reader.customers()}
        back = add_back or {}
        out = []
        for inv in (self.reader.invoices() if back else self.reader.open_invoices()):
            if inv.invno in back:
                inv = replace(inv, balance_minor=inv.balance_minor + back[inv.invno])
            if inv.balance_minor <= 0 or (as_of is not None and inv.invdte is not None and inv.invdte > as_of):
                continue
            customer = customers.get(inv.custno)
            name = customer.company if customer is not None else ""
            out.append(FetchedInvoice(
                OpenInvoice(inv.invno, inv.custno, inv.balance_minor, inv.currency or self.currency,
                            erp_id=inv.invno, invoice_date=inv.invdte.isoformat() if inv.invdte else "",
                            purchase_order=inv.ponum, order_number=inv.ornum, customer_name=name),
                name, inv.invdte.isoformat() if inv.invdte else "", inv.invamt_minor))
        return out, [{"account_number": c.custno, "name": c.company} for c in customers.values()]


class SageProReceipts:
    """Reconciliation's reader (``ErpReader``): the receipts a clerk keyed, by reference."""

    name = NAME

    def __init__(self, reader: SageProReader, prefix: str, *, currency: str = "USD"):
        self.reader, self.prefix, self.currency = reader, prefix, currency
        self._cash: list[ProCashReceipt] | None = None

    def _cash_receipts(self) -> list[ProCashReceipt]:
        """ARCASH, read once for both of reconciliation's questions (one scan of the file, not two)."""
        if self._cash is None:
            self._cash = list(self.reader.cash_receipts())
        return self._cash

    def _frame(self, rows: Iterable[ProCashReceipt], wanted: set[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        by_ref: dict[str, list[ProCashReceipt]] = {}
        for r in rows:
            ref = r.refno.strip()
            if ref and (wanted is None or ref in wanted):
                by_ref.setdefault(ref, []).append(r)
        out = []
        for ref, group in by_ref.items():
            dates = [r.dtepaid for r in group if r.dtepaid is not None]
            applied = sum(r.paidamt_minor for r in group if r.invno.strip())
            total = sum(r.paidamt_minor for r in group)
            out.append({"reference": f"{self.prefix}{ref}", "erp_id": receipt_id(ref), "amount_minor": total,
                        "currency": self.currency, "customer_account": group[0].custno,
                        "receipt_date": min(dates).isoformat() if dates else "", "applied_minor": applied,
                        "unapplied_minor": total - applied, "reversed": False})
        return erp_frame(out, ERP_RECEIPTS), erp_frame([], ERP_REFUNDS)

    def receipts(self, references: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        wanted = {r[len(self.prefix):] for r in references if r.startswith(self.prefix)}
        return self._frame(self._cash_receipts(), wanted)

    def receipts_dated(self, start: object, end: object, prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        lo, hi = window_day(start), window_day(end)
        rows = [r for r in self._cash_receipts()
                if r.dtepaid is not None and lo <= r.dtepaid <= hi and r.refno.strip().isdigit()]
        return self._frame(rows, None) if prefix == self.prefix else self._frame([], None)
