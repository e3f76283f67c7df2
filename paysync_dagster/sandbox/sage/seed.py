"""Seeding the Sage 300 sandbox: the chart it posts to, its bank codes, and the PayTrace generator's
customers and open invoices.

Catalogue (as :mod:`..oracle.seed` loads Oracle, so that the sandboxes agree): each
``customer_catalogue`` customer becomes an AR customer whose ``CustomerNumber`` is the account
number (``C10042``), with name, contact, e-mail, phone and billing address; each ``open_invoices``
invoice becomes an open posted document (type Invoice) with the same ``DocumentNumber``
(``INV-004213``), amount, invoice and due dates, and terms NET15/30/45 from the due date. The
generator has no sales orders, so ``OrderNumber`` stays empty; ``PONumber`` is the
``customer_reference_id`` (``PO-12345``) a paying transaction carries, when it carries one. The
invoices come from no AR batch (``BatchNumber`` 0), like balances brought into a new company.

Chart: the GL accounts of the mapping file's ``gl_accounts`` (each account as the mapping gives it
to Sage: its ``accounts: {sage: ...}`` override when there is one), with the sandbox's own accounts
(bank ``1020-000``, AR control ``1200-000``, sales tax ``2300-000``, sales ``4000-000``, discounts
``4900-000``). The generator's customers come with ``SUSPENSE``, the customer PaySync holds
unidentified card receipts on (as a company set up for PaySync has it). Banks: ``PAYTRACE`` (card clearing: its GL account is the mapping's default account)
and ``SEATAC`` (the sample company's operating bank, on ``1020-000``).

Card refunds (:func:`seed_card_refund`): what a clerk enters to have a customer's card refunded, a
posted credit note and an open refund batch drawing on it, with payment code ``CARDRFND``
(:data:`CARD_REFUND_PAYMENT_CODE`; the sandbox keeps no list of payment codes, any code is taken) and
the PayTrace transaction in ``TransactionID``.

Determinism: customers go in by account number and invoices by invoice number; seeding is
idempotent (what exists is left alone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from .customers import new_customer
from .schema import GL_ACCOUNT, blank
from .state import (AR_CONTROL_ACCOUNT, CURRENCY, DEFAULT_BANK, OPERATING_BANK_ACCOUNT, REVENUE_ACCOUNT, SUSPENSE_CUSTOMER,
                    SageState)

CATALOGUE_DESCRIPTION = "Goods and services"
# (account, description, type, normal balance, control account)
CHART = (
    (OPERATING_BANK_ACCOUNT, "Bank - operating account", "BalanceSheet", "Debit", False),
    (AR_CONTROL_ACCOUNT, "Accounts receivable", "BalanceSheet", "Debit", True),
    ("2300-000", "Sales tax payable", "BalanceSheet", "Credit", False),
    (REVENUE_ACCOUNT, "Sales", "IncomeStatement", "Credit", False),
    ("4900-000", "Sales discounts", "IncomeStatement", "Debit", False),
)


def _bare(account: str) -> str:
    return "".join(ch for ch in account if ch.isalnum())


def add_account(state: SageState, account: str, description: str, account_type: str = "BalanceSheet",
                normal: str = "Debit", control: bool = False) -> dict:
    key = _bare(account)
    existing = state.store.gl_accounts.get(key)
    if existing is not None:
        return existing
    row = blank(GL_ACCOUNT)
    row.update(UnformattedAccount=key, AccountNumber=account, Description=description[:60], AccountType=account_type,
               NormalBalanceDRCR=normal, Status="Active", PostToAccount="Detail", ControlAccount=control,
               AccountGroupCode="CASH" if account_type == "BalanceSheet" and not control else "",
               AccountSegmentCode1=account.split("-")[0].split(".")[0], StructureCode="ACCT", Multicurrency=False)
    state.store.gl_accounts[key] = row
    return row


def _describe(when: Mapping[str, Any]) -> str:
    detail = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in when.items() if v is not None)
    return f"Card clearing - {detail}" if detail else "Card clearing"


def mapping_accounts(path: Path | None = None) -> tuple[list[tuple[str, str]], str]:
    """([(Sage account, description)], the default account) of the mapping file (default: the sample)."""
    from paysync_dagster.lib.mapping import SAMPLE_MAPPING, gl_account_for, load_mapping

    mapping = load_mapping(path or SAMPLE_MAPPING)
    gl = mapping.gl_accounts
    out = [(gl_account_for(mapping, "sage", rule.account), _describe(rule.when.model_dump())) for rule in gl.rules]
    default = gl_account_for(mapping, "sage", gl.default)
    out.append((default, "Card clearing"))
    return out, default


def seed_chart(state: SageState, mapping_path: Path | None = None) -> dict[str, int]:
    """GL accounts and bank codes; returns how many of each there are."""
    with state.lock:
        for account, description, kind, normal, control in CHART:
            add_account(state, account, description, kind, normal, control)
        accounts, default = mapping_accounts(mapping_path)
        for account, description in accounts:
            add_account(state, account, description)
        banks = state.store.banks
        banks.setdefault(DEFAULT_BANK, {"BankCode": DEFAULT_BANK, "Description": "PayTrace card clearing",
                                        "GLAccount": default, "CurrencyCode": CURRENCY})
        banks.setdefault("SEATAC", {"BankCode": "SEATAC", "Description": "Seattle operating account",
                                    "GLAccount": OPERATING_BANK_ACCOUNT, "CurrencyCode": CURRENCY})
        return {"gl_accounts": len(state.store.gl_accounts), "banks": len(banks)}


def _terms(invoice_date: str, due_date: str | None) -> str:
    if not due_date:
        return "NET30"
    days = (date.fromisoformat(due_date) - date.fromisoformat(invoice_date)).days
    return "COD" if days <= 0 else f"NET{days}"


def seed_from_catalogue(state: SageState, invoices: Iterable[Mapping[str, Any]],
                        customers: Iterable[Mapping[str, Any]] = (),
                        po_numbers: Mapping[str, str] | None = None) -> dict[str, int]:
    """Customers and open invoices of a catalogue (the generator's dict shapes, as the Oracle seed
    takes them); ``po_numbers`` gives an invoice number's PONumber. Returns what was added."""
    po_numbers = po_numbers or {}
    added = {"customers": 0, "invoices": 0}
    invoice_list = sorted(invoices, key=lambda inv: str(inv["invoice_number"]))
    people: dict[str, dict[str, Any]] = {}
    for c in customers:
        billing = (list(c.get("billing") or ()) + [""] * 7)[:7]
        _name, street, street2, city, region, postal, country = billing
        people[str(c["account"])] = {
            "CustomerName": str(c["company"])[:60], "ContactName": str(c.get("contact") or "")[:60],
            "Email": str(c.get("email") or "")[:50], "PhoneNumber": str(c.get("phone") or "")[:30],
            "AddressLine1": street[:60], "AddressLine2": street2[:60], "City": city[:30], "StateProvince": region[:30],
            "ZipPostalCode": postal[:20], "Country": country[:30]}
    for inv in invoice_list:
        people.setdefault(str(inv["customer_account"]), {"CustomerName": str(inv["customer_name"])[:60],
                                                         "Email": str(inv.get("customer_email") or "")[:50]})
    with state.lock:
        for account in sorted(people):
            if account not in state.store.customers:
                state.store.customers[account] = new_customer(state, {"CustomerNumber": account, **people[account]})
                added["customers"] += 1
        for inv in invoice_list:
            number, account = str(inv["invoice_number"]), str(inv["customer_account"])
            if state.document(account, number) is not None:
                continue
            issued = date.fromisoformat(inv["invoice_date"])
            due = date.fromisoformat(inv["due_date"]) if inv.get("due_date") else issued
            total = Decimal(int(inv["amount_minor"])).scaleb(-2)
            state.add_document({
                "CustomerNumber": account, "DocumentNumber": number, "DocumentType": "Invoice",
                "PONumber": po_numbers.get(number, "")[:22], "DocumentDate": issued, "DueDate": due,
                "PostingDate": issued, "CurrencyCode": str(inv.get("currency") or CURRENCY),
                "CustomerCurrencyInvoiceAmount": total, "DocumentDescription": CATALOGUE_DESCRIPTION,
                "Terms": _terms(inv["invoice_date"], inv.get("due_date")), "DateLastActivity": issued})
            customer = state.store.customers[account]
            if customer["DateOfLastInvoice"] is None or issued > customer["DateOfLastInvoice"]:
                customer["DateOfLastInvoice"] = issued
            added["invoices"] += 1
    return added


