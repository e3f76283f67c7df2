"""eCommerce orders paid by card, as PaySync hands them to an ERP (ERP-neutral), and the exactly-once
send every ERP's sales-order create goes through.

An :class:`EcommerceOrder` is the storefront's order: its number, the ERP customer account it is
billed to (``customer_account``), the currency, when it was placed, its lines, and the PayTrace sale
that paid it (``payment_transaction_id``; ``payment_reference`` is that payment's receipt number in
the ERP, ``PT-<id>``). ``billing`` is the card's billing contact (:class:`Billing`, from PayTrace's
billing address), which an ERP needs when the customer does not exist there yet (Sage 300 creates it
from this; Oracle's orders need an existing account and ignore it).

Order numbers. The storefront charges the card with the order number as the PayTrace ``invoice_id``,
so the payment names the order (or its invoice) before the invoice exists, and the receipt, posted on
account until then, is applied once it appears (:mod:`paysync_dagster.lib.posting.late`). So an
order number has 1 to :data:`MAX_ORDER_NUMBER` characters (Oracle numbers the invoice with it: an AR
transaction number has 20; Sage's ``OrderNumber`` and ``DocumentNumber`` have 22); holds no run of 13
digits or more (card-data scrubbing would mask it as a card number before it reaches matching); and,
by the storefront's numbering, has a digit run longer than the mapping's invoice-reference width (so
normalization never reads it as the ``INV-`` number of another invoice), e.g. ``WEB-03111830001``.

Exactly once (:func:`order_intent`, :func:`send_once`): the intent is a posting-ledger entry (action
``sales_order``, reference ``SO-<order number>``, the PayTrace payment's id) committed before the
create; an attempt without a certain answer is looked up in the ERP by the order's own key before
anything is sent again; "already exists" after a lost answer is a success. The ledger keeps the
ERP's id for the order (``erp_id``) and what else the ERP answered (``detail``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from paysync_dagster.lib.posting.ledger import Entry, Ledger
from paysync_dagster.lib.scrub import MAYBE_CARD_NUMBER

SOURCE_SYSTEM = "PAYSYNC"  # PaySync as the source system of the orders it creates
SALES_ORDER = "sales_order"  # the ledger action
MAX_ORDER_NUMBER = 20  # fits an Oracle AR transaction number (20) and Sage's OrderNumber/DocumentNumber (22)
MAX_ROUNDS = 6  # sends per call; each resend follows a look-up that found nothing

Json = dict[str, Any]


@dataclass(frozen=True)
class Billing:
    """Who paid, as the card's billing data says (all optional): what an ERP creates a new customer from."""

    name: str = ""
    email: str = ""
    phone: str = ""
    address_lines: tuple[str, ...] = ()
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""

    @classmethod
    def from_paytrace(cls, record: Mapping[str, Any], *, phone: str = "") -> Billing:
        """From a PayTrace transaction record (``billing_address``; the e-mail its receipt went to)."""
        address = record.get("billing_address") or {}

        def text(value: Any) -> str:
            return str(value or "").strip()

        return cls(name=text(address.get("name")), email=text(record.get("receipt_emailed_to") or record.get("email")),
                   phone=text(phone or record.get("phone")),
                   address_lines=tuple(line for line in (text(address.get("street_address")),
                                                         text(address.get("street_address2"))) if line),
                   city=text(address.get("city")), state=text(address.get("state")),
                   postal_code=text(address.get("zip")), country=text(address.get("country")))


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
    customer_account: str  # the ERP's customer account number
    currency: str
    ordered_at: datetime  # UTC, naive
    payment_transaction_id: int  # the PayTrace sale that paid it
    payment_reference: str  # that payment's receipt number in the ERP
    lines: tuple[OrderLine, ...] = field(default_factory=tuple)
    billing: Billing | None = None  # the card's billing contact, for a customer the ERP does not have yet

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
        """``PAYSYNC:<number>``: the order's key where an ERP keys orders by source system (Oracle's ``OrderKey``)."""
        return f"{SOURCE_SYSTEM}:{self.number}"

    @property
    def reference(self) -> str:
        """The order's posting-ledger reference."""
        return f"SO-{self.number}"


# -- exactly once ------------------------------------------------------------------------------------------------


def order_intent(ledger: Ledger, order: EcommerceOrder, *, business_date: date,
                 detail: Mapping[str, Any] | None = None) -> Entry:
    """The order's ledger entry, committed now if it was not there (rule 1: before any create)."""
    intent = Entry(ledger.erp, order.reference, order.payment_transaction_id, SALES_ORDER, business_date,
                   order.total_minor, order.currency,
                   detail={"customer_account": order.customer_account, "payment_reference": order.payment_reference,
                           **(detail or {})})
    return ledger.record_intents([intent])[order.reference]


def send_once(ledger: Ledger, entry: Entry, *, find: Callable[[], Json | None], create: Callable[[], Json],
              answered: Callable[[Json], tuple[str, Mapping[str, Any]]],
              uncertain: tuple[type[BaseException], ...], refused: tuple[type[BaseException], ...],
              exhausted: Callable[[str], BaseException], rounds: int = MAX_ROUNDS) -> Entry:
    """Create what ``entry`` stands for at most once; the entry as posted. ``find()`` reads it from the
    ERP by its own key (None: not there); ``create()`` sends it; ``answered(item)`` is the ERP's id and
    the detail to keep from either's answer. ``uncertain`` errors (the create may have been committed)
    are looked up before the next send; after ``refused`` ones (a validation error, a duplicate) a
    look-up that finds it is a success, else the entry is failed and the error raised. Other errors
    (nothing was done; the ERP is unavailable) propagate with the entry still to be looked up first."""
    ref = entry.reference

    def done(item: Json) -> Entry:
        erp_id, keep = answered(item)
        ledger.amend_detail(ref, keep)
        ledger.posted({ref: erp_id})
        stored = ledger.get(ref)
        assert stored is not None
        return stored

    for round_ in range(rounds):
        if entry.attempts or round_:  # may have been created by an attempt without an answer: look first
            found = find()
            if found is not None:
                return done(found)
        ledger.attempt([ref])
        try:
            return done(create())
        except uncertain as exc:
            ledger.uncertain([ref], str(exc))
        except refused as exc:
            found = find()  # "already exists" after a lost answer is a success
            if found is not None:
                return done(found)
            status = getattr(exc, "http_status", None)
            code = getattr(exc, "code", None) or (f"HTTP{status}" if status else type(exc).__name__)
            ledger.failed([ref], f"{code}: {exc}")
            raise
    raise exhausted(f"{ref}: no certain answer after {rounds} sends")


__all__ = ["MAX_ORDER_NUMBER", "SALES_ORDER", "SOURCE_SYSTEM", "Billing", "EcommerceOrder", "OrderLine",
           "order_intent", "send_once"]
