"""Typed errors for the Sage 300 Web API, carrying Sage's ``error.code`` and ``error.message.value``
(spec ``sage300_webapi.md`` §2.3).

Sage answers a refused request with an OData error body::

    {"error": {"code": "RecordNotFound", "message": {"lang": "en-US", "value": "A Record cannot be found ..."}}}

Only ``value`` is meant for people; PaySync decides on ``code``. :func:`parse_error_body` reads that
body, tolerating what sits in front of a real server (a plain-text or HTML page from IIS or a proxy,
an empty body, an older ``odata.error`` wrapper, a ``message`` given as a bare string), and
:func:`error_for` picks the class: by Sage's code first, by HTTP status when there is no code.

========================================================  ===================================
Sage code                                                 class
========================================================  ===================================
Unauthorized, Forbidden                                   :class:`SageAuthError`
RecordNotFound, ResourceNotFound                          :class:`SageNotFound`
RecordDuplicate                                           :class:`SageDuplicate`
InvalidPayload, InvalidParameters, InvalidEntityKey,      :class:`SageRejected`
InvalidAction, RecordInvalid, General, MethodNotAllowed
TooManyRequests                                           :class:`SageRateLimited` (lib/http retries
                                                          429 first; this is what is left after)
InternalServerError, DBLinkError, SessionError            :class:`SageServerError` (on a write the
                                                          client raises :class:`SageOutcomeUnknown`)
========================================================  ===================================

plus :class:`SageTransportError` (no answer after every retry), :class:`SageOutcomeUnknown` (a write
may have been committed, no usable answer) and :class:`SageResponseError` (an answer that is not what
the API documents). Messages are Sage's texts about the request, never request bodies or credentials.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from paysync_dagster.lib.http import OutcomeUnknown

# -- Sage's documented codes (§2.3) ---------------------------------------------------------------------------

UNAUTHORIZED = "Unauthorized"
FORBIDDEN = "Forbidden"
RECORD_NOT_FOUND = "RecordNotFound"
RESOURCE_NOT_FOUND = "ResourceNotFound"
RECORD_DUPLICATE = "RecordDuplicate"
INVALID_PAYLOAD = "InvalidPayload"
INVALID_PARAMETERS = "InvalidParameters"
INVALID_ENTITY_KEY = "InvalidEntityKey"
INVALID_ACTION = "InvalidAction"
RECORD_INVALID = "RecordInvalid"
GENERAL = "General"
METHOD_NOT_ALLOWED = "MethodNotAllowed"
TOO_MANY_REQUESTS = "TooManyRequests"
INTERNAL_SERVER_ERROR = "InternalServerError"
DB_LINK_ERROR = "DBLinkError"
SESSION_ERROR = "SessionError"

AUTH_CODES = frozenset({UNAUTHORIZED, FORBIDDEN})
NOT_FOUND_CODES = frozenset({RECORD_NOT_FOUND, RESOURCE_NOT_FOUND})
DUPLICATE_CODES = frozenset({RECORD_DUPLICATE})
REJECTED_CODES = frozenset({INVALID_PAYLOAD, INVALID_PARAMETERS, INVALID_ENTITY_KEY, INVALID_ACTION, RECORD_INVALID,
                            GENERAL, METHOD_NOT_ALLOWED})
RATE_LIMIT_CODES = frozenset({TOO_MANY_REQUESTS})
SERVER_CODES = frozenset({INTERNAL_SERVER_ERROR, DB_LINK_ERROR, SESSION_ERROR})

#: Every code the 2022 developer reference documents.
DOCUMENTED_CODES = AUTH_CODES | NOT_FOUND_CODES | DUPLICATE_CODES | REJECTED_CODES | RATE_LIMIT_CODES | SERVER_CODES

_MAX_TEXT = 300  # a non-JSON body is summarized, never copied whole into a message


@dataclass(frozen=True)
class SageMessage:
    """What an error body says: Sage's ``code`` (None when the body had none) and the human text."""

    code: str | None
    message: str | None
    lang: str | None = None


