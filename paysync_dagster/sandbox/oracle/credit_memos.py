"""``receivablesCreditMemos``: list (``q``/``finder``/``limit``/``offset``/``onlyData``/``fields``/``orderBy``
as for every resource, :mod:`.rest`), item GET and PATCH. No POST, DELETE, children or actions: credit
memos get here by seeding (:func:`.seed.add_credit_memo`, or the control API's ``/seed`` with
``"credit_memos"``), the way a clerk would key them in Oracle.

PaySync reads them for card refunds: a credit memo whose ``ReceiptMethod`` is the mapping file's
``refunds.card_refund.oracle`` ("Card Refund") asks for the amount to go back to the card of the PayTrace
transaction whose id the clerk put in ``CrossReference``; PaySync writes its result in
``CreditMemoComments``.

Sandbox behaviour (beyond the findings below):

- An item renders the attributes of :data:`ATTRIBUTES`. ``EnteredAmount`` and ``TransactionBalanceDue``
  are JSON numbers, negative (a credit; nothing applies credit memos in the sandbox, so the balance is
  the amount). ``CreditMemoStatus`` "Complete", ``AllowCompletion`` "Y", ``TransactionSource`` "Manual",
  ``TransactionType`` "Credit Memo", ``BusinessUnit`` the first configured one, ``AccountingDate`` the
  transaction date, unless seeded otherwise.
- PATCH may change :data:`UPDATABLE`: ``CreditMemoComments`` (1760 characters), ``InternalNotes`` (240),
  ``CrossReference`` (150), and the three the docs name for standard credit memos, ``CreditMemoStatus``
  ("Complete"/"Incomplete"), ``AllowCompletion`` ("Y"/"N"), ``TransactionType`` (20). Any other known
  attribute is refused like a read-only one ("The attribute X of the resource receivablesCreditMemos
  is read-only."), an unknown one as not valid (``Comments`` included: that is not this resource's
  name). ``If-Match`` is honoured as everywhere. ``null`` clears a text attribute.
- Seeding validates the account (created when missing, as catalogue seeding does), the currency and
  the receipt method against the configured lists (``AR_RAPI_CURR_CODE_INVALID``,
  ``AR_INVAL_RECEIPT_MTH_ID``), and a positive amount. ``TransactionNumber`` is numbered from 700001,
  never reusing an invoice's or a credit memo's number.

Research (REST API for Oracle Fusion Cloud Financials; [O] Oracle's docs, [3P] third-party material
that names Oracle's attributes, [S] the sandbox's own choice):

- Endpoints [O]: ``GET|POST /fscmRestApi/resources/11.13.18.05/receivablesCreditMemos``,
  ``GET|PATCH .../receivablesCreditMemos/{CustomerTransactionId}``; 26a adds the actions ``approve`` and
  ``rework``. https://docs.oracle.com/en/cloud/saas/financials/25d/farfa/api-receivables-credit-memos.html,
  https://docs.oracle.com/en/cloud/saas/financials/26a/farfa/api-receivables-credit-memos.html
- Item attributes seen in Oracle's GET example [O]
  (https://docs.oracle.com/en/cloud/saas/financials/24c/farfa/Get_Details_of_a_Specific_Credit_Memo.html):
  ``CustomerTransactionId`` (a number, 300100541590685), ``TransactionNumber`` ("2287"),
  ``TransactionDate``, ``CreatedBy``, ``CreationDate``, ``LastUpdatedBy``, ``LastUpdateDate``,
  ``CreditMemoCurrency`` (the currency: not ``CreditMemoCurrencyCode``, not ``InvoiceCurrencyCode``),
  ``BusinessUnit``, ``TransactionType``, ``TransactionSource``, ``AccountingDate``,
  ``LegalEntityIdentifier``, ``CreditReason``, ``BillToCustomerNumber`` (the account number),
  ``BillToSite``, ``BillToCustomerName``, ``EnteredAmount`` (-71.99: negative), ``DocumentNumber``,
  ``CrossReference``. Oracle CX Commerce's pass-through of the same resource shows ``CreditMemoStatus``
  "Complete", ``EnteredAmount`` "-3190" (a string there) and ``CrossReference`` "631121010" [O]
  (https://docs.oracle.com/en/cloud/saas/cx-commerce/cxocc/op-ccstore-v1-selfservice-invoices-creditmemos-get.html).
- The header comments are ``CreditMemoComments`` [O], in every create example
  (https://docs.oracle.com/en/cloud/saas/financials/24d/farfa/Create_an_On_Account_Credit_Memo_with_Lines.html);
  ``Comments`` is the SOAP service's name, not this resource's. Maximum length 1760 [3P] (a client
  schema transcribed from the resource's describe pages, simstudioai/sim PR 7515,
  https://github.com/simstudioai/sim/pull/7515; RA_CUSTOMER_TRX_ALL.COMMENTS is 1760 wide).
- ``InternalNotes``, ``SpecialInstructions``, ``TransactionBalanceDue`` [3P] (a PL/SQL loader reading
  the resource's items; the sim schema) - not seen in Oracle's own pages.
- PATCH: Oracle documents, for standard credit memos (with the AR_STD_CM_REST lookup code enabled),
  that PATCH "can only update the AllowCompletion, CreditMemoStatus, and TransactionType attributes"
  [O] (https://docs.oracle.com/en/cloud/saas/financials/25c/farfa/Process_Standard_Credit_Memos.html);
  the sim schema's PATCH body (from op-receivablescreditmemos-customertransactionid-patch.html) has
  AllowCompletion, ControlCompletionReason, CreditMemoStatus, RecipientEmail, TransactionType [3P].
  So a PATCH of ``CreditMemoComments``/``InternalNotes``/``CrossReference`` is NOT confirmed: the
  sandbox accepts it [S] because PaySync's write-back needs a writable text field on the record; a
  real pod may refuse it (then the write-back needs another place, e.g. the ``notes`` child or a
  descriptive flexfield, both of which the resource has [O]).
- ``ReceiptMethod`` on a credit memo: NOT confirmed - no source lists it for this resource (invoices
  have it). Carried here [S] because the mapping file marks card refunds by it; read by name.
- The credited invoice: NOT confirmed - no source names an attribute for it (Oracle's GET example and
  the third-party attribute lists show none). The sandbox prints ``CreditedTransactionNumber`` [S];
  PaySync reads it, else ``PreviousTransactionNumber``, else "".
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .rest import ResourceSpec
from .state import ApiError, CreditMemo, OracleState
from .wire import check_attributes, date_of, money, text_of

NAME = "receivablesCreditMemos"
ATTRIBUTES = (
    "CustomerTransactionId", "TransactionNumber", "TransactionDate", "CreatedBy", "CreationDate", "LastUpdatedBy",
    "LastUpdateDate", "CreditMemoCurrency", "BusinessUnit", "TransactionType", "TransactionSource", "AccountingDate",
    "LegalEntityIdentifier", "CreditReason", "BillToCustomerNumber", "BillToSite", "BillToCustomerName",
    "EnteredAmount", "TransactionBalanceDue", "DocumentNumber", "CrossReference", "CreditMemoStatus",
    "AllowCompletion", "CreditMemoComments", "InternalNotes", "SpecialInstructions", "ReceiptMethod",
    "CreditedTransactionNumber",
)
UPDATABLE = ("CreditMemoComments", "InternalNotes", "CrossReference", "CreditMemoStatus", "AllowCompletion",
             "TransactionType")
NOT_UPDATABLE = tuple(a for a in ATTRIBUTES if a not in UPDATABLE)
MAX_LENGTHS = {"CreditMemoComments": 1760, "InternalNotes": 240, "CrossReference": 150, "TransactionType": 20,
               "AllowCompletion": 1, "SpecialInstructions": 240, "CreditedTransactionNumber": 20}
STATUSES = ("Complete", "Incomplete")
FIRST_NUMBER = 700001


# -- rendering ----------------------------------------------------------------------------------------

def render(state: OracleState, cm: CreditMemo) -> dict[str, Any]:
    row = {name: cm.fields.get(name) for name in ATTRIBUTES}
    row.update({"CustomerTransactionId": cm.id, "TransactionNumber": cm.number,
                "CreditMemoCurrency": cm.currency, "EnteredAmount": money(-cm.amount_minor, cm.currency),
                "TransactionBalanceDue": money(-cm.amount_minor, cm.currency),
                "CreationDate": cm.created, "LastUpdateDate": cm.updated})
    return row


def find(state: OracleState, key: str) -> CreditMemo | None:
    return state.store.credit_memos.get(int(key)) if key.isdigit() else None


def lookup(state: OracleState, attr: str, literal: str) -> list[CreditMemo] | None:
    s = state.store
    if attr == "TransactionNumber":
        found = s.credit_memos.get(s.credit_memo_numbers.get(literal, -1))
        return [found] if found else []
    if attr == "CustomerTransactionId" and literal.isdigit():
        found = s.credit_memos.get(int(literal))
        return [found] if found else []
    return None


# -- seeding and update ----------------------------------------------------------------------------------

def _next_number(state: OracleState) -> str:
    s = state.store
    s.next_credit_memo_number = max(s.next_credit_memo_number, FIRST_NUMBER)
    while str(s.next_credit_memo_number) in s.credit_memo_numbers or \
            state.invoice_by_number(str(s.next_credit_memo_number)) is not None:
        s.next_credit_memo_number += 1
    s.next_credit_memo_number += 1
    return str(s.next_credit_memo_number - 1)


def create_record(state: OracleState, *, account_number: str, amount_minor: int, currency: str, receipt_method: str,
                  cross_reference: str = "", invoice_number: str = "", transaction_date: date | str | None = None,
                  comments: str = "", internal_notes: str = "", customer_name: str | None = None) -> CreditMemo:
    """Validate and store one credit memo (what :func:`.seed.add_credit_memo` does, under the state lock)."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ApiError(400, f"The credit memo amount must be a positive number of minor units, not {amount_minor!r}.")
    account = str(account_number or "").strip()
    if not account:
        raise ApiError(400, "You must provide a value for the attribute BillToCustomerNumber.",
                       "FND_CMN_REQ_ATTRIB_API_SERV")
    cur = str(currency or "").upper()
    if cur not in state.currencies:
        raise ApiError(400, "The currency is invalid.", "AR_RAPI_CURR_CODE_INVALID")
    if receipt_method not in state.receipt_methods:
        raise ApiError(400, "The receipt method that you selected is invalid.", "AR_INVAL_RECEIPT_MTH_ID")
    values = {"CrossReference": cross_reference or None, "CreditedTransactionNumber": invoice_number or None,
              "CreditMemoComments": comments or None, "InternalNotes": internal_notes or None}
    for name, value in values.items():
        text_of(values, name, MAX_LENGTHS[name])
    if isinstance(transaction_date, date):
        on = transaction_date.isoformat()
    elif transaction_date:
        on = date_of(transaction_date, "TransactionDate")
    else:
        on = state.today()
    with state.lock:
        customer = state.customer_by_number(account) or \
            state.add_customer(account, customer_name or f"Customer {account}")
        number, now, cid = _next_number(state), state.now(), state.new_id()
        fields: dict[str, Any] = {
            "TransactionDate": on, "AccountingDate": on, "BusinessUnit": state.business_units[0],
            "TransactionType": "Credit Memo", "TransactionSource": "Manual", "CreditMemoStatus": "Complete",
            "AllowCompletion": "Y", "BillToCustomerNumber": customer.account_number, "BillToSite": customer.site_number,
            "BillToCustomerName": customer.customer_name, "ReceiptMethod": receipt_method,
            "CreatedBy": state.acting_user, "LastUpdatedBy": state.acting_user, **values}
        cm = CreditMemo(id=cid, number=number, account_id=customer.account_id, currency=cur, amount_minor=amount_minor,
                        fields=fields, created=now, updated=now)
        state.store.credit_memos[cid] = cm
        state.store.credit_memo_numbers[number] = cid
        return cm


