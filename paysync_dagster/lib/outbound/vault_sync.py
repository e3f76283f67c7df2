"""Customer vault sync: ERP customer accounts and PayTrace vault profiles kept in step, both ways.

A link is an ERP account and the PayTrace customer id of its profile: the mapping file's
``customers.map`` (the stable id, kept there), else a profile named by the account number (when the
mapping's ``id`` look-up is on), else the link this sync made when it created the profile. For each
link, the last values both sides agreed on (the *base*) are kept; a run compares each side with it:

- neither changed, or both to the same values: in step (the base follows);
- one side changed: its changed fields are written to the other (PayTrace ``customer/update``; Sage
  300 ``PATCH AR/ARCustomers``; Oracle's REST API has no write for customer accounts, so a change made
  in PayTrace for an Oracle customer becomes an exception telling what to key in Oracle);
- both changed, differently: a conflict: one exception with both versions and the base, nothing
  written, until a person makes one side agree with the other;
- first sync of a link (no base yet) whose sides differ: the mapping's ``vault_sync.first_sync`` says
  who wins (``erp`` by default: the ERP is the system of record for its customers), or ``review``;
- the ERP account deleted: the profile is deleted (never more than ``max_deletions`` a run: an ERP
  answer missing many accounts is more likely a fault than a purge; above it, an exception);
- the profile deleted in PayTrace: the link is dropped and the ERP account left alone (an account
  has invoices; PaySync never deletes one);
- an account that pays by card on file with no profile: one is created from the customer's last card
  payment (``customer/create_from_transaction``: no card number passes through PaySync).

Every write is a posting-ledger entry committed before the call and looked up before any resend,
so each change is made once whatever is retried or redelivered. Only the vault id and the masked
card number are ever read; no card number is on either side.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from paysync_dagster.lib.orders import send_once
from paysync_dagster.lib.outbound.keys import stand_in_id
from paysync_dagster.lib.outbound.contacts import CONTACT_FIELDS, differing, from_paytrace, same, standardize, to_paytrace
from paysync_dagster.lib.paytrace.errors import PayTraceApiError, PayTraceError, PayTraceOutcomeUnknown
from paysync_dagster.lib.posting.erp import OutcomeUnknown, RejectedError, UnavailableError
from paysync_dagster.lib.posting.ledger import FAILED as NOT_MADE, Entry, Ledger

LEDGER_SYSTEM = "paytrace"
PROFILE_CREATE, PROFILE_UPDATE, PROFILE_DELETE, CUSTOMER_UPDATE = (
    "profile_create", "profile_update", "profile_delete", "customer_update")  # ledger actions
# What happened to a link (or an account) in a run.
IN_STEP, TO_PAYTRACE, TO_ERP, CONFLICT, KEY_IN_ERP, CREATED, DELETED, UNLINKED, NO_CARD, REVIEW_FIRST, HELD, FAILED = (
    "in_step", "updated_in_paytrace", "updated_in_erp", "conflict", "key_in_erp", "profile_created",
    "profile_deleted", "unlinked", "no_card_payment", "first_sync_review", "deletion_held", "failed")
UNREACHABLE = "unreachable"  # no answer (or no certain one): the next run looks first, then sends
NO_PROFILE = "profile_missing"  # customers.map names a PayTrace customer id the vault does not hold
WOULD = "would_"  # a dry run's outcomes: would_<outcome>
EXCEPTION_OUTCOMES = (CONFLICT, KEY_IN_ERP, REVIEW_FIRST, HELD, FAILED, UNREACHABLE)
MAX_REFERENCE = 80
FIRST_SYNC = ("erp", "paytrace", "review")

# The contact fields each ERP keeps that this sync compares. Oracle's REST API gives an account's
# name and one bill-to address line of undocumented layout (no e-mail, no phone): only the name.
SYNCED_FIELDS: dict[str, tuple[str, ...]] = {"sage": CONTACT_FIELDS, "oracle": ("name",)}


@dataclass(frozen=True)
class LinkState:
    """What the last run left for a link (the ``customer_sync_links`` row)."""

    erp: str
    account: str
    vault_id: str
    base: dict[str, str] | None  # the standardized values both sides last agreed on (None: never synced)
    reported_on: date | None = None  # when the open conflict (or key-in-ERP task) was first reported


@dataclass(frozen=True)
class SyncOutcome:
    erp: str
    account: str
    vault_id: str
    outcome: str
    fields: tuple[str, ...] = ()
    reason: str = ""
    erp_version: dict[str, str] | None = None
    paytrace_version: dict[str, str] | None = None
    base: dict[str, str] | None = None
    reported_on: date | None = None

    def is_exception_on(self, day: date) -> bool:
        """A conflict or a task for a person is reported once, on the date it was first seen."""
        return self.outcome in EXCEPTION_OUTCOMES and (self.reported_on is None or self.reported_on == day)


@dataclass(frozen=True)
class SyncRules:
    """The mapping file's ``vault_sync``."""

    first_sync: str = "erp"
    max_deletions: int = 3

    def __post_init__(self) -> None:
        if self.first_sync not in FIRST_SYNC:
            raise ValueError(f"vault_sync.first_sync: {self.first_sync!r} is not one of {', '.join(FIRST_SYNC)}")


