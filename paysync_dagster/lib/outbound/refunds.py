"""ERP-initiated card refunds: each ERP refund record marked for a card refund (``ErpRefund``) becomes
one PayTrace refund of the original payment, or its void, exactly once; the result is written back.

- The original payment: the PayTrace transaction the record names, else the one card payment the
  warehouse has for the invoice it credits; none found is an exception (nothing is sent).
- Settled original: ``transactions/refund/for_transaction`` for the record's amount. Not settled yet:
  a full refund is ``transactions/void``; a partial one waits for the settlement (PayTrace refunds only
  settled transactions, error 817) and is made by the first run after it.
- Exactly once: a posting-ledger entry (system ``paytrace``, action ``card_refund`` or ``card_void``,
  reference ``RFD:<erp>:<record>:<amount>``) is committed before the call. An attempt without a certain
  answer is looked up before anything is sent again: a void in the original's own record (its type
  becomes VOID), a refund among PayTrace's REFUND records since the attempt with the original's card,
  invoice and the amount, that no other entry has claimed.
- A PayTrace refusal is an exception with PayTrace's words, reported on the date it happened; the
  record stays unmarked, and a corrected amount is a new attempt (the amount is in the reference).
- Write-back: ``PayTrace refund <id> of transaction <original>`` (or ``PayTrace void of transaction
  <original>``) in the record's write-back field (Oracle: the credit memo's Comments; Sage: the refund
  entry's EntryReference), itself a ledger entry of the ERP's, once.

The refund then comes back from PayTrace through the receipt path like any other; there, the ERP that
asked for it records nothing more (``made_for_erp``): it holds the refund already.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, select

from paysync_dagster.lib.money import format_amount, to_minor
from paysync_dagster.lib.orders import send_once
from paysync_dagster.lib.outbound.keys import stand_in_id
from paysync_dagster.lib.outbound.erp_refunds import WRITE_BACK_PREFIX, ErpRefund
from paysync_dagster.lib.paytrace.errors import PayTraceApiError, PayTraceError, PayTraceOutcomeUnknown
from paysync_dagster.lib.posting.erp import OutcomeUnknown, RejectedError, UnavailableError
from paysync_dagster.lib.posting.ledger import FAILED, Entry, Ledger
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.tables import posting_ledger

LEDGER_SYSTEM = "paytrace"
CARD_REFUND, CARD_VOID, WRITE_BACK = "card_refund", "card_void", "refund_write_back"  # ledger actions
REFUNDED, VOIDED, DONE_BEFORE, WAITING, NO_ORIGINAL, REFUSED, UNREACHABLE, NOT_WRITTEN_BACK = (
    "refunded", "voided", "done_before", "waiting_for_settlement", "no_original_payment", "refused",
    "paytrace_unreachable", "not_written_back")
WOULD = "would_"
EXCEPTION_OUTCOMES = (NO_ORIGINAL, REFUSED, UNREACHABLE, NOT_WRITTEN_BACK)
_REFUND_OF = re.compile(r"refund of transaction\s+#?(\d+)", re.IGNORECASE)
MAX_REFERENCE = 80


@dataclass(frozen=True)
class RefundOutcome:
    refund: ErpRefund
    outcome: str
    original_transaction_id: int | None = None
    paytrace_transaction_id: int | None = None  # the refund's own id (a void keeps the original's)
    kind: str = ""  # refund | void
    reason: str = ""
    written_back: bool = False
    reported_on: date | None = None
    done_on: date | None = None  # the business date the refund or void was made

    def is_exception_on(self, day: date) -> bool:
        return self.outcome in EXCEPTION_OUTCOMES and (self.reported_on is None or self.reported_on == day)


def reference(r: ErpRefund) -> str:
    return f"RFD:{r.erp}:{r.key}:{r.amount_minor}"[:MAX_REFERENCE]


def write_back_reference(r: ErpRefund) -> str:
    return f"RFW:{r.erp}:{r.key}:{r.amount_minor}"[:MAX_REFERENCE]


def refund_key(r: ErpRefund) -> int:
    """A stable negative number standing for the record where a PayTrace transaction id is asked for."""
    return stand_in_id(f"refund:{r.erp}:{r.key}")


def write_back_text(kind: str, paytrace_id: int | None, original: int | None) -> str:
    if kind == "void":
        return f"{WRITE_BACK_PREFIX}void of transaction {original}"
    return f"{WRITE_BACK_PREFIX}refund {paytrace_id} of transaction {original}"


def _settled(record: Mapping[str, Any]) -> bool:
    return bool(str(record.get("settled") or "").strip())


def _type(record: Mapping[str, Any]) -> str:
    return str(record.get("transaction_type") or "").strip().upper()


def _amount(record: Mapping[str, Any]) -> int:
    try:
        return to_minor(record.get("amount") or 0)
    except (TypeError, ValueError):
        return 0


def _masked(record: Mapping[str, Any]) -> str:
    card = record.get("credit_card") if isinstance(record.get("credit_card"), Mapping) else {}
    assert isinstance(card, Mapping)
    return str(card.get("masked_number") or "")[-4:]


class Refunder:
    """Refunds one ERP's marked records through one PayTrace client."""

    def __init__(self, paytrace_ledger: Ledger, erp_ledger: Ledger, paytrace: Any, *,
                 original_of: Callable[[ErpRefund], int | None],
                 write_back: Callable[[ErpRefund, str], None], log: Callable[[str], None] = lambda _m: None):
        if paytrace_ledger.erp != LEDGER_SYSTEM:
            raise ValueError(f"card refunds are recorded in the {LEDGER_SYSTEM!r} ledger")
        self.pt_ledger, self.erp_ledger, self.paytrace = paytrace_ledger, erp_ledger, paytrace
        self.original_of, self.write_back, self.log = original_of, write_back, log

    def run(self, refunds: Sequence[ErpRefund], day: date, *, dry_run: bool = False) -> list[RefundOutcome]:
        return [self._one(r, day, dry_run) for r in refunds]

    def _one(self, r: ErpRefund, day: date, dry_run: bool) -> RefundOutcome:
        entry = self.pt_ledger.get(reference(r))
        if entry is not None and entry.posted:
            kind = str(entry.detail.get("kind") or "")
            # the date that made it says so however often it is redelivered; later dates say it was done before
            made = (VOIDED if kind == "void" else REFUNDED) if entry.business_date == day else DONE_BEFORE
            o = RefundOutcome(r, made, entry.detail.get("original"), int(entry.erp_id or 0) or None, kind,
                              done_on=entry.business_date)
            return o if dry_run else self._written_back(o, day)
        if entry is None and r.has_result:  # done before PaySync kept a ledger here, or by hand: nothing to send
            return RefundOutcome(r, DONE_BEFORE, r.original_transaction_id, reason=f"the record says {r.written_back!r}",
                                 written_back=True)
        if entry is not None and entry.status == FAILED:  # refused: reported on the date it happened
            return RefundOutcome(r, REFUSED, entry.detail.get("original"), reason=str(entry.last_error or ""),
                                 kind=str(entry.detail.get("kind") or ""), reported_on=entry.business_date)
        original = r.original_transaction_id or self.original_of(r)
        if not original:
            return RefundOutcome(r, NO_ORIGINAL, reason="the record names no PayTrace transaction and no card payment "
                                 f"of invoice {r.invoice_number or '(none named)'} is known", reported_on=None)
        try:
            record = self.paytrace.export_transaction(original)
        except PayTraceError as exc:
            return RefundOutcome(r, UNREACHABLE, original, reason=str(exc))
        if record is None:
            return RefundOutcome(r, NO_ORIGINAL, original, reason=f"PayTrace has no transaction {original}")
        if _type(record) == "VOID" and entry is None:
            return RefundOutcome(r, REFUSED, original, reason=f"transaction {original} is already voided")
        kind = "refund" if _settled(record) else "void"
        if kind == "void" and entry is None and r.amount_minor != _amount(record):
            return RefundOutcome(r, WAITING, original, kind="refund",
                                 reason=f"transaction {original} is not settled yet and the refund is partial "
                                        f"({format_amount(r.amount_minor, r.currency)} of "
                                        f"{format_amount(_amount(record), r.currency)}): refunded after settlement")
        if entry is not None:
            kind = str(entry.detail.get("kind") or kind)
        if dry_run:
            return RefundOutcome(r, WOULD + ("voided" if kind == "void" else "refunded"), original, kind=kind)
        if entry is None:
            intent = Entry(LEDGER_SYSTEM, reference(r), original, CARD_VOID if kind == "void" else CARD_REFUND, day,
                           r.amount_minor, r.currency, detail={
                               "erp": r.erp, "record": r.key, "document": r.document_number, "kind": kind,
                               "original": original, "customer_account": r.customer_account,
                               "masked": _masked(record), "invoice_id": str(record.get("invoice_id") or ""),
                               "since": utcnow().date().isoformat()})
            entry = self.pt_ledger.record_intents([intent])[intent.reference]
        stored = entry
        try:
            done = send_once(
                self.pt_ledger, stored,
                find=lambda: self._find(stored, kind, original),
                create=(lambda: self.paytrace.void(original)) if kind == "void" else
                       (lambda: self.paytrace.refund(original, r.amount_minor)),
                answered=lambda item: (str(item.get("transaction_id") or original), {}),
                uncertain=(PayTraceOutcomeUnknown,), refused=(PayTraceApiError,), exhausted=PayTraceOutcomeUnknown)
        except PayTraceApiError as exc:
            return RefundOutcome(r, REFUSED, original, kind=kind, reason=str(exc), reported_on=day)
        except PayTraceError as exc:
            return RefundOutcome(r, UNREACHABLE, original, kind=kind, reason=str(exc))
        txn = int(done.erp_id or 0) or None
        self.log(f"{r.erp} refund {r.document_number}: {format_amount(r.amount_minor, r.currency)} "
                 + (f"voided transaction {original}" if kind == "void" else f"refunded as PayTrace transaction {txn}"))
        return self._written_back(RefundOutcome(r, VOIDED if kind == "void" else REFUNDED, original, txn, kind,
                                                done_on=done.business_date), day)

    def _find(self, entry: Entry, kind: str, original: int) -> dict[str, Any] | None:
        """What an attempt without an answer left in PayTrace (None: nothing)."""
        if kind == "void":
            record = self.paytrace.export_transaction(original)
            return {"transaction_id": original} if record is not None and _type(record) == "VOID" else None
        since = date.fromisoformat(str(entry.detail.get("since") or entry.business_date.isoformat()))
        claimed = {e.erp_id for e in self.pt_ledger.entries(actions=[CARD_REFUND]) if e.erp_id and e.reference != entry.reference}
        for rec in self.paytrace.export_transactions(since - timedelta(days=1), utcnow().date() + timedelta(days=1),
                                                     transaction_type="REFUND"):
            named = _REFUND_OF.search(str(rec.get("description") or ""))
            if named and int(named.group(1)) != original:
                continue
            if (_amount(rec) == entry.amount_minor and _masked(rec) == entry.detail.get("masked")
                    and str(rec.get("invoice_id") or "") == entry.detail.get("invoice_id", "")
                    and str(rec.get("transaction_id")) not in claimed):
                return rec
        return None

    def _written_back(self, o: RefundOutcome, day: date) -> RefundOutcome:
        r = o.refund
        if r.has_result:
            return replace(o, written_back=True)
        if not r.editable:
            return replace(o, outcome=NOT_WRITTEN_BACK if o.outcome != DONE_BEFORE else o.outcome,
                           reason=f"the {r.erp} record can no longer be edited: write "
                                  f"{write_back_text(o.kind, o.paytrace_transaction_id, o.original_transaction_id)!r} "
                                  "on it by hand")
        text = write_back_text(o.kind, o.paytrace_transaction_id, o.original_transaction_id)
        ref = write_back_reference(r)
        entry = self.erp_ledger.get(ref) or self.erp_ledger.record_intents([Entry(
            self.erp_ledger.erp, ref, refund_key(r), WRITE_BACK, day, r.amount_minor, r.currency,
            detail={"record": r.key, "text": text})])[ref]
        try:
            send_once(self.erp_ledger, entry, find=lambda: None,
                      create=lambda: (self.write_back(r, text), {"id": r.key})[1],
                      answered=lambda item: (r.key, {}), uncertain=(OutcomeUnknown,), refused=(RejectedError,),
                      exhausted=OutcomeUnknown)
        except (OutcomeUnknown, RejectedError, UnavailableError, ValueError) as exc:
            return replace(o, outcome=NOT_WRITTEN_BACK, reason=f"{o.kind} made in PayTrace; writing it back failed: {exc}",
                           reported_on=day)
        return replace(o, written_back=True)


def made_for_erp(engine: Engine, transaction_id: int, kind: str, erp: str) -> str | None:
    """Why ``erp`` records nothing for a PayTrace refund or void that PaySync made for that ERP's own
    refund record (it holds it already), or None when PaySync did not make it for that ERP."""
    action = {"refund": CARD_REFUND, "void": CARD_VOID}.get(kind)
    if action is None:
        return None
    l = posting_ledger
    with engine.connect() as conn:
        rows = conn.execute(select(l.c.detail).where(
            l.c.erp == LEDGER_SYSTEM, l.c.action == action, l.c.erp_id == str(transaction_id))).all()
    for (detail,) in rows:
        d = json.loads(detail or "{}")
        if d.get("erp") == erp:
            return f"made by PaySync for {erp} refund {d.get('document') or d.get('record')}: already in the ERP"
    return None


def card_payments_by_invoice(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Invoice -> its card payment, for invoices with exactly one (rows: invoice reference, transaction id)."""
    seen: dict[str, set[int]] = {}
    for invoice, txn in rows:
        if invoice:
            seen.setdefault(invoice, set()).add(int(txn))
    return {i: next(iter(t)) for i, t in seen.items() if len(t) == 1}
