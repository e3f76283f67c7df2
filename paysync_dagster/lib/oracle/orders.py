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

Exactly once: the intent is a ledger entry (action ``sales_order``, reference ``SO-<order number>``,
the PayTrace payment's id) committed before the POST; an attempt without a certain answer is looked up
by ``OrderKey`` before anything is sent again. The ledger keeps ``HeaderId`` as the ERP id.

Finding the invoice: the order number is also the invoice number. Shipping hands the order to
AutoInvoice, whose transaction source for orders numbers invoices from the order (manual numbering: the
invoice takes the ``TransactionNumber`` it is given, spec §3.2) rather than automatically, and the
storefront charges the card with the order number as the PayTrace ``invoice_id``. So the payment names
its invoice before the invoice exists: its receipt is posted on account, and the on-account
application run (:mod:`paysync_dagster.lib.posting.late`) applies it by the exact rule once the invoice
appears. The invoice also carries Oracle's ``OrderNumber`` (``CrossReference``, each line's
``SalesOrder``) and the receipt number (``PurchaseOrder``), for a person reading it in Oracle. Order
numbers therefore have at most 20 characters (an AR transaction number); no run of 13 or more digits
(card-data scrubbing would mask it as a card number before it reaches matching); and, by the
storefront's numbering, a digit run longer than the mapping's invoice-reference width (so
normalization never turns one into the ``INV-`` number of another invoice), e.g. ``WEB-03111830001``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from paysync_dagster.lib import money
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.oracle.errors import OracleNotFound, OracleOutcomeUnknown, OracleValidationError
from paysync_dagster.lib.posting.ledger import Entry, Ledger
from paysync_dagster.lib.scrub import MAYBE_CARD_NUMBER

SOURCE_SYSTEM = "PAYSYNC"
SALES_ORDER = "sales_order"  # the ledger action
MAX_ORDER_NUMBER = 20  # an AR transaction number: the invoice shipping creates is numbered with it
MAX_ROUNDS = 6


@dataclass(frozen=True)
class OrderLine:
    product: str
    quantity: int
    unit_price_minor: int
    description: str = ""

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.unit_price_minor


@dataclass(frozen=True)
class EcommerceOrder:
    number: str
    customer_account: str  # the Oracle AR customer account number
    currency: str
    ordered_at: datetime  # UTC, naive
    payment_transaction_id: int  # the PayTrace sale that paid it
    payment_reference: str  # that payment's receipt number in Oracle
    lines: tuple[OrderLine, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.number or len(self.number) > MAX_ORDER_NUMBER:
            raise ValueError(f"an order number has 1 to {MAX_ORDER_NUMBER} characters: {self.number!r}")
        if MAYBE_CARD_NUMBER.search(self.number):
            raise ValueError(f"order number {self.number!r} holds 13 digits or more, which card-data scrubbing "
                             "masks: the payment could not name its invoice")
        if not self.lines or any(line.quantity <= 0 or line.unit_price_minor < 0 for line in self.lines):
            raise ValueError(f"order {self.number}: needs lines with positive quantities and prices")

    @property
    def total_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def order_key(self) -> str:
        return f"{SOURCE_SYSTEM}:{self.number}"


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


def _ref(order: EcommerceOrder, item: dict[str, Any]) -> SalesOrderRef:
    return SalesOrderRef(order.order_key, int(item["HeaderId"]), str(item.get("OrderNumber") or ""))


def create_sales_order(client: OracleFusionClient, ledger: Ledger, order: EcommerceOrder, *, business_unit: str,
                       business_date: date) -> SalesOrderRef:
    """The order's sales order, created at most once whatever is retried; raises what Oracle refused."""
    ref = f"SO-{order.number}"
    intent = Entry(ledger.erp, ref, order.payment_transaction_id, SALES_ORDER, business_date, order.total_minor,
                   order.currency, detail={"order_key": order.order_key, "customer_account": order.customer_account,
                                           "payment_reference": order.payment_reference})
    stored = ledger.record_intents([intent])[ref]
    if stored.posted and stored.erp_id:
        return SalesOrderRef(order.order_key, int(stored.erp_id), str(stored.detail.get("order_number") or ""))

    def done(item: dict[str, Any]) -> SalesOrderRef:
        out = _ref(order, item)
        ledger.posted({ref: str(out.header_id)})
        ledger.amend_detail(ref, {"order_number": out.order_number})
        return out

    for round_ in range(MAX_ROUNDS):
        if stored.attempts or round_:  # may have been created by an attempt without an answer: look first
            found = _found(client, order.order_key)
            if found is not None:
                return done(found)
        ledger.attempt([ref])
        try:
            return done(client.create_sales_order(payload(order, business_unit)))
        except OracleOutcomeUnknown as exc:
            ledger.uncertain([ref], str(exc))
        except OracleValidationError as exc:
            found = _found(client, order.order_key)  # "already exists" after a lost answer is a success
            if found is not None:
                return done(found)
            ledger.failed([ref], f"{exc.code or 'HTTP400'}: {exc}")
            raise
    raise OracleOutcomeUnknown(f"{ref}: no certain answer after {MAX_ROUNDS} sends", method="POST",
                               path="/salesOrdersForOrderHub", attempts=MAX_ROUNDS)
