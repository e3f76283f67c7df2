"""Typed errors for everything PayTrace says or fails to say."""

from __future__ import annotations


class PayTraceError(Exception):
    """Base class for PayTrace failures."""


class PayTraceApiError(PayTraceError):
    """PayTrace answered with ``success: false``.

    ``errors`` maps PayTrace's error codes (strings, as on the wire: ``"817"``) to their messages;
    ``response_code`` is the top-level code (1 for validation errors, 102 for a decline, ...).
    """

    def __init__(self, message: str, *, http_status: int, response_code: int | None, errors: dict[str, list[str]] | None = None, path: str = ""):
        self.http_status = http_status
        self.response_code = response_code
        self.errors = dict(errors or {})
        self.path = path
        codes = ", ".join(f"{code}: {' '.join(msgs)}" for code, msgs in self.errors.items())
        super().__init__(f"{path}: {message}" + (f" [{codes}]" if codes else "") + f" (HTTP {http_status}, response_code {response_code})")

    @property
    def codes(self) -> list[str]:
        return list(self.errors)


class PayTraceAuthError(PayTraceError):
    """The token endpoint refused the credentials (``invalid_grant``) or a fresh token was refused."""


class PayTraceTransportError(PayTraceError):
    """No usable answer after every retry: timeouts, dropped connections, 5xx, 429."""

    def __init__(self, message: str, *, path: str = "", attempts: int = 0, http_status: int | None = None):
        self.path = path
        self.attempts = attempts
        self.http_status = http_status  # last status seen, None when no answer arrived at all
        super().__init__(message)


class PayTraceOutcomeUnknown(PayTraceTransportError):
    """A transaction write (sale, authorization, capture, refund, void, customer change) may have been
    received by PayTrace, but no answer arrived (read timeout, dropped connection, 500/502/504).

    It was deliberately NOT retried: a second sale would charge the card twice. Find out what
    happened first (export by date range, filter on the ``invoice_id`` sent), then decide.
    """


class PayTraceDataError(PayTraceError):
    """A PayTrace record cannot be read into canonical values.

    Names the transaction and the field so that a person can find the record in the PayTrace portal.
    """

    def __init__(self, message: str, *, transaction_id: object = None, field: str = "", value: object = None):
        self.transaction_id = transaction_id
        self.field = field
        self.value = value
        where = f"transaction {transaction_id}" if transaction_id not in (None, "") else "a transaction without an id"
        super().__init__(f"{where}, field {field!r}: {message}" if field else f"{where}: {message}")


class PayTraceResponseError(PayTraceDataError):
    """A PayTrace answer is not the JSON the API documents (HTML error page, truncated JSON, a list
    where an object belongs, a missing key). Names the path; never quotes the body, which may hold
    card data."""

    def __init__(self, message: str, *, path: str, http_status: int | None = None, field: str = ""):
        self.transaction_id = None
        self.field = field
        self.value = None
        self.path = path
        self.http_status = http_status
        status = f" (HTTP {http_status})" if http_status is not None else ""
        Exception.__init__(self, f"{path}{status}: {message}")
