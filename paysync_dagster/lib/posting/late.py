"""Cash left on account, applied once its invoice appears (ERP-neutral).

A payment whose invoice did not exist yet was posted as a receipt on account (``no_invoice_match``),
and an overpayment leaves its remainder there. :class:`LateApplier` looks again at the receipts
posted in the last ``window_days`` that still hold cash on account, matches each with the Poster's
own rules against the invoices open now, and applies what it finds exactly once, as the Poster does:

- intents first, as ledger entries of action ``application`` under the Poster's references
  (``<receipt>:APP:<invoice>:<target>``, detail ``late``), sent and checked by the Poster's
  look-before-resend loop; where the ERP applies with the receipt, a remittance reference per
  invoice is added to the receipt instead (:meth:`~.erp.AppliesWithReceipt.add_references`);
- once the ERP holds them, the receipt's plan is amended (applications, unapplied, rule, score,
  ``applied_late``), so a re-run of the receipt's own date reports it applied, not on account. An
  application found in the ERP but missing from the plan (a crash in between) is added next run.

The invoices the receipt was matched to before stay in the pool with nothing left to pay, so a
payment keeps the invoice it named: an overpayment's remainder never moves to a look-alike invoice,
and goes only to an invoice the payment also names or, within its customer, resembles. Left alone:
reversed receipts (or with a reversal under way), refunded cash, unidentified receipts (the ERP
cannot apply them before the customer is set), receipts with applications or adjustments of their
own still under way, and cash the ERP no longer shows as unapplied (a person applied it there).

Each receipt date is handled under that date's posting lease, so the date's own posting run and
another late run never act on the same receipt at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from paysync_dagster.lib.posting.erp import AppliesWithReceipt, ErpReceipt, OutcomeUnknown, RejectedError, UnavailableError
from paysync_dagster.lib.posting.lease import Lease, posting_lease
from paysync_dagster.lib.posting.ledger import ADJUSTMENT, APPLICATION, FAILED, POSTED, RECEIPT, REFUND, REVERSAL, Entry
from paysync_dagster.lib.posting.matching import Allocation, OpenInvoice, allocate
from paysync_dagster.lib.posting.poster import MATCH_FIELDS, Exception3, Outcome, Poster, Plan
from paysync_dagster.lib.warehouse.tables import normalized_payments, posting_ledger

WINDOW_DAYS = 30
_CHUNK = 500

Unit = tuple[Plan, str, list[Entry]]  # a receipt, an invoice, the applications a reference carries


@dataclass(frozen=True)
class LateApplication:
    """One application made after its receipt was posted (a row of ``<erp>_late_applications``)."""

    reference: str
    transaction_id: int
    receipt_number: str
    receipt_date: date
    invoice_number: str
    target_id: str
    amount_minor: int
    currency: str
    match_rule: str
    match_score: float
    applied_on: date
    applied_at: datetime | None = None  # when the ledger recorded it as done (UTC)


@dataclass
class LateRun:
    """What one run did: ``applied`` and ``receipts`` (their plans amended) by this run only."""

    as_of: date
    candidates: int = 0  # receipts of the window still holding cash on account
    applied: list[LateApplication] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # why receipts were left alone, by reason
    errors: dict[int, Exception3] = field(default_factory=dict)  # PayTrace id -> what failed (tried next run)


@dataclass
class _Receipt:
    entry: Entry
    current: dict[str, str]  # target -> invoice, what the receipt has applied as the ledger knows it
    available: int  # cash on account: amount - refunds - applications
    refunded: int
    applied: int  # what the ledger shows applied now (after refund adjustments)
    resume: list[Entry]  # late applications recorded but not known to be in the ERP yet
    repair: list[Entry]  # late applications in the ERP but missing from the receipt's plan
    fields: Mapping[str, Any] = field(default_factory=dict)
    allocations: list[Allocation] = field(default_factory=list)
    rule: str = ""
    score: float = 0.0


class LateApplier:
    """Runs over one ERP's ledger with a :class:`Poster` of that ERP (its adapter, rules, open invoices
    and sending machinery). ``lock(day)`` holds a receipt date while its receipts are handled."""

    def __init__(self, poster: Poster, *, window_days: int = WINDOW_DAYS,
                 lock: Callable[[date], AbstractContextManager[Any]] | None = None):
        self.poster, self.ledger, self.window_days = poster, poster.ledger, window_days
        self._lock = lock or (lambda day: posting_lease(self.ledger.engine, self.ledger.erp, day))
        self._loaded = False

    # -- the run --------------------------------------------------------------------------------------

    def run(self, as_of: date) -> LateRun:
        run = LateRun(as_of)
        days = [as_of - timedelta(days=i) for i in range(self.window_days)]
        by_day: dict[date, list[str]] = {}
        for e in self.ledger.entries(business_dates=days, actions=[RECEIPT]):
            if e.posted and e.erp_id and int(e.detail.get("unapplied") or 0) > 0:
                by_day.setdefault(e.business_date, []).append(e.reference)
        for day in sorted(by_day):
            with self._lock(day) as lease:
                held = self.ledger.lease
                self.ledger.lease = lease if isinstance(lease, Lease) else held  # renewed with every send
                try:
                    self._run_day(run, by_day[day])
                finally:
                    self.ledger.lease = held
        return run

    def _run_day(self, run: LateRun, refs: Sequence[str]) -> None:
        entries = self.ledger.get_many(refs)  # read again under the lease: another run may have acted
        kids: dict[str, list[Entry]] = {}
        for e in self._children(list(entries)):
            kids.setdefault(e.parent_reference or "", []).append(e)
        states = [s for s in (self._state(e, kids.get(ref, []), run) for ref, e in entries.items()) if s is not None]
        run.candidates += len(states)
        fresh = [s for s in states if not s.resume and s.available > 0]
        if fresh:
            self._invoices()
        if self._loaded:  # applications recorded but not sent yet are not in the balances read
            for s in states:
                for app in s.resume:
                    self.poster.consume(app.detail["invoice"], app.detail["target"], app.amount_minor)
        if fresh:
            self._plan(run, fresh)
        units = [s for s in states if s.resume or s.allocations]
        new = [self._entry(s, a, run.as_of) for s in units for a in s.allocations]
        recorded = self.ledger.record_intents(new) if new else {}
        plans = [Plan({}, s.entry, self.poster.receipt_spec({}, s.entry),
                       s.resume or [recorded[self._ref(s.entry, a)] for a in s.allocations],
                       ErpReceipt(s.entry.erp_id or "", s.entry.reference, s.entry.amount_minor, s.entry.currency,
                                  s.entry.detail.get("customer_account", "")))
                 for s in units]
        self._send(plans)
        done = {pl.entry.reference: [a for a in pl.apps if a.posted] for pl in plans}
        for s in states:
            late = s.repair + done.get(s.entry.reference, [])
            if late:
                self._amend(s, late)
                run.receipts.append(s.entry.reference)
            run.applied += [self._row(s.entry, a) for a in done.get(s.entry.reference, [])]
        for pl in plans:
            if pl.error is not None:
                run.errors[pl.entry.transaction_id] = pl.error

    # -- what the ledger says of each receipt -----------------------------------------------------------

    def _children(self, refs: Sequence[str]) -> list[Entry]:
        out: list[Entry] = []
        for i in range(0, len(refs), _CHUNK):
            out += self.ledger.entries(parents=refs[i:i + _CHUNK])
        return sorted(out, key=lambda e: (e.parent_reference or "", e.action != APPLICATION))

    def _state(self, entry: Entry, kids: Sequence[Entry], run: LateRun) -> _Receipt | None:
        if any(k.action == REVERSAL for k in kids):
            run.skipped["reversed (or a reversal under way)"] += 1
            return None
        if not entry.detail.get("customer_account"):
            run.skipped["unidentified receipt"] += 1
            return None
        planned = set(self.poster.application_refs(entry))
        current: dict[str, tuple[str, int]] = {}
        resume: list[Entry] = []
        repair: list[Entry] = []
        for k in kids:  # applications first, then the adjustments refunds made to them
            if k.action not in (APPLICATION, ADJUSTMENT):
                continue
            if not k.posted:
                if k.action == APPLICATION and k.detail.get("late"):
                    resume.append(k)
                    continue
                run.skipped["applications under way"] += 1
                return None
            current[k.detail["target"]] = (k.detail["invoice"], k.amount_minor)
            if k.action == APPLICATION and k.detail.get("late") and k.reference not in planned:
                repair.append(k)
        refunded = sum(k.amount_minor for k in kids if k.action == REFUND and k.status != FAILED)
        available = (entry.amount_minor - refunded - sum(a for _, a in current.values())
                     - sum(k.amount_minor for k in resume))
        if available <= 0 and not (resume or repair):
            run.skipped["refunded or applied"] += 1
            return None
        return _Receipt(entry, {t: inv for t, (inv, _) in current.items()}, max(available, 0), refunded,
                        sum(a for _, a in current.values()), resume, repair)

    # -- matching -------------------------------------------------------------------------------------

    def _invoices(self) -> dict[str, OpenInvoice]:
        if not self._loaded:
            self.poster.invoices = dict(self.poster.read_open_invoices())
            self._loaded = True
        return self.poster.invoices

    def _plan(self, run: LateRun, receipts: Sequence[_Receipt]) -> None:
        invoices = self._invoices()
        older = [s.entry for s in receipts if not all(k in s.entry.detail for k in MATCH_FIELDS)]
        stored = _payment_fields(self.ledger.engine, older) if older else {}
        for s in receipts:
            if all(k in s.entry.detail for k in MATCH_FIELDS):
                s.fields = {k: s.entry.detail[k] for k in MATCH_FIELDS}
            else:
                s.fields = stored.get((s.entry.transaction_id, s.entry.business_date)) or \
                    stored.get(s.entry.transaction_id) or {}
        # Only receipts that match something cost an ERP read: is the cash still unapplied there?
        wanted = {id(s) for s in receipts if self._allocate(s, s.available, invoices, consume=False)}
        in_erp = self._in_erp([s.entry.reference for s in receipts if id(s) in wanted], run)
        for s in receipts:
            s.allocations = []  # the look above only asked whether anything matches
            found = in_erp.get(s.entry.reference)
            if id(s) not in wanted:
                run.skipped["no open invoice matches yet"] += 1
                continue
            if found is None:  # not there, or the look-up failed (counted or recorded by _in_erp)
                continue
            if found.reversed:
                run.skipped["reversed in the ERP"] += 1
                continue
            cash = s.available if found.unapplied_minor is None else min(s.available, found.unapplied_minor)
            if cash <= 0:
                run.skipped["applied in the ERP"] += 1
                continue
            if not self._allocate(s, cash, invoices, consume=True):
                run.skipped["no open invoice matches yet"] += 1

    def _allocate(self, s: _Receipt, cash: int, invoices: Mapping[str, OpenInvoice], *, consume: bool) -> bool:
        account = s.entry.detail.get("customer_account", "")
        pool = {n: inv for n, inv in invoices.items() if inv.balance_minor > 0 and inv.currency == s.entry.currency}
        # What the receipt paid before stays in the pool, with nothing left to pay: the payment keeps
        # the invoice it named instead of moving to a look-alike.
        for number in [*s.entry.detail.get("matched", []), *s.current.values()]:
            inv = invoices.get(number) or OpenInvoice(number, account, 0, s.entry.currency)
            pool[number] = replace(inv, balance_minor=0, targets=tuple(replace(t, balance_minor=0) for t in inv.targets))
        match = self.poster.match({**s.fields, "currency": s.entry.currency, "amount_minor": cash}, account, pool)
        allocations, _ = allocate(cash, match.invoices, self.poster.rules.references.split)
        s.allocations = [a for a in allocations if a.target_id not in s.current]
        s.rule, s.score = match.rule, match.score
        if consume:
            for a in s.allocations:
                self.poster.consume(a.invoice.number, a.target_id, a.amount_minor)
        return bool(s.allocations)

    def _in_erp(self, refs: Sequence[str], run: LateRun) -> dict[str, ErpReceipt]:
        adapter, found = self.poster.adapter, {}
        for i in range(0, len(refs), max(1, adapter.batch_size)):
            chunk = refs[i:i + max(1, adapter.batch_size)]
            try:
                found.update(adapter.find_receipts(chunk))
            except (UnavailableError, OutcomeUnknown, RejectedError) as exc:
                error = self.poster.rejected_exception(exc) if isinstance(exc, RejectedError) else self.poster.unreachable_exception(exc)
                for e in self.ledger.get_many(chunk).values():
                    run.errors[e.transaction_id] = error
                continue
            for ref in chunk:
                if ref not in found:
                    run.skipped["not found in the ERP"] += 1
        return found

    # -- applying ---------------------------------------------------------------------------------------

    @staticmethod
    def _ref(receipt: Entry, a: Allocation) -> str:
        return f"{receipt.reference}:APP:{a.invoice.number}:{a.target_id}"

    def _entry(self, s: _Receipt, a: Allocation, as_of: date) -> Entry:
        # business_date = the day the application is made: the ERP's application date
        return Entry(self.ledger.erp, self._ref(s.entry, a), s.entry.transaction_id, APPLICATION, as_of, a.amount_minor,
                     s.entry.currency, erp_id=s.entry.erp_id, parent_reference=s.entry.reference,
                     detail={"invoice": a.invoice.number, "target": a.target_id, "rule": s.rule, "score": s.score,
                             "late": True, "by_reference": self.poster.adapter.applies_with_receipt})

    def _references(self) -> AppliesWithReceipt:
        adapter = self.poster.adapter
        if not isinstance(adapter, AppliesWithReceipt):
            raise TypeError(f"{adapter.name} applies with the receipt but cannot add references to one")
        return adapter

    def _send(self, plans: Sequence[Plan]) -> None:
        by_reference = [pl for pl in plans if any(a.detail.get("by_reference") for a in pl.apps)]
        self.poster.apply_planned([pl for pl in plans if pl not in by_reference])
        if by_reference:
            units: list[Unit] = []
            for pl in by_reference:
                per_invoice: dict[str, list[Entry]] = {}
                for app in pl.apps:
                    if not app.posted:
                        per_invoice.setdefault(app.detail["invoice"], []).append(app)
                units += [(pl, invoice, apps) for invoice, apps in per_invoice.items()]
            left = self.poster.until_certain([u for u in units if any(a.attempts for a in u[2])],
                                              [u for u in units if not any(a.attempts for a in u[2])],
                                              self._referenced, self._add_references, 1)
            for pl, _invoice, _apps in left:
                if pl.error is None:
                    pl.error = self.poster.unreachable_exception(UnavailableError("remittance references without a certain answer"))

    def _posted(self, apps: Sequence[Entry]) -> None:
        self.ledger.posted({a.reference: None for a in apps})
        for a in apps:
            a.status = POSTED

    def _referenced(self, units: Sequence[Unit]) -> list[Unit]:
        """Record the references the receipt carries already; return the units it does not (safe to send)."""
        named: dict[str, Mapping[str, int]] = {}
        missing: list[Unit] = []
        for pl, invoice, apps in units:
            if pl.error is not None:
                continue
            if pl.entry.reference not in named:
                try:
                    named[pl.entry.reference] = self._references().references(pl.receipt)  # type: ignore[arg-type]
                except (UnavailableError, OutcomeUnknown, RejectedError) as exc:
                    pl.error = self.poster.rejected_exception(exc) if isinstance(exc, RejectedError) else self.poster.unreachable_exception(exc)
                    continue
            if named[pl.entry.reference].get(invoice, 0) >= sum(a.amount_minor for a in apps):
                self._posted(apps)
            else:
                missing.append((pl, invoice, apps))
        return missing

    def _add_references(self, units: Sequence[Unit], _size: int) -> tuple[list[Unit], list[Unit]]:
        """One reference per (receipt, invoice). Returns (to send again; to look up before sending again)."""
        uncertain: list[Unit] = []
        for pl, invoice, apps in units:
            if pl.error is not None:
                continue
            refs = [a.reference for a in apps]
            self.ledger.attempt(refs)
            try:
                self._references().add_references(pl.receipt, [(invoice, sum(a.amount_minor for a in apps))])  # type: ignore[arg-type]
            except OutcomeUnknown as exc:
                self.ledger.uncertain(refs, str(exc))
                uncertain.append((pl, invoice, apps))
                continue
            except UnavailableError as exc:
                pl.error = self.poster.unreachable_exception(exc)
                continue
            except RejectedError as exc:
                self.ledger.failed(refs, f"{exc.code}: {exc}")
                pl.error = self.poster.rejected_exception(exc)
                continue
            self._posted(apps)
        return [], uncertain

    # -- the receipt's plan, amended ------------------------------------------------------------------

    def _amend(self, s: _Receipt, late: Sequence[Entry]) -> None:
        entry = self.ledger.get(s.entry.reference) or s.entry
        d = entry.detail
        known = set(self.poster.application_refs(entry))
        late = [a for a in late if a.reference not in known]
        if not late:
            return
        applications = [*d.get("applications", []), *([a.detail["invoice"], a.detail["target"], a.amount_minor] for a in late)]
        repaired = {a.reference for a in s.repair}
        applied = s.applied + sum(a.amount_minor for a in late if a.reference not in repaired)  # repairs: in s.applied
        changes: dict[str, Any] = {
            "applications": applications,
            "unapplied": max(0, entry.amount_minor - s.refunded - applied),  # cash still on account
            "matched": list(dict.fromkeys([*d.get("matched", []), *(a.detail["invoice"] for a in late)])),
            "rule": late[-1].detail.get("rule", d.get("rule")), "score": late[-1].detail.get("score", d.get("score")),
            "applied_late": {**d.get("applied_late", {}), **{a.detail["invoice"]: a.business_date.isoformat() for a in late}},
        }
        if "planned_rule" not in d:
            changes.update(planned_rule=d.get("rule"), planned_score=d.get("score"))
        if any(a.detail.get("by_reference") for a in late):
            changes["late_by_reference"] = True
        self.ledger.amend_detail(entry.reference, changes)

    # -- what the warehouse shows ------------------------------------------------------------------------

    @staticmethod
    def _row(receipt: Entry, app: Entry) -> LateApplication:
        return LateApplication(app.reference, receipt.transaction_id, receipt.reference, receipt.business_date,
                               app.detail["invoice"], app.detail["target"], app.amount_minor, app.currency,
                               str(app.detail.get("rule") or ""), float(app.detail.get("score") or 0.0),
                               app.business_date)

    def applied_on(self, day: date) -> list[LateApplication]:
        """Every late application the ERP holds that was made on ``day`` (whichever run made it)."""
        t = posting_ledger
        q = select(t).where(t.c.erp == self.ledger.erp, t.c.action == APPLICATION, t.c.business_date == day,
                            t.c.status == POSTED).order_by(t.c.id)
        with self.ledger.engine.connect() as conn:
            rows = [(Entry.from_row(r), r.updated_at) for r in conn.execute(q)]
        apps = [(e, at) for e, at in rows if e.detail.get("late")]
        receipts = self.ledger.get_many(e.parent_reference or "" for e, _ in apps)
        return [replace(self._row(receipts[e.parent_reference or ""], e), applied_at=at)
                for e, at in apps if (e.parent_reference or "") in receipts]

    def outcomes(self, receipt_refs: Iterable[str]) -> list[Outcome]:
        """Each receipt's outcome as a re-run of its own date would report it now."""
        out = []
        for entry in self.ledger.get_many(receipt_refs).values():
            apps = self.ledger.get_many(self.poster.application_refs(entry))
            p = {"transaction_id": entry.transaction_id, "business_date": entry.business_date, "kind": "sale",
                 "amount_minor": entry.amount_minor, "currency": entry.currency,
                 "invoice_reference_raw": entry.detail.get("invoice_reference_raw", "")}
            receipt = ErpReceipt(entry.erp_id or "", entry.reference, entry.amount_minor, entry.currency,
                                 entry.detail.get("customer_account", ""))
            out.append(self.poster.receipt_outcome(Plan(p, entry, self.poster.receipt_spec(p, entry),
                                                          [apps[r] for r in self.poster.application_refs(entry) if r in apps],
                                                          receipt)))
        return sorted(out, key=lambda o: o.transaction_id)


def _payment_fields(engine: Any, receipts: Sequence[Entry]) -> dict[Any, dict[str, str]]:
    """What older plans did not keep, from ``normalized_payments``: by (id, date), and by id alone."""
    ids = sorted({e.transaction_id for e in receipts})
    t = normalized_payments
    out: dict[Any, dict[str, str]] = {}
    with engine.connect() as conn:
        for i in range(0, len(ids), _CHUNK):
            q = select(t.c.transaction_id, t.c.business_date, *(t.c[k] for k in MATCH_FIELDS)) \
                .where(t.c.transaction_id.in_(ids[i:i + _CHUNK]))
            for row in conn.execute(q):
                fields = {k: str(row._mapping[k] or "") for k in MATCH_FIELDS}
                out[(int(row.transaction_id), row.business_date)] = fields
                out.setdefault(int(row.transaction_id), fields)
    return out


__all__ = ["WINDOW_DAYS", "LateApplication", "LateApplier", "LateRun"]
