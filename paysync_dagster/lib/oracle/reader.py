"""Oracle's receipts read back for reconciliation: the :class:`~paysync_dagster.lib.reconciliation.frames.ErpReader`
for standardReceipts (spec §2.1, §3.1, §5).

What Oracle holds now, in the frames ERP_RECEIPTS and ERP_REFUNDS:

- every copy of a receipt number is a row (Oracle refuses a repeat only when number, date, amount
  and customer all match, so one number can hold two receipts);
- ``applied_minor`` = ``Amount`` - ``UnappliedAmount``: standardReceipts has no on-account attribute
  (on-account cash is part of the unapplied amount). A reversed receipt has nothing applied: the
  reversal undid every application;
- ``reversed`` from ``Status`` or ``State`` "Reversed" (what ``reverseReceipt`` leaves);
- refunds are the remittance references PaySync records on the original receipt (see
  :mod:`.adapter`): ``ReceiptMatchBy`` "Customer Reference" and a ``ReferenceNumber`` ending ``:RFND``.

Calls: one collection GET per ``batch_size`` numbers (``ReceiptNumber in (...)``, REST framework
version 2 and later); under version 1, whose query by example has no ``in``, one batch request with
an equality look-up per number. The references come in the same answer (``fields`` naming the
``remittanceReferences`` child). Pages are followed (``hasMore``/``offset``). Errors are the client's
typed errors, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from paysync_dagster.lib import money
from paysync_dagster.lib.oracle.adapter import REFUND_MATCH_BY
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.oracle.records import parse_page
from paysync_dagster.lib.reconciliation.frames import ERP_RECEIPTS, ERP_REFUNDS, erp_frame, window_day

REFUND_SUFFIX = ":RFND"
RESOURCE = "/standardReceipts"
CHILD = "remittanceReferences"
FIELDS = ("StandardReceiptId,ReceiptNumber,ReceiptDate,Amount,Currency,CustomerAccountNumber,UnappliedAmount,"
          f"State,Status;{CHILD}:ReceiptMatchBy,ReferenceNumber,ReferenceAmount")

Json = dict[str, Any]


class OracleReceiptReader:
    """Reads receipts from one Fusion pod. ``page_size`` defaults to the client's."""

    name = "oracle"

    def __init__(self, client: OracleFusionClient, *, batch_size: int = 50, page_size: int | None = None):
        self.client = client
        self.batch_size = max(1, batch_size)
        self.page_size = page_size or client.page_size

    # -- the ErpReader protocol ---------------------------------------------------------------------------

    def receipts(self, references: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        wanted = list(dict.fromkeys(str(r) for r in references))
        items: list[Json] = []
        for chunk in _chunked(wanted, self.batch_size):
            if self.client.framework_version >= 2:
                q = "ReceiptNumber in (" + ",".join(_literal(r) for r in chunk) + ")"
                items.extend(self._collection(q))
            else:
                items.extend(self._batched([self.client.q(ReceiptNumber=r) for r in chunk]))
        chosen = set(wanted)
        return self._frames(i for i in items if i.get("ReceiptNumber") in chosen)

    def receipts_dated(self, start: object, end: object, prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        first, last = window_day(start), window_day(end)
        if last < first:
            raise ValueError(f"the window ends ({last}) before it starts ({first})")
        if self.client.framework_version >= 2:
            q = (f"ReceiptDate between {_literal(first.isoformat())} and {_literal(last.isoformat())}"
                 f" and ReceiptNumber like {_literal(prefix + '%')}")
            items = self._collection(q)
        else:
            days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
            items = [i for chunk in _chunked(days, self.batch_size)
                     for i in self._batched([self.client.q(ReceiptDate=d.isoformat()) for d in chunk])]
        # "like" treats "_" and "%" in the prefix as wildcards: the exact test is made here.
        return self._frames(i for i in items if str(i.get("ReceiptNumber") or "").startswith(prefix)
                            and first.isoformat() <= str(i.get("ReceiptDate") or "") <= last.isoformat())

    # -- reading ------------------------------------------------------------------------------------------

    def _params(self, q: str) -> dict[str, Any]:
        # A stable order keeps offset paging from skipping or repeating a receipt while others are added.
        return {"q": q, "fields": FIELDS, "onlyData": "true", "orderBy": "StandardReceiptId:asc"}

    def _collection(self, q: str) -> list[Json]:
        return self.client.list_items(RESOURCE, self._params(q), page_size=self.page_size)

    def _batched(self, queries: Sequence[str]) -> list[Json]:
        if len(queries) == 1:
            return self._collection(queries[0])
        parts = [{"id": str(n), "operation": "get",
                  "path": f"{RESOURCE}?{urlencode({**self._params(q), 'limit': self.page_size})}"}
                 for n, q in enumerate(queries)]
        out: list[Json] = []
        for q, part in zip(queries, self.client.batch(parts)):
            page = parse_page(part.payload, path=RESOURCE)
            out.extend(page.items if not page.has_more else self._collection(q))
        return out

    def _references(self, item: Mapping[str, Any]) -> list[Json]:
        nested = item.get(CHILD)
        if isinstance(nested, list):  # REST framework versions 1 and 2: a bare array
            return [r for r in nested if isinstance(r, dict)]
        if nested is None:
            return []
        page = parse_page(nested, path=f"{RESOURCE}/{item.get('StandardReceiptId')}/child/{CHILD}")
        if not page.has_more:
            return page.items
        return self.client.remittance_references(item["StandardReceiptId"])

    def _frames(self, items: Iterable[Json]) -> tuple[pd.DataFrame, pd.DataFrame]:
        unique = {int(i["StandardReceiptId"]): i for i in items}  # one receipt may answer two look-ups
        receipts, refunds = [], []
        for receipt_id in sorted(unique, key=lambda k: (str(unique[k].get("ReceiptNumber")), k)):
            item = unique[receipt_id]
            row = _receipt_row(item)
            receipts.append(row)
            refunds.extend({"receipt_reference": row["reference"], "refund_reference": str(ref["ReferenceNumber"]),
                            "amount_minor": money.to_minor(ref.get("ReferenceAmount") or 0, row["currency"])}
                           for ref in self._references(item) if _is_refund(ref))
        return erp_frame(receipts, ERP_RECEIPTS), erp_frame(refunds, ERP_REFUNDS)


def _receipt_row(item: Mapping[str, Any]) -> dict[str, Any]:
    currency = str(item.get("Currency") or "USD")
    amount = money.to_minor(item.get("Amount") or 0, currency)
    unapplied = money.to_minor(item.get("UnappliedAmount") or 0, currency)
    reversed_ = "Reversed" in (item.get("Status"), item.get("State"))
    return {"reference": str(item.get("ReceiptNumber") or ""), "erp_id": str(item["StandardReceiptId"]),
            "amount_minor": amount, "currency": currency,
            "customer_account": str(item.get("CustomerAccountNumber") or ""),
            "receipt_date": date.fromisoformat(str(item["ReceiptDate"])[:10]),
            "applied_minor": 0 if reversed_ else amount - unapplied, "unapplied_minor": unapplied,
            "reversed": reversed_}


def _is_refund(ref: Mapping[str, Any]) -> bool:
    number = str(ref.get("ReferenceNumber") or "")
    return ref.get("ReceiptMatchBy") == REFUND_MATCH_BY and number.endswith(REFUND_SUFFIX)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
