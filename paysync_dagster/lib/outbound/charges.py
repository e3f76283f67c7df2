"""Card-on-file charges of the invoice installments an ERP has due: exactly one charge each, with dunning.

For each installment due (``DueInstallment``) of a customer with a PayTrace vault profile, PaySync
sells on the vault card (``transactions/sale/by_customer``) with the invoice number as ``invoice_id``,
so the approved charge comes back through the normal receipt path and is applied to that invoice.

Exactly once: every attempt is a posting-ledger entry (system ``paytrace``, action ``charge``,
reference ``CHG:<erp>:<invoice>:<installment>:<attempt>``) committed before the call; an attempt
without a certain answer is looked up in PayTrace's export (the customer's transactions, the
attempt's reference in the description) before anything is sent again. An attempt is only made when
every earlier one is certainly declined, so an installment is charged at most once whatever is
retried, redelivered or killed.

Dunning: a declined attempt is tried again ``retry_after_days`` after the due date (the mapping file's
``charges.retry_after_days``), and never twice on one business date; after the last, the installment becomes an exception with PayTrace's
reason, and the invoice stays open in the ERP (PaySync writes nothing there for a decline).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.orders import send_once
from paysync_dagster.lib.outbound.keys import stand_in_id
from paysync_dagster.lib.outbound.due import DueInstallment
from paysync_dagster.lib.paytrace.errors import PayTraceApiError, PayTraceError, PayTraceOutcomeUnknown
from paysync_dagster.lib.paytrace.records import state_of
from paysync_dagster.lib.posting.ledger import Entry, Ledger
from paysync_dagster.lib.timeutil import utcnow

LEDGER_SYSTEM = "paytrace"  # the ledger's system for effects made in PayTrace
CHARGE = "charge"  # the ledger action
APPROVED, DECLINED = "approved", "declined"
# What happened to an installment on a date.
CHARGED, ALREADY_CHARGED, DECLINED_RETRY, DUNNING_EXHAUSTED, WAITING, NO_VAULT, REFUSED, UNREACHABLE, WOULD_CHARGE = (
    "charged", "already_charged", "declined_retry_scheduled", "dunning_exhausted", "waiting_for_retry",
    "no_vault_profile", "refused", "paytrace_unreachable", "would_charge")
PAID_BY_CARD = "paid_by_card"  # a card payment of the customer's own already names the invoice: not charged
EXCEPTION_OUTCOMES = (DUNNING_EXHAUSTED, NO_VAULT, REFUSED, UNREACHABLE)
MAX_REFERENCE = 80  # posting_ledger.reference
CHARGE_DESCRIPTION = "PaySync charge"  # each charge's PayTrace description: this, then its ledger reference


class ChargeUncertain(PayTraceError):
    """No certain answer after every send the ledger allows; the next run looks it up first."""


@dataclass(frozen=True)
class ChargeRules:
    """The mapping file's ``charges``: when a declined charge is tried again (days after the due date)."""

    retry_after_days: tuple[int, ...] = (3, 7)
    description: str = CHARGE_DESCRIPTION

    def attempt_dates(self, due: date) -> list[date]:
        return [due, *(due + timedelta(days=d) for d in self.retry_after_days)]


@dataclass(frozen=True)
class ChargeOutcome:
    """One installment on one business date."""

    installment: DueInstallment
    outcome: str
    attempt: int  # the attempt this date made or found (0: none)
    vault_id: str
    paytrace_transaction_id: int | None = None
    reason: str = ""  # PayTrace's words for a decline or a refusal; why nothing was sent
    next_attempt: date | None = None
    exhausted_on: date | None = None  # dunning_exhausted: the business date of the last try

    def is_exception_on(self, day: date) -> bool:
        """Whether ``day``'s run reports it to the exception queue: a dunning that ran out only on the
        date of its last try (later dates' rows say it stays open; one exception, not one a date)."""
        return self.outcome in EXCEPTION_OUTCOMES and (self.outcome != DUNNING_EXHAUSTED or self.exhausted_on == day)


def reference(inst: DueInstallment, attempt: int) -> str:
    ref = f"CHG:{inst.erp}:{inst.invoice_number}:{inst.installment_id}:{attempt}"
    if len(ref) <= MAX_REFERENCE:
        return ref
    digest = hashlib.sha256(ref.encode()).hexdigest()[:16]  # a long invoice number: still one reference each
    return f"CHG:{inst.erp}:{digest}:{attempt}"