@dataclass
class SyncInput:
    """What both sides hold now."""

    erp: str
    accounts: Mapping[str, Mapping[str, str]]  # ERP account -> its customer-master row
    profiles: Mapping[str, Mapping[str, Any]]  # PayTrace customer id -> its exported profile
    links: Mapping[str, LinkState]  # ERP account -> the last run's state
    mapped: Mapping[str, str]  # ERP account -> PayTrace customer id, from customers.map
    account_is_vault_id: bool  # the mapping's ``id`` look-up: a profile named by the account number is its own
    card_accounts: Iterable[str] = ()  # accounts that pay by card on file
    last_card_payment: Mapping[str, int] = field(default_factory=dict)  # account -> a card transaction of theirs


def _key(value: str) -> str:
    return value if len(value) <= 24 else hashlib.sha256(value.encode()).hexdigest()[:16]


def reference(erp: str, account: str, action: str, target: Mapping[str, str] | None) -> str:
    digest = hashlib.sha256(json.dumps(target or {}, sort_keys=True).encode()).hexdigest()[:12]
    return f"VLT:{erp}:{_key(account)}:{action}:{digest}"[:MAX_REFERENCE]


def account_key(erp: str, account: str) -> int:
    """A stable negative number standing for the account where a PayTrace transaction id is asked for."""
    return stand_in_id(f"vault:{erp}:{account}")


def new_vault_id(erp: str, account: str, account_is_vault_id: bool) -> str:
    """The stable id of a profile this sync creates: the account number itself when the mapping's ``id``
    look-up links such profiles already, else the ERP's name and the account number."""
    return account if account_is_vault_id else f"{erp.upper()}-{account}"


def _only(contact: Mapping[str, str], fields: Sequence[str]) -> dict[str, str]:
    return {f: contact.get(f, "") for f in fields}


