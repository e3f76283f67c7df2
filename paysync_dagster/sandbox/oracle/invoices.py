"""``receivablesInvoices`` with ``receivablesInvoiceLines`` and ``receivablesInvoiceInstallments`` (spec §3.2).

An invoice's total is the sum of its lines (quantity x unit selling price, rounded half up to the
currency). Its payment terms split the total into installments: "Immediate" = one due on the
transaction date, "30 Net" (any text with one number N) = one due N days later, "30/60/90" = one per
number, equal shares with the rounding remainder on the first. Each installment is an AR payment
schedule whose id is what ``applyReceipt`` takes as ``appliedPaymentScheduleId``; receipt
applications lower its ``InstallmentBalanceDue`` and unapplications/reversals raise it again.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from .rest import Call, ChildSpec, ResourceSpec
from .state import ApiError, Installment, Invoice, InvoiceLine, OracleState
from .wire import check_attributes, date_of, decimal_of, money, number, require, round_minor, text_of

NAME = "receivablesInvoices"
# The first twelve in the order of Oracle's own responses (samples 07 and 09), then the rest.
ATTRIBUTES = (
    "CustomerTransactionId", "DueDate", "ConversionDate", "ConversionRate", "InvoiceCurrencyCode",
    "SpecialInstructions", "CrossReference", "DocumentNumber", "TransactionNumber", "TransactionDate",
    "TransactionType", "TransactionSource", "BillToCustomerNumber", "BillToSite", "Comments", "InternalNotes",
    "PaymentTerms", "BusinessUnit", "BillToCustomerName", "BillToPartyId", "BillToContact", "ShipToCustomerName",
    "ShipToCustomerNumber", "ShipToSite", "ConversionRateType", "BillingDate", "AccountingDate", "InvoiceStatus",
    "AllowCompletion", "ReceiptMethod", "BankAccountNumber", "PurchaseOrder", "FirstPartyRegistrationNumber",
    "ThirdPartyRegistrationNumber", "EnteredAmount", "InvoiceBalanceAmount", "CreatedBy", "CreationDate",
    "LastUpdatedBy", "LastUpdateDate",
)
READ_ONLY = ("CustomerTransactionId", "BillToPartyId", "EnteredAmount", "InvoiceBalanceAmount", "CreatedBy",
             "CreationDate", "LastUpdatedBy", "LastUpdateDate")
WRITABLE = tuple(a for a in ATTRIBUTES if a not in READ_ONLY)
REQUIRED = ("BusinessUnit", "TransactionSource", "TransactionType", "TransactionDate", "BillToCustomerNumber")
UPDATABLE = ("InvoiceStatus", "PaymentTerms", "TransactionDate")
DATE_ATTRIBUTES = ("TransactionDate", "DueDate", "BillingDate", "AccountingDate", "ConversionDate")
STATUSES = ("Complete", "Incomplete")

LINE_ATTRIBUTES = ("CustomerTransactionLineId", "LineNumber", "Description", "Quantity", "UnitSellingPrice",
                   "LineAmount", "ItemNumber", "MemoLineName", "TaxClassificationCode", "UnitOfMeasure",
                   "SalesOrder", "SalesOrderLine", "AllocatedFreightAmount")
LINE_READ_ONLY = ("CustomerTransactionLineId", "LineAmount")
LINE_WRITABLE = tuple(a for a in LINE_ATTRIBUTES if a not in LINE_READ_ONLY)
INSTALLMENT_ATTRIBUTES = ("InstallmentId", "InstallmentSequenceNumber", "InstallmentDueDate", "OriginalAmount",
                          "InstallmentBalanceDue", "AccountedBalanceDue", "AmountPaid", "InstallmentStatus")
CHILDREN = ("receivablesInvoiceLines", "receivablesInvoiceInstallments")


# -- rendering ----------------------------------------------------------------------------------------

def render(state: OracleState, inv: Invoice) -> dict[str, Any]:
    row = {name: inv.fields.get(name) for name in ATTRIBUTES}
    customer = state.store.customers.get(inv.account_id)
    row.update({"CustomerTransactionId": inv.id, "BillToPartyId": customer.customer_id if customer else None,
                "DueDate": inv.installments[0].due_date if inv.installments else inv.fields.get("DueDate"),
                "EnteredAmount": money(inv.total_minor, inv.currency),
                "InvoiceBalanceAmount": money(inv.balance_minor, inv.currency),
                "CreationDate": inv.created, "LastUpdateDate": inv.updated})
    return row


def render_line(state: OracleState, line: InvoiceLine) -> dict[str, Any]:
    row = {name: line.fields.get(name) for name in LINE_ATTRIBUTES}
    row.update({"CustomerTransactionLineId": line.id, "LineNumber": line.number,
                "LineAmount": money(line.amount_minor, line.fields["_currency"])})
    return row


def installment_status(inst: Installment) -> str:
    return "Open" if inst.balance_minor > 0 else "Closed"


def render_installment(state: OracleState, inst: Installment) -> dict[str, Any]:
    invoice = state.store.invoices[inst.invoice_id]
    cur = invoice.currency
    return {"InstallmentId": inst.id, "InstallmentSequenceNumber": inst.number, "InstallmentDueDate": inst.due_date,
            "OriginalAmount": money(inst.original_minor, cur), "InstallmentBalanceDue": money(inst.balance_minor, cur),
            "AccountedBalanceDue": money(inst.balance_minor, cur) if cur == state.ledger_currency else None,
            "AmountPaid": money(inst.original_minor - inst.balance_minor, cur),
            "InstallmentStatus": installment_status(inst)}


def find(state: OracleState, key: str) -> Invoice | None:
    return state.store.invoices.get(int(key)) if key.isdigit() else None


# -- terms and installments ------------------------------------------------------------------------------------

def term_days(terms: str) -> list[int]:
    text = terms.strip()
    if text.lower() == "immediate":
        return [0]
    if re.fullmatch(r"\d+(\s*/\s*\d+)+", text):
        return [int(n) for n in re.split(r"\s*/\s*", text)]
    numbers = re.findall(r"\d+", text)
    if len(numbers) != 1:
        raise ApiError(400, f"The payment terms {terms} aren't valid.")
    return [int(numbers[0])]


def schedule(total: int, terms: str, transaction_date: str, due_date: str | None) -> list[tuple[int, str, int]]:
    """(sequence, due date, amount) per installment."""
    days = term_days(terms)
    start = date.fromisoformat(transaction_date)
    share, rest = divmod(total, len(days))
    out = []
    for i, d in enumerate(days, start=1):
        due = due_date if (due_date and len(days) == 1) else (start + timedelta(days=d)).isoformat()
        out.append((i, due, share + (rest if i == 1 else 0)))
    return out


def _make_installments(state: OracleState, invoice: Invoice, due_date: str | None) -> None:
    for inst in invoice.installments:
        state.store.installment_index.pop(inst.id, None)
    total = sum(line.amount_minor for line in invoice.lines)
    invoice.installments = [
        Installment(id=state.new_id(), invoice_id=invoice.id, number=seq, due_date=due, original_minor=amount,
                    balance_minor=amount)
        for seq, due, amount in schedule(total, invoice.fields["PaymentTerms"], invoice.fields["TransactionDate"], due_date)]
    for inst in invoice.installments:
        state.store.installment_index[inst.id] = invoice.id


def has_activity(state: OracleState, invoice: Invoice) -> bool:
    return any(inst.balance_minor != inst.original_minor for inst in invoice.installments)


# -- create / update / delete -----------------------------------------------------------------------------------

def _lines(payload: dict, currency: str) -> list[tuple[int, dict, int]]:
    raw = payload.get("receivablesInvoiceLines")
    if not raw:
        raise ApiError(400, "You must provide at least one line in receivablesInvoiceLines.",
                       "FND_CMN_REQ_ATTRIB_API_SERV")
    out, used = [], set()
    for i, line in enumerate(raw, start=1):
        if not isinstance(line, dict):
            raise ApiError(400, "An invoice line must be a JSON object.")
        check_attributes(line, "receivablesInvoiceLines", LINE_WRITABLE, LINE_READ_ONLY)
        require(line, ("Quantity", "UnitSellingPrice"))
        if not (line.get("Description") or line.get("ItemNumber") or line.get("MemoLineName")):
            require(line, ("Description",))
        text_of(line, "Description", 240)
        quantity, price = decimal_of(line["Quantity"], "Quantity"), decimal_of(line["UnitSellingPrice"], "UnitSellingPrice")
        number_ = int(decimal_of(line.get("LineNumber", i), "LineNumber"))
        if number_ in used:
            raise ApiError(400, f"The line number {number_} is used twice.")
        used.add(number_)
        fields = {k: line.get(k) for k in LINE_WRITABLE}
        fields.update({"Quantity": number(quantity), "UnitSellingPrice": number(price), "_currency": currency})
        out.append((number_, fields, round_minor(quantity * price, currency)))
    return out


def create_record(state: OracleState, payload: dict) -> Invoice:
    """Validate and store an invoice (POST, seeding and order shipping all come through here)."""
    require(payload, REQUIRED)
    check_attributes(payload, NAME, WRITABLE, READ_ONLY, children=CHILDREN[:1])
    if payload["BusinessUnit"] not in state.business_units:
        raise ApiError(400, "The business unit is invalid. Message Context: The business unit provided in a web "
                            "service call is invalid.", "AR_RAPI_BU_INVALID")
    customer = state.customer_by_number(payload["BillToCustomerNumber"])
    if customer is None:
        raise ApiError(400, f"The bill-to customer account number {payload['BillToCustomerNumber']} isn't valid.")
    currency = str(payload.get("InvoiceCurrencyCode") or state.ledger_currency)
    if currency not in state.currencies:
        raise ApiError(400, "The currency is invalid.", "AR_RAPI_CURR_CODE_INVALID")
    dates = {name: date_of(payload[name], name) for name in DATE_ATTRIBUTES if payload.get(name) is not None}
    status = payload.get("InvoiceStatus") or "Complete"
    if status not in STATUSES:
        raise ApiError(400, f"The invoice status {status} isn't valid.")
    terms = str(payload.get("PaymentTerms") or "30 Net")
    term_days(terms)
    method = payload.get("ReceiptMethod")
    if method is not None and method not in state.receipt_methods:
        raise ApiError(400, "The receipt method that you selected is invalid.", "AR_INVAL_RECEIPT_MTH_ID")
    number_ = text_of(payload, "TransactionNumber", 20)
    if number_ is not None and state.invoice_by_number(number_) is not None:
        raise ApiError(400, f"A transaction with the number {number_} already exists. Enter a unique transaction number.")
    lines = _lines(payload, currency)
    if sum(amount for _, _, amount in lines) <= 0:
        raise ApiError(400, "The invoice amount must be greater than zero.")

    if number_ is None:  # the transaction source numbers automatically
        while state.invoice_by_number(str(state.store.next_transaction_number)) is not None:
            state.store.next_transaction_number += 1
        number_ = str(state.store.next_transaction_number)
        state.store.next_transaction_number += 1
    now, iid = state.now(), state.new_id()
    fields = {name: payload.get(name) for name in WRITABLE}
    fields.update(dates)
    fields.update({"TransactionNumber": number_, "InvoiceCurrencyCode": currency, "InvoiceStatus": status,
                   "PaymentTerms": terms, "BillToCustomerNumber": customer.account_number,
                   "BillToCustomerName": payload.get("BillToCustomerName") or customer.customer_name,
                   "BillToSite": payload.get("BillToSite") or customer.site_number,
                   "AllowCompletion": payload.get("AllowCompletion") or "Y",
                   "CreatedBy": state.acting_user, "LastUpdatedBy": state.acting_user})
    invoice = Invoice(id=iid, number=number_, account_id=customer.account_id, currency=currency, fields=fields,
                      lines=[InvoiceLine(state.new_id(), n, f, a) for n, f, a in sorted(lines, key=lambda t: t[0])],
                      installments=[], created=now, updated=now)
    _make_installments(state, invoice, dates.get("DueDate"))
    state.store.invoices[iid] = invoice
    state.index_invoice(invoice)
    state.count("invoices_created")
    return invoice


def create(state: OracleState, payload: dict, call: Call) -> tuple[Invoice, bool]:
    return create_record(state, payload), True


def _installment_changes(state: OracleState, inv: Invoice, raw: Any) -> list[tuple[Installment, dict]]:
    if not isinstance(raw, list):
        raise ApiError(400, "receivablesInvoiceInstallments must be an array.")
    out = []
    for change in raw:
        if not isinstance(change, dict) or "InstallmentId" not in change:
            raise ApiError(400, "Each installment change needs its InstallmentId.")
        inst = next((i for i in inv.installments if str(i.id) == str(change["InstallmentId"])), None)
        if inst is None:
            raise ApiError(400, f"The installment {change['InstallmentId']} doesn't belong to invoice {inv.number}.")
        out.append((inst, {k: v for k, v in change.items() if k != "InstallmentId"}))
    return out


def _validate_installment(state: OracleState, inv: Invoice, inst: Installment, change: dict) -> dict:
    check_attributes(change, "receivablesInvoiceInstallments", ("InstallmentDueDate", "OriginalAmount"),
                     tuple(a for a in INSTALLMENT_ATTRIBUTES if a not in ("InstallmentDueDate", "OriginalAmount")))
    out: dict[str, Any] = {}
    if change.get("InstallmentDueDate") is not None:
        out["due"] = date_of(change["InstallmentDueDate"], "InstallmentDueDate")
    if change.get("OriginalAmount") is not None:
        if inst.balance_minor != inst.original_minor:
            raise ApiError(400, f"You can't change the amount of installment {inst.number} because it has activity.")
        out["amount"] = round_minor(decimal_of(change["OriginalAmount"], "OriginalAmount"), inv.currency)
    return out


def update(state: OracleState, inv: Invoice, payload: dict) -> None:
    for name in payload:
        if name not in UPDATABLE and name != "receivablesInvoiceInstallments":
            raise ApiError(400, "You can update only the InvoiceStatus, PaymentTerms, and TransactionDate attributes.")
    status = payload.get("InvoiceStatus", inv.fields["InvoiceStatus"])
    if status not in STATUSES:
        raise ApiError(400, f"The invoice status {status} isn't valid.")
    active = has_activity(state, inv)
    if status == "Incomplete" and active:
        raise ApiError(400, f"You can't make transaction {inv.number} incomplete because it has activity.")
    terms = payload.get("PaymentTerms", inv.fields["PaymentTerms"])
    if terms != inv.fields["PaymentTerms"]:
        term_days(str(terms))
        if active:
            raise ApiError(400, f"You can't update the payment terms of transaction {inv.number} because it has activity.")
    txn_date = date_of(payload["TransactionDate"], "TransactionDate") if "TransactionDate" in payload else None
    changes = [(inst, _validate_installment(state, inv, inst, c))
               for inst, c in _installment_changes(state, inv, payload.get("receivablesInvoiceInstallments", []))]
    if any("amount" in c for _, c in changes):
        amounts = {inst.id: c.get("amount", inst.original_minor) for inst, c in changes}
        new_total = sum(amounts.get(i.id, i.original_minor) for i in inv.installments)
        if new_total != sum(line.amount_minor for line in inv.lines):
            raise ApiError(400, f"The installment amounts must add up to the amount of transaction {inv.number}.")

    inv.fields["InvoiceStatus"] = status
    if txn_date:
        inv.fields["TransactionDate"] = txn_date
    if terms != inv.fields["PaymentTerms"]:
        inv.fields["PaymentTerms"] = str(terms)
        _make_installments(state, inv, None)
    for inst, c in changes:
        if "due" in c:
            inst.due_date = c["due"]
        if "amount" in c:
            inst.original_minor = inst.balance_minor = c["amount"]
    inv.version += 1
    inv.updated = state.now()
    inv.fields["LastUpdatedBy"] = state.acting_user


def update_installment(state: OracleState, inv: Invoice, inst: Installment, payload: dict) -> None:
    update(state, inv, {"receivablesInvoiceInstallments": [{**payload, "InstallmentId": inst.id}]})


def delete(state: OracleState, inv: Invoice) -> None:
    referenced = any(a.invoice_id == inv.id for r in state.store.receipts.values() for a in r.applications)
    if referenced:
        raise ApiError(400, f"You can't delete transaction {inv.number} because it has activity.")
    for inst in inv.installments:
        state.store.installment_index.pop(inst.id, None)
    state.index_invoice(inv, remove=True)
    del state.store.invoices[inv.id]


def lookup(state: OracleState, attr: str, literal: str) -> list[Invoice] | None:
    if attr == "TransactionNumber":
        found = state.invoice_by_number(literal)
        return [found] if found else []
    if attr == "BillToCustomerNumber":
        customer = state.customer_by_number(literal)
        return state.invoices_of(customer.account_id) if customer else []
    if attr == "CustomerTransactionId" and literal.isdigit():
        found = state.store.invoices.get(int(literal))
        return [found] if found else []
    return None


SPEC = ResourceSpec(
    name=NAME, lookup=lookup, attributes=ATTRIBUTES, rows=lambda s: list(s.store.invoices.values()), find=find,
    key_of=lambda inv: str(inv.id), render=render, create=create, update=update, delete=delete,
    finders={"PrimaryKey": {"CustomerTransactionId": "CustomerTransactionId"}},
    children={
        "receivablesInvoiceLines": ChildSpec(
            name="receivablesInvoiceLines", attributes=LINE_ATTRIBUTES, rows=lambda s, inv: list(inv.lines),
            key_of=lambda line: str(line.id), render=render_line),
        "receivablesInvoiceInstallments": ChildSpec(
            name="receivablesInvoiceInstallments", attributes=INSTALLMENT_ATTRIBUTES,
            rows=lambda s, inv: list(inv.installments), key_of=lambda inst: str(inst.id), render=render_installment,
            update=update_installment),
    },
)
