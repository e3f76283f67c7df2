"""What the AR batch resources share: detail-row operations, server-side numbering, the batch
lifecycle, amount checks, and choosing the batches a posting process takes.

Detail rows (entries, applied lines, invoice lines, schedules, optional fields) follow the Web API's
``UpdateOperation``: ``Insert`` adds a row (the server numbers it), ``Update`` changes the row its key
names, ``Delete`` removes it, and ``Unspecified`` (or nothing) updates the row its key names when
there is one and inserts otherwise. On POST every row is an insert and keys sent by the client are
ignored, as Sage's samples (which send ``EntryNumber`` and ``LineNumber``) expect.

Numbering: ``EntryNumber`` counts 1, 2, 3 per batch, ``LineNumber`` 20, 40, 60 per entry,
``PaymentNumber`` 1, 2, 3 per invoice; a deleted number is not reused (the parent remembers the next).

Lifecycle: Open <-> ReadyToPost -> Posted. A batch may be edited while Open or ReadyToPost; a posted
batch is refused with ``InvalidAction``. ``BatchStatus`` may be set to Open or ReadyToPost only (by
POST or PATCH); only the posting processes post.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from paysync_dagster.lib.money import MoneyError, to_minor

from .errors import SageError, invalid, not_found
from .schema import EntityType

EDITABLE = ("Open", "ReadyToPost")
Row = dict[str, Any]


def merge_rows(rows: list[Row], incoming: Iterable[Mapping[str, Any]], etype: EntityType, *,
               create: Callable[[Mapping[str, Any]], Row], change: Callable[[Row, Mapping[str, Any]], None],
               inserting_only: bool = False) -> None:
    """Apply detail rows with their ``UpdateOperation`` to ``rows`` (in place)."""
    key = etype.row_key
    assert key is not None
    client_keyed = not etype.fields[key].ro  # e.g. OptionalField: the client names the row
    for item in incoming:
        op = "Insert" if inserting_only else item.get("UpdateOperation") or "Unspecified"
        given = item.get(key)
        existing = next((r for r in rows if r.get(key) == given), None) if given not in (None, 0, "") else None
        if op == "Insert" or (op == "Unspecified" and existing is None):
            if client_keyed and existing is not None:
                raise SageError("RecordDuplicate", f"A {etype.name} with {key} '{given}' already exists.")
            rows.append(create(item))
        elif existing is None:
            raise SageError("RecordNotFound", f"{etype.name} {key} {given} does not exist: "
                                              f"{op} needs the {key} of an existing row.")
        elif op == "Delete":
            rows.remove(existing)
        else:
            change(existing, item)


def number_rows(rows: list[Row], key: str, parent: Row, step: int = 1) -> None:
    """Give rows without a ``key`` the parent's next numbers (``step`` apart, starting at ``step``)."""
    memo = f"_next_{key}"
    nxt = parent.get(memo) or max([r[key] for r in rows if r.get(key)] + [0]) + step
    for r in rows:
        if not r.get(key):
            r[key] = nxt
            nxt += step
    parent[memo] = nxt


def check_editable(batch: Row, what: str) -> None:
    if batch["BatchStatus"] not in EDITABLE:
        raise SageError("InvalidAction", f"{what} is {batch['BatchStatus'].lower()} and cannot be changed.")


def wanted_status(values: Mapping[str, Any]) -> str | None:
    status = values.get("BatchStatus")
    if status is not None and status not in EDITABLE:
        raise SageError("InvalidAction", f"BatchStatus cannot be set to {status}: only Open or ReadyToPost; batches "
                                         "are posted by the posting process.")
    return status


def amount(value: Decimal | None, what: str, currency: str = "USD", *, negative: bool = False) -> Decimal:
    """An amount as entered: not negative (unless allowed), and no more decimals than the currency has."""
    value = Decimal(0) if value is None else value
    if value < 0 and not negative:
        raise invalid(f"{what} cannot be negative.")
    try:
        to_minor(value, currency)
    except MoneyError:
        raise invalid(f"{what} {value} has more decimals than {currency} allows.") from None
    return value


def batches_to_post(batches: Mapping[int, Row], params: Mapping[str, Any], *, ready_only: bool = True) -> list[int]:
    """The batch numbers a posting process takes: every ready batch (``Postallbatches``) or those of
    ``PostBatchFrom``..``PostBatchTo``; batches not ready to post are passed over, as Sage does."""
    statuses = ("ReadyToPost",) if ready_only else EDITABLE
    if params.get("PostAllBatches") == "Postallbatches":
        numbers: Iterable[int] = batches
    else:
        lo, hi = params.get("PostBatchFrom"), params.get("PostBatchTo")
        if lo is None or hi is None:
            raise invalid("PostBatchFrom and PostBatchTo are required unless PostAllBatches is Postallbatches.")
        if lo > hi:
            raise invalid(f"PostBatchFrom {lo} is after PostBatchTo {hi}.")
        numbers = (n for n in batches if lo <= n <= hi)
    return sorted(n for n in numbers if batches[n]["BatchStatus"] in statuses)


def get_or_404(mapping: Mapping[Any, Row], key: Any) -> Row:
    row = mapping.get(key)
    if row is None:
        raise not_found()
    return row


def add_pending(pending: dict, contributions: Mapping[tuple, Decimal], sign: int) -> None:
    for k, v in contributions.items():
        total = pending.get(k, Decimal(0)) + sign * v
        if total:
            pending[k] = total
        else:
            pending.pop(k, None)
