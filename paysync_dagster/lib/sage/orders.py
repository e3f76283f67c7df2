"""eCommerce orders as Sage 300 OE sales orders (``OE/OEOrders``, spec §0 and §2.5), created exactly
once with their customer, and how the invoice their shipping creates is found by the order's card
payment. The order model is ERP-neutral (:mod:`paysync_dagster.lib.orders`), as in Oracle's order to
cash (:mod:`paysync_dagster.lib.oracle.orders`).

The flow, per order paid through PayTrace:

1. **The intent**: a posting-ledger entry (action ``sales_order``, reference ``SO-<order number>``, the
   PayTrace payment's id), committed before anything is sent. Once the ledger holds the order as
   posted, a call answers from the ledger without asking Sage.
2. **The customer** (``AR/ARCustomers``, key ``CustomerNumber`` = the order's ``customer_account``):
   read by key; when Sage does not have it, created from the card's billing data
   (:class:`~paysync_dagster.lib.orders.Billing`): ``CustomerName`` (the billing name, or the account
   when there is none) and ``ShortName``, ``ContactName``, ``Email``, ``PhoneNumber``,
   ``AddressLine1..4``, ``City``, ``StateProvince``, ``ZipPostalCode``, ``Country``, and
   ``CurrencyCode`` = the order's; the rest (group, account set, terms, tax group) are the company's
   defaults for a new customer. A customer that exists is **left as it is**: its master data belongs
   to AR, and a card's billing address need not be the customer's; a person changes it in Sage. An
   existing customer whose currency is not the order's is refused before the order is sent (Sage's
   orders are in the customer's currency). The create is safe to repeat: the key is PaySync's, so a
   lost answer is resolved by reading the customer again, and ``RecordDuplicate`` means it is there.
3. **The order** (``POST OE/OEOrders``): ``OrderNumber`` = the storefront's order number (Sage takes an
   ``OrderNumber`` it is sent, and refuses one that exists), ``CustomerNumber``, ``OrderDate`` = the
   business date, ``OrderDescription`` "Web order <number>", ``OrderReference`` and
   ``PurchaseOrderNumber`` = the payment's receipt number (``PT-<PayTrace transaction id>``: Sage
   copies the PO number to the invoice as ``PONumber``, as Oracle's ``CustomerPONumber`` becomes the
   invoice's ``PurchaseOrder``), and one ``Item`` line per product (``Item``, ``Description``,
   ``QuantityOrdered``, ``UnitPrice``; ``Location`` when given). ``InvoiceWillBeProduced`` only when
   asked (``invoice_now``, for goods handed over at once); otherwise the order waits for shipping.
   An attempt without a certain answer (a timeout, a dropped connection, a 5xx) is looked up by
   ``OrderNumber`` before anything is sent again (:func:`~paysync_dagster.lib.orders.send_once`, the
   loop Oracle's orders use); "already exists" after a lost answer is a success. The ledger keeps
   ``OrderUniquifier`` as the ERP id, and Sage's ``OrderNumber``, the customer and whether PaySync
   created it (``customer_created``) in the detail.

Field lengths are Sage's view fields (the spec's tables, the sandbox's schema): nothing is cut where
a cut would change what the value means (order, customer, PO and item numbers must fit, or the order
is refused with ``ValueError`` before anything is recorded); names, addresses and descriptions are
cut to their fields; an e-mail address that does not fit is left out. Every text sent is checked for
card numbers first (:func:`~paysync_dagster.lib.scrub.mask_then_cut`): a number whose masking would
change it is refused, free text is masked.

Finding the invoice: the storefront charges the card with the order number as the PayTrace
``invoice_id``, so the payment names its order before the order's invoice exists. Its receipt is
posted on account (a ``Prepayment`` of the customer in the day's PaySync batch). Shipping the order
and Day End (``IC/ICDayEndProcessing``) bring the OE invoice to AR: a posted document numbered by Sage
(``IN...``), carrying the order's ``OrderNumber`` (and ``PONumber`` = the receipt number). The
on-account application run (:class:`~paysync_dagster.lib.posting.late.LateApplier`) reads it among the
open invoices (``OpenInvoice.order_number``) and applies the receipt to it by rule ``sales_order``
(the payment's reference is that invoice's order number): by PATCHing the entry while its batch is
unposted, by an ``ApplyDocument`` entry once it is posted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from paysync_dagster.lib.orders import MAX_ROUNDS, Billing, EcommerceOrder, order_intent, send_once
from paysync_dagster.lib.posting.ledger import Ledger
from paysync_dagster.lib.sage.client import CUSTOMERS, OE_ORDERS, Sage300Client, amount
from paysync_dagster.lib.sage.errors import SageDuplicate, SageOutcomeUnknown, SageRejected, SageResponseError
from paysync_dagster.lib.scrub import mask_then_cut

ITEM = "Item"  # LineType of a product line
WEB_ORDER = "Web order"  # OrderDescription: "Web order <number>"

# View field lengths (spec §0, sandbox ``schema.py``).
CUSTOMER_FIELDS = {"CustomerNumber": 12, "CustomerName": 60, "ShortName": 10, "ContactName": 60, "Email": 50,
                   "PhoneNumber": 30, "AddressLine": 60, "City": 30, "StateProvince": 30, "ZipPostalCode": 20,
                   "Country": 30}
ADDRESS_LINES = 4
ORDER_FIELDS = {"OrderNumber": 22, "OrderDescription": 60, "OrderReference": 60, "PurchaseOrderNumber": 22,
                "Item": 24, "Description": 60, "Location": 6}


@dataclass(frozen=True)
class SageSalesOrderRef:
    order_number: str  # Sage's OrderNumber (the storefront's order number)
    order_uniquifier: int  # Sage's key of the order
    customer_number: str
    customer_created: bool  # PaySync created the customer for this order
    invoice_number: str = ""  # LastInvoiceNumber when the order was invoiced at the create


# -- what is sent -------------------------------------------------------------------------------------------------


def _text(value: str, limit: int) -> str:
    """Free text for a Sage field: card numbers masked, then cut to the field."""
    return mask_then_cut((value or "").strip(), limit).strip()


def _exact(value: str, field: str, limit: int) -> str:
    """A number that must reach Sage as it is: refused when it does not fit or looks like a card number."""
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise ValueError(f"{field} {value!r} must have 1 to {limit} characters for Sage")
    if mask_then_cut(value, limit) != value:
        raise ValueError(f"{field} {value!r} holds what may be a card number; it is never sent")
    return value


def customer_body(order: EcommerceOrder) -> dict[str, Any]:
    """The ``AR/ARCustomers`` create body of the order's customer, from its billing data."""
    b = order.billing or Billing()
    number = _exact(order.customer_account, "CustomerNumber", CUSTOMER_FIELDS["CustomerNumber"])
    name = _text(b.name, CUSTOMER_FIELDS["CustomerName"]) or number
    body: dict[str, Any] = {"CustomerNumber": number, "CustomerName": name,
                            "ShortName": _text(name, CUSTOMER_FIELDS["ShortName"])}
    if b.name.strip():
        body["ContactName"] = _text(b.name, CUSTOMER_FIELDS["ContactName"])
    email = b.email.strip()
    if email and len(email) <= CUSTOMER_FIELDS["Email"] and _text(email, CUSTOMER_FIELDS["Email"]) == email:
        body["Email"] = email  # a cut e-mail address is a wrong one: left out when it does not fit
    lines = [_text(line, CUSTOMER_FIELDS["AddressLine"]) for line in b.address_lines]
    fields = {"PhoneNumber": b.phone, **{f"AddressLine{i}": line for i, line in
                                         enumerate([x for x in lines if x][:ADDRESS_LINES], start=1)},
              "City": b.city, "StateProvince": b.state, "ZipPostalCode": b.postal_code, "Country": b.country}
    for name_, value in fields.items():
        limit = CUSTOMER_FIELDS["AddressLine" if name_.startswith("AddressLine") else name_]
        if _text(value, limit):
            body[name_] = _text(value, limit)
    body["CurrencyCode"] = order.currency
    return body


