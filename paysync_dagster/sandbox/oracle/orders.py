"""``salesOrdersForOrderHub`` (spec §3.5): create (with ``Upsert-Mode``), get, its ``lines`` and
``billToCustomer`` children, and the sandbox-only action ``shipOrder``, which does what shipping plus
AutoInvoice do in a real pod: the order closes and a receivables invoice is created for its lines.

Items are addressed by ``OrderKey`` = ``<SourceTransactionSystem>:<SourceTransactionId>`` (the
hash-style key of the docs) or by the numeric ``HeaderId``; clients should follow the ``self`` link.
"""

from __future__ import annotations

import zlib
from typing import Any

from . import invoices
from .rest import Call, ChildSpec, ResourceSpec
from .state import ApiError, Customer, OracleState, OrderLine, SalesOrder
from .wire import check_attributes, date_of, decimal_of, money, number, require, round_minor, text_of

NAME = "salesOrdersForOrderHub"
# Sample 12's header attributes, in its order, then the ones the sandbox adds.
SAMPLE_ATTRIBUTES = (
    "HeaderId", "OrderNumber", "SourceTransactionNumber", "SourceTransactionSystem", "SourceTransactionId",
    "BusinessUnitId", "BusinessUnitName", "TransactionOn", "BuyingPartyId", "BuyingPartyName", "BuyingPartyNumber",
    "BuyingPartyPersonFirstName", "BuyingPartyPersonLastName", "BuyingPartyPersonMiddleName",
    "BuyingPartyPersonNameSuffix", "BuyingPartyPersonTitle", "BuyingPartyContactId", "BuyingPartyContactName",
    "BuyingPartyContactNumber", "BuyingPartyContactFirstName", "BuyingPartyContactLastName",
    "BuyingPartyContactMiddleName", "BuyingPartyContactNameSuffix", "BuyingPartyContactTitle",
    "PreferredSoldToContactPointId", "CustomerPONumber", "TransactionTypeCode", "TransactionType",
    "SubstituteAllowedFlag", "PackingInstructions", "ShippingInstructions", "ShipsetFlag", "PartialShipAllowedFlag",
    "RequestedShipDate",
)
ATTRIBUTES = SAMPLE_ATTRIBUTES + ("TransactionalCurrencyCode", "StatusCode", "SubmittedFlag", "CreatedBy",
                                  "CreationDate", "LastUpdatedBy", "LastUpdateDate")
READ_ONLY = ("HeaderId", "OrderNumber", "StatusCode", "CreatedBy", "CreationDate", "LastUpdatedBy", "LastUpdateDate")
WRITABLE = tuple(a for a in ATTRIBUTES if a not in READ_ONLY)
REQUIRED = ("SourceTransactionNumber", "SourceTransactionSystem", "SourceTransactionId")
LINE_ATTRIBUTES = ("LineId", "LineNumber", "SourceTransactionLineId", "SourceTransactionScheduleId",
                   "SourceTransactionLineNumber", "ProductNumber", "ProductDescription", "OrderedQuantity", "OrderedUOM",
                   "UnitSellingPrice", "ExtendedAmount", "RequestedShipDate", "StatusCode")
LINE_READ_ONLY = ("LineId", "LineNumber", "ExtendedAmount", "StatusCode")
LINE_WRITABLE = tuple(a for a in LINE_ATTRIBUTES if a not in LINE_READ_ONLY) + ("UnitListPrice",)
BILL_TO_ATTRIBUTES = ("CustomerAccountId", "AccountNumber", "PartyName", "SiteUseId")
CLOSED = ("CLOSED", "CANCELED")
AUTOINVOICE_SOURCE = "Distributed Order Orchestration"


def business_unit_id(name: str) -> int:
    """A stable id per business unit name (like sample 12's 300000001303268)."""
    return 300000001300000 + zlib.crc32(name.encode()) % 100000


def render(state: OracleState, order: SalesOrder) -> dict[str, Any]:
    row = {name: order.fields.get(name) for name in ATTRIBUTES}
    row.update({"HeaderId": order.header_id, "OrderNumber": order.order_number, "CreationDate": order.created,
                "LastUpdateDate": order.updated})
    return row


def render_line(state: OracleState, line: OrderLine) -> dict[str, Any]:
    row = {name: line.fields.get(name) for name in LINE_ATTRIBUTES}
    row.update({"LineId": line.id, "LineNumber": line.number,
                "ExtendedAmount": money(line.amount_minor, line.fields["_currency"])})
    return row


def render_bill_to(state: OracleState, order: SalesOrder) -> dict[str, Any]:
    c = state.store.customers.get(order.account_id)
    return {"CustomerAccountId": order.account_id, "AccountNumber": c.account_number if c else None,
            "PartyName": c.customer_name if c else None, "SiteUseId": c.site_use_id if c else None}


def find(state: OracleState, key: str) -> SalesOrder | None:
    for order in state.store.orders.values():
        if order.order_key == key or str(order.header_id) == key:
            return order
    return None


