"""``OE/OEOrders``: GET (list, entry) and POST; key ``OrderUniquifier`` (``(12)``; the spec marks the
key's name unverified). PATCH is not in Sage's 2022 endpoint table and is answered 405.

POST needs an existing ``CustomerNumber`` and ``OrderDetails``: ``Item`` lines with ``Item``,
``QuantityOrdered`` and a price (``UnitPrice``, or ``ExtendedAmount`` for the whole line: the sandbox
has no price list), ``Miscellaneous`` lines with ``MiscellaneousChargesCode`` and ``ExtendedAmount``.
``OrderNumber`` is generated (``ORD000000000001``) unless sent (and then must be new).

``InvoiceWillBeProduced: true`` ships and invoices in one go: ``QuantityShipped`` defaults to
``QuantityOrdered``, the answer carries ``LastShipmentNumber`` (``SH...``) and ``LastInvoiceNumber``
(``IN...``), and an AR invoice for what shipped appears at once in ``AR/ARPostedDocuments`` with
``OrderNumber`` and ``PONumber`` (= ``PurchaseOrderNumber``) set. That last step is a shortcut: in a real
Sage 300 the OE invoice reaches AR only after ``IC/ICDayEndProcessing('$process')`` creates the AR
invoice batch and that batch is posted. No tax is computed.

An order created without ``InvoiceWillBeProduced`` waits (its lines backordered) until
:func:`ship` (the control API's ``POST /ship_order``) ships and invoices what is left of it in the same
way: the stand-in for a clerk shipping the order in OE and Day End bringing the invoice to AR, which
the Web API cannot do to an existing order (no PATCH).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .batches import Row, amount, number_rows
from .errors import SageError, invalid
from .invoices import terms_days
from .schema import ORDER, ORDER_DETAIL, blank, check_lengths, read, writable
from .state import SageState

ZERO = Decimal(0)
CENT = Decimal("0.01")


def rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    return [state.store.orders[k] for k in sorted(state.store.orders)]


def get(state: SageState, key: tuple) -> Row | None:
    return state.store.orders.get(key[0])


def create(state: SageState, payload: Any) -> Row:
    data = read(payload, ORDER)
    check_lengths(data, ORDER)
    order = blank(ORDER)
    order.update(writable(data, ORDER))
    customer = state.customer(order["CustomerNumber"])
    if customer is None:
        raise invalid(f"Customer {order['CustomerNumber'] or '(blank)'} does not exist.")
    currency = customer["CurrencyCode"] or "USD"
    if order["OrderNumber"] and any(o["OrderNumber"] == order["OrderNumber"] for o in state.store.orders.values()):
        raise SageError("RecordDuplicate", f"Order {order['OrderNumber']} already exists.")
    order["OrderDate"] = order["OrderDate"] or state.today()
    shipping = order["InvoiceWillBeProduced"]
    total = invoiced = ZERO
    for i, item in enumerate(data.get("OrderDetails") or [], start=1):
        line = blank(ORDER_DETAIL)
        line["LineType"] = "Item"
        line.update(writable(item, ORDER_DETAIL))
        label = f"Line {i}"
        if line["LineType"] == "Item":
            if not line["Item"] or line["QuantityOrdered"] <= 0:
                raise invalid(f"{label}: an item line needs Item and a QuantityOrdered above zero.")
            if item.get("ExtendedAmount") is None and item.get("UnitPrice") is None:
                raise invalid(f"{label}: give UnitPrice or ExtendedAmount (there is no price list).")
            if item.get("ExtendedAmount") is not None:
                line["ExtendedAmount"] = amount(line["ExtendedAmount"], f"{label}: ExtendedAmount", currency)
                line["UnitPrice"] = line["UnitPrice"] or (line["ExtendedAmount"] / line["QuantityOrdered"]).quantize(CENT)
            else:
                price = amount(line["UnitPrice"], f"{label}: UnitPrice", currency)
                line["ExtendedAmount"] = (price * line["QuantityOrdered"]).quantize(CENT)
            if item.get("QuantityShipped") is None:
                line["QuantityShipped"] = line["QuantityOrdered"] if shipping else ZERO
            if not ZERO <= line["QuantityShipped"] <= line["QuantityOrdered"]:
                raise invalid(f"{label}: QuantityShipped must be between 0 and QuantityOrdered.")
            line["QuantityBackordered"] = line["QuantityOrdered"] - line["QuantityShipped"]
            shipped_value = (line["ExtendedAmount"] * line["QuantityShipped"] / line["QuantityOrdered"]).quantize(CENT)
        else:
            if not line["MiscellaneousChargesCode"]:
                raise invalid(f"{label}: a miscellaneous line needs MiscellaneousChargesCode.")
            line["ExtendedAmount"] = amount(line["ExtendedAmount"], f"{label}: ExtendedAmount", currency)
            shipped_value = line["ExtendedAmount"]
        total += line["ExtendedAmount"]
        invoiced += shipped_value
        order["OrderDetails"].append(line)
    if not order["OrderDetails"]:
        raise invalid("An order needs at least one line (OrderDetails).")
    number_rows(order["OrderDetails"], "LineNumber", order)
    order["OrderUniquifier"] = state.next_number("order:uniquifier")
    order["OrderNumber"] = order["OrderNumber"] or f"ORD{state.next_number('order:number'):012d}"
    order["OrderTotal"] = total
    if shipping:
        _ship_and_invoice(state, order, customer, invoiced, order["OrderDate"])
    state.store.orders[order["OrderUniquifier"]] = order
    state.count("orders_created")
    return order


def _ship_and_invoice(state: SageState, order: Row, customer: Row, value: Decimal, on: date) -> Row:
    """A shipment and its invoice, posted to AR at once: the order's ``LastShipmentNumber`` and
    ``LastInvoiceNumber``, and an open posted document of ``value`` carrying ``OrderNumber`` and ``PONumber``."""
    order["LastShipmentNumber"] = f"SH{state.next_number('order:shipment'):012d}"
    invoice_number = f"IN{state.next_number('order:invoice'):012d}"
    while state.document(order["CustomerNumber"], invoice_number) is not None:
        invoice_number = f"IN{state.next_number('order:invoice'):012d}"
    order["LastInvoiceNumber"] = invoice_number
    terms = customer["Terms"]
    document = state.add_document({
        "CustomerNumber": order["CustomerNumber"], "DocumentNumber": invoice_number, "DocumentType": "Invoice",
        "OrderNumber": order["OrderNumber"], "PONumber": order["PurchaseOrderNumber"],
        "DocumentDate": on, "PostingDate": on, "DueDate": on + timedelta(days=terms_days(terms)),
        "CustomerCurrencyInvoiceAmount": value, "CurrencyCode": customer["CurrencyCode"] or "USD",
        "DocumentDescription": order["OrderDescription"], "Terms": terms, "DateLastActivity": on})
    if customer["DateOfLastInvoice"] is None or on > customer["DateOfLastInvoice"]:
        customer["DateOfLastInvoice"] = on
    return document


def ship(state: SageState, order_number: str, on: date | None = None) -> dict[str, Any]:
    """Ship what is left of an order and invoice it, as ``InvoiceWillBeProduced`` would have at the
    create: item lines shipped in full, miscellaneous charges invoiced with the first invoice, the
    AR invoice posted with ``OrderNumber``, dated ``on`` (default: the business date). An order with
    nothing left to ship is answered as it is (``shipped`` false), so the call can be repeated.
    Returns ``{"shipped", "order", "invoice"}`` (the order and the new posted document, typed rows)."""
    with state.lock:
        found = [o for o in state.store.orders.values() if o["OrderNumber"] == order_number]
        if not found:
            raise SageError("RecordNotFound", f"Order {order_number or '(blank)'} does not exist.")
        order = found[0]
        customer = state.customer(order["CustomerNumber"])
        if customer is None:
            raise invalid(f"Customer {order['CustomerNumber']} does not exist.")
        on = on or state.today()
        first = not order["LastInvoiceNumber"]
        value, shipping = ZERO, False
        for line in order["OrderDetails"]:
            if line["LineType"] == "Item":
                left = line["QuantityOrdered"] - line["QuantityShipped"]
                if left > 0:
                    value += (line["ExtendedAmount"] * left / line["QuantityOrdered"]).quantize(CENT)
                    line["QuantityShipped"] = line["QuantityOrdered"]
                    line["QuantityBackordered"] = ZERO
                    shipping = True
            elif first:
                value += line["ExtendedAmount"]
                shipping = True
        if not shipping:
            return {"shipped": False, "order": order, "invoice": None}
        document = _ship_and_invoice(state, order, customer, value, on)
        state.count("orders_shipped")
        return {"shipped": True, "order": order, "invoice": document}
