"""Card-on-file invoices: what the ERP sandboxes hold for the outbound direction (charging invoices due).

Some customers do not pay by sending money: they have a card in PayTrace's vault and the merchant
charges it when an invoice (installment) falls due. The ERPs mark them differently:

- Oracle Fusion marks the *invoice*: receivablesInvoices' ``ReceiptMethod`` (spec §3.2) is
  :data:`RECEIPT_METHOD` ("Card on File");
- Sage 300 marks the *customer*: AR/ARCustomers' ``PaymentCode`` (spec §0) is :data:`PAYMENT_CODE`
  ("CARDFILE"), and every open invoice of that customer is paid by card on file.

The plan here is a pure function of the PayTrace generator's arguments (seed, dates, per_day), like
its catalogue, so PayTrace, Oracle and Sage agree on it:

- :func:`card_on_file_customers`: a few catalogue customers that HAVE a PayTrace vault profile (the
  vault profile's customer_id is the ERP account number), chosen among those whose card is good for
  two years or more after the history's start year, so that only the one below is expired;
- :func:`expired_card_account`: one of them, whose vault card the PayTrace sandbox stores with an
  expiry in the past (December of the year before the history starts), so a charge against it is
  declined "EXPIRED CARD - Expired card";
- :func:`card_on_file_invoices`: :data:`INVOICES_PER_WEEK` invoices for each week of the history
  (weeks counted from ``start_date``): one of the expired-card customer due early in the week; one of
  two installments (due early in the week and 30 days later); one due late in the week; one due three
  to four weeks after the week starts (not due yet).

Invoice numbers have the catalogue's shape (``INV-`` and six digits, more once the numbers need them)
but come from a block above anything the generator numbers: the generator's invoices are numbered
from ``first_invoice`` (at most 10,000) on, at most ``2 * per_day + per_day * 3 // 100 + 1`` a day, and
the references its payments make that are not in its catalogue are numbers below ``first_invoice``.
So no generated payment names (or is one typo away from) a card-on-file invoice, and as cash
application never matches by amount alone, none of them is paid by the generated history.

The sandboxes seed them only when asked (``card_on_file=True`` on ``HistorySpec`` / ``SeedSpec``, or
``"card_on_file": true`` in the control APIs' generate/seed bodies): the default seed stays exactly
the generator's catalogue.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

RECEIPT_METHOD = "Card on File"  # Oracle: receivablesInvoices.ReceiptMethod of a card-on-file invoice
PAYMENT_CODE = "CARDFILE"  # Sage: AR/ARCustomers.PaymentCode of a customer who pays by card on file
CUSTOMERS = 4  # how many vault customers pay by card on file (fewer when the catalogue has fewer)
INVOICES_PER_WEEK = 4
DESCRIPTION = "Subscription - card on file"
NUMBER_BLOCK = 900_000  # the first card-on-file invoice number, unless the history needs higher numbers


def _catalogue(seed: int, per_day: int, ref_year: int) -> tuple[dict, ...]:
    from paysync_dagster.sandbox.paytrace.generator import customer_catalogue

    return customer_catalogue(seed, per_day, ref_year)


def _rng(seed: int, *labels: object) -> random.Random:
    from paysync_dagster.sandbox.paytrace.generator import sub_seed

    return random.Random(sub_seed(seed, "card-on-file", *labels))


def card_on_file_customers(seed: int, per_day: int, ref_year: int) -> tuple[dict, ...]:
    """The catalogue customers (with a vault profile) who pay by card on file, by account number."""
    vault = [c for c in _catalogue(seed, per_day, ref_year) if c["vault"]]
    lasting = [c for c in vault if c["card"][4] >= ref_year + 2]
    pool = lasting if len(lasting) >= min(CUSTOMERS, len(vault)) else vault
    chosen = _rng(seed, "customers", ref_year).sample(pool, min(CUSTOMERS, len(pool)))
    return tuple(sorted(chosen, key=lambda c: c["account"]))


def expired_card_account(seed: int, per_day: int, ref_year: int) -> str | None:
    """The account number of the one card-on-file customer whose vault card has expired (None when the
    catalogue has no vault customer). ``ref_year`` is the history's start year, as for the catalogue."""
    chosen = card_on_file_customers(seed, per_day, ref_year)
    if not chosen:
        return None
    return chosen[_rng(seed, "expired", ref_year).randrange(len(chosen))]["account"]