def _customer(state: OracleState, payload: dict) -> Customer:
    bill_to = payload.get("billToCustomer") or []
    if bill_to:
        first = bill_to[0] if isinstance(bill_to[0], dict) else {}
        check_attributes(first, "billToCustomer", BILL_TO_ATTRIBUTES, ())
        if first.get("CustomerAccountId") is not None:
            found = state.store.customers.get(int(decimal_of(first["CustomerAccountId"], "CustomerAccountId")))
        else:
            found = state.customer_by_number(first.get("AccountNumber"))
        if found is None:
            raise ApiError(400, "The bill-to customer account isn't valid.")
        return found
    candidates = list(state.store.customers.values())
    if payload.get("BuyingPartyId") is not None:
        found = [c for c in candidates if str(c.customer_id) == str(payload["BuyingPartyId"])]
    elif payload.get("BuyingPartyNumber") is not None:
        found = [c for c in candidates if c.party_number == str(payload["BuyingPartyNumber"])]
    elif payload.get("BuyingPartyName") is not None:
        found = [c for c in candidates if c.customer_name == payload["BuyingPartyName"]]
    else:
        raise ApiError(400, "You must provide a value for the attribute BuyingPartyId.", "FND_CMN_REQ_ATTRIB_API_SERV")
    if len(found) != 1:
        raise ApiError(400, "The buying party isn't valid.")
    return found[0]


def _lines(payload: dict, currency: str) -> list[tuple[dict, int]]:
    raw = payload.get("lines")
    if not raw:
        raise ApiError(400, "You must provide at least one line in lines.", "FND_CMN_REQ_ATTRIB_API_SERV")
    out = []
    for i, line in enumerate(raw, start=1):
        if not isinstance(line, dict):
            raise ApiError(400, "An order line must be a JSON object.")
        check_attributes(line, "lines", LINE_WRITABLE, LINE_READ_ONLY)
        require(line, ("ProductNumber", "OrderedQuantity"))
        price_value = line.get("UnitSellingPrice", line.get("UnitListPrice"))
        if price_value is None:
            require(line, ("UnitSellingPrice",))
        quantity, price = decimal_of(line["OrderedQuantity"], "OrderedQuantity"), decimal_of(price_value, "UnitSellingPrice")
        if quantity <= 0:
            raise ApiError(400, "The value of the attribute OrderedQuantity must be greater than zero.")
        fields = {k: line.get(k) for k in LINE_WRITABLE if k != "UnitListPrice"}
        fields.update({"OrderedQuantity": number(quantity), "UnitSellingPrice": number(price),
                       "OrderedUOM": line.get("OrderedUOM") or "Ea",
                       "SourceTransactionLineId": str(line.get("SourceTransactionLineId") or i),
                       "SourceTransactionScheduleId": str(line.get("SourceTransactionScheduleId") or i),
                       "SourceTransactionLineNumber": str(line.get("SourceTransactionLineNumber") or i),
                       "StatusCode": "OPEN", "_currency": currency})
        out.append((fields, round_minor(quantity * price, currency)))
    return out


def create(state: OracleState, payload: dict, call: Call) -> tuple[SalesOrder, bool]:
    require(payload, REQUIRED)
    check_attributes(payload, NAME, WRITABLE, READ_ONLY, children=("lines", "billToCustomer"))
    for name in ("SourceTransactionNumber", "SourceTransactionId"):
        text_of(payload, name, 50)
    text_of(payload, "SourceTransactionSystem", 30)
    key = f"{payload['SourceTransactionSystem']}:{payload['SourceTransactionId']}"
    existing = find(state, key)
    if existing is not None:
        if call.headers.get("upsert-mode", "").lower() == "true":
            return _upsert(state, existing, payload), False
        raise ApiError(400, f"A sales order with source transaction {key} already exists.")
    bu = payload.get("BusinessUnitName")
    if bu is None and payload.get("BusinessUnitId") is not None:
        bu = next((b for b in state.business_units if business_unit_id(b) == int(payload["BusinessUnitId"])), None)
    if bu is None:
        raise ApiError(400, "You must provide a value for the attribute BusinessUnitName.", "FND_CMN_REQ_ATTRIB_API_SERV")
    if bu not in state.business_units:
        raise ApiError(400, "The business unit is invalid. Message Context: The business unit provided in a web "
                            "service call is invalid.", "AR_RAPI_BU_INVALID")
    currency = str(payload.get("TransactionalCurrencyCode") or state.ledger_currency)
    if currency not in state.currencies:
        raise ApiError(400, "The currency is invalid.", "AR_RAPI_CURR_CODE_INVALID")
    customer = _customer(state, payload)
    if payload.get("RequestedShipDate") is not None:
        date_of(str(payload["RequestedShipDate"])[:10], "RequestedShipDate")
    lines = _lines(payload, currency)

    now, header_id = state.now(), state.new_id()
    fields = {name: payload.get(name) for name in WRITABLE}
    submitted = payload.get("SubmittedFlag") is True or str(payload.get("SubmittedFlag")).lower() == "true"
    fields.update({
        "BusinessUnitName": bu, "BusinessUnitId": business_unit_id(bu), "TransactionalCurrencyCode": currency,
        "TransactionOn": payload.get("TransactionOn") or now, "BuyingPartyId": customer.customer_id,
        "BuyingPartyName": customer.customer_name, "BuyingPartyNumber": customer.party_number,
        "TransactionTypeCode": payload.get("TransactionTypeCode") or "STD",
        "PartialShipAllowedFlag": bool(payload.get("PartialShipAllowedFlag", False)),
        "SubmittedFlag": submitted, "StatusCode": "OPEN" if submitted else "DOO_DRAFT",
        "CreatedBy": state.acting_user, "LastUpdatedBy": state.acting_user,
    })
    order = SalesOrder(header_id=header_id, order_key=key, order_number=str(state.store.next_order_number),
                       account_id=customer.account_id, currency=currency, fields=fields,
                       lines=[OrderLine(state.new_id(), i, f, a) for i, (f, a) in enumerate(lines, start=1)],
                       created=now, updated=now)
    state.store.next_order_number += 1
    state.store.orders[header_id] = order
    state.count("sales_orders_created")
    return order, True


