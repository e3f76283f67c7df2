"""Typed errors for Oracle Fusion REST, carrying Oracle's message codes (spec §4, sample 11).

Fusion answers a refused request (400) either with plain text, one message per line and usually
without its code ("A receipt with this number, date, amount and customer already exists. Enter a
unique receipt number."), or, when the client asks for ``application/vnd.oracle.adf.error+json``, with
``o:errorDetails`` entries holding ``detail`` and ``o:errorCode``. :func:`parse_error_body` reads both:
codes given by the server win; otherwise a line starting with ``CODE:`` (or ``CODE |``, the notation
of sample 11, or ``JBO-12345:``) gives its code; otherwise the text is matched against the published
message texts (:data:`KNOWN_MESSAGES`, placeholders such as ``{ATTRIBUTE_NAME}`` captured into
``params``). :func:`error_for` then picks the class by code and status.

Messages are Oracle's texts about the request, never its body; nothing here echoes payloads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from paysync_dagster.lib.http import OutcomeUnknown

DUPLICATE_RECEIPT = "AR_RCP_DUP_NUM"
REQUIRED_ATTRIBUTE = "FND_CMN_REQ_ATTRIB_API_SERV"

#: (code or None, text with {PLACEHOLDERS}) published for standardReceipts and the framework (sample 11).
KNOWN_MESSAGES: tuple[tuple[str | None, str], ...] = (
    (DUPLICATE_RECEIPT, "A receipt with this number, date, amount and customer already exists. Enter a unique "
                        "receipt number."),
    (REQUIRED_ATTRIBUTE, "You must provide a value for the attribute {ATTRIBUTE_NAME}."),
    ("AR_RAPI_BU_INVALID", "The business unit is invalid. Message Context: The business unit provided in a web "
                           "service call is invalid."),
    ("AR_RAPI_BU_INVALID", "The business unit is invalid."),
    ("AR_INVAL_RECEIPT_MTH_ID", "The receipt method that you selected is invalid."),
    ("AR_BOE_OBSOLETE", "Bills of exchange receipt methods are no longer valid. Enter another receipt method."),
    ("AR_RAPI_CURR_CODE_INVALID", "The currency is invalid."),
    (None, "You can't update the customer account on receipt {RECEIPT_ID} because it was applied to a transaction."),
    (None, "The action {ACTION_NAME} isn't enabled for batch execution."),
    (None, "Invalid operation {OPERATION} for the specified resource."),
)

_CODE_PREFIX = re.compile(r"^\s*([A-Z][A-Z0-9]*(?:[_-][A-Z0-9]+)+)\s*[:|]\s*(.+)$", re.DOTALL)


def _template_regex(text: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in re.finditer(r"\{([A-Z_]+)\}", text):
        out.append(re.escape(text[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>.+?)")
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


_KNOWN = tuple((code, _template_regex(text)) for code, text in KNOWN_MESSAGES)


@dataclass(frozen=True)
class OracleMessage:
    """One message of an error answer: Oracle's text, its code when known, and placeholder values."""

    detail: str
    code: str | None = None
    path: str | None = None  # o:errorPath, when the server gave one
    params: dict[str, str] = field(default_factory=dict, compare=False)


def identify(detail: str, code: str | None = None, path: str | None = None) -> OracleMessage:
    """A message with its code: the given one, a ``CODE:`` prefix, or a known text."""
    text = detail.strip()
    if code is None:
        m = _CODE_PREFIX.match(text)
        if m:
            code, text = m.group(1), m.group(2).strip()
    for known_code, pattern in _KNOWN:
        m = pattern.match(text)
        if m:
            return OracleMessage(text, code or known_code, path, {k: v.strip() for k, v in m.groupdict().items()})
    return OracleMessage(text, code, path)


def parse_error_body(text: str, content_type: str = "") -> list[OracleMessage]:
    """Every message in an error body, JSON (``o:errorDetails``, problem-style, OAuth) or plain text."""
    body = (text or "").strip()
    if not body:
        return []
    if "json" in content_type.lower() or body.startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _from_json(data)
    return [identify(line) for line in body.splitlines() if line.strip()]


def _from_json(data: dict[str, Any]) -> list[OracleMessage]:
    details = data.get("o:errorDetails")
    if isinstance(details, list) and details:
        out = []
        for d in details:
            if isinstance(d, dict):
                out.append(identify(str(d.get("detail") or d.get("title") or ""), _str(d.get("o:errorCode")),
                                    _str(d.get("o:errorPath"))))
        return [m for m in out if m.detail]
    if "error" in data and isinstance(data.get("error"), str):  # OAuth token endpoint
        return [OracleMessage(str(data.get("error_description") or data["error"]), data["error"])]
    detail = data.get("detail") or data.get("title") or data.get("message")
    if detail:
        return [identify(str(detail), _str(data.get("o:errorCode")), _str(data.get("o:errorPath")))]
    return []


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