def expired_card(card: tuple, ref_year: int) -> tuple:
    """The card tuple (brand, first6, last4, exp_month, exp_year, length) expired in December of the
    year before ``ref_year``."""
    brand, first6, last4, _month, _year, length = card
    return (brand, first6, last4, 12, ref_year - 1, length)


def first_number(start_date: date, end_date: date, per_day: int) -> int:
    """Where card-on-file invoice numbers start: above every number the generator can give."""
    days = (end_date - start_date).days + 1
    ceiling = 10_000 + days * (2 * per_day + per_day * 3 // 100 + 1)
    if ceiling < NUMBER_BLOCK:
        return NUMBER_BLOCK + 1
    return (ceiling // 100_000 + 2) * 100_000 + 1


def _split(total: int, parts: int) -> list[int]:
    """Equal shares, the rounding remainder on the first (as Oracle's sandbox splits 30/60 terms)."""
    share, rest = divmod(total, parts)
    return [share + (rest if i == 0 else 0) for i in range(parts)]


def card_on_file_invoices(seed: int, start_date: date, end_date: date, per_day: int) -> list[dict[str, Any]]:
    """The card-on-file invoices of a history, sorted by number::

        {"invoice_number": "INV-900001", "customer_account": "C10007", "customer_name": "...",
         "customer_email": "...", "amount_minor": 48210, "currency": "USD", "invoice_date": "2026-02-18",
         "due_date": "2026-03-05", "installments": [{"due_date": "2026-03-05", "amount_minor": 48210}]}

    ``due_date`` is the first installment's; installments are in due order.
    """
    from paysync_dagster.sandbox.paytrace.generator import CURRENCY

    chosen = card_on_file_customers(seed, per_day, start_date.year)
    expired = expired_card_account(seed, per_day, start_date.year)
    if not chosen:
        return []
    others = [c for c in chosen if c["account"] != expired] or list(chosen)
    by_account = {c["account"]: c for c in chosen}
    number = first_number(start_date, end_date, per_day)
    out: list[dict[str, Any]] = []
    weeks = (end_date - start_date).days // 7 + 1
    for week in range(weeks):
        monday = start_date + timedelta(days=7 * week)
        rng = _rng(seed, "week", monday.isoformat())
        # (customer, issued days before the week starts, due days after it starts; a second due date)
        plan = [
            (by_account[expired] if expired else others[0], rng.randint(10, 25), [rng.randint(0, 2)]),
            (others[week % len(others)], 20, [rng.randint(0, 3)]),
            (others[(week + 1) % len(others)], rng.randint(5, 20), [rng.randint(4, 6)]),
            (others[(week + 2) % len(others)], rng.randint(0, 10), [rng.randint(21, 27)]),
        ]
        plan[1][2].append(plan[1][2][0] + 30)
        for customer, issued_before, due_after in plan:
            issued = monday - timedelta(days=issued_before)
            total = 5_000 + rng.randrange(95_000)
            dues = [(monday + timedelta(days=d)).isoformat() for d in due_after]
            out.append({
                "invoice_number": f"INV-{number:06d}", "customer_account": customer["account"],
                "customer_name": customer["company"], "customer_email": customer["email"], "amount_minor": total,
                "currency": CURRENCY, "invoice_date": issued.isoformat(), "due_date": dues[0],
                "installments": [{"due_date": d, "amount_minor": a} for d, a in zip(dues, _split(total, len(dues)))],
            })
            number += 1
    return out