def _upsert(state: OracleState, order: SalesOrder, payload: dict) -> SalesOrder:
    if order.fields["StatusCode"] in CLOSED:
        raise ApiError(400, f"You can't update sales order {order.order_number} because it's closed.")
    for name in ("CustomerPONumber", "PackingInstructions", "ShippingInstructions", "RequestedShipDate"):
        if name in payload:
            order.fields[name] = payload[name]
    if payload.get("SubmittedFlag") is True and order.fields["StatusCode"] == "DOO_DRAFT":
        order.fields.update({"SubmittedFlag": True, "StatusCode": "OPEN"})
    order.version += 1
    order.updated = state.now()
    return order


def ship_order(state: OracleState, order: SalesOrder, params: dict) -> dict[str, Any]:
    """Sandbox-only: ship every line, close the order and create its AR invoice (AutoInvoice's job)."""
    if order.fields["StatusCode"] in CLOSED:
        raise ApiError(400, f"Sales order {order.order_number} is already {order.fields['StatusCode'].lower()}.")
    customer = state.store.customers[order.account_id]
    payload = {
        "BusinessUnit": order.fields["BusinessUnitName"], "TransactionSource": AUTOINVOICE_SOURCE,
        "TransactionType": params.get("TransactionType") or "Invoice",
        "TransactionDate": date_of(params["TransactionDate"], "TransactionDate") if params.get("TransactionDate")
        else state.today(),
        "BillToCustomerNumber": customer.account_number, "InvoiceCurrencyCode": order.currency,
        "PaymentTerms": params.get("PaymentTerms") or "30 Net", "PurchaseOrder": order.fields.get("CustomerPONumber"),
        "CrossReference": order.order_number,
        "receivablesInvoiceLines": [{
            "LineNumber": line.number, "Description": line.fields.get("ProductDescription") or line.fields["ProductNumber"],
            "ItemNumber": line.fields["ProductNumber"], "Quantity": line.fields["OrderedQuantity"],
            "UnitSellingPrice": line.fields["UnitSellingPrice"], "UnitOfMeasure": line.fields.get("OrderedUOM"),
            "SalesOrder": order.order_number, "SalesOrderLine": str(line.number)} for line in order.lines],
    }
    if params.get("TransactionNumber"):
        payload["TransactionNumber"] = str(params["TransactionNumber"])
    invoice = invoices.create_record(state, payload)
    order.fields.update({"StatusCode": "CLOSED", "SubmittedFlag": True})
    for line in order.lines:
        line.fields["StatusCode"] = "CLOSED"
    order.invoice_id = invoice.id
    order.version += 1
    order.updated = state.now()
    state.count("sales_orders_shipped")
    return {"OrderNumber": order.order_number, "StatusCode": "CLOSED", "CustomerTransactionId": invoice.id,
            "TransactionNumber": invoice.number, "InvoiceAmount": money(invoice.total_minor, invoice.currency)}


SPEC = ResourceSpec(
    name=NAME, attributes=ATTRIBUTES, rows=lambda s: list(s.store.orders.values()), find=find,
    key_of=lambda o: o.order_key, render=render, create=create,
    children={
        "lines": ChildSpec(name="lines", attributes=LINE_ATTRIBUTES, rows=lambda s, o: list(o.lines),
                           key_of=lambda line: str(line.id), render=render_line),
        "billToCustomer": ChildSpec(name="billToCustomer", attributes=BILL_TO_ATTRIBUTES, rows=lambda s, o: [o],
                                    key_of=lambda o: str(o.account_id), render=render_bill_to),
    },
    actions={"shipOrder": ship_order},
)
