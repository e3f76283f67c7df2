"""Sage 300's receipts read back for reconciliation: the :class:`~paysync_dagster.lib.reconciliation.frames.ErpReader`
for AR receipt batches and posted receipts (spec ``sage300_webapi.md`` §2.5, §5; how PaySync writes
them: :mod:`.adapter`).

What Sage holds now, in the frames ERP_RECEIPTS and ERP_REFUNDS:

- a receipt is a cash entry (Receipt, Prepayment, UnappliedCash) of a CA batch, posted or not, or a
  posted receipt (``ARPostedReceipts``) whose batch is no longer readable (cleared from history);
  every copy of a number is a row (a duplicate shows as two rows). ``ApplyDocument`` entries carry
  the receipt's number but move no cash: they are not rows, they are applications of the receipt;
- ``erp_id`` is ``CA-<BatchNumber>-<EntryNumber>``, as the adapter reports it;
- ``applied_minor`` = the receipt's own applied lines (a Receipt's) plus the lines of the
  ApplyDocument entries that draw on its document (its prepayment or unapplied cash), posted or
  not; ``unapplied_minor`` = amount - applied. A receipt whose batch is gone counts what its posted
  row says was applied;
- ``customer_account`` is "" for the suspense customer (an unidentified receipt);
- ``reversed`` is true when PaySync's refunds pay the whole receipt back (what PaySync records as its
  reversal in Sage); otherwise false: PaySync deletes an unposted receipt instead of reversing it
  (Sage then holds nothing), and a posted receipt's reversal is done by a person in Bank Services,
  which the AR API does not show;
- refunds are the entries of PaySync refund batches (``ARRefundBatches``, description
  "PaySync <date>"): ``EntryReference`` = the receipt's reference, ``CheckNumber`` = the refund's
  (``...:RFND``), amount ``CustomerRefundAmount``.

Calls: :meth:`SageReceiptReader.receipts` reads the posted receipts by number (an ``or`` of up to
``batch_size`` numbers per request), then the CA batches that are unposted or numbered from the
earliest found on (one collection read, pages followed), then the refund batches dated from the
earliest receipt on. :meth:`~SageReceiptReader.receipts_dated` reads the CA batches dated from the
window's start on or unposted, the posted receipts dated in the window, and the refund batches dated
from the start on. Errors are the client's typed errors, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from paysync_dagster.lib.reconciliation.frames import ERP_RECEIPTS, ERP_REFUNDS, empty, erp_frame, window_day
from paysync_dagster.lib.sage.adapter import (CASH_TYPES, EDITABLE, Held, SageReceiptSettings, apply_documents,
                                              by_target, held_entries, refunds_of)
from paysync_dagster.lib.sage.client import RECEIPT, Sage300Client, and_, eq, ge, le, or_
from paysync_dagster.lib.sage.records import ReceiptBatch, parse_posted_receipt, parse_receipt_batch



class SageReceiptReader:
    """Reads PaySync's receipts from one Sage 300 company."""

    name = "sage"

    def __init__(self, client: Sage300Client, settings: SageReceiptSettings | None = None, *, batch_size: int = 50):
        self.client = client
        self.settings = settings or SageReceiptSettings()
        self.batch_size = max(1, batch_size)

    # -- the ErpReader protocol ---------------------------------------------------------------------------

    def receipts(self, references: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        wanted = list(dict.fromkeys(str(r) for r in references))
        if not wanted:
            return empty(ERP_RECEIPTS), empty(ERP_REFUNDS)
        posted = []
        for i in range(0, len(wanted), self.batch_size):
            part = wanted[i:i + self.batch_size]
            posted += self.client.posted_receipts(filter=or_(*(eq("CheckReceiptNumber", r) for r in part)))
        numbers = [n for n in (parse_posted_receipt(r).batch_number for r in posted) if n is not None]
        unposted = or_(*(eq("BatchStatus", s) for s in EDITABLE))
        batches = self._batches(or_(unposted, ge("BatchNumber", min(numbers))) if numbers else unposted)
        chosen = set(wanted)
        return self._frames(batches, posted, lambda h: h.reference in chosen)

    def receipts_dated(self, start: object, end: object, prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        first, last = window_day(start), window_day(end)
        if last < first:
            raise ValueError(f"the window ends ({last}) before it starts ({first})")
        unposted = or_(*(eq("BatchStatus", s) for s in EDITABLE))
        batches = self._batches(or_(unposted, ge("BatchDate", first)))
        posted = self.client.posted_receipts(filter=and_(ge("ReceiptDate", first), le("ReceiptDate", last)))

        def keep(h: Held) -> bool:
            day = h.receipt_date
            return h.reference.startswith(prefix) and day is not None and first <= day <= last

        return self._frames(batches, posted, keep)

    # -- reading ------------------------------------------------------------------------------------------

    def _batches(self, filter: Any) -> list[ReceiptBatch]:
        return [b for b in (parse_receipt_batch(r) for r in self.client.receipt_batches(filter))
                if (b.status or "") != "Deleted"]

    def _frames(self, batches: Sequence[ReceiptBatch], posted_rows: Iterable[Mapping[str, Any]],
                keep: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        held: dict[tuple[int, int], Held] = {}
        for h in held_entries(batches):
            if h.transaction_type in CASH_TYPES and keep(h):
                held[(h.batch_number, h.entry_number)] = h
        read = {b.batch_number for b in batches}
        for row in posted_rows:
            p = parse_posted_receipt(row)
            k = (int(p.batch_number or 0), int(p.entry_number or 0))
            if (p.transaction_type or RECEIPT) not in CASH_TYPES or k in held:
                continue
            h = Held(k[0], k[1], "", None, p)
            if p.batch_number not in read and keep(h):  # its batch was not read (cleared): the posted row
                held[k] = h
        drawing = apply_documents(batches)
        rows = [self._row(h, drawing) for h in sorted(held.values(), key=lambda h: (h.reference, h.batch_number,
                                                                                    h.entry_number))]
        refunds: list[dict[str, Any]] = []
        if rows:
            since = min((r["receipt_date"] for r in rows if r["receipt_date"] is not None), default=None)
            refund_batches = self.client.refund_batches(ge("BatchDate", since) if since else None)
            found = refunds_of(refund_batches, {r["reference"] for r in rows}, self.settings)
            refunds = [{"receipt_reference": receipt, "refund_reference": number, "amount_minor": amount}
                       for receipt in sorted(found) for number, amount in sorted(found[receipt].items())]
            for row in rows:  # refunded in full: Sage holds nothing of it any more, as a reversal would leave it
                row["reversed"] = sum(found.get(row["reference"], {}).values()) >= row["amount_minor"] > 0
        return erp_frame(rows, ERP_RECEIPTS), erp_frame(refunds, ERP_REFUNDS)

    def _row(self, h: Held, drawing: Mapping[tuple[str, str], list[Any]]) -> dict[str, Any]:
        later = drawing.get((h.customer, h.document_number), []) if h.document_number else []
        if h.entry is None and h.posted is not None:  # a posted row only: what it says it applied
            own = h.amount_minor - (h.posted.unapplied_minor or 0)
        else:
            own = sum(by_target(h.own_lines()).values())
        applied = min(h.amount_minor, own + sum(by_target(later).values()))
        customer = "" if h.customer == self.settings.suspense_customer else h.customer
        return {"reference": h.reference, "erp_id": h.erp_id, "amount_minor": h.amount_minor, "currency": h.currency,
                "customer_account": customer, "receipt_date": h.receipt_date, "applied_minor": applied,
                "unapplied_minor": h.amount_minor - applied, "reversed": False}


__all__ = ["SageReceiptReader"]