def order_body(order: EcommerceOrder, business_date: date, *, invoice_now: bool = False,
               location: str | None = None) -> dict[str, Any]:
    """The ``OE/OEOrders`` create body for an eCommerce order (``ValueError`` when Sage could not take it as it is)."""
    body: dict[str, Any] = {
        "OrderNumber": _exact(order.number, "OrderNumber", ORDER_FIELDS["OrderNumber"]),
        "CustomerNumber": _exact(order.customer_account, "CustomerNumber", CUSTOMER_FIELDS["CustomerNumber"]),
        "OrderDate": business_date,
        "OrderDescription": _text(f"{WEB_ORDER} {order.number}", ORDER_FIELDS["OrderDescription"]),
        "OrderReference": _exact(order.payment_reference, "OrderReference", ORDER_FIELDS["OrderReference"]),
        "PurchaseOrderNumber": _exact(order.payment_reference, "PurchaseOrderNumber", ORDER_FIELDS["PurchaseOrderNumber"]),
        "InvoiceWillBeProduced": bool(invoice_now),
    }
    where = _exact(location, "Location", ORDER_FIELDS["Location"]) if location else None
    body["OrderDetails"] = [{
        "LineType": ITEM, "Item": _exact(line.product, "Item", ORDER_FIELDS["Item"]),
        **({"Location": where} if where else {}),
        **({"Description": _text(line.description, ORDER_FIELDS["Description"])} if line.description.strip() else {}),
        "QuantityOrdered": line.quantity, "UnitPrice": amount(line.unit_price_minor, order.currency),
    } for line in order.lines]
    return body