def charge_token(ref: str) -> str:
    """The attempt's mark in PayTrace's description: 16 letters from its reference. Letters only, because
    the description comes back with the payment and is read for invoice numbers, and a long digit run
    (an Oracle installment id) would be masked as a card number."""
    digest = hashlib.sha256(ref.encode()).digest()
    return "".join(chr(ord("A") + b % 26) for b in digest[:16])


def installment_key(inst: DueInstallment) -> int:
    """A stable negative number standing for the installment where a PayTrace transaction id is asked
    for (the exception queue's key) and no charge exists yet."""
    return stand_in_id(f"{inst.erp}:{inst.invoice_number}:{inst.installment_id}")


def _answer(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The PayTrace transaction id and the outcome, from a sale's answer or an export record."""
    txn = int(item.get("transaction_id") or 0)
    if "response_code" in item:  # the sale's own answer
        approved = bool(item.get("success")) and int(item.get("response_code") or 0) == 101
    else:  # found in the export
        approved = state_of(item) not in ("declined", "voided")
    reason = " ".join(str(item.get("approval_message") or item.get("status_message") or "").split())
    return str(txn), {"outcome": APPROVED if approved else DECLINED, "paytrace_transaction_id": txn,
                      "reason": reason if not approved else ""}


class Charger:
    """Charges the installments of one ERP through one PayTrace client, recording every attempt."""

    def __init__(self, ledger: Ledger, client: Any, rules: ChargeRules, *,
                 vault_of: Callable[[DueInstallment], str | None], log: Callable[[str], None] = lambda _m: None):
        if ledger.erp != LEDGER_SYSTEM:
            raise ValueError(f"charges are recorded in the {LEDGER_SYSTEM!r} ledger")
        self.ledger, self.client, self.rules, self.vault_of, self.log = ledger, client, rules, vault_of, log

    def run(self, installments: Sequence[DueInstallment], day: date, *, dry_run: bool = False,
            paid_by_card: Mapping[str, int] | None = None) -> list[ChargeOutcome]:
        """What ``day`` does with each installment (``dry_run``: what it would do; nothing sent or recorded).
        ``paid_by_card``: invoice number -> a PayTrace payment of the customer's own that names it, not yet
        applied in the ERP; such an invoice is not charged (its balance would be paid twice)."""
        paid = paid_by_card or {}
        return [self._one(inst, day, dry_run, paid.get(inst.invoice_number)) for inst in installments]

    def _one(self, inst: DueInstallment, day: date, dry_run: bool, paid_by: int | None) -> ChargeOutcome:
        vault = self.vault_of(inst)
        dates = self.rules.attempt_dates(inst.due_date)
        stored = self.ledger.get_many(reference(inst, k) for k in range(1, len(dates) + 1))
        if paid_by and reference(inst, 1) not in stored:  # never tried: a payment of its own is on the way
            return ChargeOutcome(inst, PAID_BY_CARD, 0, vault or "", paid_by,
                                 f"PayTrace transaction {paid_by} of the customer already names the invoice")
        if not vault:
            return ChargeOutcome(inst, NO_VAULT, 0, "", reason=f"customer {inst.customer_account} has no PayTrace "
                                                               "vault profile linked in the mapping file")
        last_decline: Entry | None = None
        for k, when in enumerate(dates, start=1):
            entry = stored.get(reference(inst, k))
            if entry is not None and entry.posted:
                if entry.detail.get("outcome") == APPROVED:
                    return ChargeOutcome(inst, ALREADY_CHARGED, k, vault, int(entry.erp_id or 0))
                last_decline = entry
                continue
            if last_decline is not None:  # one try a date at most, however late the first was made
                when = max(when, last_decline.business_date + timedelta(days=1))
            if entry is None and when > day:
                return ChargeOutcome(inst, WAITING, k - 1, vault, _txn(last_decline), _reason(last_decline), when)
            if dry_run:
                return ChargeOutcome(inst, WOULD_CHARGE, k, vault, next_attempt=when)
            return self._attempt(inst, k, vault, day, entry, dates)
        return ChargeOutcome(inst, DUNNING_EXHAUSTED, len(dates), vault, _txn(last_decline), _reason(last_decline),
                             exhausted_on=last_decline.business_date if last_decline is not None else None)

    def _attempt(self, inst: DueInstallment, k: int, vault: str, day: date, entry: Entry | None,
                 dates: list[date]) -> ChargeOutcome:
        ref = reference(inst, k)
        if entry is None:
            intent = Entry(LEDGER_SYSTEM, ref, 0, CHARGE, day, inst.amount_minor, inst.currency, detail={
                "erp": inst.erp, "invoice": inst.invoice_number, "installment": inst.installment_id,
                "customer_account": inst.customer_account, "vault_id": vault, "attempt": k,
                "due_date": inst.due_date.isoformat()})
            entry = self.ledger.record_intents([intent])[ref]
        description = f"{self.rules.description} {charge_token(ref)}"
        try:
            done = send_once(
                self.ledger, entry,
                find=lambda: self._find(vault, description, entry.business_date),
                create=lambda: self.client.sale_by_customer(vault, entry.amount_minor,
                                                            invoice_id=inst.invoice_number if inst.names_invoice else None,
                                                            description=description),
                answered=_answer, uncertain=(PayTraceOutcomeUnknown,), refused=(PayTraceApiError,),
                exhausted=ChargeUncertain)
        except PayTraceApiError as exc:
            return ChargeOutcome(inst, REFUSED, k, vault, reason=str(exc))
        except PayTraceError as exc:  # unreachable, or still uncertain: the ledger looks it up next time
            return ChargeOutcome(inst, UNREACHABLE, k, vault, reason=str(exc))
        txn = int(done.erp_id or 0)
        if done.detail.get("outcome") == APPROVED:
            self.log(f"{ref}: charged {format_amount(inst.amount_minor, inst.currency)} as PayTrace transaction {txn}")
            return ChargeOutcome(inst, CHARGED, k, vault, txn)
        later = max(dates[k], day + timedelta(days=1)) if k < len(dates) else None
        reason = str(done.detail.get("reason") or "declined")
        self.log(f"{ref}: declined ({reason})" + (f"; tried again on {later}" if later else "; no retry left"))
        if later is None:
            return ChargeOutcome(inst, DUNNING_EXHAUSTED, k, vault, txn, reason, exhausted_on=done.business_date)
        return ChargeOutcome(inst, DECLINED_RETRY, k, vault, txn, reason, later)

    def _find(self, vault: str, description: str, since: date) -> dict[str, Any] | None:
        """The attempt in PayTrace's export, by its token in the description (None: not made).

        From the day before the attempt's business date to the day after today by the clock: a charge for
        an earlier date (a backfill, a late run) is made now, and PayTrace dates it now."""
        records = self.client.export_transactions(since - timedelta(days=1), max(since, utcnow().date()) + timedelta(days=1),
                                                  customer_id=vault)
        found = [r for r in records if str(r.get("description") or "").strip() == description]
        return found[-1] if found else None


def _txn(entry: Entry | None) -> int | None:
    return int(entry.erp_id or 0) or None if entry is not None else None


def _reason(entry: Entry | None) -> str:
    return str(entry.detail.get("reason") or "") if entry is not None else ""



def vault_links(customer_map: Mapping[str, Any], erp: str, vault_ids: Iterable[str], *,
                account_is_vault_id: bool) -> Callable[[DueInstallment], str | None]:
    """Which vault profile pays an ERP customer's invoices: the PayTrace customer id the mapping file's
    ``customers.map`` links to the account, else (``account_is_vault_id``: the ``id`` look-up is on) a
    profile under the account number itself; only profiles PayTrace's vault holds."""
    held = set(vault_ids)
    linked: dict[str, str] = {}
    for paytrace_id, accounts in customer_map.items():
        account = getattr(accounts, erp, None)
        if account and paytrace_id in held:
            linked.setdefault(str(account), str(paytrace_id))

    def vault_of(inst: DueInstallment) -> str | None:
        if inst.customer_account in linked:
            return linked[inst.customer_account]
        return inst.customer_account if account_is_vault_id and inst.customer_account in held else None

    return vault_of