def seed_card_on_file(state: SageState, invoices: Iterable[Mapping[str, Any]],
                      payment_code: str | None = None) -> dict[str, int]:
    """Card-on-file customers and their invoices (``card_on_file.card_on_file_invoices`` dicts): each
    invoice's customer gets ``PaymentCode`` "CARDFILE" (AR/ARCustomers; Sage marks the customer, not the
    invoice, so all its open invoices are paid by card on file), and each invoice becomes an open posted
    document of type Invoice. A Sage document has one amount due (``PaymentNumber`` 1 here): an invoice
    planned in several installments is one document of the whole amount, due on its first installment's
    due date (``DueDate``), with NET terms to that date. Customers missing are created from the invoice.
    Idempotent. Returns what was added."""
    from paysync_dagster.sandbox.card_on_file import DESCRIPTION, PAYMENT_CODE

    code = payment_code or PAYMENT_CODE
    added = {"customers": 0, "invoices": 0}
    with state.lock:
        for inv in sorted(invoices, key=lambda i: str(i["invoice_number"])):
            number, account = str(inv["invoice_number"]), str(inv["customer_account"])
            customer = state.store.customers.get(account)
            if customer is None:
                customer = state.store.customers[account] = new_customer(state, {
                    "CustomerNumber": account, "CustomerName": str(inv["customer_name"])[:60],
                    "Email": str(inv.get("customer_email") or "")[:50]})
                added["customers"] += 1
            customer["PaymentCode"] = code
            if state.document(account, number) is not None:
                continue
            issued = date.fromisoformat(inv["invoice_date"])
            dues = [i["due_date"] for i in inv.get("installments") or ()] or [inv["due_date"]]
            total = Decimal(int(inv["amount_minor"])).scaleb(-2)
            state.add_document({
                "CustomerNumber": account, "DocumentNumber": number, "DocumentType": "Invoice", "PONumber": "",
                "DocumentDate": issued, "DueDate": date.fromisoformat(dues[0]), "PostingDate": issued,
                "CurrencyCode": str(inv.get("currency") or CURRENCY), "CustomerCurrencyInvoiceAmount": total,
                "DocumentDescription": DESCRIPTION, "Terms": _terms(inv["invoice_date"], dues[0]),
                "DateLastActivity": issued})
            if customer["DateOfLastInvoice"] is None or issued > customer["DateOfLastInvoice"]:
                customer["DateOfLastInvoice"] = issued
            added["invoices"] += 1
    return added


