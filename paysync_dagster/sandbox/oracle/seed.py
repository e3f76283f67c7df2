"""Seeding the Oracle sandbox from the PayTrace generator's ERP catalogue.

The PayTrace generator (``sandbox/paytrace/generator.py``) decides which invoices its payments pay:
``open_invoices(seed, start, end, per_day)`` and ``customer_catalogue(seed, per_day, year)``. Loading
the same catalogue here makes the two sandboxes agree: the invoice numbers PayTrace payments name
exist in Oracle as open, complete invoices of the right customer account, for the right amount.

Determinism: customers are created in account-number order and invoices in invoice-number order, so
the same catalogue into an empty store gives the same ids every time. Seeding is idempotent (an
account or invoice number that already exists is left alone) and atomic (a refused entry rolls the
whole call back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from paysync_dagster.lib.money import to_wire
from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE

from . import credit_memos, invoices
from .state import OracleState

CATALOGUE_SOURCE = "PaySync Catalogue"
CATALOGUE_LINE = "Goods and services"


@dataclass(frozen=True)
class SeedSpec:
    """The generator arguments the sandbox was seeded with (kept so ``reset`` can reproduce them)."""

    seed: int
    start_date: date
    end_date: date
    per_day: int
    tz_name: str = DEFAULT_MERCHANT_TIMEZONE
    card_on_file: bool = False  # also the card-on-file invoices of ``sandbox/card_on_file.py``


def _address(billing: Any) -> str | None:
    if not billing:
        return None
    _name, street, street2, city, region, postal, country = (list(billing) + [""] * 7)[:7]
    parts = [p for p in (street, street2, f"{city} {region} {postal}".strip(), country) if p]
    return ", ".join(parts) or None


def terms_for(invoice_date: str, due_date: str | None) -> str:
    """Payment terms whose single installment falls on the catalogue's due date."""
    if not due_date:
        return "30 Net"
    days = (date.fromisoformat(due_date) - date.fromisoformat(invoice_date)).days
    return "Immediate" if days <= 0 else f"{days} Net"


def seed_from_catalogue(state: OracleState, invoices_: Iterable[Mapping[str, Any]],
                        customers: Iterable[Mapping[str, Any]] = (), *, business_unit: str | None = None,
                        transaction_source: str = CATALOGUE_SOURCE, transaction_type: str = "Invoice") -> dict[str, int]:
    """Create the customer accounts and open invoices of a catalogue; returns what was added.

    ``invoices_`` are the generator's dicts (``invoice_number``, ``customer_account``, ``customer_name``,
    ``customer_email``, ``amount_minor``, ``currency``, ``invoice_date``, ``due_date``; ``paid_by`` is
    ignored). ``customers`` are ``customer_catalogue`` dicts (``account``, ``company``, ``email``,
    ``billing``); customers named only by invoices are created from the invoice's fields.
    """
    bu = business_unit or state.business_units[0]
    added = {"customers": 0, "invoices": 0}
    invoice_list = sorted(invoices_, key=lambda inv: str(inv["invoice_number"]))
    people: dict[str, dict[str, Any]] = {}
    for c in customers:
        people[str(c["account"])] = {"name": c["company"], "email": c.get("email"), "address": _address(c.get("billing"))}
    for inv in invoice_list:
        people.setdefault(str(inv["customer_account"]), {"name": inv["customer_name"], "email": inv.get("customer_email"),
                                                          "address": None})
    with state.transaction():  # a bad catalogue entry leaves nothing half-seeded
        for account in sorted(people):
            if state.customer_by_number(account) is None:
                p = people[account]
                state.add_customer(account, p["name"], email=p["email"], address=p["address"])
                added["customers"] += 1
        for inv in invoice_list:
            number = str(inv["invoice_number"])
            if state.invoice_by_number(number) is not None:
                continue
            currency = str(inv.get("currency") or state.ledger_currency)
            invoices.create_record(state, {
                "TransactionNumber": number, "BusinessUnit": bu, "TransactionSource": transaction_source,
                "TransactionType": transaction_type, "TransactionDate": inv["invoice_date"],
                "AccountingDate": inv["invoice_date"], "DueDate": inv.get("due_date"),
                "PaymentTerms": terms_for(inv["invoice_date"], inv.get("due_date")),
                "BillToCustomerNumber": str(inv["customer_account"]), "InvoiceCurrencyCode": currency,
                "receivablesInvoiceLines": [{"LineNumber": 1, "Description": CATALOGUE_LINE, "Quantity": 1,
                                             "UnitSellingPrice": to_wire(int(inv["amount_minor"]), currency)}],
            })
            added["invoices"] += 1
    return added