class VaultSync:
    """One ERP's links against PayTrace's vault, every write through the ledgers."""

    def __init__(self, erp: str, paytrace: Any, *, erp_writer: Callable[[str, dict[str, str]], None] | None,
                 erp_reader: Callable[[str], Mapping[str, str] | None], paytrace_ledger: Ledger,
                 erp_ledger: Ledger | None, rules: SyncRules, currency: str,
                 log: Callable[[str], None] = lambda _m: None):
        self.erp, self.paytrace, self.erp_writer, self.erp_reader = erp, paytrace, erp_writer, erp_reader
        self.pt_ledger, self.erp_ledger, self.rules, self.currency, self.log = (
            paytrace_ledger, erp_ledger, rules, currency, log)
        self.fields = SYNCED_FIELDS.get(erp, ("name",))

    # -- planning ------------------------------------------------------------------------------

    def _linked(self, data: SyncInput) -> dict[str, str]:
        """ERP account -> PayTrace customer id, for every account that has a link."""
        out = {a: s.vault_id for a, s in data.links.items()}
        for account in data.accounts:
            if account in data.mapped:
                out[account] = data.mapped[account]
            elif account not in out and data.account_is_vault_id and account in data.profiles:
                out[account] = account
        return out

    def run(self, data: SyncInput, day: date, *, dry_run: bool = False) -> list[SyncOutcome]:
        """One outcome per link and per card-on-file account without a profile."""
        linked = self._linked(data)
        outcomes: list[SyncOutcome] = []
        created: dict[str, SyncOutcome] = {}
        for account in sorted(set(data.card_accounts)):
            if account in linked or account not in data.accounts:
                continue
            o = self._create(data, account, day, dry_run)
            if o.outcome == CREATED:
                created[account], linked[account] = o, o.vault_id
            else:
                outcomes.append(o)
        profiles = data.profiles
        if created:  # the new profiles, as PayTrace keeps them
            profiles = {str(p.get("customer_id") or ""): p for p in self.paytrace.export_customers()}
        gone = [a for a in linked if a not in data.accounts and linked[a] in profiles and a in data.links]
        hold = bool(gone) and (not data.accounts or len(gone) > self.rules.max_deletions)
        for account in sorted(linked):
            vault_id = linked[account]
            state = data.links.get(account) or LinkState(self.erp, account, vault_id, None)
            if state.vault_id != vault_id:  # re-linked (customers.map now names another profile): start afresh
                state = LinkState(self.erp, account, vault_id, None)
            o = self._one(state, data.accounts.get(account), profiles.get(vault_id), day, dry_run, hold)
            if account in created and o.outcome in (IN_STEP, TO_PAYTRACE):  # the new profile, brought in step
                o = replace(o, outcome=CREATED, reason=created[account].reason)
            outcomes.append(o)
        return outcomes

    def _settle_pending(self, account: str, vault_id: str) -> None:
        """Writes for the link that an earlier run made without a certain answer: looked up, recorded as
        made when the other side shows them, else as not made (never sent again: the sides are compared
        afresh, and a change still needed is a new write)."""
        for ledger in (self.pt_ledger, self.erp_ledger):
            if ledger is None:
                continue
            for e in ledger.entries(transaction_ids=[account_key(self.erp, account)]):
                if e.posted or e.status == NOT_MADE or not e.attempts or e.action == PROFILE_CREATE:
                    continue
                target, fields = e.detail.get("target") or {}, tuple(e.detail.get("fields") or ())
                found = (self._account_has(account, target, fields) if e.action == CUSTOMER_UPDATE else
                         (None if self._profile(vault_id) is not None else {"customer_id": vault_id})
                         if e.action == PROFILE_DELETE else self._profile_has(vault_id, target, fields))
                if found is not None:
                    ledger.posted({e.reference: account if e.action == CUSTOMER_UPDATE else vault_id})
                else:
                    ledger.failed([e.reference], "not made; superseded by a fresh comparison")

    def _one(self, state: LinkState, erp_row: Mapping[str, str] | None, profile: Mapping[str, Any] | None, day: date,
             dry_run: bool, hold_deletions: bool) -> SyncOutcome:
        f = self.fields
        if not dry_run:
            self._settle_pending(state.account, state.vault_id)
        o = SyncOutcome(self.erp, state.account, state.vault_id, IN_STEP, base=state.base, reported_on=state.reported_on)
        if erp_row is None and profile is None:
            return replace(o, outcome=UNLINKED, base=None, reason="both the account and the profile are gone")
        if profile is None:
            if state.base is None:
                return replace(o, outcome=NO_PROFILE, base=None,
                               reason=f"the linked PayTrace profile {state.vault_id} does not exist")
            return replace(o, outcome=UNLINKED, base=None,
                           reason=f"profile {state.vault_id} was deleted in PayTrace; the link is dropped "
                                  "(and should leave customers.map) and the account is left as it is")
        theirs = _only(from_paytrace(profile), f)
        if erp_row is None:
            if state.base is None:  # never synced: not ours to delete
                return replace(o, outcome=UNLINKED, base=None, reason=f"account {state.account} is not in the ERP")
            if hold_deletions:
                return replace(o, outcome=HELD, paytrace_version=theirs, reported_on=state.reported_on or day,
                               reason="the ERP's answer is missing more accounts than a run deletes profiles for "
                                      f"(at most {self.rules.max_deletions}): profile {state.vault_id} kept")
            return self._write(o, PROFILE_DELETE, None, day, dry_run)
        ours = _only(standardize(erp_row), f)
        o = replace(o, erp_version=ours, paytrace_version=theirs)
        if same(ours, theirs, f):
            return replace(o, outcome=IN_STEP, base=ours, reported_on=None)
        if state.base is None:
            first = self.rules.first_sync
            if first == "review":
                return replace(o, outcome=REVIEW_FIRST, fields=tuple(differing(ours, theirs, f)),
                               reported_on=state.reported_on or day,
                               reason="first sync of the link and the two sides differ: make them agree")
            return self._push(o, ours if first == "erp" else theirs, to_paytrace=first == "erp", day=day, dry_run=dry_run)
        erp_changed, pt_changed = not same(ours, state.base, f), not same(theirs, state.base, f)
        if erp_changed and pt_changed:
            return replace(o, outcome=CONFLICT, fields=tuple(differing(ours, theirs, f)),
                           reported_on=state.reported_on or day,
                           reason="changed in both the ERP and PayTrace since the last sync; nothing was written")
        return self._push(o, ours if erp_changed else theirs, to_paytrace=erp_changed, day=day, dry_run=dry_run)

    # -- writing ---------------------------------------------------------------------------------

    def _push(self, o: SyncOutcome, target: dict[str, str], *, to_paytrace: bool, day: date, dry_run: bool) -> SyncOutcome:
        other = o.paytrace_version if to_paytrace else o.erp_version
        assert other is not None
        changed = tuple(differing(target, other, self.fields))
        o = replace(o, fields=changed)
        if to_paytrace:
            return self._write(o, PROFILE_UPDATE, target, day, dry_run)
        if self.erp_writer is None:
            return replace(o, outcome=KEY_IN_ERP, reported_on=o.reported_on or day,
                           reason=f"changed in PayTrace; {self.erp}'s API has no write for customer accounts: key "
                                  + "; ".join(f"{k} = {target[k]!r}" for k in changed) + f" on account {o.account}")
        return self._write(o, CUSTOMER_UPDATE, target, day, dry_run)

    def _write(self, o: SyncOutcome, action: str, target: dict[str, str] | None, day: date,
               dry_run: bool) -> SyncOutcome:
        done = {PROFILE_UPDATE: TO_PAYTRACE, CUSTOMER_UPDATE: TO_ERP, PROFILE_DELETE: DELETED}[action]
        if dry_run:
            return replace(o, outcome=WOULD + done)
        ledger = self.erp_ledger if action == CUSTOMER_UPDATE else self.pt_ledger
        assert ledger is not None
        sent = _only(target, o.fields) if target is not None else None
        entry = self._intent(ledger, action, o, day, sent)
        if action == PROFILE_UPDATE:
            create = lambda: self.paytrace.update_customer(o.vault_id, **to_paytrace(target, list(o.fields)))  # noqa: E731
            find = lambda: self._profile_has(o.vault_id, target, o.fields)  # noqa: E731
        elif action == PROFILE_DELETE:
            create = lambda: self.paytrace.delete_customer(o.vault_id)  # noqa: E731
            find = lambda: None if self._profile(o.vault_id) is not None else {"customer_id": o.vault_id}  # noqa: E731
        else:
            assert self.erp_writer is not None and target is not None
            create = lambda: (self.erp_writer(o.account, self._erp_values(target, o.fields)), {"customer_id": o.account})[1]  # noqa: E731
            find = lambda: self._account_has(o.account, target, o.fields)  # noqa: E731
        erp_side = action == CUSTOMER_UPDATE
        try:
            send_once(ledger, entry, find=find, create=create,
                      answered=lambda item: (str(item.get("customer_id") or o.vault_id), {}),
                      uncertain=(OutcomeUnknown,) if erp_side else (PayTraceOutcomeUnknown,),
                      refused=(RejectedError,) if erp_side else (PayTraceApiError,),
                      exhausted=lambda m: (OutcomeUnknown if erp_side else PayTraceOutcomeUnknown)(m))
        except (PayTraceApiError, RejectedError, ValueError) as exc:
            return replace(o, outcome=FAILED, reported_on=o.reported_on or day,
                           reason=f"{action.replace('_', ' ')} of {', '.join(o.fields) or 'the profile'} refused: {exc}")
        except (PayTraceError, OutcomeUnknown, UnavailableError) as exc:
            return replace(o, outcome=UNREACHABLE, reported_on=o.reported_on or day,
                           reason=f"{action.replace('_', ' ')}: no certain answer ({exc}); the next run looks it up first")
        self.log(f"{o.erp} account {o.account} / PayTrace {o.vault_id}: {done.replace('_', ' ')}"
                 + (f" ({', '.join(o.fields)})" if o.fields else ""))
        base = None if action == PROFILE_DELETE else dict(target or {})
        return replace(o, outcome=done, base=base, reported_on=None)

    def _erp_values(self, target: Mapping[str, str], fields: Sequence[str]) -> dict[str, str]:
        return {f: target[f] for f in fields}

    def _intent(self, ledger: Ledger, action: str, o: SyncOutcome, day: date, target: Mapping[str, str] | None) -> Entry:
        # One write is one change from what the other side holds to the target: the same change asked
        # again (a redelivery) is the same entry; the other side going back and forth is a new one.
        before = o.paytrace_version if action == PROFILE_UPDATE else o.erp_version if action == CUSTOMER_UPDATE else None
        ref = reference(o.erp, o.account, action, {"to": dict(target or {}), "from": _only(before or {}, o.fields)})
        stored = ledger.get(ref)
        if stored is not None:
            return stored
        intent = Entry(ledger.erp, ref, account_key(o.erp, o.account), action, day, 0, self.currency,
                       detail={"erp": o.erp, "account": o.account, "vault_id": o.vault_id, "fields": list(o.fields),
                               "target": dict(target or {})})
        return ledger.record_intents([intent])[ref]

    def _create(self, data: SyncInput, account: str, day: date, dry_run: bool) -> SyncOutcome:
        vault_id = new_vault_id(self.erp, account, data.account_is_vault_id)
        o = SyncOutcome(self.erp, account, vault_id, CREATED)
        txn = data.last_card_payment.get(account)
        if not txn:
            return replace(o, outcome=NO_CARD, vault_id="",
                           reason="pays by card on file but has no vault profile and no card payment to create one "
                                  "from: ask the customer to enrol a card")
        ref = reference(self.erp, account, PROFILE_CREATE, {"vault_id": vault_id})
        ours = self.pt_ledger.get(ref)
        if vault_id in data.profiles and ours is None:  # the id is another customer's profile
            return replace(o, outcome=FAILED, reported_on=day,
                           reason=f"PayTrace customer id {vault_id} exists and is not linked to this account: link "
                                  "it in customers.map or remove it")
        if dry_run:
            return replace(o, outcome=WOULD + CREATED, reason=f"from PayTrace transaction {txn}")
        row = standardize(data.accounts[account])
        # The ERP's billing address when it keeps one whole (Sage); else the card payment's stays (Oracle
        # gives one line of undocumented layout), and the first sync brings the name in step.
        address = ("name", "address_line1", "address_line2", "city", "state", "postal_code", "country")
        billing = to_paytrace(row, list(address)) if set(address) <= set(self.fields) else {"billing_address": None}
        entry = ours or self.pt_ledger.record_intents([Entry(
            LEDGER_SYSTEM, ref, account_key(self.erp, account), PROFILE_CREATE, day, 0, self.currency,
            detail={"erp": self.erp, "account": account, "vault_id": vault_id, "from_transaction": txn})])[ref]
        try:
            send_once(self.pt_ledger, entry,
                      find=lambda: self._profile(vault_id),
                      create=lambda: self.paytrace.create_customer_from_transaction(
                          vault_id, txn, billing_address=billing["billing_address"],
                          email=row["email"] if "email" in self.fields and row["email"] else None),
                      answered=lambda item: (str(item.get("customer_id") or vault_id), {}),
                      uncertain=(PayTraceOutcomeUnknown,), refused=(PayTraceApiError,),
                      exhausted=PayTraceOutcomeUnknown)
        except PayTraceApiError as exc:
            return replace(o, outcome=FAILED, reported_on=day, reason=f"creating the vault profile was refused: {exc}")
        except PayTraceError as exc:
            return replace(o, outcome=UNREACHABLE, reported_on=day,
                           reason=f"creating the vault profile: no certain answer ({exc}); the next run looks it up first")
        self.log(f"{self.erp} account {account}: vault profile {vault_id} created from PayTrace transaction {txn}")
        return replace(o, reason=f"from PayTrace transaction {txn}")

    # -- look-ups (what an uncertain write left) ------------------------------------------------------

    def _profile(self, vault_id: str) -> dict[str, Any] | None:
        for p in self.paytrace.export_customers():
            if str(p.get("customer_id") or "") == vault_id:
                return p
        return None

    def _profile_has(self, vault_id: str, target: Mapping[str, str], fields: Sequence[str]) -> dict[str, Any] | None:
        p = self._profile(vault_id)
        return p if p is not None and same(from_paytrace(p), target, tuple(fields)) else None

    def _account_has(self, account: str, target: Mapping[str, str], fields: Sequence[str]) -> dict[str, Any] | None:
        row = self.erp_reader(account)
        return {"customer_id": account} if row is not None and same(standardize(row), target, tuple(fields)) else None


def links_after(outcomes: Iterable[SyncOutcome], before: Mapping[str, LinkState]) -> dict[str, LinkState]:
    """The links' state for the next run: the base each outcome leaves; dropped links gone."""
    out: dict[str, LinkState] = {}
    for o in outcomes:
        if o.outcome in (UNLINKED, NO_CARD, NO_PROFILE, DELETED) or o.outcome.startswith(WOULD) or not o.vault_id:
            continue
        if o.outcome in EXCEPTION_OUTCOMES:
            prior = before.get(o.account)
            out[o.account] = LinkState(o.erp, o.account, o.vault_id, prior.base if prior else None, o.reported_on)
        else:
            out[o.account] = LinkState(o.erp, o.account, o.vault_id, o.base)
    return out
