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
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
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
        order["LastShipmentNumber"] = f"SH{state.next_number('order:shipment'):012d}"
        invoice_number = f"IN{state.next_number('order:invoice'):012d}"
        while state.document(order["CustomerNumber"], invoice_number) is not None:
            invoice_number = f"IN{state.next_number('order:invoice'):012d}"
        order["LastInvoiceNumber"] = invoice_number
        terms = customer["Terms"]
        state.add_document({
            "CustomerNumber": order["CustomerNumber"], "DocumentNumber": invoice_number, "DocumentType": "Invoice",
            "OrderNumber": order["OrderNumber"], "PONumber": order["PurchaseOrderNumber"],
            "DocumentDate": order["OrderDate"], "PostingDate": order["OrderDate"],
            "DueDate": order["OrderDate"] + timedelta(days=terms_days(terms)), "CustomerCurrencyInvoiceAmount": invoiced,
            "CurrencyCode": currency, "DocumentDescription": order["OrderDescription"], "Terms": terms,
            "DateLastActivity": order["OrderDate"]})
        if customer["DateOfLastInvoice"] is None or order["OrderDate"] > customer["DateOfLastInvoice"]:
            customer["DateOfLastInvoice"] = order["OrderDate"]
    state.store.orders[order["OrderUniquifier"]] = order
    state.count("orders_created")
    return order