def parse_error_body(text: str | bytes | None, content_type: str = "") -> SageMessage:
    """``error.code`` and ``error.message.value`` of an answer body; never raises.

    JSON bodies in the OData v4 shape (``{"error": {...}}``), the older v3 shape
    (``{"odata.error": {...}}``), with ``message`` as an object or a bare string, are read. A body
    that is not JSON (a proxy's plain text, an IIS HTML page, nothing) gives ``code=None`` and, as
    ``message``, its first line (an HTML page: its ``<title>``), cut to a few hundred characters.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    body = (text or "").strip()
    if not body:
        return SageMessage(None, None)
    if body.startswith(("{", "[")) or "json" in content_type.lower():
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            found = _from_json(data)
            if found is not None:
                return found
    return SageMessage(None, _summary(body, content_type))


def _from_json(data: dict[str, Any]) -> SageMessage | None:
    err = data.get("error", data.get("odata.error"))
    if isinstance(err, str):  # {"error": "too_many_requests", "message": "..."} (proxies, gateways)
        return SageMessage(err or None, _text(data.get("message")) or _text(data.get("error_description")))
    if not isinstance(err, dict):
        if "code" in data and "message" in data:  # the error object without its wrapper
            err = data
        else:
            return None
    msg = err.get("message")
    lang = None
    if isinstance(msg, dict):
        lang = _text(msg.get("lang"))
        value = _text(msg.get("value"))
    else:
        value = _text(msg)
    code = _text(err.get("code"))
    if value is None and isinstance(err.get("innererror"), dict):
        value = _text(err["innererror"].get("message"))
    return SageMessage(code, value, lang)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:_MAX_TEXT] if text else None


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def _summary(body: str, content_type: str) -> str | None:
    if "html" in content_type.lower() or body.lstrip().lower().startswith(("<!doctype", "<html")):
        m = _TITLE.search(body)
        text = m.group(1) if m else _TAG.sub(" ", body)
    else:
        text = body
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line[:_MAX_TEXT]
    return None


# -- the classes ------------------------------------------------------------------------------------------------

class SageError(Exception):
    """Base class of every Sage 300 failure."""


class SageApiError(SageError):
    """Sage (or something in front of it) answered with an error status.

    ``code`` is Sage's ``error.code`` (None when the body had none), ``sage_message`` its
    ``error.message.value``; ``http_status``, ``method`` and ``path`` (never the query string) say
    which call. ``attempts`` is how many times it was sent.
    """

    def __init__(self, message: str, *, http_status: int, code: str | None = None, sage_message: str | None = None,
                 method: str = "", path: str = "", attempts: int = 1):
        self.http_status = http_status
        self.code = code
        self.sage_message = sage_message
        self.method = method
        self.path = path
        self.attempts = attempts
        where = f"{method} {path}: " if method or path else ""
        detail = ": ".join(p for p in (code, sage_message) if p)
        super().__init__(f"{where}{message} (HTTP {http_status})" + (f": {detail}" if detail else ""))


class SageAuthError(SageApiError):
    """Unauthorized / Forbidden (401/403): wrong user or password, a user without Web API access
    (``ADMIN`` unless the site allows it), or a missing permission. Nothing was done."""


class SageNotFound(SageApiError):
    """RecordNotFound / ResourceNotFound (404): no record with that key, or no such resource."""


class SageDuplicate(SageApiError):
    """RecordDuplicate (409): a record with that key already exists. Nothing was done."""


class SageRejected(SageApiError):
    """Sage understood the request and refused it; nothing was done: InvalidPayload (a string amount,
    an unknown property), InvalidParameters (a bad ``$filter``), InvalidEntityKey, InvalidAction,
    RecordInvalid, General (a business rule), MethodNotAllowed."""


class SageRateLimited(SageApiError):
    """TooManyRequests (429) on every attempt (lib/http waits ``Retry-After`` between them). Nothing was done."""


class SageServerError(SageApiError):
    """InternalServerError / DBLinkError / SessionError, or a 5xx without a Sage body, on a request
    that may be repeated (reads), after every retry. Writes get :class:`SageOutcomeUnknown` instead."""


class SageTransportError(SageError):
    """No answer after every retry (connection refused, timeouts on a read, dropped connections)."""

    def __init__(self, message: str, *, method: str = "", path: str = "", attempts: int = 0,
                 http_status: int | None = None):
        self.method = method
        self.path = path
        self.attempts = attempts
        self.http_status = http_status
        super().__init__(message)


class SageOutcomeUnknown(OutcomeUnknown, SageError):
    """A write (batch POST, entry insert, ``$process``) may have been committed, but no usable answer
    arrived: a timeout or dropped connection after sending, or a 5xx (``code`` holds Sage's code when
    the answer had one, e.g. ``DBLinkError``). Not retried: look the effect up (the day's open batches,
    the posted receipts) before acting again."""

    def __init__(self, message: str, *, method: str, path: str, attempts: int, status: int | None = None,
                 code: str | None = None, sage_message: str | None = None):
        super().__init__(message, method=method, path=path, attempts=attempts, status=status)
        self.code = code
        self.sage_message = sage_message

    @property
    def http_status(self) -> int | None:
        return self.status


class SageResponseError(SageError):
    """An answer that is not what the API documents (not JSON, no ``value`` array, an amount with more
    decimals than its currency, a nextLink loop). Names the path only, never the body."""

    def __init__(self, message: str, *, path: str = "", http_status: int | None = None):
        self.path = path
        self.http_status = http_status
        super().__init__(f"{path}: {message}" if path else message)


class SageAmbiguousMatch(SageError):
    """A look-up expected to find at most one record found several."""


_BY_CODE: dict[str, type[SageApiError]] = {
    **{c: SageAuthError for c in AUTH_CODES},
    **{c: SageNotFound for c in NOT_FOUND_CODES},
    **{c: SageDuplicate for c in DUPLICATE_CODES},
    **{c: SageRejected for c in REJECTED_CODES},
    **{c: SageRateLimited for c in RATE_LIMIT_CODES},
    **{c: SageServerError for c in SERVER_CODES},
}


def error_class(http_status: int, code: str | None) -> type[SageApiError]:
    """The class for a Sage code (case-insensitive), else for the HTTP status."""
    if code:
        for known, cls in _BY_CODE.items():
            if known.lower() == code.lower():
                return cls
    if http_status in (401, 403):
        return SageAuthError
    if http_status in (404, 410):
        return SageNotFound
    if http_status == 409:
        return SageDuplicate
    if http_status == 429:
        return SageRateLimited
    if http_status >= 500:
        return SageServerError
    return SageRejected


def error_for(http_status: int, body: str | bytes | None = None, *, content_type: str = "", method: str = "",
              path: str = "", attempts: int = 1) -> SageApiError:
    """The typed error for an error answer: ``(status, body)`` -> :class:`SageApiError` subclass.

    Tolerant of any body (see :func:`parse_error_body`); the code in the body wins over the status.
    """
    parsed = parse_error_body(body, content_type)
    cls = error_class(http_status, parsed.code)
    return cls("Sage refused the request" if http_status < 500 else "Sage failed to serve the request",
               http_status=http_status, code=parsed.code, sage_message=parsed.message, method=method, path=path,
               attempts=attempts)


def is_server_error(http_status: int, code: str | None) -> bool:
    """Whether an answer leaves a write's outcome unknown (5xx, or a server-side Sage code)."""
    return error_class(http_status, code) is SageServerError