def update(state: OracleState, cm: CreditMemo, payload: dict) -> None:
    check_attributes(payload, NAME, UPDATABLE, NOT_UPDATABLE)
    changes: dict[str, Any] = {}
    for name in UPDATABLE:
        if name not in payload:
            continue
        changes[name] = text_of(payload, name, MAX_LENGTHS.get(name))
    if "CreditMemoStatus" in changes and changes["CreditMemoStatus"] not in STATUSES:
        raise ApiError(400, f"The credit memo status {changes['CreditMemoStatus']} isn't valid.")
    if "AllowCompletion" in changes and changes["AllowCompletion"] not in ("Y", "N"):
        raise ApiError(400, f"The value {changes['AllowCompletion']} isn't valid for the attribute AllowCompletion.")
    if "TransactionType" in changes and not changes["TransactionType"]:
        raise ApiError(400, "You must provide a value for the attribute TransactionType.",
                       "FND_CMN_REQ_ATTRIB_API_SERV")
    cm.fields.update(changes)
    cm.version += 1
    cm.updated = state.now()
    cm.fields["LastUpdatedBy"] = state.acting_user


SPEC = ResourceSpec(
    name=NAME, attributes=ATTRIBUTES, rows=lambda s: list(s.store.credit_memos.values()), find=find,
    key_of=lambda cm: str(cm.id), render=render, update=update, lookup=lookup,
    finders={"PrimaryKey": {"CustomerTransactionId": "CustomerTransactionId"}},
    unsupported={"POST": "POST action not supported (the sandbox creates credit memos by seeding only)"},
)
