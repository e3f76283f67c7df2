"""The posting ledger (outbox): ERP-neutral bookkeeping of every intended and achieved ERP effect.

Exactly-once per ERP rests on three rules:
1. the intent is committed before the API call, under a deterministic reference;
2. the outcome (the ERP's id, or the error) is committed after it;
3. an entry that was attempted but has no outcome (a crash, a timeout after commit) is resolved by
   looking the reference up in the ERP before anything is sent again.

``attempts`` counts the calls that may have reached the ERP; an entry with ``attempts == 0`` was
never sent, so it can be sent without a look-up (which is what keeps a first posting to one call).
The ledger also answers "which ERP id belongs to which PayTrace transaction and action".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, and_, select, update
from sqlalchemy.exc import IntegrityError

from paysync_dagster.lib.posting.lease import Lease
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import posting_ledger

INTENT, UNCERTAIN, POSTED, FAILED = "intent", "uncertain", "posted", "failed"
RECEIPT, APPLICATION, REVERSAL, REFUND, ADJUSTMENT = "receipt", "application", "reversal", "refund", "adjustment"
IDENTIFICATION = "identification"  # an unidentified receipt given its customer

_CHUNK = 500  # bound parameters per IN (...) list


@dataclass
class Entry:
    erp: str
    reference: str
    transaction_id: int
    action: str
    business_date: date
    amount_minor: int
    currency: str
    status: str = INTENT
    erp_id: str | None = None
    parent_reference: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    last_error: str | None = None

    @property
    def posted(self) -> bool:
        return self.status == POSTED

    @classmethod
    def from_row(cls, row: Any) -> Entry:
        m = row._mapping
        return cls(
            erp=m["erp"], reference=m["reference"], transaction_id=m["transaction_id"], action=m["action"],
            business_date=m["business_date"], amount_minor=m["amount_minor"], currency=m["currency"],
            status=m["status"], erp_id=m["erp_id"], parent_reference=m["parent_reference"],
            detail=json.loads(m["detail"] or "{}"), attempts=m["attempts"], last_error=m["last_error"],
        )


def _json(detail: Mapping[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, default=str)


class Ledger:
    """The ledger rows of one ERP."""

    def __init__(self, engine: Engine, erp: str, lease: Lease | None = None):
        self.engine, self.erp, self.lease = engine, erp, lease

    def _where(self, references: Sequence[str]) -> Any:
        return and_(posting_ledger.c.erp == self.erp, posting_ledger.c.reference.in_(list(references)))

    # -- reading ------------------------------------------------------------------------------

    def get(self, reference: str) -> Entry | None:
        return self.get_many([reference]).get(reference)

    def get_many(self, references: Iterable[str]) -> dict[str, Entry]:
        refs = list(dict.fromkeys(references))
        out: dict[str, Entry] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(refs), _CHUNK):
                for row in conn.execute(select(posting_ledger).where(self._where(refs[i:i + _CHUNK]))):
                    entry = Entry.from_row(row)
                    out[entry.reference] = entry
        return out

    def entries(self, *, transaction_ids: Iterable[int] | None = None, business_dates: Iterable[date] | None = None,
                actions: Iterable[str] | None = None, parents: Iterable[str] | None = None) -> list[Entry]:
        q = select(posting_ledger).where(posting_ledger.c.erp == self.erp)
        if transaction_ids is not None:
            q = q.where(posting_ledger.c.transaction_id.in_(list(transaction_ids)))
        if business_dates is not None:
            q = q.where(posting_ledger.c.business_date.in_(list(business_dates)))
        if actions is not None:
            q = q.where(posting_ledger.c.action.in_(list(actions)))
        if parents is not None:
            q = q.where(posting_ledger.c.parent_reference.in_(list(parents)))
        with self.engine.connect() as conn:
            return [Entry.from_row(r) for r in conn.execute(q.order_by(posting_ledger.c.id))]

    # -- rule 1: the intent ---------------------------------------------------------------------

    def record_intents(self, entries: Sequence[Entry]) -> dict[str, Entry]:
        """Commit the intents not recorded yet, in one transaction; return every entry as stored.

        A reference already in the ledger keeps what it has (its plan, status and attempts): a
        redelivered payment repeats the plan of the first delivery instead of making a new one.
        """
        if not entries:
            return {}
        stored = self.get_many(e.reference for e in entries)
        new = [e for e in dict((e.reference, e) for e in entries).values() if e.reference not in stored]
        if new:
            now = utcnow()
            rows = [{
                "erp": self.erp, "reference": e.reference, "transaction_id": e.transaction_id, "action": e.action,
                "business_date": e.business_date, "amount_minor": e.amount_minor, "currency": e.currency,
                "status": INTENT, "erp_id": e.erp_id, "parent_reference": e.parent_reference,
                "detail": _json(e.detail), "attempts": 0, "last_error": None, "created_at": now, "updated_at": now,
            } for e in new]
            try:
                with begin_write(self.engine) as conn:
                    conn.execute(posting_ledger.insert(), rows)
            except IntegrityError:
                # Another run recorded some of them in between: record the rest one by one.
                for row in rows:
                    try:
                        with begin_write(self.engine) as conn:
                            conn.execute(posting_ledger.insert().values(**row))
                    except IntegrityError:
                        pass
            stored = self.get_many(e.reference for e in entries)
        return stored

    # -- rule 2: the outcome --------------------------------------------------------------------

    def _update(self, references: Sequence[str], values: Mapping[str, Any], *, unless_posted: bool = False) -> None:
        if not references:
            return
        with begin_write(self.engine) as conn:
            for i in range(0, len(references), _CHUNK):
                where = self._where(references[i:i + _CHUNK])
                if unless_posted:  # what the ERP is known to hold is never downgraded
                    where = and_(where, posting_ledger.c.status != POSTED)
                conn.execute(update(posting_ledger).where(where).values(**values, updated_at=utcnow()))

    def attempt(self, references: Sequence[str]) -> None:
        """Committed before each call that may reach the ERP: from now on, look before sending."""
        if self.lease is not None:
            self.lease.renew()
        self._update(list(references), {"attempts": posting_ledger.c.attempts + 1})

    def posted(self, ids: Mapping[str, str | None]) -> None:
        """The ERP holds these effects (reference -> the ERP's id, None to keep the one recorded)."""
        with begin_write(self.engine) as conn:
            for reference, erp_id in ids.items():
                values: dict[str, Any] = {"status": POSTED, "last_error": None, "updated_at": utcnow()}
                if erp_id is not None:
                    values["erp_id"] = str(erp_id)
                conn.execute(update(posting_ledger).where(self._where([reference])).values(**values))

    def uncertain(self, references: Sequence[str], error: str) -> None:
        self._update(list(references), {"status": UNCERTAIN, "last_error": error[:2000]}, unless_posted=True)

    def failed(self, references: Sequence[str], error: str) -> None:
        self._update(list(references), {"status": FAILED, "last_error": error[:2000]}, unless_posted=True)

    # -- what a later step learnt about an effect -----------------------------------------------

    def amend_detail(self, reference: str, changes: Mapping[str, Any]) -> Entry | None:
        """Merge ``changes`` into an entry's detail (read and written in one transaction, so two
        amendments never lose each other's keys); returns the entry as stored, None if unknown."""
        with begin_write(self.engine) as conn:
            row = conn.execute(select(posting_ledger.c.detail).where(self._where([reference]))).first()
            if row is None:
                return None
            detail = {**json.loads(row.detail or "{}"), **changes}
            conn.execute(update(posting_ledger).where(self._where([reference]))
                         .values(detail=_json(detail), updated_at=utcnow()))
        return self.get(reference)
