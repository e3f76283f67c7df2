"""In-memory store of the PayTrace sandbox: tokens, transactions, batches, vault customers.

Transactions are the generator's plain tuples (layout in ``generator``); a change (void, capture,
settlement) replaces the tuple, so a reader that took a snapshot list under the lock can render it
afterwards without holding the lock. Every public method takes the lock: handlers run in Starlette's
thread pool, the fault injector calls ``expire_tokens`` from the event loop, tests call in directly.

Errors a PayTrace call can make are raised as :class:`PayTraceRefusal` (error code + message + HTTP
status); ``app`` turns them into PayTrace's error JSON. Card data: only what PCI DSS allows in the
clear is ever stored (brand, first six, last four, expiry); full numbers and CSCs are dropped by the
app before anything reaches this module.
"""

from __future__ import annotations

import base64
import gc
import random
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable

from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE, business_date, zone

from . import generator as g
from .generator import AMOUNT, APPROVED, BATCH, CARD, CREATED, ID, ORIGINAL_ID, TYPE, GeneratedDay

DEFAULT_USERNAME = "paysync-demo"
DEFAULT_PASSWORD = "paysync-demo-password"
DEFAULT_INTEGRATOR_ID = "9575315uXt4u"
TOKEN_TTL_SECONDS = 7200
_MAX_TOKENS = 10_000


class PayTraceRefusal(Exception):
    """A call PayTrace would answer with ``success: false`` and an ``errors`` entry."""

    def __init__(self, code: str, message: str, http_status: int = 400, **extra: object):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.http_status, self.extra = code, message, http_status, extra


@dataclass(frozen=True)
class HistorySpec:
    """What ``generate`` was (or will be) called with; kept so ``reset`` can restore it."""
    seed: int
    start_date: date
    end_date: date
    per_day: int
    # Seed the ERPs with card-on-file invoices too, and expire one of their customers' vault cards
    # (see ``sandbox/card_on_file.py``); off by default, so the default seed is exactly the catalogue.
    card_on_file: bool = False


class FakeClock:
    """A settable sandbox clock (UTC epoch seconds) for tests and demos that must control time."""

    def __init__(self, epoch: float):
        self.epoch = float(epoch)

    def __call__(self) -> float:
        return self.epoch

    def advance(self, seconds: float) -> None:
        self.epoch += seconds


class Batch:
    """A closed settlement batch with its totals, computed once when it closes."""

    __slots__ = ("number", "closed_at", "ids", "sales_count", "sales_amount", "refund_count", "refund_amount", "brands")

    def __init__(self, number: int, closed_at: int):
        self.number, self.closed_at = number, closed_at
        self.ids: list[int] = []
        self.sales_count = self.sales_amount = self.refund_count = self.refund_amount = 0
        self.brands: dict[str, list[int]] = {}  # brand -> [sales_count, sales_amount, refund_count, refund_amount]

    def add(self, rec: tuple) -> None:
        self.ids.append(rec[ID])
        row = self.brands.get(rec[CARD][0])
        if row is None:
            row = self.brands[rec[CARD][0]] = [0, 0, 0, 0]
        if rec[TYPE] == "REFUND":
            self.refund_count += 1
            self.refund_amount += rec[AMOUNT]
            row[2] += 1
            row[3] += rec[AMOUNT]
        else:
            self.sales_count += 1
            self.sales_amount += rec[AMOUNT]
            row[0] += 1
            row[1] += rec[AMOUNT]


