"""``standardReceipts``: create, read, update, delete, ``remittanceReferences``, and the custom actions
``applyReceipt``, ``bulkApplyReceipt``, ``unapplyReceipt``, ``reverseReceipt`` (spec §3.1).

Every function validates the whole request before it changes anything (see :mod:`.rest`).
Assumptions beyond the spec are listed in :mod:`paysync_dagster.sandbox.oracle.app`.
"""

from __future__ import annotations

import re
from typing import Any

from paysync_dagster.lib.money import to_decimal

from .rest import Call, ChildSpec, ResourceSpec
from .state import (OBSOLETE_RECEIPT_METHODS, ApiError, Application, Customer, Invoice, Installment, OracleState,
                    Receipt, RemittanceReference, required_attribute)
from .wire import amount_of, check_attributes, date_of, decimal_of, money, require, text_of

NAME = "standardReceipts"
ATTRIBUTES = (
    "StandardReceiptId", "ReceiptNumber", "BusinessUnit", "ReceiptMethod", "ReceiptDate", "AccountingDate",
    "MaturityDate", "PostmarkDate", "DocumentNumber", "Amount", "Currency", "ConversionRateType", "ConversionDate",
    "ConversionRate", "State", "Status", "RemittanceBankName", "RemittanceBankBranch", "RemittanceBankAccountNumber",
    "RemittanceBankDepositDate", "RemittanceBankAllowOverride", "CustomerName", "TaxpayerIdentificationNumber",
    "CustomerSite", "CustomerAccountNumber", "CustomerBank", "CustomerBankBranch", "CustomerBankAccountNumber",
    "UnappliedAmount", "AccountedAmount", "Comments", "CardHolderFirstName", "CardHolderLastName", "CreatedBy",
    "CreationDate", "LastUpdatedBy", "LastUpdateDate",
)
READ_ONLY = ("StandardReceiptId", "State", "Status", "UnappliedAmount", "AccountedAmount", "CreatedBy", "CreationDate",
             "LastUpdatedBy", "LastUpdateDate")
WRITABLE = tuple(a for a in ATTRIBUTES if a not in READ_ONLY)
REQUIRED = ("Amount", "BusinessUnit")
DATE_ATTRIBUTES = ("ReceiptDate", "AccountingDate", "MaturityDate", "PostmarkDate", "RemittanceBankDepositDate",
                   "ConversionDate")
MAX_LENGTHS = {"BusinessUnit": 240, "ConversionRateType": 30, "Comments": 200, "ReceiptNumber": 30}
UPDATABLE = ("Comments", "CustomerSite", "CustomerAccountNumber", "CustomerName", "TaxpayerIdentificationNumber",
             "CustomerBank", "CustomerBankBranch", "CustomerBankAccountNumber", "MaturityDate", "PostmarkDate",
             "DocumentNumber", "RemittanceBankDepositDate", "CardHolderFirstName", "CardHolderLastName")
CUSTOMER_FIELDS = ("CustomerAccountNumber", "CustomerName")

REF_ATTRIBUTES = ("RemittanceReferenceId", "ReceiptMatchBy", "ReferenceNumber", "ReferenceAmount", "CreatedBy",
                  "CreationDate", "LastUpdatedBy", "LastUpdateDate")
REF_WRITABLE = ("ReceiptMatchBy", "ReferenceNumber", "ReferenceAmount", "CustomerReason", "CustomerReference")
MATCH_BY = ("Purchase Order", "Transaction Number", "Sales Order", "Shipment Reference", "Contract Number",
            "Balance Forward Billing Number", "Customer Reference")
REVERSAL_CATEGORIES = ("REV", "NSF", "STOP")

DUPLICATE = ("A receipt with this number, date, amount and customer already exists. Enter a unique receipt number.",
             "AR_RCP_DUP_NUM")


# -- rendering ------------------------------------------------------------------------------------------

