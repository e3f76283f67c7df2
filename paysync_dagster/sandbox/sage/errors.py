"""Sage 300 Web API errors: the documented codes, their HTTP statuses, and the OData error body.

Body: ``{"error": {"code": <code>, "message": {"lang": "en-US", "value": <text>}}}``. Clients are
meant to automate on ``code`` only. Sage documents the codes but pairs only 404 with
``RecordNotFound``; the other statuses below are this sandbox's choice (one status per code, so a
client can rely on either).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATUS: Mapping[str, int] = {
    "Unauthorized": 401,
    "Forbidden": 403,
    "ResourceNotFound": 404,
    "RecordNotFound": 404,
    "MethodNotAllowed": 405,
    "InvalidParameters": 400,
    "InvalidEntityKey": 400,
    "InvalidPayload": 400,
    "InvalidAction": 400,
    "RecordInvalid": 400,
    "General": 400,  # a refusal of the business layer (the view), not of the HTTP layer
    "RecordDuplicate": 409,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "DBLinkError": 500,
    "SessionError": 500,
}

RECORD_NOT_FOUND = "A Record cannot be found for the specified entity key"


class SageError(Exception):
    """A refusal the Web API answers with its error body; ``code`` decides the status."""

    def __init__(self, code: str, message: str, *, headers: Mapping[str, str] | None = None):
        if code not in STATUS:
            raise ValueError(f"not a Sage 300 Web API error code: {code}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS[code]
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": {"lang": "en-US", "value": self.message}}}


def not_found() -> SageError:
    return SageError("RecordNotFound", RECORD_NOT_FOUND)


def invalid(message: str) -> SageError:
    return SageError("RecordInvalid", message)


def general(message: str) -> SageError:
    return SageError("General", message)