def seed_from_generator(state: SageState, spec: Any) -> dict[str, int]:
    """Seed with the catalogue the PayTrace generator pays for ``spec`` (a ``SeedSpec``: seed,
    start_date, end_date, per_day, tz_name), PO numbers from the paying transactions; when
    ``spec.card_on_file``, also the card-on-file customers and invoices of the same history."""
    from paysync_dagster.sandbox.paytrace.generator import customer_catalogue, invoices_with_po_numbers

    invoices, po_numbers = invoices_with_po_numbers(spec.seed, spec.start_date, spec.end_date, spec.per_day,
                                                    spec.tz_name)
    suspense = {"account": SUSPENSE_CUSTOMER, "company": "Unidentified card receipts"}
    added = seed_from_catalogue(state, invoices, [*customer_catalogue(spec.seed, spec.per_day, spec.start_date.year),
                                                  suspense], po_numbers)
    if getattr(spec, "card_on_file", False):
        from paysync_dagster.sandbox.card_on_file import card_on_file_invoices

        more = seed_card_on_file(state, card_on_file_invoices(spec.seed, spec.start_date, spec.end_date, spec.per_day))
        added = {k: added[k] + more[k] for k in added}
    return added


#: the payment code of a refund entry a clerk marks to be paid back to a card (mapping ``refunds.card_refund.sage``)
CARD_REFUND_PAYMENT_CODE = "CARDRFND"
CARD_REFUND_BATCH = "Card refunds"  # the description a clerk gives the batches (never PaySync's "PaySync <date>")


