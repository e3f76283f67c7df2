"""Deterministic PayTrace activity history and the ERP invoice catalogue it pays.

``generate(seed, start_date, end_date, per_day)`` yields one :class:`GeneratedDay` per merchant-local
date, in order. The same arguments give the same records every time (ids, amounts, timestamps,
batches): every random draw comes from a ``random.Random`` seeded with a SHA-256 of the seed and a
label, never from the global RNG, ``hash()`` or the wall clock. Each day has its own RNG, and the
only state carried from day to day is counters and the pool of settled, refundable sales.

Each day holds exactly ``per_day`` transaction records created that day (every type counts), in
creation order and with increasing ids. The mix, roughly: keyed sales, vault (``by_customer``)
sales (~20 %), declines (~3 %, still ``SALE``/``AUTHORIZATION`` with ``approval_code`` ""),
authorizations (~8 %; most captured, some partially, some never), sales voided before settlement
(~3 %), and refunds (~5 %, from the second day on) of sales settled in an earlier batch. The batch
closes every day at 8:00 pm merchant time and takes every approved sale, capture and refund created
since the previous close; a refund's original was settled before the refund's day began, so the
refund always lands in a later batch. Transactions after the last day's close stay unsettled.

Records are plain tuples (positions below) sharing their card, address and customer tuples: O(n)
to make, and about a kilobyte each once stored (a 100,000-record day takes ~2-3 s and ~150 MB). Card tuples hold only what PCI DSS allows
to keep in the clear: brand, first six, last four, expiry, length.

Record positions: ID, TYPE ("SALE" | "AUTHORIZATION" | "CAPTURE" | "REFUND" | "VOID"), AMOUNT and TAX
(integer cents; TAX is ``NO_TAX`` when absent), CREATED (UTC epoch seconds), APPROVED (False for a
decline), APPROVAL_CODE, APPROVAL_MESSAGE, AVS, CSC, CARD (brand, first6, last4, exp_month,
exp_year 4 digits, length), BILLING (name, street_address, street_address2, city, state, zip,
country), SHIPPING (name, street_address, street_address2, city, county, state, zip, country, or
None), CUSTOMER_ID (vault id or ""), INVOICE_ID, DESCRIPTION, EMAIL, REFERENCE (customer_reference_id),
CREATED_BY, FROM_IP, ORIGINAL_ID (a refund's original, else 0), BATCH (batch number, 0 = unsettled).

ERP side: ``customer_catalogue(seed, per_day, ref_year)`` is the customer master (a cached tuple of
read-only dicts; ``ref_year`` is the start date's year, which card expiries count from: ``account``
"C10042", ``company``, ``contact``, ``email``, ``phone``, ``billing`` tuple, ``card`` tuple, ``vault``
True when the customer also has a PayTrace vault profile whose customer_id is the account number).
``open_invoices(seed, start_date, end_date, per_day)`` lists the ERP invoices the generated
payments refer to, as dicts::

    {"invoice_number": "INV-004213", "customer_account": "C10042", "customer_name": "Summit Tool Supply Inc.",
     "customer_email": "ap@summittoolsupply.example", "amount_minor": 15499, "currency": "USD",
     "invoice_date": "2024-05-20", "due_date": "2024-06-19", "paid_by": [392483066]}

``paid_by`` is ground truth for tests and demos, not an ERP field: the ids of approved sales and
captures that pay the invoice (empty when its payment was declined, voided, never captured, or when
the invoice simply has no payment yet, which ~3 % are generated as). How a payment names its invoice:
~76 % exactly ("INV-004213"), ~14 % with noise ("inv 4213", "INV4213", "INV-004213 ", "#4213",
"inv-4213", "Invoice 4213", "INV-4213"), ~3 % pay two invoices at once (``invoice_id`` is the first,
``description`` lists both, the amount is their sum), ~5 % name no invoice, ~2 % name one that is not
in the catalogue (a number below the catalogue's first). Single-invoice payments are ~88 % exact,
~8 % short (half, or a 2 % early-payment discount) and ~4 % over (3 % card surcharge or $10 more).
The descriptions of single-invoice payments never repeat the invoice number, so noise has to be read
from ``invoice_id``.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_right
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from statistics import NormalDist
from typing import Iterator, NamedTuple

from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE, date_range, zone

(ID, TYPE, AMOUNT, TAX, CREATED, APPROVED, APPROVAL_CODE, APPROVAL_MESSAGE, AVS, CSC, CARD, BILLING,
 SHIPPING, CUSTOMER_ID, INVOICE_ID, DESCRIPTION, EMAIL, REFERENCE, CREATED_BY, FROM_IP, ORIGINAL_ID,
 BATCH) = range(22)
RECORD_WIDTH = 22
NO_TAX = -1
SETTLEABLE_TYPES = ("SALE", "CAPTURE", "REFUND")
BATCH_CLOSE_HOUR = 20
DEFAULT_API_USER = "paysync-demo"
CURRENCY = "USD"

# Shares of the day's records; the rest are keyed sales.
REFUND_SHARE = 0.05
DECLINE_SHARE = 0.03
VOID_SHARE = 0.03
AUTH_SHARE = 0.08
VAULT_SHARE = 0.20

# (approval_message, avs_response, csc_response), cumulative weight out of 100.
APPROVALS = (
    ("  EXACT MATCH - Approved and completed", "Full Exact Match", "Match"),
    ("  NO  MATCH - Approved and completed", "No Match", ""),
    ("  ZIP MATCH - Approved and completed", "Zip Match", "Match"),
)
_APPROVAL_CUM = (60, 85, 100)
DECLINE_MESSAGE = "    DECLINE - Do not honor"
EXPIRED_MESSAGE = "  EXPIRED CARD - Expired card"
REFUND_APPROVAL = ("  APPROVAL - Approved and completed", "", "")

# Merchant activity by elapsed hour since local midnight: business hours, a thin evening tail after
# the 8 pm close so that every batch also carries the previous evening.
_HOUR_CUM = tuple(accumulate((1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 12, 13, 14, 13, 11, 8, 6, 5, 4, 3, 2, 1)))

_BINS = (  # brand, cumulative weight, BIN prefixes, card length
    ("VISA", 50, ("411111", "424242", "401200", "476173"), 16),
    ("MASTERCARD", 80, ("549974", "545454", "222300", "510510"), 16),
    ("AMEX", 92, ("371449", "378282", "340000"), 15),
    ("DISCOVER", 100, ("601100", "601199", "650000"), 16),
)
_US = (("Portland", "OR", "972", "Multnomah"), ("Seattle", "WA", "981", "King"), ("San Jose", "CA", "951", "Santa Clara"),
       ("Sacramento", "CA", "958", "Sacramento"), ("Phoenix", "AZ", "850", "Maricopa"), ("Denver", "CO", "802", "Denver"),
       ("Austin", "TX", "787", "Travis"), ("Chicago", "IL", "606", "Cook"), ("Columbus", "OH", "432", "Franklin"),
       ("Atlanta", "GA", "303", "Fulton"), ("Boston", "MA", "021", "Suffolk"), ("Reno", "NV", "895", "Washoe"),
       ("Boise", "ID", "837", "Ada"), ("Salt Lake City", "UT", "841", "Salt Lake"), ("Spokane", "WA", "992", "Spokane"))
_CA = (("Toronto", "ON", "M5V", "Toronto"), ("Vancouver", "BC", "V6B", "Greater Vancouver"),
       ("Calgary", "AB", "T2P", "Calgary"), ("Montreal", "QC", "H3B", "Montreal"))
_GB = (("London", "", "SW1A", "Greater London"), ("Manchester", "", "M1", "Greater Manchester"),
       ("Leeds", "", "LS1", "West Yorkshire"), ("Bristol", "", "BS1", "Bristol"))
_STREETS = ("Main St", "Oak Ave", "Industrial Way", "Commerce Dr", "Harbor Blvd", "Maple St", "Cedar Ln",
            "Market St", "Park Ave", "Lake Rd", "Airport Way", "Mill St")
_GB_STREETS = ("High Street", "Station Road", "Church Lane", "Mill Road", "Victoria Street")
_FIRST = ("Anna", "Ben", "Carla", "David", "Elena", "Frank", "Grace", "Hiro", "Ines", "Jamal", "Kate", "Luis",
          "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yuki", "Zoe")
_LAST = ("Smith", "Garcia", "Chen", "Novak", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka", "Walsh", "Kowalski",
         "Nguyen", "Silva", "Murphy", "Larsen", "Haddad", "Ivanova", "Brown", "Dubois", "Moreau")
_CO_A = ("Summit", "Cascade", "Pioneer", "Harbor", "Redwood", "Granite", "Evergreen", "Northwind", "Blue Ridge",
         "Prairie", "Ironwood", "Silverline", "Keystone", "Riverside", "Lakeshore", "Copper Creek")
_CO_B = ("Tool Supply", "Mechanical", "Electric", "Builders", "Logistics", "Foods", "Dental", "Auto Parts",
         "Landscaping", "Office Systems", "Plumbing", "Medical Supply")
_CO_SUFFIX = ("Inc.", "LLC", "Co.", "Ltd.", "Corp.")
_DESCRIPTIONS = ("Invoice payment", "Payment on account", "Parts order", "Service visit", "Monthly maintenance",
                 "Equipment rental", "Consulting services", "Freight and handling")
_NO_INVOICE_DESCRIPTIONS = ("Online order", "Counter sale", "Deposit", "Walk-in service")
_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_TAX_RATES = (0, 0, 0.0725, 0.0825, 0.0875, 0.06, 0.10)
_TERMS = (15, 30, 30, 45)


class _Rng:
    """``random.Random`` drawn only through ``random()``: several times faster than ``choice`` and
    ``randrange`` (which loop on ``getrandbits``), and just as reproducible."""

    __slots__ = ("random", "bits")

    def __init__(self, seed: int):
        r = random.Random(seed)
        self.random, self.bits = r.random, r.getrandbits

    def pick(self, seq):
        return seq[int(self.random() * len(seq))]

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def between(self, lo: int, hi: int) -> int:
        """lo <= x < hi"""
        return lo + int(self.random() * (hi - lo))


class GeneratedDay(NamedTuple):
    day: date
    transactions: list[tuple]
    batch: tuple[int, int] | None  # (number, close as UTC epoch seconds) of the batch closing this day
    invoices: list[dict]


def sub_seed(seed: int, *labels: object) -> int:
    """A 64-bit seed for one purpose; stable across processes (no ``hash()``, so no PYTHONHASHSEED)."""
    text = "|".join(str(part) for part in (seed, *labels))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def local_epoch(day: date, hour: int, tz_name: str) -> int:
    """UTC epoch seconds of ``hour``:00 merchant time on ``day`` (DST-aware)."""
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=zone(tz_name)).timestamp())


def customer_count(per_day: int) -> int:
    return max(30, min(20_000, per_day // 5))


def _address(rng: _Rng, name: str) -> tuple[tuple, str]:
    """(billing tuple, county): mostly US, some Canada and UK."""
    r = rng.random()
    number = str(rng.between(10, 9999))
    street2 = rng.pick(("Suite ", "Unit ")) + str(rng.between(1, 400)) if rng.random() < 0.2 else ""
    if r < 0.85:
        city, state, zip3, county = rng.pick(_US)
        zip_code = f"{zip3}{rng.below(100):02d}"
        return (name, f"{number} {rng.pick(_STREETS)}", street2, city, state, zip_code, "US"), county
    if r < 0.95:
        city, state, fsa, county = rng.pick(_CA)
        zip_code = f"{fsa} {rng.below(10)}{rng.pick(_LETTERS)}{rng.below(10)}"
        return (name, f"{number} {rng.pick(_STREETS)}", street2, city, state, zip_code, "CA"), county
    city, state, outward, county = rng.pick(_GB)
    zip_code = f"{outward} {rng.below(10)}{rng.pick(_LETTERS)}{rng.pick(_LETTERS)}"
    return (name, f"{number} {rng.pick(_GB_STREETS)}", street2, city, state, zip_code, "GB"), county


def _card(rng: _Rng, ref_year: int) -> tuple:
    r = rng.below(100)
    for brand, cum, bins, length in _BINS:
        if r < cum:
            return (brand, rng.pick(bins), f"{rng.below(10000):04d}", rng.between(1, 13),
                    ref_year + rng.between(1, 6), length)
    raise AssertionError("unreachable")


@lru_cache(maxsize=4)  # the generator and the store both need it; callers must not mutate it
def customer_catalogue(seed: int, per_day: int, ref_year: int) -> tuple[dict, ...]:
    """The ERP customer master the generated payments come from; ~40 % also have a vault profile."""
    rng = _Rng(sub_seed(seed, "customers", ref_year))
    out = []
    for i in range(customer_count(per_day)):
        company = f"{rng.pick(_CO_A)} {rng.pick(_CO_B)} {rng.pick(_CO_SUFFIX)}"
        contact = f"{rng.pick(_FIRST)} {rng.pick(_LAST)}"
        slug = company.rsplit(" ", 1)[0].lower().replace(" ", "")
        billing, county = _address(rng, company if rng.random() < 0.5 else contact)
        out.append({
            "account": f"C{10000 + i}", "company": company, "contact": contact,
            "email": f"{rng.pick(('ap', 'billing', 'accounts'))}@{slug}.example",
            "phone": f"({rng.between(201, 990)}) 555-{rng.between(100, 200):04d}",
            "billing": billing, "county": county, "card": _card(rng, ref_year), "vault": rng.random() < 0.4,
        })
    return tuple(out)


# Log-normal invoice totals (median ~ $150, a long tail of big orders) as a quantile table, because
# drawing ``gauss`` and ``exp`` per record is the slowest part of a million-record day.
_AMOUNT_QUANTILES = tuple(
    min(2_500_000, max(500, int(math.exp(5.0 + NormalDist().inv_cdf((i + 0.5) / 4096)) * 100)))
    for i in range(4096))


def _cents(rng: _Rng) -> int:
    return _AMOUNT_QUANTILES[rng.below(4096)] + rng.below(100)


def _noisy_ref(rng: _Rng, n: int) -> str:
    return rng.pick((f"inv {n}", f"INV{n}", f"INV-{n:06d} ", f"#{n}", f"inv-{n}", f"Invoice {n}", f"INV-{n}"))


class _Day:
    """Everything one day's records are drawn from; one instance per generated day."""

    def __init__(self, gen: "_Generator", day: date):
        self.gen = gen
        self.day = day
        self.rng = _Rng(sub_seed(gen.seed, "day", day.isoformat()))
        self.invoices: list[dict] = []
        # (invoice_date, {terms: due_date}) for invoices issued 0-40 days before this day, as ISO text.
        self.issue_dates = [((day - timedelta(days=k)).isoformat(),
                             {t: (day + timedelta(days=t - k)).isoformat() for t in (15, 30, 45)}) for k in range(41)]

    def invoice(self, customer: dict) -> dict:
        rng, gen = self.rng, self.gen
        gen.invoice_no += 1
        issued, due = self.issue_dates[rng.below(41)]
        total = _cents(rng)
        rate = rng.pick(_TAX_RATES)
        inv = {
            "invoice_number": f"INV-{gen.invoice_no:06d}", "customer_account": customer["account"],
            "customer_name": customer["company"], "customer_email": customer["email"], "amount_minor": total,
            "currency": CURRENCY, "invoice_date": issued, "due_date": due[rng.pick(_TERMS)], "paid_by": [],
            # Tax share of the total, for the payment's tax_amount; removed before handing out.
            "_tax": round(total * rate / (1 + rate)) if rate else NO_TAX,
        }
        self.invoices.append(inv)
        return inv

    def primary(self, rec_id: int, created: int) -> list:
        """A sale, authorization, decline or void, with its invoice reference and amount."""
        rng, gen = self.rng, self.gen
        k = rng.random()
        vault = k < VAULT_SHARE
        customer = rng.pick(gen.vault_customers if vault and gen.vault_customers else gen.customers)
        card = customer["card"] if vault or rng.random() < 0.85 else _card(rng, self.day.year)
        # Which invoice(s) the payment names and how.
        r = rng.random()
        paid: list[dict] = []
        tax = NO_TAX
        if r < 0.05:
            amount, ref, desc = _cents(rng), "", rng.pick(_NO_INVOICE_DESCRIPTIONS)
            if rng.random() < 0.5:
                tax = round(amount * 0.0825 / 1.0825)
        elif r < 0.07:
            amount, ref, desc = _cents(rng), f"INV-{rng.between(1, gen.first_invoice):06d}", rng.pick(_DESCRIPTIONS)
        elif r < 0.10:
            paid = [self.invoice(customer), self.invoice(customer)]
            amount = paid[0]["amount_minor"] + paid[1]["amount_minor"]
            ref = paid[0]["invoice_number"]
            desc = f"Payment for {paid[0]['invoice_number']}, {paid[1]['invoice_number']}"
        else:
            inv = self.invoice(customer)
            paid = [inv]
            n = gen.invoice_no
            ref = inv["invoice_number"] if rng.random() < 0.84 else _noisy_ref(rng, n)
            desc = rng.pick(_DESCRIPTIONS)
            total = inv["amount_minor"]
            s = rng.random()
            if s < 0.88:
                amount = total
            elif s < 0.96:
                amount = total // 2 if rng.random() < 0.5 else total - round(total * 0.02)
            else:
                amount = total + (round(total * 0.03) if rng.random() < 0.5 else 1000)
            if inv["_tax"] != NO_TAX:
                tax = round(inv["_tax"] * amount / total)
        # What happened to it.
        kind, approved, batchable = "SALE", True, True
        code = format(rng.bits(24), "06X")
        message, avs, csc = APPROVALS[bisect_right(_APPROVAL_CUM, rng.below(100))]
        if vault:
            pass
        elif k < VAULT_SHARE + DECLINE_SHARE:
            kind = "SALE" if rng.random() < 0.9 else "AUTHORIZATION"
            approved, batchable, code, avs, csc = False, False, "", "", ""
            message = DECLINE_MESSAGE if rng.random() < 0.9 else EXPIRED_MESSAGE
        elif k < VAULT_SHARE + DECLINE_SHARE + VOID_SHARE:
            kind, batchable = "VOID", False
        elif k < VAULT_SHARE + DECLINE_SHARE + VOID_SHARE + AUTH_SHARE:
            c = rng.random()
            if c < 0.15:
                kind, batchable = "AUTHORIZATION", False
            else:
                kind = "CAPTURE"
                if c >= 0.70:  # partial capture: 50-95 % of the authorized amount
                    amount = max(1, amount * rng.between(50, 96) // 100)
        if batchable:
            for inv in paid:
                inv["paid_by"].append(rec_id)
        shipping = None
        if rng.random() < 0.15:
            b = customer["billing"]
            shipping = (b[0], b[1], b[2], b[3], customer["county"], b[4], b[5], b[6])
        return [rec_id, kind, amount, tax, created, approved, code, message, avs, csc, card, customer["billing"],
                shipping, customer["account"] if vault else "", ref, desc,
                customer["email"] if rng.random() < 0.5 else "",
                f"PO-{rng.between(10000, 99999)}" if rng.random() < 0.3 else "",
                gen.api_user, rng.pick(gen.ips), 0, 0]

    def refund(self, rec_id: int, created: int) -> list:
        """A refund of a sale settled in an earlier batch: full (half the time) or partial."""
        rng, gen = self.rng, self.gen
        i = rng.below(len(gen.pool))
        orig_id, card, billing, customer_id, ref = gen.pool[i]
        left = gen.remaining[orig_id]
        amount = left if left <= 100 or rng.random() < 0.5 else max(100, left * rng.between(10, 90) // 100)
        gen.remaining[orig_id] = left - amount
        if left == amount:  # fully refunded: out of the pool (swap-remove keeps it O(1))
            gen.pool[i] = gen.pool[-1]
            gen.pool.pop()
            del gen.remaining[orig_id]
        message, avs, csc = REFUND_APPROVAL
        return [rec_id, "REFUND", amount, NO_TAX, created, True, format(rng.bits(24), "06X"),
                message, avs, csc, card, billing, None, customer_id, ref, f"Refund of transaction {orig_id}",
                "", "", gen.api_user, rng.pick(gen.ips), orig_id, 0]

    def unpaid_invoices(self, n: int) -> None:
        for _ in range(n):
            self.invoice(self.rng.pick(self.gen.customers))


class _Generator:
    def __init__(self, seed: int, start: date, per_day: int, tz_name: str, api_user: str):
        self.seed, self.per_day, self.tz_name, self.api_user = seed, per_day, tz_name, api_user
        self.customers = customer_catalogue(seed, per_day, start.year)
        self.vault_customers = [c for c in self.customers if c["vault"]]
        base = _Rng(sub_seed(seed, "base"))
        self.next_id = 300_000_000 + base.between(0, 100_000_000)
        self.next_batch = 100 + base.between(0, 900)
        self.first_invoice = 1000 + base.between(0, 9000)
        self.invoice_no = self.first_invoice - 1
        self.ips = [f"198.51.100.{base.between(2, 250)}" for _ in range(3)]
        # Settled sales and captures that can still be refunded: (id, card, billing, customer_id, invoice_id).
        self.pool: list[tuple] = []
        self.remaining: dict[int, int] = {}

    def day_records(self, day: date) -> tuple[list[list], _Day]:
        d = _Day(self, day)
        rng = d.rng
        midnight = local_epoch(day, 0, self.tz_name)
        length = local_epoch(day + timedelta(days=1), 0, self.tz_name) - midnight  # 23, 24 or 25 hours
        total, rnd = _HOUR_CUM[-1], rng.random
        offsets = sorted(min(length - 1, bisect_right(_HOUR_CUM, rnd() * total) * 3600 + int(rnd() * 3600))
                         for _ in range(self.per_day))
        records = []
        for off in offsets:
            self.next_id += 1 + rng.below(3)  # ids are global at PayTrace: other merchants' sit in the gaps
            if self.pool and rng.random() < REFUND_SHARE:
                records.append(d.refund(self.next_id, midnight + off))
            else:
                records.append(d.primary(self.next_id, midnight + off))
        d.unpaid_invoices(max(1, self.per_day * 3 // 100) if self.per_day else 0)
        return records, d


def _settleable(rec: list | tuple) -> bool:
    return rec[APPROVED] and rec[TYPE] in SETTLEABLE_TYPES


def generate(seed: int, start_date: date, end_date: date, per_day: int, tz_name: str = DEFAULT_MERCHANT_TIMEZONE,
             api_user: str = DEFAULT_API_USER) -> Iterator[GeneratedDay]:
    """Yield each day's records, batch and invoices; lazily, one day behind (see below), O(per_day) each.

    A day is handed out once the next day's 8 pm close is known, because its evening records settle
    in that batch; so at most two days are held at a time.
    """
    if per_day < 0:
        raise ValueError("per_day must be >= 0")
    days = date_range(start_date, end_date)
    gen = _Generator(seed, start_date, per_day, tz_name, api_user)
    carry: list[list] = []  # settleable records after the previous close
    held: tuple | None = None
    for day in days:
        records, d = gen.day_records(day)
        close = local_epoch(day, BATCH_CLOSE_HOUR, tz_name)
        members = carry + [r for r in records if r[CREATED] < close and _settleable(r)]
        batch = None
        if members:
            batch = (gen.next_batch, close)
            for r in members:
                r[BATCH] = gen.next_batch
                if r[TYPE] != "REFUND":
                    gen.pool.append((r[ID], r[CARD], r[BILLING], r[CUSTOMER_ID], r[INVOICE_ID]))
                    gen.remaining[r[ID]] = r[AMOUNT]
            gen.next_batch += 1
        carry = [r for r in records if r[CREATED] >= close and _settleable(r)]
        if held is not None:
            yield _finish(*held)
        held = (day, records, batch, d.invoices)
    if held is not None:
        yield _finish(*held)


def _finish(day: date, records: list[list], batch: tuple | None, invoices: list[dict]) -> GeneratedDay:
    for inv in invoices:
        inv.pop("_tax", None)
    return GeneratedDay(day, [tuple(r) for r in records], batch, invoices)


def open_invoices(seed: int, start_date: date, end_date: date, per_day: int,
                  tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> list[dict]:
    """The ERP invoices the PayTrace history of the same arguments pays (shape in the module docstring).

    From the ERP's side every one is open until cash is applied, so all are returned, sorted by number.
    """
    out: list[dict] = []
    for day in generate(seed, start_date, end_date, per_day, tz_name):
        out.extend(day.invoices)
    out.sort(key=lambda inv: inv["invoice_number"])
    return out


def invoices_with_po_numbers(seed: int, start_date: date, end_date: date, per_day: int,
                             tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> tuple[list[dict], dict[str, str]]:
    """The invoices the history pays (each day's ``invoices``, in date order) and, per invoice number, the
    PO number a paying transaction typed as its reference: what an ERP sandbox is seeded with."""
    invoices: list[dict] = []
    po_numbers: dict[str, str] = {}
    for day in generate(seed, start_date, end_date, per_day, tz_name):
        references = {rec[ID]: rec[REFERENCE] for rec in day.transactions if rec[REFERENCE]}
        for inv in day.invoices:
            invoices.append(inv)
            po = next((references[i] for i in inv["paid_by"] if i in references), "")
            if po:
                po_numbers[inv["invoice_number"]] = po
    return invoices, po_numbers