def seed_card_on_file(state: OracleState, invoices_: Iterable[Mapping[str, Any]], *, business_unit: str | None = None,
                      receipt_method: str | None = None, transaction_source: str = CATALOGUE_SOURCE,
                      transaction_type: str = "Invoice") -> dict[str, int]:
    """Create card-on-file invoices (``card_on_file.card_on_file_invoices`` dicts): complete invoices with
    ``ReceiptMethod`` "Card on File" and one installment per ``installments`` entry: one installment is
    "<days> Net" with its DueDate, several are "<days>/<days>" terms counted from the TransactionDate
    (equal shares, the remainder on the first). The customer accounts are the catalogue's (created from
    the invoice when missing). Idempotent and atomic like :func:`seed_from_catalogue`."""
    from paysync_dagster.sandbox.card_on_file import DESCRIPTION, RECEIPT_METHOD

    bu = business_unit or state.business_units[0]
    method = receipt_method or RECEIPT_METHOD
    added = {"customers": 0, "invoices": 0}
    with state.transaction():
        for inv in sorted(invoices_, key=lambda i: str(i["invoice_number"])):
            number, account = str(inv["invoice_number"]), str(inv["customer_account"])
            if state.customer_by_number(account) is None:
                state.add_customer(account, inv["customer_name"], email=inv.get("customer_email"))
                added["customers"] += 1
            if state.invoice_by_number(number) is not None:
                continue
            issued = inv["invoice_date"]
            dues = [i["due_date"] for i in inv.get("installments") or ()] or [inv["due_date"]]
            if len(dues) == 1:
                terms, due = terms_for(issued, dues[0]), dues[0]
            else:
                terms = "/".join(str((date.fromisoformat(d) - date.fromisoformat(issued)).days) for d in dues)
                due = None
            currency = str(inv.get("currency") or state.ledger_currency)
            invoices.create_record(state, {
                "TransactionNumber": number, "BusinessUnit": bu, "TransactionSource": transaction_source,
                "TransactionType": transaction_type, "TransactionDate": issued, "AccountingDate": issued,
                "DueDate": due, "PaymentTerms": terms, "ReceiptMethod": method, "BillToCustomerNumber": account,
                "InvoiceCurrencyCode": currency,
                "receivablesInvoiceLines": [{"LineNumber": 1, "Description": DESCRIPTION, "Quantity": 1,
                                             "UnitSellingPrice": to_wire(int(inv["amount_minor"]), currency)}],
            })
            added["invoices"] += 1
    return added


def seed_from_generator(state: OracleState, spec: SeedSpec) -> dict[str, int]:
    """Seed with exactly the catalogue the PayTrace generator pays for ``spec``'s arguments (and, when
    ``spec.card_on_file``, the card-on-file invoices of the same history)."""
    from paysync_dagster.sandbox.paytrace.generator import customer_catalogue, open_invoices

    added = seed_from_catalogue(
        state, open_invoices(spec.seed, spec.start_date, spec.end_date, spec.per_day, spec.tz_name),
        customer_catalogue(spec.seed, spec.per_day, spec.start_date.year))
    if getattr(spec, "card_on_file", False):
        from paysync_dagster.sandbox.card_on_file import card_on_file_invoices

        more = seed_card_on_file(state, card_on_file_invoices(spec.seed, spec.start_date, spec.end_date, spec.per_day))
        added = {k: added[k] + more[k] for k in added}
    return added


def add_credit_memo(state: OracleState, *, account_number: str, amount_minor: int, currency: str, receipt_method: str,
                    cross_reference: str = "", invoice_number: str = "",
                    transaction_date: date | str | None = None) -> int:
    """Key in one receivables credit memo, as a clerk would in Oracle; returns its CustomerTransactionId.

    ``amount_minor`` is the credit, positive (Oracle prints it negative as ``EnteredAmount``);
    ``receipt_method`` must be a configured one ("Card Refund" marks a card refund); ``cross_reference``
    is where a clerk puts the PayTrace transaction id; ``invoice_number`` is the credited invoice
    (``CreditedTransactionNumber``, not checked against the invoices); ``transaction_date`` defaults to
    the sandbox's today. The customer account is created when missing. A refusal is an
    :class:`~.state.ApiError` and leaves nothing behind. See :mod:`.credit_memos`."""
    return credit_memos.create_record(
        state, account_number=account_number, amount_minor=amount_minor, currency=currency,
        receipt_method=receipt_method, cross_reference=cross_reference, invoice_number=invoice_number,
        transaction_date=transaction_date).id


def seed_credit_memos(state: OracleState, memos: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """:func:`add_credit_memo` for each dict of its keyword arguments, all or nothing (the control API's
    ``/seed`` with ``"credit_memos"``). Not idempotent: every call keys in new credit memos."""
    added = 0
    with state.transaction():
        for memo in memos:
            add_credit_memo(state, **{k: memo[k] for k in memo if k in _CREDIT_MEMO_KEYS})
            added += 1
    return {"credit_memos": added}


_CREDIT_MEMO_KEYS = ("account_number", "amount_minor", "currency", "receipt_method", "cross_reference",
                     "invoice_number", "transaction_date")