class PayTraceState:
    def __init__(self, *, username: str = DEFAULT_USERNAME, password: str = DEFAULT_PASSWORD,
                 integrator_id: str = DEFAULT_INTEGRATOR_ID, tz_name: str = DEFAULT_MERCHANT_TIMEZONE,
                 clock: Callable[[], float] = time.time, token_ttl: int = TOKEN_TTL_SECONDS, seed: int = 0,
                 history: HistorySpec | None = None):
        zone(tz_name)  # fail early on a bad zone name
        self.username, self.password, self.integrator_id = username, password, integrator_id
        self.tz_name, self.clock, self.token_ttl, self.seed = tz_name, clock, token_ttl, seed
        self.lock = threading.RLock()
        self.history = history
        self.reset()

    # -- whole-store operations -------------------------------------------------------------

    def reset(self) -> dict:
        """Back to the start: empty, then the startup history (if any) generated again."""
        with self.lock:
            self.tokens: dict[str, float] = {}  # token -> expiry (sandbox epoch)
            self._clear_data(next_id=500_000_000, next_batch=1)
            self._rng = random.Random(self.seed)
            if self.history is not None:
                return self.generate(self.history)
            return self.counts()

    def _clear_data(self, next_id: int, next_batch: int) -> None:
        self.txns: dict[int, tuple] = {}
        self.by_day: dict[date, list[int]] = defaultdict(list)  # merchant-local creation date -> ids
        self.batches: dict[int, Batch] = {}
        self.pending: dict[int, int] = {}  # open batch: id -> when it became settleable
        self.refunded: dict[int, int] = defaultdict(int)  # original id -> cents refunded (not voided)
        self.customers: dict[str, dict] = {}
        self.next_id, self.next_batch = next_id, next_batch

    def generate(self, spec: HistorySpec) -> dict:
        """Replace every transaction, batch and vault customer with generated history (tokens stay).

        ``reset`` still goes back to the startup history, not to this one."""
        with self.lock:
            self._clear_data(next_id=0, next_batch=0)
            days = g.generate(spec.seed, spec.start_date, spec.end_date, spec.per_day, self.tz_name, self.username)
            # Bulk loading makes millions of acyclic containers; the cyclic GC would rescan the
            # growing heap again and again for nothing.
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                self._load(days)
                catalogue = g.customer_catalogue(spec.seed, spec.per_day, spec.start_date.year)
            finally:
                if was_enabled:
                    gc.enable()
            for c in catalogue:
                if c["vault"]:
                    self.customers[c["account"]] = {
                        "customer_id": c["account"], "card": c["card"], "billing": c["billing"], "shipping": None,
                        "email": c["email"], "phone": c["phone"], "fax": ""}
            if getattr(spec, "card_on_file", False):
                from ..card_on_file import expired_card, expired_card_account

                expired = expired_card_account(spec.seed, spec.per_day, spec.start_date.year)
                if expired in self.customers:  # its card expired since: a charge against it is declined
                    profile = self.customers[expired]
                    profile["card"] = expired_card(profile["card"], spec.start_date.year)
            return self.counts()

    def _load(self, days: Iterable[GeneratedDay]) -> None:
        txns, refunded, pending = self.txns, self.refunded, self.pending
        closes: dict[int, int] = {}
        last_id = 0
        for day in days:
            if day.batch is not None:
                closes[day.batch[0]] = day.batch[1]
            ids = self.by_day[day.day]
            for rec in day.transactions:
                txns[rec[ID]] = rec
                ids.append(rec[ID])
                if rec[ORIGINAL_ID]:
                    refunded[rec[ORIGINAL_ID]] += rec[AMOUNT]
                if rec[BATCH] == 0 and rec[APPROVED] and rec[TYPE] in g.SETTLEABLE_TYPES:
                    pending[rec[ID]] = rec[CREATED]
            if ids:
                last_id = ids[-1]
        for number in sorted(closes):
            self.batches[number] = Batch(number, closes[number])
        for rec in txns.values():
            if rec[BATCH]:
                self.batches[rec[BATCH]].add(rec)
        self.next_id = (last_id or 500_000_000) + 1
        self.next_batch = max(self.batches, default=0) + 1

    def counts(self) -> dict:
        with self.lock:
            return {"transactions": len(self.txns), "batches": len(self.batches), "open_batch": len(self.pending),
                    "customers": len(self.customers), "tokens": len(self.tokens)}

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def tick(self) -> None:
        """Close every 8 pm batch the sandbox clock has passed since the oldest open transaction.

        Called before each API call, so a long-running sandbox settles every evening the way a
        merchant account does, without a background thread.
        """
        with self.lock:
            now = self.now()
            while self.pending:
                oldest = min(self.pending.values())
                close = self._next_close(oldest)
                if close > now:
                    return
                self._close(close, [i for i, t in self.pending.items() if t < close])

    def _next_close(self, epoch: int) -> int:
        """The first 8 pm merchant time strictly after ``epoch`` (a transaction at 8:00:00 pm waits a day)."""
        day = business_date(datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None), self.tz_name)
        close = g.local_epoch(day, g.BATCH_CLOSE_HOUR, self.tz_name)
        return close if close > epoch else g.local_epoch(day + timedelta(days=1), g.BATCH_CLOSE_HOUR, self.tz_name)

    def _close(self, closed_at: int, ids: list[int]) -> Batch | None:
        if not ids:
            return None
        batch = Batch(self.next_batch, closed_at)
        self.next_batch += 1
        for i in sorted(ids, key=lambda i: (self.pending[i], i)):
            del self.pending[i]
            rec = self._replace(i, BATCH, batch.number)
            batch.add(rec)
        self.batches[batch.number] = batch
        return batch

    def settle(self) -> Batch | None:
        """The sandbox's ``transactions/settle``: close the open batch now (None when it is empty)."""
        with self.lock:
            now = self.now()
            return self._close(now, [i for i, t in self.pending.items() if t <= now])

    # -- tokens -------------------------------------------------------------------------------

    def check_credentials(self, username: str, password: str) -> bool:
        return secrets.compare_digest(username.encode(), self.username.encode()) and \
            secrets.compare_digest(password.encode(), self.password.encode())

    def issue_token(self) -> str:
        # Live tokens look like hex:hex:base64url (three segments, see the spec's samples).
        token = ":".join((secrets.token_hex(7), secrets.token_hex(7),
                          base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()))
        with self.lock:
            if len(self.tokens) >= _MAX_TOKENS:  # a client that logs in per call must not grow this forever
                for old in sorted(self.tokens, key=self.tokens.__getitem__)[: _MAX_TOKENS // 2]:
                    del self.tokens[old]
            self.tokens[token] = self.clock() + self.token_ttl
        return token

    def token_problem(self, token: str) -> str | None:
        """None when usable, else PayTrace's error_description."""
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None:
            return "The access token is invalid"
        if self.clock() >= expiry:
            return "The access token expired"
        return None

    def expire_tokens(self) -> int:
        with self.lock:
            now = self.clock()
            live = [t for t, exp in self.tokens.items() if exp > now]
            for t in live:
                self.tokens[t] = now
            return len(live)

    # -- transactions -------------------------------------------------------------------------

    def _replace(self, txn_id: int, *changes: object) -> tuple:
        rec = list(self.txns[txn_id])
        for pos, value in zip(changes[::2], changes[1::2]):
            rec[pos] = value
        new = self.txns[txn_id] = tuple(rec)
        return new

    def add(self, fields: list) -> tuple:
        """Store a new transaction; ``fields`` is a full record whose ID, CREATED and BATCH are set here."""
        with self.lock:
            self.next_id += 1 + self._rng.randrange(3)
            now = self.now()
            fields[ID], fields[CREATED], fields[BATCH] = self.next_id, now, 0
            rec = tuple(fields)
            self.txns[rec[ID]] = rec
            self.by_day[business_date(datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None), self.tz_name)].append(rec[ID])
            if rec[APPROVED] and rec[TYPE] in g.SETTLEABLE_TYPES:
                self.pending[rec[ID]] = now
            if rec[ORIGINAL_ID]:
                self.refunded[rec[ORIGINAL_ID]] += rec[AMOUNT]
            return rec

    def get(self, txn_id: int) -> tuple:
        with self.lock:
            rec = self.txns.get(txn_id)
        if rec is None:
            raise PayTraceRefusal("58", "Please provide a valid Transaction ID.")
        return rec

    def approval_code(self) -> str:
        with self.lock:
            return format(self._rng.getrandbits(24), "06X")

    def capture(self, txn_id: int, amount: int | None) -> tuple:
        with self.lock:
            rec = self.get(txn_id)
            if rec[TYPE] != "AUTHORIZATION" or not rec[APPROVED]:
                raise PayTraceRefusal("815", "The Transaction ID that you provided could not be captured.")
            if amount is None:
                amount = rec[AMOUNT]
            if amount > rec[AMOUNT]:
                raise PayTraceRefusal("816", "The capture amount cannot exceed the authorized amount.")
            self.pending[txn_id] = self.now()
            return self._replace(txn_id, TYPE, "CAPTURE", AMOUNT, amount)

    def void(self, txn_id: int) -> tuple:
        with self.lock:
            rec = self.get(txn_id)
            if rec[BATCH]:
                raise PayTraceRefusal("818", "The Transaction ID that you provided could not be voided. "
                                             "Only unsettled transactions can be voided.")
            if rec[TYPE] == "VOID" or not rec[APPROVED]:
                raise PayTraceRefusal("818", "The Transaction ID that you provided could not be voided.")
            self.pending.pop(txn_id, None)
            if rec[ORIGINAL_ID]:
                self.refunded[rec[ORIGINAL_ID]] -= rec[AMOUNT]
            return self._replace(txn_id, TYPE, "VOID")

    def refundable(self, txn_id: int, amount: int | None) -> tuple[tuple, int]:
        """The original and the amount to refund, or the refusal PayTrace gives."""
        with self.lock:
            rec = self.get(txn_id)
            if not rec[BATCH]:
                raise PayTraceRefusal("817", "The Transaction ID that you provided could not be refunded. Only "
                                             "settled transactions can be refunded.  Please try to void the "
                                             "transaction instead.")
            if rec[TYPE] not in ("SALE", "CAPTURE"):
                raise PayTraceRefusal("819", "The Transaction ID that you provided could not be refunded.")
            left = rec[AMOUNT] - self.refunded.get(txn_id, 0)
            if amount is None:
                amount = left
            if amount <= 0 or amount > left:
                raise PayTraceRefusal("819", "The refund amount exceeds the amount that can be refunded "
                                             "for this Transaction ID.")
            return rec, amount

    # -- queries ------------------------------------------------------------------------------

    def between(self, start: date, end: date) -> list[tuple]:
        """Snapshot of every transaction created on merchant-local dates start..end, in creation order."""
        with self.lock:
            out: list[tuple] = []
            txns = self.txns
            day = start
            while day <= end:
                ids = self.by_day.get(day)
                if ids:
                    out.extend(txns[i] for i in ids)
                day += timedelta(days=1)
            return out

    def batch_closes(self) -> dict[int, int]:
        with self.lock:
            return {n: b.closed_at for n, b in self.batches.items()}

    def open_batch(self) -> Batch:
        """The pending settlement as an unnumbered-yet batch (its number is the next one)."""
        with self.lock:
            batch = Batch(self.next_batch, 0)
            for i in self.pending:
                batch.add(self.txns[i])
            return batch

    def batch(self, number: int) -> tuple[Batch, list[tuple]]:
        with self.lock:
            b = self.batches.get(number)
            if b is None:
                raise PayTraceRefusal("953", "Please provide a valid Batch Number.")
            return b, [self.txns[i] for i in b.ids]

    def batches_closed_between(self, start: date, end: date) -> list[Batch]:
        with self.lock:
            bs = list(self.batches.values())
        out = []
        for b in bs:
            d = business_date(datetime.fromtimestamp(b.closed_at, timezone.utc).replace(tzinfo=None), self.tz_name)
            if start <= d <= end:
                out.append(b)
        return sorted(out, key=lambda b: b.number)

    # -- vault --------------------------------------------------------------------------------

    def customer(self, customer_id: str) -> dict:
        with self.lock:
            c = self.customers.get(customer_id)
        if c is None:
            raise PayTraceRefusal("30", f"Customer ID, {customer_id}, was not found or is incomplete.")
        return c

    def create_customer(self, profile: dict) -> dict:
        with self.lock:
            if profile["customer_id"] in self.customers:
                raise PayTraceRefusal("171", "Please provide a unique customer ID.")
            self.customers[profile["customer_id"]] = profile
            return profile

    def update_customer(self, customer_id: str, changes: dict, new_id: str | None) -> dict:
        with self.lock:
            profile = dict(self.customer(customer_id))
            if new_id and new_id != customer_id and new_id in self.customers:
                raise PayTraceRefusal("171", "Please provide a unique customer ID.")
            profile.update(changes)
            if new_id and new_id != customer_id:
                del self.customers[customer_id]
                profile["customer_id"] = new_id
            self.customers[profile["customer_id"]] = profile
            return profile

    def delete_customer(self, customer_id: str) -> dict:
        with self.lock:
            profile = self.customer(customer_id)
            del self.customers[customer_id]
            return profile

    def all_customers(self) -> list[dict]:
        with self.lock:
            return list(self.customers.values())
