"""Oracle Fusion Cloud ERP REST: the client, its OAuth JWT assertion, typed records and typed errors with Oracle's codes."""

from .auth import OAuthSettings, TokenCache, build_user_assertion
from .client import OracleFusionClient
from .errors import (
    OracleAmbiguousMatch,
    OracleApiError,
    OracleAuthError,
    OracleBatchError,
    OracleDuplicateReceipt,
    OracleError,
    OracleMessage,
    OracleMissingAttribute,
    OracleNotFound,
    OracleOutcomeUnknown,
    OraclePreconditionFailed,
    OracleResponseError,
    OracleTransportError,
    OracleValidationError,
    parse_error_body,
)
from .records import (
    AccountActivity,
    BatchPart,
    Installment,
    Invoice,
    Page,
    PaymentSchedule,
    Receipt,
    RemittanceReference,
    SalesOrder,
    parse_account_activity,
    parse_batch_response,
    parse_installment,
    parse_invoice,
    parse_page,
    parse_payment_schedule,
    parse_receipt,
    parse_remittance_reference,
    parse_sales_order,
    self_href,
)

__all__ = [
    "AccountActivity", "BatchPart", "Installment", "Invoice", "PaymentSchedule", "Receipt", "RemittanceReference",
    "SalesOrder", "parse_account_activity", "parse_batch_response", "parse_installment", "parse_invoice",
    "parse_payment_schedule", "parse_receipt", "parse_remittance_reference", "parse_sales_order", "self_href",
    "OAuthSettings", "OracleAmbiguousMatch", "OracleApiError", "OracleAuthError", "OracleBatchError",
    "OracleDuplicateReceipt", "OracleError", "OracleFusionClient", "OracleMessage", "OracleMissingAttribute",
    "OracleNotFound", "OracleOutcomeUnknown", "OraclePreconditionFailed", "OracleResponseError",
    "OracleTransportError", "OracleValidationError", "Page", "TokenCache", "build_user_assertion", "parse_error_body",
    "parse_page",
]
