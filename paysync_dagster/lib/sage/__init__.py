"""Sage 300 Web API: the client (OData paging, keys, filters, sessions), typed records and typed errors with Sage's codes."""

from .client import (
    CASH,
    PREPAYMENT,
    READY_TO_POST,
    RECEIPT,
    Filter,
    FoundReceipt,
    NewApplication,
    NewReceipt,
    NewRefund,
    Sage300Client,
    and_,
    entity_key,
    eq,
    ge,
    gt,
    le,
    lt,
    ne,
    odata_literal,
    or_,
)
from .errors import (
    SageAmbiguousMatch,
    SageApiError,
    SageAuthError,
    SageDuplicate,
    SageError,
    SageMessage,
    SageNotFound,
    SageOutcomeUnknown,
    SageRateLimited,
    SageRejected,
    SageResponseError,
    SageServerError,
    SageTransportError,
    error_for,
    parse_error_body,
)

__all__ = [
    "CASH", "PREPAYMENT", "READY_TO_POST", "RECEIPT", "Filter", "FoundReceipt", "NewApplication", "NewReceipt", "NewRefund",
    "Sage300Client", "and_", "entity_key", "eq", "ge", "gt", "le", "lt", "ne", "odata_literal", "or_",
    "SageAmbiguousMatch", "SageApiError", "SageAuthError", "SageDuplicate", "SageError", "SageMessage",
    "SageNotFound", "SageOutcomeUnknown", "SageRateLimited", "SageRejected", "SageResponseError", "SageServerError",
    "SageTransportError", "error_for", "parse_error_body",
]
