"""``AR/ARCustomers``: GET (list, entry), POST, PATCH; key ``('1200')`` or ``(CustomerNumber='1200')``.

POST needs ``CustomerNumber`` (at most 12 characters) and ``CustomerName``; an existing number is
409 ``RecordDuplicate``. Unsent properties take the defaults of a new customer in the sample company
(group RTL, account set USA, terms NET30, currency USD, Active). PATCH changes what it sends;
``CustomerNumber`` cannot change. ``CustomerOptionalFieldValues`` rows follow ``UpdateOperation``,
keyed by ``OptionalField``. ``BalanceDueInCustomerCurrency`` is the sum of the customer's posted
documents' amounts due; ``DateOfLastInvoice``/``DateOfLastReceipt`` follow postings.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .batches import Row, get_or_404, merge_rows
from .errors import SageError, invalid
from .schema import CUSTOMER, CUSTOMER_OPTIONAL_FIELD, blank, check_lengths, read, writable
from .state import CURRENCY, SageState

DEFAULTS = {"GroupCode": "RTL", "AccountSet": "USA", "Terms": "NET30", "CurrencyCode": CURRENCY, "Status": "Active"}


def _view(state: SageState, row: Row) -> Row:
    """The stored customer with its computed balance."""
    return {**row, "BalanceDueInCustomerCurrency": state.balance_of(row["CustomerNumber"])}


def rows(state: SageState, hints: Mapping[str, str]) -> list[Row]:
    s = state.store
    if "CustomerNumber" in hints:
        row = s.customers.get(hints["CustomerNumber"])
        return [_view(state, row)] if row is not None else []
    return [_view(state, s.customers[k]) for k in sorted(s.customers)]


def get(state: SageState, key: tuple) -> Row | None:
    row = state.store.customers.get(key[0])
    return _view(state, row) if row is not None else None


def _optional_field(number: str):  # noqa: ANN202
    def create(item: Mapping[str, Any]) -> Row:
        row = blank(CUSTOMER_OPTIONAL_FIELD)
        row.update(writable(item, CUSTOMER_OPTIONAL_FIELD), CustomerNumber=number)
        if not row["OptionalField"]:
            raise invalid("OptionalField is required.")
        return row
    return create


def new_customer(state: SageState, values: Mapping[str, Any]) -> Row:
    """A customer row from typed values (the seed uses it too)."""
    row = blank(CUSTOMER)
    row.update(DEFAULTS)
    row.update({k: v for k, v in values.items() if k in CUSTOMER.fields and CUSTOMER.fields[k].kind != "many"})
    row["ShortName"] = row["ShortName"] or row["CustomerName"][:10]
    row["DateLastMaintained"] = state.today()
    return row


def create(state: SageState, payload: Any) -> Row:
    data = read(payload, CUSTOMER)
    check_lengths(data, CUSTOMER)
    number = data.get("CustomerNumber")
    if not number:
        raise invalid("CustomerNumber is required.")
    if not data.get("CustomerName"):
        raise invalid("CustomerName is required.")
    if number in state.store.customers:
        raise SageError("RecordDuplicate", f"Customer {number} already exists.")
    row = new_customer(state, writable(data, CUSTOMER))
    merge_rows(row["CustomerOptionalFieldValues"], data.get("CustomerOptionalFieldValues") or [],
               CUSTOMER_OPTIONAL_FIELD, create=_optional_field(number), change=lambda r, i: None, inserting_only=True)
    state.store.customers[number] = row
    state.count("customers_created")
    return _view(state, row)


def update(state: SageState, key: tuple, payload: Any) -> Row:
    row = get_or_404(state.store.customers, key[0])
    data = read(payload, CUSTOMER)
    check_lengths(data, CUSTOMER)
    if data.get("CustomerNumber") not in (None, row["CustomerNumber"]):
        raise invalid("CustomerNumber cannot change.")
    work = copy.deepcopy(row)
    work.update(writable(data, CUSTOMER))
    if "CustomerOptionalFieldValues" in data:
        merge_rows(work["CustomerOptionalFieldValues"], data["CustomerOptionalFieldValues"] or [],
                   CUSTOMER_OPTIONAL_FIELD, create=_optional_field(row["CustomerNumber"]),
                   change=lambda r, i: r.update(writable(i, CUSTOMER_OPTIONAL_FIELD)))
    if not work["CustomerName"]:
        raise invalid("CustomerName cannot be blank.")
    work["DateLastMaintained"] = state.today()
    state.store.customers[row["CustomerNumber"]] = work
    return _view(state, work)