def status_of(r: Receipt) -> str:
    if r.reversal:
        return "Reversed"
    if r.account_id is None:
        return "Unidentified"
    return "Applied" if r.applied_minor and r.unapplied_minor == 0 else "Unapplied"


def render(state: OracleState, r: Receipt) -> dict[str, Any]:
    row = {name: r.fields.get(name) for name in ATTRIBUTES}
    accounted = None
    if r.currency == state.ledger_currency:
        accounted = money(r.amount_minor, r.currency)
    elif r.fields.get("ConversionRate") is not None:
        accounted = float(to_decimal(r.amount_minor, r.currency) * decimal_of(r.fields["ConversionRate"], "ConversionRate"))
    row.update({
        "StandardReceiptId": r.id, "State": "Reversed" if r.reversal else "Cleared", "Status": status_of(r),
        "UnappliedAmount": money(r.unapplied_minor, r.currency), "AccountedAmount": accounted,
        "CreatedBy": r.fields.get("CreatedBy"), "CreationDate": r.created, "LastUpdatedBy": r.fields.get("LastUpdatedBy"),
        "LastUpdateDate": r.updated,
    })
    return row


def query_values(r: Receipt) -> dict[str, Any]:
    # Amount is echoed as sent (string or number); filters and orderBy see the number.
    return {"Amount": to_decimal(r.amount_minor, r.currency)}


def render_reference(state: OracleState, ref: RemittanceReference) -> dict[str, Any]:
    return {"RemittanceReferenceId": ref.id, "ReceiptMatchBy": ref.fields.get("ReceiptMatchBy"),
            "ReferenceNumber": ref.fields.get("ReferenceNumber"), "ReferenceAmount": ref.fields.get("ReferenceAmount"),
            "CreatedBy": ref.fields.get("CreatedBy"), "CreationDate": ref.created,
            "LastUpdatedBy": ref.fields.get("LastUpdatedBy"), "LastUpdateDate": ref.updated}


def find(state: OracleState, key: str) -> Receipt | None:
    return state.store.receipts.get(int(key)) if key.isdigit() else None


# -- create / update / delete ---------------------------------------------------------------------------------

def _resolve_customer(state: OracleState, payload: dict) -> Customer | None:
    number, name, site = (text_of(payload, "CustomerAccountNumber"), text_of(payload, "CustomerName", 360),
                          text_of(payload, "CustomerSite"))
    customer: Customer | None = None
    if number:
        customer = state.customer_by_number(number)
        if customer is None:
            raise ApiError(400, "The customer account number is invalid.", "AR_RAPI_CUS_NUM_INVALID")
        if name and name != customer.customer_name:
            raise ApiError(400, "The customer name is invalid.", "AR_RAPI_CUST_NAME_INVALID")
    elif name:
        matches = state.customers_by_name(name)
        if len(matches) != 1:
            raise ApiError(400, "The customer name is invalid.", "AR_RAPI_CUST_NAME_INVALID")
        customer = matches[0]
    if site and (customer is None or site not in (customer.site_number, str(customer.site_use_id))):
        raise ApiError(400, "The customer site is invalid.", "AR_RAPI_CUS_SITE_NUM_INVALID")
    return customer