# -- the classes ---------------------------------------------------------------------------------------------

class OracleError(Exception):
    """Base class of every Oracle Fusion failure."""


class OracleApiError(OracleError):
    """Oracle answered with an error status. ``messages`` are its texts with their codes."""

    def __init__(self, message: str, *, http_status: int, messages: list[OracleMessage] | None = None,
                 method: str = "", path: str = ""):
        self.http_status = http_status
        self.messages = list(messages or [])
        self.method = method
        self.path = path
        summary = "; ".join(f"{m.code}: {m.detail}" if m.code else m.detail for m in self.messages)
        super().__init__(f"{method} {path}: {message} (HTTP {http_status})" + (f": {summary}" if summary else ""))

    @property
    def codes(self) -> list[str]:
        return [m.code for m in self.messages if m.code]

    @property
    def code(self) -> str | None:
        return self.codes[0] if self.codes else None

    def has_code(self, code: str) -> bool:
        return code in self.codes


class OracleValidationError(OracleApiError):
    """400: the request was understood and refused (validation, malformed ``q``, missing attribute)."""


class OracleDuplicateReceipt(OracleValidationError):
    """AR_RCP_DUP_NUM: a receipt with the same number, date, amount and customer already exists."""


class OracleMissingAttribute(OracleValidationError):
    """FND_CMN_REQ_ATTRIB_API_SERV; ``attributes`` names what was missing."""

    @property
    def attributes(self) -> list[str]:
        return [m.params["ATTRIBUTE_NAME"] for m in self.messages if "ATTRIBUTE_NAME" in m.params]


class OracleAuthError(OracleApiError):
    """401 (not authenticated) or 403 (missing privilege), or a token request refused."""


class OracleNotFound(OracleApiError):
    """404: wrong path or no such record."""


class OraclePreconditionFailed(OracleApiError):
    """412: the item changed since its ETag was read (``If-Match``)."""


class OracleBatchError(OracleApiError):
    """A batch failed as a whole (nothing was applied). ``parts`` are the failing parts as answered,
    each ``{"id", "path", "operation", "messages": [OracleMessage]}``."""

    def __init__(self, message: str, *, http_status: int, parts: list[dict[str, Any]], method: str = "",
                 path: str = ""):
        self.parts = parts
        messages = [m for p in parts for m in p.get("messages", [])]
        super().__init__(message, http_status=http_status, messages=messages, method=method, path=path)


class OracleTransportError(OracleError):
    """No usable answer after every retry (timeouts, dropped connections, 5xx, 429)."""

    def __init__(self, message: str, *, path: str = "", attempts: int = 0, http_status: int | None = None):
        self.path = path
        self.attempts = attempts
        self.http_status = http_status
        super().__init__(message)


class OracleOutcomeUnknown(OutcomeUnknown, OracleError):
    """A non-idempotent write (receipt POST, application, reversal) may have been committed, but no
    answer arrived. Not retried: look the receipt up (``find_receipt_by_number``) before acting again."""


class OracleResponseError(OracleError):
    """An answer that is not what the API documents (not JSON, a missing key). Names the path only."""

    def __init__(self, message: str, *, path: str = "", http_status: int | None = None):
        self.path = path
        self.http_status = http_status
        super().__init__(f"{path}: {message}" + (f" (HTTP {http_status})" if http_status is not None else ""))


class OracleAmbiguousMatch(OracleError):
    """A look-up expected to find at most one record found several."""


def error_for(http_status: int, messages: list[OracleMessage], *, method: str = "", path: str = "") -> OracleApiError:
    """The most specific error class for an answer's status and codes."""
    codes = {m.code for m in messages}
    cls: type[OracleApiError]
    if http_status in (401, 403):
        cls = OracleAuthError
    elif http_status == 404:
        cls = OracleNotFound
    elif http_status == 412:
        cls = OraclePreconditionFailed
    elif DUPLICATE_RECEIPT in codes:
        cls = OracleDuplicateReceipt
    elif REQUIRED_ATTRIBUTE in codes:
        cls = OracleMissingAttribute
    elif 400 <= http_status < 500:
        cls = OracleValidationError
    else:
        cls = OracleApiError
    return cls("Oracle refused the request", http_status=http_status, messages=messages, method=method, path=path)