def seed_card_refund(state: SageState, customer: str, amount_minor: int, transaction_id: int | str,
                     payment_code: str = CARD_REFUND_PAYMENT_CODE, *, on: date | None = None,
                     description: str = "Card refund") -> dict[str, Any]:
    """What a clerk enters in Sage to have a customer's card refunded, through the Web API's own rules:
    a credit note of ``amount_minor`` for ``customer`` (an ``ARInvoiceBatches`` batch "Card refunds
    <date>", posted: a Sage refund draws only on a posted credit), then an open ``ARRefundBatches`` batch
    of the same description whose one entry draws that amount on the credit note, with ``PaymentCode``
    ``payment_code`` and ``TransactionID`` the PayTrace transaction to refund. ``on``: the documents'
    date (default: the business date). Each call enters a new credit note and a new batch.

    Returns ``{"credit_note", "batch_number", "entry_number", "document_number", "amount", "currency"}``
    (the refund entry's ``RF...`` number is ``document_number``). An unknown customer or an amount not
    above zero is a ValueError; what Sage would refuse raises its :class:`~.errors.SageError`."""
    from paysync_dagster.lib.money import to_decimal

    from . import invoices, refunds

    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValueError(f"a card refund needs an amount above zero in minor units, not {amount_minor!r}")
    with state.lock:
        row = state.customer(customer)
        if row is None:
            raise ValueError(f"customer {customer!r} does not exist")
        # Checked first, so that a refused refund leaves no posted credit note behind.
        if DEFAULT_BANK not in state.store.banks:
            raise ValueError(f"bank {DEFAULT_BANK} does not exist (seed the chart first)")
        if not payment_code or len(payment_code) > 12 or len(str(transaction_id)) > 64:
            raise ValueError(f"PaymentCode {payment_code!r} (1 to 12 characters) or TransactionID {transaction_id!r} "
                             "(at most 64) does not fit Sage's fields")
        currency = row["CurrencyCode"] or CURRENCY
        day = on or state.today()
        value = to_decimal(amount_minor, currency)
        text = f"{description} of PayTrace transaction {transaction_id}"[:60]
        batch_description = f"{CARD_REFUND_BATCH} {day.isoformat()}"
        credit = invoices.create(state, {
            "BatchDate": day.isoformat(), "Description": batch_description, "Invoices": [{
                "CustomerNumber": customer, "DocumentType": "CreditNote", "DocumentDate": day.isoformat(),
                "InvoiceDescription": text, "InvoiceDetails": [{"Description": text,
                                                                "ExtendedAmountWithoutTIP": value}]}]})
        invoices.post_batches(state, [credit])
        credit_note = credit["Invoices"][0]["DocumentNumber"]
        batch = refunds.create(state, {
            "BatchDate": day.isoformat(), "Description": batch_description, "BankCode": DEFAULT_BANK, "Refunds": [{
                "CustomerNumber": customer, "DocumentDate": day.isoformat(), "EntryDescription": text,
                "PaymentCode": payment_code, "TransactionID": str(transaction_id),
                "RefundDetails": [{"DocumentNumber": credit_note, "CustomerRefundAmount": value}]}]})
        entry = batch["Refunds"][0]
        return {"credit_note": credit_note, "batch_number": batch["BatchNumber"], "entry_number": entry["EntryNumber"],
                "document_number": entry["DocumentNumber"], "amount": value, "currency": currency}
