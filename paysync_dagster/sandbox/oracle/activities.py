"""Read-only customer views: ``receivablesCustomerAccountActivities`` (by ``AccountId``) and
``receivablesCustomerAccountSiteActivities`` (by ``BillToSiteUseId``, sample 10's shape), with their
``transactionPaymentSchedules`` (open and closed installments of complete invoices), and on the
account also ``standardReceipts`` and ``standardReceiptApplications`` (spec §3.3).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from . import invoices, receipts
from .rest import ChildSpec, ResourceSpec
from .state import Application, Customer, Installment, Invoice, OracleState, Receipt
from .wire import money

SCHEDULE_ATTRIBUTES = (
    "InstallmentId", "InstallmentNumber", "InstallmentStatus", "TransactionId", "TransactionNumber", "TransactionClass",
    "TransactionType", "TransactionSourceName", "TransactionDate", "PaymentScheduleDueDate", "PaymentDaysLate",
    "TotalBalanceAmount", "TotalOriginalAmount", "EnteredCurrency", "BillToSiteNumber", "PurchaseOrder",
)
# The names third-party attribute lists give a standardReceiptApplications row (spec §3.1, "Reading
# applications"); there is no InstallmentId, AppliedAmount or Currency. Not served: ProcessStatus,
# IsLatestApplication (values not documented) and the audit columns (the sandbox keeps no times for
# an application).
APPLICATION_ATTRIBUTES = (
    "ApplicationId", "StandardReceiptId", "ReceiptNumber", "ApplicationAmount", "EnteredCurrency", "ApplicationDate",
    "AccountingDate", "ApplicationStatus", "ActivityName", "ReferenceInstallmentId", "ReferenceTransactionId",
    "ReferenceTransactionNumber", "ReferenceTransactionStatus", "CustomerSite", "ReceiptMethod",
)
ACCOUNT_ATTRIBUTES = ("AccountId", "AccountNumber", "CustomerName", "CustomerId", "TaxRegistrationNumber",
                      "TaxpayerIdentificationNumber", "TotalOpenReceivables", "TotalTransactionsDue", "CreatedBy",
                      "CreationDate")
SITE_ATTRIBUTES = ("BillToSiteUseId", "BillToSiteNumber", "BillToSiteAddress", "AccountNumber", "AccountId",
                   "CustomerName", "CustomerId", "TaxRegistrationNumber", "TaxpayerIdentificationNumber",
                   "TotalOpenReceivablesForSite", "TotalTransactionsDueForSite", "CreatedBy", "CreationDate")
CREATED_BY = "FUSION_APPS_CRM_SOA_APPID"  # as on sample 10's TCA rows


def schedules(state: OracleState, customer: Customer) -> list[tuple[Invoice, Installment]]:
    return [(inv, inst) for inv in state.invoices_of(customer.account_id) if inv.complete for inst in inv.installments]


def render_schedule(state: OracleState, pair: tuple[Invoice, Installment]) -> dict[str, Any]:
    inv, inst = pair
    late = (date.fromisoformat(state.today()) - date.fromisoformat(inst.due_date)).days
    customer = state.store.customers.get(inv.account_id)
    return {"InstallmentId": inst.id, "InstallmentNumber": inst.number,
            "InstallmentStatus": invoices.installment_status(inst), "TransactionId": inv.id,
            "TransactionNumber": inv.number, "TransactionClass": "Invoice",
            "TransactionType": inv.fields.get("TransactionType"),
            "TransactionSourceName": inv.fields.get("TransactionSource"),
            "TransactionDate": inv.fields.get("TransactionDate"), "PaymentScheduleDueDate": inst.due_date,
            "PaymentDaysLate": max(0, late) if inst.balance_minor else 0,
            "TotalBalanceAmount": money(inst.balance_minor, inv.currency),
            "TotalOriginalAmount": money(inst.original_minor, inv.currency), "EnteredCurrency": inv.currency,
            "BillToSiteNumber": customer.site_number if customer else None,
            "PurchaseOrder": inv.fields.get("PurchaseOrder")}


def customer_receipts(state: OracleState, customer: Customer) -> list[Receipt]:
    return [r for r in state.store.receipts.values() if r.account_id == customer.account_id]


def customer_applications(state: OracleState, customer: Customer) -> list[tuple[Receipt, Application]]:
    return [(r, a) for r in customer_receipts(state, customer) for a in r.applications]


def render_application(state: OracleState, pair: tuple[Receipt, Application]) -> dict[str, Any]:
    r, app = pair
    invoice = state.store.invoices.get(app.invoice_id)
    return {"ApplicationId": app.id, "StandardReceiptId": r.id, "ReceiptNumber": r.fields.get("ReceiptNumber"),
            "ApplicationAmount": money(app.amount_minor, r.currency), "EnteredCurrency": r.currency,
            "ApplicationDate": app.apply_date, "AccountingDate": app.gl_date,
            "ApplicationStatus": "Applied" if app.status == "APP" else "Unapplied",
            "ActivityName": None,  # a receivables activity (write-off, ...), never an invoice application
            "ReferenceInstallmentId": app.installment_id, "ReferenceTransactionId": app.invoice_id,
            "ReferenceTransactionNumber": invoice.number if invoice else None,
            "ReferenceTransactionStatus": (("Open" if invoice.balance_minor > 0 else "Closed") if invoice else None),
            "CustomerSite": r.fields.get("CustomerSite"), "ReceiptMethod": r.fields.get("ReceiptMethod")}


def _totals(state: OracleState, customer: Customer) -> tuple[int | float, int | float]:
    open_ = [inst for _, inst in schedules(state, customer) if inst.balance_minor > 0]
    cur = state.ledger_currency
    return (money(sum(i.balance_minor for i in open_), cur), money(sum(i.original_minor for i in open_), cur))


def render_account(state: OracleState, c: Customer) -> dict[str, Any]:
    open_total, due_total = _totals(state, c)
    return {"AccountId": c.account_id, "AccountNumber": c.account_number, "CustomerName": c.customer_name,
            "CustomerId": c.customer_id, "TaxRegistrationNumber": None, "TaxpayerIdentificationNumber": None,
            "TotalOpenReceivables": open_total, "TotalTransactionsDue": due_total, "CreatedBy": CREATED_BY,
            "CreationDate": c.created}


def render_site(state: OracleState, c: Customer) -> dict[str, Any]:
    open_total, due_total = _totals(state, c)
    return {"BillToSiteUseId": c.site_use_id, "BillToSiteNumber": c.site_number, "BillToSiteAddress": c.site_address,
            "AccountNumber": c.account_number, "AccountId": c.account_id, "CustomerName": c.customer_name,
            "CustomerId": c.customer_id, "TaxRegistrationNumber": None, "TaxpayerIdentificationNumber": None,
            "TotalOpenReceivablesForSite": open_total, "TotalTransactionsDueForSite": due_total,
            "CreatedBy": CREATED_BY, "CreationDate": c.created}


def _customers(state: OracleState) -> list[Customer]:
    return sorted(state.store.customers.values(), key=lambda c: c.account_id)


def _by(attr: str) -> Any:
    def find(state: OracleState, key: str) -> Customer | None:
        return next((c for c in state.store.customers.values() if str(getattr(c, attr)) == key), None)
    return find


def _lookup(state: OracleState, attr: str, literal: str) -> list[Customer] | None:
    if attr == "AccountNumber":
        found = state.customer_by_number(literal)
        return [found] if found else []
    return None


_SCHEDULES = ChildSpec(name="transactionPaymentSchedules", attributes=SCHEDULE_ATTRIBUTES, rows=schedules,
                       key_of=lambda pair: str(pair[1].id), render=render_schedule)
_NOT_SUPPORTED = {"POST": "POST action not supported", "PATCH": "PATCH action not supported",
                  "DELETE": "DELETE action not supported"}

ACCOUNT_SPEC = ResourceSpec(
    name="receivablesCustomerAccountActivities", attributes=ACCOUNT_ATTRIBUTES, rows=_customers,
    find=_by("account_id"), key_of=lambda c: str(c.account_id), render=render_account, unsupported=_NOT_SUPPORTED,
    lookup=_lookup,
    finders={"CustomerAccountActivitiesFinder": {"AccountNumber": "AccountNumber", "CustomerName": "CustomerName"}},
    children={
        "transactionPaymentSchedules": _SCHEDULES,
        "standardReceipts": ChildSpec(name="standardReceipts", attributes=receipts.ATTRIBUTES, rows=customer_receipts,
                                      key_of=lambda r: str(r.id), render=receipts.render,
                                      query_values=receipts.query_values),
        "standardReceiptApplications": ChildSpec(
            name="standardReceiptApplications", attributes=APPLICATION_ATTRIBUTES, rows=customer_applications,
            key_of=lambda pair: str(pair[1].id), render=render_application),
    },
)

SITE_SPEC = ResourceSpec(
    name="receivablesCustomerAccountSiteActivities", attributes=SITE_ATTRIBUTES, rows=_customers,
    find=_by("site_use_id"), key_of=lambda c: str(c.site_use_id), render=render_site, unsupported=_NOT_SUPPORTED,
    lookup=_lookup,
    finders={"CustomerAccountSiteActivitiesFinder": {"AccountNumber": "AccountNumber", "CustomerName": "CustomerName"}},
    children={"transactionPaymentSchedules": _SCHEDULES},
)