def _reference_fields(state: OracleState, payload: Any, currency: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ApiError(400, "A remittance reference must be a JSON object.")
    check_attributes(payload, "remittanceReferences", REF_WRITABLE, ("RemittanceReferenceId", "CreatedBy",
                     "CreationDate", "LastUpdatedBy", "LastUpdateDate"))
    require(payload, ("ReferenceNumber",))
    match_by = text_of(payload, "ReceiptMatchBy")
    if match_by is not None and match_by not in MATCH_BY:
        raise ApiError(400, f"The receipt match-by value {match_by} isn't valid.")
    fields = {k: payload.get(k) for k in REF_WRITABLE}
    text_of(payload, "ReferenceNumber", 50)
    text_of(payload, "CustomerReason", 30)
    text_of(payload, "CustomerReference", 100)
    if payload.get("ReferenceAmount") is not None:
        # Sent as "8774.45", echoed as 8774.45 (sample 05): stored as a number.
        fields["ReferenceAmount"] = money(amount_of(payload["ReferenceAmount"], currency, "ReferenceAmount"), currency)
    fields["CreatedBy"] = fields["LastUpdatedBy"] = state.acting_user
    return fields


def create(state: OracleState, payload: dict, call: Call) -> tuple[Receipt, bool]:
    require(payload, REQUIRED)
    check_attributes(payload, NAME, WRITABLE, READ_ONLY, children=("remittanceReferences",))
    for name, limit in MAX_LENGTHS.items():
        text_of(payload, name, limit)
    if payload["BusinessUnit"] not in state.business_units:
        raise ApiError(400, "The business unit is invalid. Message Context: The business unit provided in a web "
                            "service call is invalid.", "AR_RAPI_BU_INVALID")
    currency = str(payload.get("Currency") or state.ledger_currency)
    if currency not in state.currencies:
        raise ApiError(400, "The currency is invalid.", "AR_RAPI_CURR_CODE_INVALID")
    method = payload.get("ReceiptMethod")
    if method is not None:
        if method in OBSOLETE_RECEIPT_METHODS:
            raise ApiError(400, "Bills of exchange receipt methods are no longer valid. Enter another receipt method.",
                           "AR_BOE_OBSOLETE")
        if method not in state.receipt_methods:
            raise ApiError(400, "The receipt method that you selected is invalid.", "AR_INVAL_RECEIPT_MTH_ID")
    amount = amount_of(payload["Amount"], currency, "Amount")
    dates = {name: date_of(payload[name], name) for name in DATE_ATTRIBUTES if payload.get(name) is not None}
    if payload.get("ConversionRate") is not None:
        decimal_of(payload["ConversionRate"], "ConversionRate")
    customer = _resolve_customer(state, payload)
    refs = [_reference_fields(state, ref, currency) for ref in payload.get("remittanceReferences") or ()]
    receipt_date = dates.get("ReceiptDate", state.today())
    number = payload.get("ReceiptNumber")
    account_id = customer.account_id if customer else None
    if number is not None:
        for other in state.receipts_numbered(str(number)):
            if (other.fields.get("ReceiptNumber") == str(number) and other.fields.get("ReceiptDate") == receipt_date
                    and other.amount_minor == amount and other.account_id == account_id):
                state.count("receipts_rejected_duplicate")
                raise ApiError(400, *DUPLICATE)

    now, rid = state.now(), state.new_id()
    fields = {name: payload.get(name) for name in WRITABLE}
    fields.update(dates)
    fields.update({
        "ReceiptNumber": str(number) if number is not None else str(rid),  # automatic numbering when absent
        "Currency": currency, "ReceiptDate": receipt_date,
        "AccountingDate": dates.get("AccountingDate", receipt_date),
        "MaturityDate": dates.get("MaturityDate", receipt_date),
        "RemittanceBankDepositDate": dates.get("RemittanceBankDepositDate", receipt_date),
        "RemittanceBankAllowOverride": payload.get("RemittanceBankAllowOverride") or "N",
        "CreatedBy": state.acting_user, "LastUpdatedBy": state.acting_user,
    })
    if customer is not None:
        fields.update({"CustomerAccountNumber": customer.account_number, "CustomerName": customer.customer_name,
                       "CustomerSite": customer.site_number})
    receipt = Receipt(id=rid, fields=fields, amount_minor=amount, currency=currency, account_id=account_id,
                      created=now, updated=now)
    receipt.remittance_references = [RemittanceReference(state.new_id(), f, now, now) for f in refs]
    state.store.receipts[rid] = receipt
    state.index_receipt(receipt)
    state.count("receipts_created")
    return receipt, True


def _touch(state: OracleState, r: Receipt) -> None:
    r.version += 1
    r.updated = state.now()
    r.fields["LastUpdatedBy"] = state.acting_user


def update(state: OracleState, r: Receipt, payload: dict) -> None:
    check_attributes(payload, NAME, WRITABLE, READ_ONLY)
    if r.reversal:
        raise ApiError(400, f"You can't update receipt {r.fields['ReceiptNumber']} because it was reversed.")
    for name in payload:
        if name not in UPDATABLE and payload[name] != r.fields.get(name):
            raise ApiError(400, f"You can't update the attribute {name} of a standard receipt.")
    dates = {name: date_of(payload[name], name) for name in DATE_ATTRIBUTES if payload.get(name) is not None}
    changes_customer = any(name in payload and payload[name] != r.fields.get(name) for name in CUSTOMER_FIELDS)
    customer = None
    if changes_customer:
        if r.applied_minor:
            raise ApiError(400, f"You can't update the customer account on receipt {r.fields['ReceiptNumber']} "
                                "because it was applied to a transaction.")
        merged = {"CustomerAccountNumber": payload.get("CustomerAccountNumber", r.fields.get("CustomerAccountNumber")),
                  "CustomerName": payload.get("CustomerName")}
        customer = _resolve_customer(state, merged)
    elif payload.get("CustomerSite") not in (None, r.fields.get("CustomerSite")):
        current = state.store.customers.get(r.account_id) if r.account_id else None
        _resolve_customer(state, {"CustomerAccountNumber": current.account_number if current else None,
                                  "CustomerSite": payload["CustomerSite"]})
    r.fields.update({k: v for k, v in payload.items() if k in UPDATABLE})
    r.fields.update(dates)
    if changes_customer:
        r.account_id = customer.account_id if customer else None
        r.fields.update({"CustomerAccountNumber": customer.account_number if customer else None,
                         "CustomerName": customer.customer_name if customer else None,
                         "CustomerSite": customer.site_number if customer else None})
    _touch(state, r)


def delete(state: OracleState, r: Receipt) -> None:
    if r.applied_minor:
        raise ApiError(400, f"You can't delete receipt {r.fields['ReceiptNumber']} because it was applied to a "
                            "transaction.")
    state.index_receipt(r, remove=True)
    del state.store.receipts[r.id]
    state.count("receipts_deleted")


def create_reference(state: OracleState, r: Receipt, payload: dict) -> RemittanceReference:
    fields = _reference_fields(state, payload, r.currency)
    now = state.now()
    ref = RemittanceReference(state.new_id(), fields, now, now)
    r.remittance_references.append(ref)
    _touch(state, r)
    return ref


def delete_reference(state: OracleState, r: Receipt, ref: RemittanceReference) -> None:
    r.remittance_references.remove(ref)
    _touch(state, r)


# -- applications ------------------------------------------------------------------------------------------------

def _schedule_id(value: Any, name: str) -> int:
    if value in (None, ""):
        raise ApiError(400, *required_attribute(name))
    try:
        return int(decimal_of(value, name))
    except (ValueError, ArithmeticError):
        raise ApiError(400, f"The value of {name} isn't a valid installment identifier.") from None


def _target(state: OracleState, r: Receipt, schedule_id: int) -> tuple[Invoice, Installment]:
    found = state.installment(schedule_id)
    if found is None:
        raise ApiError(400, f"The invoice installment {schedule_id} doesn't exist.")
    invoice, inst = found
    if not invoice.complete:
        raise ApiError(400, f"You can't apply a receipt to transaction {invoice.number} because it's incomplete.")
    if invoice.currency != r.currency:
        raise ApiError(400, f"The receipt currency {r.currency} doesn't match the currency {invoice.currency} of "
                            f"transaction {invoice.number}; cross-currency applications aren't supported.")
    return invoice, inst


def _can_apply(r: Receipt) -> None:
    if r.reversal:
        raise ApiError(400, f"You can't apply receipt {r.fields['ReceiptNumber']} because it was reversed.")
    if r.account_id is None:
        raise ApiError(400, f"Identify the customer on receipt {r.fields['ReceiptNumber']} before you apply it.")


def _application_dates(state: OracleState, params: dict) -> tuple[str, str]:
    apply_date = date_of(params["applicationDate"], "applicationDate") if params.get("applicationDate") else state.today()
    gl_date = date_of(params["accountingDate"], "accountingDate") if params.get("accountingDate") else apply_date
    return apply_date, gl_date


def _record(state: OracleState, r: Receipt, invoice: Invoice, inst: Installment, amount: int, dates: tuple[str, str],
            called_from: Any) -> Application:
    app = Application(id=state.new_id(), receipt_id=r.id, installment_id=inst.id, invoice_id=invoice.id,
                      amount_minor=amount, apply_date=dates[0], gl_date=dates[1],
                      called_from=str(called_from) if called_from is not None else None)
    inst.balance_minor -= amount
    r.applications.append(app)
    invoice.version += 1
    invoice.updated = state.now()
    state.count("applications")
    return app


def _app_result(app: Application, r: Receipt) -> dict[str, Any]:
    return {"receivableApplicationId": app.id, "appliedPaymentScheduleId": app.installment_id,
            "amountApplied": money(app.amount_minor, r.currency), "applicationDate": app.apply_date}


def apply_receipt(state: OracleState, r: Receipt, params: dict) -> dict[str, Any]:
    _can_apply(r)
    schedule_id = _schedule_id(params.get("appliedPaymentScheduleId"), "appliedPaymentScheduleId")
    invoice, inst = _target(state, r, schedule_id)
    if params.get("amountApplied") is None:  # "the full open balance of the transaction is applied"
        amount = inst.balance_minor
    else:
        amount = amount_of(params["amountApplied"], r.currency, "amountApplied", allow_zero=False)
    if amount <= 0 or amount > inst.balance_minor:
        raise ApiError(400, f"The amount applied exceeds the balance due of installment {inst.number} of transaction "
                            f"{invoice.number}; overapplication isn't allowed.")
    if amount > r.unapplied_minor:
        raise ApiError(400, f"The amount applied exceeds the unapplied amount of receipt {r.fields['ReceiptNumber']}.")
    dates = _application_dates(state, params)
    app = _record(state, r, invoice, inst, amount, dates, params.get("calledFrom"))
    _touch(state, r)
    return {**_app_result(app, r), "unappliedAmount": money(r.unapplied_minor, r.currency)}


def bulk_apply_receipt(state: OracleState, r: Receipt, params: dict) -> dict[str, Any]:
    """Each installment in turn gets min(its balance, what is left of the receipt)."""
    _can_apply(r)
    raw = params.get("appliedPaymentScheduleIds")
    if raw in (None, "", []):
        raise ApiError(400, *required_attribute("appliedPaymentScheduleIds"))
    ids = raw if isinstance(raw, list) else [p for p in re.split(r"[,;\s]+", str(raw)) if p]
    targets = [_target(state, r, _schedule_id(i, "appliedPaymentScheduleIds")) for i in ids]
    if len({inst.id for _, inst in targets}) != len(targets):
        raise ApiError(400, "An installment is listed more than once in appliedPaymentScheduleIds.")
    if r.unapplied_minor <= 0:
        raise ApiError(400, f"Receipt {r.fields['ReceiptNumber']} has no unapplied amount left to apply.")
    dates = _application_dates(state, params)
    left, plan = r.unapplied_minor, []
    for invoice, inst in targets:
        amount = min(inst.balance_minor, left)
        if amount > 0:
            plan.append((invoice, inst, amount))
            left -= amount
    apps = [_record(state, r, inv, inst, amt, dates, params.get("calledFrom")) for inv, inst, amt in plan]
    _touch(state, r)
    return {"applications": [_app_result(a, r) for a in apps], "unappliedAmount": money(r.unapplied_minor, r.currency)}


def _undo(state: OracleState, r: Receipt, apps: list[Application], on: str) -> None:
    for app in apps:
        found = state.installment(app.installment_id)
        if found is not None:
            invoice, inst = found
            inst.balance_minor += app.amount_minor
            invoice.version += 1
            invoice.updated = state.now()
        app.status, app.unapplied_on = "UNAPP", on
        state.count("unapplications")


def unapply_receipt(state: OracleState, r: Receipt, params: dict) -> dict[str, Any]:
    active = [a for a in r.applications if a.status == "APP"]
    if params.get("receivableApplicationId") not in (None, ""):
        app_id = _schedule_id(params["receivableApplicationId"], "receivableApplicationId")
        chosen = [a for a in active if a.id == app_id]
        what = f"application {app_id}"
    elif params.get("appliedPaymentScheduleId") not in (None, ""):
        schedule_id = _schedule_id(params["appliedPaymentScheduleId"], "appliedPaymentScheduleId")
        chosen = [a for a in active if a.installment_id == schedule_id]
        what = f"installment {schedule_id}"
    else:
        raise ApiError(400, *required_attribute("appliedPaymentScheduleId"))
    if not chosen:
        raise ApiError(400, f"Receipt {r.fields['ReceiptNumber']} isn't applied to {what}.")
    _undo(state, r, chosen, state.today())
    _touch(state, r)
    return {"receivableApplicationIds": [a.id for a in chosen],
            "amountUnapplied": money(sum(a.amount_minor for a in chosen), r.currency),
            "unappliedAmount": money(r.unapplied_minor, r.currency)}


def reverse_receipt(state: OracleState, r: Receipt, params: dict) -> dict[str, Any]:
    """Reversal undoes every active application (their installments get their balances back)."""
    require(params, ("reversalCategoryCode", "reversalReasonCode"))
    category = str(params["reversalCategoryCode"])
    if category not in REVERSAL_CATEGORIES:
        raise ApiError(400, f"The reversal category {category} isn't valid. Use one of {', '.join(REVERSAL_CATEGORIES)}.")
    if r.reversal:
        raise ApiError(400, f"Receipt {r.fields['ReceiptNumber']} is already reversed.")
    on = date_of(params["reversalDate"], "reversalDate") if params.get("reversalDate") else state.today()
    active = [a for a in r.applications if a.status == "APP"]
    _undo(state, r, active, on)
    r.reversal = {"category": category, "reason": str(params["reversalReasonCode"]), "date": on,
                  "called_from": params.get("calledFrom")}
    _touch(state, r)
    state.count("reversals")
    return {"status": "Reversed", "reversalDate": on, "unappliedApplicationIds": [a.id for a in active]}


def lookup(state: OracleState, attr: str, literal: str) -> list[Receipt] | None:
    if attr == "ReceiptNumber":
        return state.receipts_numbered(literal)
    if attr == "StandardReceiptId" and literal.isdigit():
        found = state.store.receipts.get(int(literal))
        return [found] if found else []
    return None


SPEC = ResourceSpec(
    name=NAME, lookup=lookup, attributes=ATTRIBUTES, rows=lambda s: list(s.store.receipts.values()), find=find,
    key_of=lambda r: str(r.id), render=render, create=create, update=update, delete=delete,
    query_values=query_values,
    children={"remittanceReferences": ChildSpec(
        name="remittanceReferences", attributes=REF_ATTRIBUTES, rows=lambda s, r: list(r.remittance_references),
        key_of=lambda ref: str(ref.id), render=render_reference, create=create_reference, delete=delete_reference)},
    actions={"applyReceipt": apply_receipt, "bulkApplyReceipt": bulk_apply_receipt,
             "unapplyReceipt": unapply_receipt, "reverseReceipt": reverse_receipt},
)

__all__ = ["SPEC", "render", "status_of"]
