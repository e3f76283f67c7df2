"""eCommerce orders as Order Management sales orders (``salesOrdersForOrderHub``, spec §3.5), created
exactly once, and how the invoice their shipping creates is found by the order's card payment.

The create payload follows sample 12's header and the sandbox's lines: ``SourceTransactionSystem``
"PAYSYNC", ``SourceTransactionId`` = ``SourceTransactionNumber`` = the order number (at most 50
characters: DOO_ORDER_HEADERS_ALL_INT), so Oracle addresses the order as ``OrderKey``
``PAYSYNC:<order number>``; ``BusinessUnitName``; ``TransactionalCurrencyCode``; ``TransactionOn`` (the
order's time, ISO-8601 with offset); ``CustomerPONumber`` = the payment's receipt number
(``PT-<PayTrace transaction id>``: the PayTrace payment, in the one free reference field of the header
that AutoInvoice copies to the invoice as ``PurchaseOrder``); ``SubmittedFlag`` true;
``PartialShipAllowedFlag`` false; the customer as ``billToCustomer`` (its AR account number); one line
per product (``ProductNumber``, ``OrderedQuantity``, ``OrderedUOM`` "Ea", ``UnitSellingPrice``, and
the ``SourceTransactionLine*`` ids 1, 2, ...).

Exactly once (:func:`paysync_dagster.lib.orders.send_once`, shared with Sage): the intent is a ledger
entry (action ``sales_order``, reference ``SO-<order number>``, the PayTrace payment's id) committed
before the POST; an attempt without a certain answer is looked up by ``OrderKey`` before anything is
sent again. The ledger keeps ``HeaderId`` as the ERP id. The order model and the order-number rules
are ERP-neutral (:mod:`paysync_dagster.lib.orders`).

Finding the invoice: the order number is also the invoice number. Shipping hands the order to
AutoInvoice, whose transaction source for orders numbers invoices from the order (manual numbering: the
invoice takes the ``TransactionNumber`` it is given, spec §3.2) rather than automatically, and the
storefront charges the card with the order number as the PayTrace ``invoice_id``. So the payment names
its invoice before the invoice exists: its receipt is posted on account, and the on-account
application run (:mod:`paysync_dagster.lib.posting.late`) applies it by the exact rule once the invoice
appears. The invoice also carries Oracle's ``OrderNumber`` (``CrossReference``, each line's
``SalesOrder``) and the receipt number (``PurchaseOrder``), for a person reading it in Oracle. Hence
the order-number rules of :mod:`paysync_dagster.lib.orders`: at most 20 characters (an AR transaction
number), no run of 13 digits or more, a digit run longer than an invoice reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from paysync_dagster.lib import money
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.oracle.errors import OracleNotFound, OracleOutcomeUnknown, OracleValidationError
from paysync_dagster.lib.orders import (MAX_ORDER_NUMBER, MAX_ROUNDS, SALES_ORDER, SOURCE_SYSTEM, Billing,
                                        EcommerceOrder, OrderLine, order_intent, send_once)
from paysync_dagster.lib.posting.ledger import Ledger


@dataclass(frozen=True)
class SalesOrderRef:
    order_key: str
    header_id: int
    order_number: str  # Oracle's own OrderNumber


def payload(order: EcommerceOrder, business_unit: str) -> dict[str, Any]:
    """The ``salesOrdersForOrderHub`` create body for an eCommerce order."""
    return {
        "SourceTransactionSystem": SOURCE_SYSTEM, "SourceTransactionId": order.number,
        "SourceTransactionNumber": order.number, "BusinessUnitName": business_unit,
        "TransactionalCurrencyCode": order.currency,
        "TransactionOn": order.ordered_at.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "CustomerPONumber": order.payment_reference[:50], "SubmittedFlag": True, "PartialShipAllowedFlag": False,
        "billToCustomer": [{"AccountNumber": order.customer_account}],
        "lines": [{"SourceTransactionLineId": str(i), "SourceTransactionScheduleId": str(i),
                   "SourceTransactionLineNumber": str(i), "ProductNumber": line.product,
                   **({"ProductDescription": line.description} if line.description else {}),
                   "OrderedQuantity": line.quantity, "OrderedUOM": "Ea",
                   "UnitSellingPrice": money.to_wire(line.unit_price_minor, order.currency)}
                  for i, line in enumerate(order.lines, start=1)],
    }


def _found(client: OracleFusionClient, key: str) -> dict[str, Any] | None:
    try:
        return client.get_sales_order(key)
    except OracleNotFound:
        return None


def _answered(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ledger's ERP id (``HeaderId``) and detail (Oracle's own ``OrderNumber``) of a sales order."""
    return str(int(item["HeaderId"])), {"order_number": str(item.get("OrderNumber") or "")}


def create_sales_order(client: OracleFusionClient, ledger: Ledger, order: EcommerceOrder, *, business_unit: str,
                       business_date: date) -> SalesOrderRef:
    """The order's sales order, created at most once whatever is retried; raises what Oracle refused."""
    entry = order_intent(ledger, order, business_date=business_date, detail={"order_key": order.order_key})
    if not (entry.posted and entry.erp_id):
        entry = send_once(
            ledger, entry, find=lambda: _found(client, order.order_key),
            create=lambda: client.create_sales_order(payload(order, business_unit)),
            answered=_answered,
            uncertain=(OracleOutcomeUnknown,), refused=(OracleValidationError,),
            exhausted=lambda message: OracleOutcomeUnknown(message, method="POST", path="/salesOrdersForOrderHub",
                                                           attempts=MAX_ROUNDS))
    return SalesOrderRef(order.order_key, int(entry.erp_id or 0), str(entry.detail.get("order_number") or ""))


__all__ = ["MAX_ORDER_NUMBER", "SALES_ORDER", "SOURCE_SYSTEM", "Billing", "EcommerceOrder", "OrderLine", "SalesOrderRef",
           "create_sales_order", "payload"]
