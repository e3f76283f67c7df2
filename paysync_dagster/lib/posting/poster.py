"""The ERP-neutral posting loop: normalized payments -> receipts, applications, reversals, refunds.

One run posts one business date's payments in phases, so that an ERP with batch requests can carry
many effects per request:

1. plan: match and allocate every new receipt, and commit the intents of the receipts and their
   applications in one transaction (a redelivered payment reuses the plan stored the first time);
2. receipts: look up whatever may have been sent before (``attempts > 0``), create the rest in
   batches; an uncertain batch is looked up, and only what is missing is sent again;
3. applications: the same, checked against the receipt's applications in the ERP;
4. follow-ups, one payment at a time: voids, chargebacks (reversals) and refunds, each linked to
   the original receipt and each an effect of its own in the ledger.

Every payment ends in exactly one :class:`Outcome`; what could not be done carries an exception
(reason code, reason, next step) and is tried again by the next delivery or replay, never twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from paysync_dagster.lib.posting.erp import (ApplySpec, DuplicateError, ErpAdapter, ErpReceipt, OutcomeUnknown, ReceiptSpec,
                                             RejectedError, UnavailableError)
from paysync_dagster.lib.posting.ledger import APPLICATION, IDENTIFICATION, POSTED, RECEIPT, REVERSAL, Entry, Ledger
from paysync_dagster.lib.posting.matching import (NONE, Match, OpenInvoice, Payer, ReferenceRules, allocate,
                                                  match_payment)
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.scrub import mask_card_numbers

T = TypeVar("T")

RECEIPT_KINDS = frozenset({"sale", "capture"})
LIVE = frozenset({"pending_settlement", "settled", "dispute_won"})
#: outcomes that mean "done in the ERP" (the rest: skipped, exception)
POSTED_OUTCOMES = ("posted", "applied", "on_account", "reversed", "refunded")
#: the payment's fields invoice matching reads, kept in the receipt's plan
MATCH_FIELDS = ("invoice_reference_raw", "invoice_reference", "description", "customer_name")
MATCH_FIELD_CHARS = 500
Exception3 = tuple[str, str, str]  # (reason code, reason, suggested action)


@dataclass(frozen=True)
class Rules:
    receipt_prefix: str
    references: ReferenceRules
    max_rounds: int = 6  # sends per effect and run; each resend follows a look-up that found nothing


def receipt_reference(rules: Rules, transaction_id: int) -> str:
    return f"{rules.receipt_prefix}{transaction_id}"


@dataclass
class Outcome:
    """One row of ``<erp>_cash_receipts``: what happened to one payment in one ERP."""

    transaction_id: int
    business_date: Any
    kind: str
    outcome: str  # posted | applied | on_account | reversed | refunded | skipped | exception
    amount_minor: int = 0
    currency: str = "USD"
    reference: str = ""  # the ledger reference of this payment's own effect
    receipt_number: str = ""  # the receipt it concerns (its own, or the original of a refund)
    erp_receipt_id: str = ""
    owns_receipt: bool = False  # the receipt is this payment's own (it created it)
    invoices: str = ""
    applied_minor: int = 0
    unapplied_minor: int = 0
    match_rule: str = ""
    match_score: float = 0.0
    customer_account: str = ""  # whom the receipt is for ("" = unidentified)
    match_tokens: str = ""  # the references read, as typed
    match_rejected: str = ""  # candidates not applied, each with why
    reason: str = ""
    exception: Exception3 | None = None


@dataclass
class Plan:
    payment: Mapping[str, Any]
    entry: Entry
    spec: ReceiptSpec
    apps: list[Entry]
    receipt: ErpReceipt | None = None
    error: Exception3 | None = None
    identified: Match | None = None  # an unidentified receipt whose payer is now known


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + max(1, size)]



def receipt_comments(p: Mapping[str, Any]) -> str:
    """What a receipt says of its payment, in the ERP's free-text field: the PayTrace transaction, the
    card's brand and last four, the approval code and the payer's reference (never more of the card;
    words between the numbers so no run of digits looks like a card number)."""
    parts = [f"PayTrace {int(p['transaction_id'])}"]
    last_four = str(p.get("card_last_four") or "")
    if last_four:
        parts.append(f"{str(p.get('card_brand') or 'card').title()} ending {last_four[-4:]}")
    if p.get("approval_code"):
        parts.append(f"approval {p['approval_code']}")
    if p.get("invoice_reference_raw"):
        parts.append(str(p["invoice_reference_raw"]))
    return ", ".join(parts)

class Poster:
    """Posts payments to one ERP. ``invoices`` are the ERP's open invoices (balance > 0) as of now, by
    number, or a function that reads them: it is called only when a payment needs a new plan, so a
    redelivery or a re-materialization costs no ERP call at all. Balances move in memory as this run
    plans applications."""

    def __init__(self, adapter: ErpAdapter, ledger: Ledger, rules: Rules,
                 invoices: Mapping[str, OpenInvoice] | Callable[[], Mapping[str, OpenInvoice]],
                 log: Callable[[str], None] = lambda _m: None):
        self.adapter, self.ledger, self.rules, self.log = adapter, ledger, rules, log
        self._read_invoices = invoices if callable(invoices) else (lambda: invoices)
        self.invoices: dict[str, OpenInvoice] = {}

    def read_open_invoices(self) -> Mapping[str, OpenInvoice]:
        """The ERP's open invoices now, by number (one read)."""
        return self._read_invoices()

    # -- errors as exceptions a person can act on ---------------------------------------------------

    def rejected_exception(self, exc: RejectedError) -> Exception3:
        """The exception a person sees when the ERP refused an effect."""
        return ("erp_rejected", f"{self.adapter.name} refused: {exc.code + ' ' if exc.code else ''}{exc}",
                "correct the data named in the message, then replay the date")

    def unreachable_exception(self, exc: Exception) -> Exception3:
        """The exception a person sees when the ERP gave no certain answer (tried again next run)."""
        return ("erp_unreachable", f"{self.adapter.name} did not answer: {type(exc).__name__}: {exc}",
                "replay the date once the ERP answers; nothing is posted twice")

    # -- the run ------------------------------------------------------------------------------------

    def post_all(self, payments: Iterable[Mapping[str, Any]]) -> list[Outcome]:
        """Post a date's payments; one outcome per payment, in the order given."""
        payments = list(payments)
        receipt_payments = sorted((p for p in payments if self._wants_receipt(p)), key=lambda p: int(p["transaction_id"]))
        plans = self._plan(receipt_payments)
        self._ensure_receipts([pl for pl in plans if pl.error is None])
        self._identify([pl for pl in plans if pl.error is None and pl.receipt is not None and pl.identified])
        self._applied_with_receipt([pl for pl in plans if pl.error is None and pl.receipt is not None])
        self.apply_planned([pl for pl in plans if pl.error is None and pl.receipt is not None])
        outcomes = {int(pl.payment["transaction_id"]): self.receipt_outcome(pl) for pl in plans}
        # Follow-ups after every receipt of the date exists: voids, refunds, chargebacks, by id.
        order = {"void": 0, "refund": 1, "chargeback": 2}
        for p in sorted((p for p in payments if int(p["transaction_id"]) not in outcomes),
                        key=lambda p: (order.get(p["kind"], 3), int(p["transaction_id"]))):
            outcomes[int(p["transaction_id"])] = self._follow_up(p)
        return [outcomes[int(p["transaction_id"])] for p in payments]

    @staticmethod
    def _wants_receipt(p: Mapping[str, Any]) -> bool:
        # A chargeback the merchant won is a sale that stands.
        return p["status"] in LIVE and (p["kind"] in RECEIPT_KINDS or p["kind"] == "chargeback" and p["status"] == "dispute_won")

    # -- 1. plan --------------------------------------------------------------------------------------

    def _plan(self, payments: Sequence[Mapping[str, Any]]) -> list[Plan]:
        refs = {int(p["transaction_id"]): receipt_reference(self.rules, int(p["transaction_id"])) for p in payments}
        stored = self.ledger.get_many(refs.values())
        stored_apps = self.ledger.get_many(a for e in stored.values() for a in self.application_refs(e))
        # Unidentified receipts whose payer normalization now knows (a person mapped the customer):
        # they move to that customer. Others cost no ERP call, so a re-materialization costs none.
        account_of = {refs[int(p["transaction_id"])]: str(p.get(f"{self.adapter.name}_customer_account") or "")
                      for p in payments}
        unidentified = {r for r, e in stored.items() if not e.detail.get("customer_account") and account_of[r]}
        if len(stored) < len(refs) or unidentified:  # a new plan, or a payer to identify: read the open invoices
            self.invoices = dict(self.read_open_invoices())
            self.log(f"{len(refs) - len(stored)} new receipts to plan against {len(self.invoices)} open invoices")
            for entry in stored.values():  # planned but not yet in the ERP: the ERP's balances do not show it
                for app_ref in self.application_refs(entry):
                    app = stored_apps.get(app_ref)
                    if app is not None and not app.posted:
                        self.consume(app.detail["invoice"], app.detail["target"], app.amount_minor)
        new: list[Entry] = []
        for p in payments:
            if refs[int(p["transaction_id"])] not in stored:
                entry, apps = self._new_plan(p, refs[int(p["transaction_id"])])
                new.extend([entry, *apps])
            else:  # a plan whose application intents were lost gets them back (same references, same amounts)
                entry = stored[refs[int(p["transaction_id"])]]
                new.extend(a for a in self._app_entries(entry) if a.reference not in stored_apps)
        recorded = self.ledger.record_intents(new) if new else {}
        everything = {**stored, **stored_apps, **recorded}
        plans = []
        for p in payments:
            entry = everything[refs[int(p["transaction_id"])]]
            plans.append(Plan(p, entry, self.receipt_spec(p, entry), [everything[r] for r in self.application_refs(entry)]))
            if entry.reference in unidentified:
                plans[-1].identified = self.match(p, account_of[entry.reference])
        return plans

    @staticmethod
    def application_refs(entry: Entry) -> list[str]:
        """The ledger references of a receipt's planned applications."""
        return [f"{entry.reference}:APP:{inv}:{target}" for inv, target, _ in entry.detail.get("applications", [])]

    def consume(self, number: str, target: str, amount: int) -> None:
        """Lower an invoice's open balance in memory by what this run plans to apply to ``target``."""
        if number in self.invoices:
            self.invoices[number] = self.invoices[number].less(target, amount)

    def match(self, p: Mapping[str, Any], account: str, pool: Mapping[str, OpenInvoice] | None = None) -> Match:
        """``pool``: the invoices to match against instead of the open ones (same currency)."""
        # Cash applies only within a currency (the ERPs refuse cross-currency applications).
        open_ = pool if pool is not None else \
            {n: inv for n, inv in self.invoices.items() if inv.balance_minor > 0 and inv.currency == p["currency"]}
        return match_payment(p.get("invoice_reference_raw") or "", p.get("description") or "",
                             int(p.get("amount_minor") or 0), Payer(account, str(p.get("customer_name") or "")),
                             open_, self.rules.references)

    def _new_plan(self, p: Mapping[str, Any], ref: str) -> tuple[Entry, list[Entry]]:
        txn, amount = int(p["transaction_id"]), int(p["amount_minor"])
        match = self.match(p, str(p.get(f"{self.adapter.name}_customer_account") or ""))
        account = match.customer_account
        allocations, unapplied = allocate(amount, match.invoices, self.rules.references.split)
        for a in allocations:
            self.consume(a.invoice.number, a.target_id, a.amount_minor)
        comments, _ = mask_card_numbers(receipt_comments(p))
        detail = {"rule": match.rule, "score": match.score, "customer_account": account, "comments": comments[:200],
                  "customer_source": match.customer_source, "tokens": list(match.tokens),
                  "rejected": [list(r) for r in match.rejected],
                  "exception": list(match.exception) if match.exception else None,
                  "matched": [i.number for i in match.invoices], "unapplied": unapplied,
                  "applications": [[a.invoice.number, a.target_id, a.amount_minor] for a in allocations],
                  # what the payment said, so cash left on account can be matched again later
                  **{k: mask_card_numbers(str(p.get(k) or ""))[0][:MATCH_FIELD_CHARS] for k in MATCH_FIELDS}}
        if allocations and self.adapter.applies_with_receipt:  # decided once, with the plan: a resend keeps it
            detail["apply_with_receipt"] = True
        entry = Entry(self.adapter.name, ref, txn, RECEIPT, p["business_date"], amount, p["currency"], detail=detail)
        return entry, self._app_entries(entry)

    def _app_entries(self, entry: Entry) -> list[Entry]:
        d = entry.detail
        return [Entry(self.adapter.name, r, entry.transaction_id, APPLICATION, entry.business_date, amt, entry.currency,
                      parent_reference=entry.reference,
                      detail={"invoice": inv, "target": target, "rule": d.get("rule"), "score": d.get("score")})
                for r, (inv, target, amt) in zip(self.application_refs(entry), d.get("applications", []))]

    def receipt_spec(self, p: Mapping[str, Any], entry: Entry) -> ReceiptSpec:
        """What the adapter creates for a receipt's plan."""
        d = entry.detail
        apps = tuple((str(i), str(t), int(a)) for i, t, a in d.get("applications", [])) if d.get("apply_with_receipt") else ()
        return ReceiptSpec(entry.reference, entry.amount_minor, entry.currency, entry.business_date,
                           d.get("customer_account", ""), d.get("comments", ""), apps)

    @staticmethod
    def _erp_receipt(entry: Entry, erp_id: str) -> ErpReceipt:
        return ErpReceipt(erp_id, entry.reference, entry.amount_minor, entry.currency,
                          entry.detail.get("customer_account", ""))

    def until_certain(self, maybe_sent: list[T], fresh: list[T], look: Callable[[list[T]], list[T]],
                       send: Callable[[list[T], int], tuple[list[T], list[T]]], size: int) -> list[T]:
        """The exactly-once loop for any effect: look up what may have been sent before (only what
        the ERP lacks is sent again), send what is known not to be there, and repeat for at most
        ``max_rounds`` sends. Returns the items still without a certain answer."""
        for _ in range(self.rules.max_rounds):
            if maybe_sent:
                fresh = look(maybe_sent) + fresh
            maybe_sent = []
            if not fresh:
                return []
            fresh, maybe_sent = send(fresh, size)
        if maybe_sent:  # out of sends: still record what the last ones did
            fresh += look(maybe_sent)
        return fresh

    # -- 2. receipts ------------------------------------------------------------------------------------

    def _ensure_receipts(self, plans: Sequence[Plan]) -> None:
        for pl in plans:
            if pl.entry.posted and pl.entry.erp_id:
                pl.receipt = self._erp_receipt(pl.entry, pl.entry.erp_id)
        todo = [pl for pl in plans if pl.receipt is None]
        left = self.until_certain([pl for pl in todo if pl.entry.attempts > 0], [pl for pl in todo if pl.entry.attempts == 0],
                                   self._look_up, self._create, self.adapter.batch_size)
        for pl in left:
            if pl.error is None:
                pl.error = self.unreachable_exception(UnavailableError(f"{pl.entry.reference}: no certain answer after "
                                                              f"{self.rules.max_rounds} sends"))

    def _look_up(self, plans: Sequence[Plan]) -> list[Plan]:
        """Record the receipts the ERP holds; return the plans it does not (safe to send again)."""
        found: dict[str, ErpReceipt] = {}
        try:
            for chunk in _chunks([pl.entry.reference for pl in plans], self.adapter.batch_size):
                found.update(self.adapter.find_receipts(chunk))
        except (UnavailableError, OutcomeUnknown) as exc:
            for pl in plans:
                pl.error = self.unreachable_exception(exc)
            return []
        except RejectedError as exc:
            for pl in plans:
                pl.error = self.rejected_exception(exc)
            return []
        self._record_receipts(plans, {ref: r.erp_id for ref, r in found.items()})
        return [pl for pl in plans if pl.entry.reference not in found]

    def _record_receipts(self, plans: Sequence[Plan], ids: Mapping[str, str]) -> None:
        if ids:
            self.ledger.posted(dict(ids))
        for pl in plans:
            if pl.entry.reference in ids:
                pl.receipt = self._erp_receipt(pl.entry, str(ids[pl.entry.reference]))

    def _create(self, plans: Sequence[Plan], size: int) -> tuple[list[Plan], list[Plan]]:
        """Send creates, ``size`` per request. Returns (to send again; to look up before sending again)."""
        again: list[Plan] = []
        uncertain: list[Plan] = []
        for chunk in _chunks(list(plans), size):
            refs = [pl.entry.reference for pl in chunk]
            self.ledger.attempt(refs)
            try:
                ids = self.adapter.create_receipts([pl.spec for pl in chunk])
            except OutcomeUnknown as exc:
                self.ledger.uncertain(refs, str(exc))
                uncertain.extend(chunk)
                continue
            except UnavailableError as exc:
                for pl in chunk:
                    pl.error = self.unreachable_exception(exc)
                continue
            except RejectedError as exc:
                if len(chunk) > 1:  # all or nothing: nothing was created; find the culprit one by one
                    more_again, more_uncertain = self._create(chunk, 1)
                    again.extend(more_again)
                    uncertain.extend(more_uncertain)
                    continue
                if isinstance(exc, DuplicateError):  # it exists already: the look-up records it
                    uncertain.extend(chunk)
                    continue
                self.ledger.failed(refs, f"{exc.code}: {exc}")
                chunk[0].error = self.rejected_exception(exc)
                continue
            self._record_receipts(chunk, ids)
        return again, uncertain

    # -- 2b. identification ---------------------------------------------------------------------------------

    def _identify(self, plans: Sequence[Plan]) -> None:
        """Move unidentified receipts to the customer now identified, each exactly once (an effect of
        its own in the ledger, looked up before any resend). The receipt is then cash on that
        customer's account, which the on-account application run applies to the invoices it names."""
        for pl in plans:
            e, match, receipt = pl.entry, pl.identified, pl.receipt
            assert match is not None and receipt is not None
            effect = Entry(self.adapter.name, f"{e.reference}:CUST", e.transaction_id, IDENTIFICATION, e.business_date,
                           e.amount_minor, e.currency, erp_id=e.erp_id, parent_reference=e.reference,
                           detail={"customer_account": match.customer_account, "customer_source": match.customer_source})

            def already(ref: str = e.reference, account: str = match.customer_account) -> bool:
                found = self.adapter.find_receipts([ref]).get(ref)
                return bool(found and found.customer_account == account)

            try:
                done = self.once(effect, lambda r=receipt, a=match.customer_account: self.adapter.set_customer(r, a), already)
            except RejectedError as exc:
                pl.error = self.rejected_exception(exc)
                continue
            except (UnavailableError, OutcomeUnknown) as exc:
                pl.error = self.unreachable_exception(exc)
                continue
            account = done.detail["customer_account"]  # the first identification stands
            amended = self.ledger.amend_detail(e.reference, {
                "customer_account": account, "customer_source": done.detail.get("customer_source", ""),
                "identified_later": account, "exception": None, "tokens": list(match.tokens),
                "rejected": [list(r) for r in match.rejected]})
            if amended is not None:
                pl.entry = amended
                pl.receipt = self._erp_receipt(amended, receipt.erp_id)

    # -- 3. applications ---------------------------------------------------------------------------------

    def _applied_with_receipt(self, plans: Sequence[Plan]) -> None:
        """Applications that travelled inside their receipt's create are done once the receipt exists:
        the ERP holds them with the receipt (all or nothing) and applies them itself."""
        done = {app.reference: None for pl in plans if pl.entry.detail.get("apply_with_receipt")
                for app in pl.apps if not app.posted}
        if done:
            self.ledger.posted(done)
            for pl in plans:
                for app in pl.apps:
                    if app.reference in done:
                        app.status = POSTED

    def apply_planned(self, plans: Sequence[Plan]) -> None:
        """Send the plans' applications not yet in the ERP, exactly once (looked up before any resend)."""
        pending = [(pl, app) for pl in plans for app in pl.apps if not app.posted]
        left = self.until_certain([(pl, app) for pl, app in pending if app.attempts > 0],
                                   [(pl, app) for pl, app in pending if app.attempts == 0],
                                   self._check_applied, self._send_applications, self.adapter.apply_batch_size)
        for pl, _app in left:
            if pl.error is None:
                pl.error = self.unreachable_exception(UnavailableError("applications without a certain answer"))

    def _check_applied(self, pairs: Sequence[tuple[Plan, Entry]]) -> list[tuple[Plan, Entry]]:
        """Record the applications the ERP holds; return the ones it does not."""
        missing: list[tuple[Plan, Entry]] = []
        by_plan: dict[str, list[tuple[Plan, Entry]]] = {}
        for pl, app in pairs:
            by_plan.setdefault(pl.entry.reference, []).append((pl, app))
        for group in by_plan.values():
            pl = group[0][0]
            try:
                current = self.adapter.applications(pl.receipt)  # type: ignore[arg-type]
            except (UnavailableError, OutcomeUnknown, RejectedError) as exc:
                pl.error = self.rejected_exception(exc) if isinstance(exc, RejectedError) else self.unreachable_exception(exc)
                continue
            done = {app.reference: None for _, app in group if current.get(app.detail["target"], 0) >= app.amount_minor}
            if done:
                self.ledger.posted(done)
                for _, app in group:
                    if app.reference in done:
                        app.status = POSTED
            missing.extend((p, a) for p, a in group if a.reference not in done)
        return missing

    def _send_applications(self, pairs: Sequence[tuple[Plan, Entry]], size: int) -> tuple[list, list]:
        """Send applications, ``size`` per request. Returns (to send again; to check before sending again)."""
        again: list[tuple[Plan, Entry]] = []
        uncertain: list[tuple[Plan, Entry]] = []
        for chunk in _chunks(list(pairs), size):
            chunk = [(pl, app) for pl, app in chunk if pl.error is None]
            if not chunk:
                continue
            refs = [app.reference for _, app in chunk]
            self.ledger.attempt(refs)
            try:
                self.adapter.apply([ApplySpec(pl.receipt, app.detail["invoice"], app.detail["target"],  # type: ignore[arg-type]
                                              app.amount_minor, app.business_date) for pl, app in chunk])
            except OutcomeUnknown as exc:
                self.ledger.uncertain(refs, str(exc))
                uncertain.extend(chunk)
                continue
            except UnavailableError as exc:
                for pl, _ in chunk:
                    pl.error = self.unreachable_exception(exc)
                continue
            except RejectedError as exc:
                if len(chunk) > 1:  # nothing was applied; send them one at a time to find the culprit
                    more_again, more_uncertain = self._send_applications(chunk, 1)
                    again.extend(more_again)
                    uncertain.extend(more_uncertain)
                    continue
                self.ledger.failed(refs, f"{exc.code}: {exc}")
                chunk[0][0].error = self.rejected_exception(exc)
                continue
            self.ledger.posted({r: None for r in refs})
            for _, app in chunk:
                app.status = POSTED
        return again, uncertain

    # -- the receipt's outcome ------------------------------------------------------------------------------

    def receipt_outcome(self, pl: Plan) -> Outcome:
        """The outcome row of a receipt's plan, as the ledger and the ERP's answers left it."""
        p, e = pl.payment, pl.entry
        d = e.detail
        applied = [app for app in pl.apps if app.posted]
        out = Outcome(int(p["transaction_id"]), p["business_date"], p["kind"], "applied", int(p["amount_minor"]),
                      p["currency"], reference=e.reference, receipt_number=e.reference,
                      erp_receipt_id=pl.receipt.erp_id if pl.receipt else "", owns_receipt=pl.receipt is not None,
                      invoices=",".join(dict.fromkeys(app.detail["invoice"] for app in applied)),
                      applied_minor=sum(app.amount_minor for app in applied),
                      match_rule=d.get("rule", NONE), match_score=float(d.get("score", 0.0)),
                      customer_account=d.get("customer_account", ""), **explained(d))
        out.unapplied_minor = out.amount_minor - out.applied_minor
        if pl.error is not None:
            out.outcome, out.reason, out.exception = "exception", pl.error[1], pl.error
            return out
        if p["kind"] == "chargeback":
            reversal = self.ledger.get(f"{e.reference}:REV")
            if reversal is not None and reversal.posted:
                out.outcome, out.reason = "exception", "chargeback won after the receipt was reversed"
                out.exception = ("chargeback_won_after_reversal", out.reason,
                                 "re-enter the receipt in the ERP by hand (the reversed one stays as it is)")
                return out
        planned = tuple(d["exception"]) if d.get("exception") else None  # decided with the plan: who, why
        if not applied and not d.get("customer_account"):
            out.outcome, out.reason = "on_account", "unidentified receipt: the payer is not identified"
            out.exception = planned or ("unidentified_payer", out.reason, "identify the customer and replay the date")
        elif not applied:
            out.outcome = "on_account"
            who = f"customer {d.get('customer_account')}"
            out.reason = f"no open invoice matched: on account for {who}"
            out.exception = planned or (
                "no_invoice_match",
                f"no open invoice of {who} matches the references {d.get('tokens') or '(none)'} of "
                f"{p.get('invoice_reference_raw') or '(no reference)'!r}; the receipt is on account for {who}",
                "apply the receipt to the right invoice in the ERP, or correct the reference and replay")
        else:
            out.exception = planned
            if out.unapplied_minor:
                out.outcome, out.reason = "on_account", f"overpayment: {format_amount(out.unapplied_minor, out.currency)} left on account"
        if d.get("identified_later"):
            out.reason = "; ".join(filter(None, [f"payer identified after posting: the receipt moved to customer "
                                                 f"{d['identified_later']}", out.reason]))
        if d.get("applied_late"):  # invoice number -> the date its late application was made
            by_day: dict[str, list[str]] = {}
            for invoice, day in d["applied_late"].items():
                by_day.setdefault(day, []).append(invoice)
            late = "; ".join(f"applied on {day} when invoice {', '.join(invs)} appeared" for day, invs in sorted(by_day.items()))
            out.reason = "; ".join(filter(None, [late, out.reason]))
        if applied and (d.get("apply_with_receipt") or d.get("late_by_reference")):
            out.reason = "; ".join(filter(None, [out.reason, f"sent as remittance references for {self.adapter.name}'s "
                                                             "automatic matching to apply"]))
        return out

    # -- 4. follow-ups ----------------------------------------------------------------------------------------

    def _follow_up(self, p: Mapping[str, Any]) -> Outcome:
        from paysync_dagster.lib.posting.followups import follow_up

        return follow_up(self, p)

    def once(self, entry: Entry, do: Callable[[], None], already: Callable[[], bool]) -> Entry:
        """One effect exactly once: intent, (look before resending), act, outcome. Raises what the
        adapter raised when it cannot finish; the ledger then says what to do next time."""
        stored = self.ledger.record_intents([entry])[entry.reference]
        if stored.posted:
            return stored
        for round_ in range(self.rules.max_rounds):
            if (stored.attempts or round_) and already():
                self.ledger.posted({entry.reference: None})
                stored.status = POSTED
                return stored
            self.ledger.attempt([entry.reference])
            try:
                do()
            except OutcomeUnknown as exc:
                self.ledger.uncertain([entry.reference], str(exc))
                continue
            except RejectedError as exc:
                self.ledger.failed([entry.reference], f"{exc.code}: {exc}")
                raise
            self.ledger.posted({entry.reference: None})
            stored.status = POSTED
            return stored
        raise UnavailableError(f"{entry.reference}: no certain answer after {self.rules.max_rounds} sends")

    def reversal_reference(self, receipt_ref: str) -> str:
        return f"{receipt_ref}:REV"

    def reverse(self, original: Entry, p: Mapping[str, Any], category: str, reason: str) -> Entry:
        """At most one reversal per receipt, whatever asked for it (void, chargeback, full refund)."""
        receipt = self._erp_receipt(original, original.erp_id or "")
        entry = Entry(self.adapter.name, self.reversal_reference(original.reference), int(p["transaction_id"]), REVERSAL,
                      p["business_date"], original.amount_minor, original.currency, erp_id=original.erp_id,
                      parent_reference=original.reference, detail={"category": category, "reason": reason})

        def already() -> bool:
            found = self.adapter.find_receipts([original.reference]).get(original.reference)
            return bool(found and found.reversed)

        return self.once(entry, lambda: self.adapter.reverse(receipt, category, reason), already)


def explained(detail: Mapping[str, Any]) -> dict[str, str]:
    """A plan's match as a clerk reads it: the references read, and each candidate not applied with why."""
    return {"match_tokens": ", ".join(detail.get("tokens") or []),
            "match_rejected": "; ".join(f"{what}: {why}" for what, why in detail.get("rejected") or [])}


def post_all(poster: Poster, payments: Iterable[Mapping[str, Any]]) -> list[Outcome]:
    return poster.post_all(payments)