# -- the customer --------------------------------------------------------------------------------------------------


def ensure_customer(client: Sage300Client, order: EcommerceOrder) -> bool:
    """The order's customer, created from its billing data when Sage does not have it; True when
    PaySync created it now. An existing customer is left as it is (its currency must be the order's)."""
    number = order.customer_account
    created = False
    for _ in range(MAX_ROUNDS):
        found = client.find_customer(number)
        if found is not None:
            currency = str(found.get("CurrencyCode") or "").strip()
            if currency and currency != order.currency:
                raise ValueError(f"customer {number} is kept in {currency}; order {order.number} is in {order.currency}")
            return created
        try:
            client.create_customer(customer_body(order))
            return True
        except (SageOutcomeUnknown, SageResponseError):  # may be there: read it again
            created = True
        except SageDuplicate:  # created in between (or by our attempt whose answer was lost)
            continue
    raise SageOutcomeUnknown(f"customer {number}: no certain answer after {MAX_ROUNDS} sends", method="POST",
                             path=CUSTOMERS, attempts=MAX_ROUNDS)


# -- the order -----------------------------------------------------------------------------------------------------


def find_order(client: Sage300Client, order_number: str) -> dict[str, Any] | None:
    """The OE order numbered ``order_number``, or None."""
    rows = [r for r in client.find_orders(order_number) if str(r.get("OrderNumber") or "").strip() == order_number]
    return rows[0] if rows else None


def _answered(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ledger's ERP id (``OrderUniquifier``) and detail of an order as Sage answers it."""
    return str(int(item["OrderUniquifier"])), {
        "order_number": str(item.get("OrderNumber") or "").strip(),
        "customer_number": str(item.get("CustomerNumber") or "").strip(),
        "invoice_number": str(item.get("LastInvoiceNumber") or "").strip()}


def create_sales_order(client: Sage300Client, ledger: Ledger, order: EcommerceOrder, *, business_date: date,
                       invoice_now: bool = False, location: str | None = None) -> SageSalesOrderRef:
    """The order's OE order (and its customer when new), created at most once whatever is retried.

    Raises ``ValueError`` for an order Sage could not take as it is (before anything is recorded; for
    a customer kept in another currency, with the entry failed), and what Sage refused
    (:class:`~paysync_dagster.lib.sage.errors.SageRejected`, ``SageDuplicate``), with the entry failed.
    ``invoice_now``: ``InvoiceWillBeProduced`` (ship and invoice at the create); ``location``: the
    IC location the lines ship from (None: the item's default)."""
    body = order_body(order, business_date, invoice_now=invoice_now, location=location)
    entry = order_intent(ledger, order, business_date=business_date)
    if not (entry.posted and entry.erp_id):
        try:
            created = ensure_customer(client, order)
        except (ValueError, SageRejected) as exc:
            ledger.failed([entry.reference], f"customer {order.customer_account}: {exc}")
            raise
        if created:
            ledger.amend_detail(entry.reference, {"customer_created": True})
        entry = send_once(
            ledger, entry, find=lambda: find_order(client, order.number), create=lambda: client.create_order(body),
            answered=_answered, uncertain=(SageOutcomeUnknown, SageResponseError),
            refused=(SageDuplicate, SageRejected),
            exhausted=lambda message: SageOutcomeUnknown(message, method="POST", path=OE_ORDERS, attempts=MAX_ROUNDS))
    d = entry.detail
    return SageSalesOrderRef(str(d.get("order_number") or order.number), int(entry.erp_id or 0),
                             str(d.get("customer_number") or order.customer_account), bool(d.get("customer_created")),
                             str(d.get("invoice_number") or ""))


__all__ = ["SageSalesOrderRef", "create_sales_order", "customer_body", "ensure_customer", "find_order", "order_body"]
