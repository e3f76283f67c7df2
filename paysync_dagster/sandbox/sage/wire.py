"""JSON in and out, as the Sage 300 Web API writes and reads it.

Amounts travel as JSON numbers. Requests are parsed with ``Decimal`` for every non-integer number
(never through binary floats), and answers print the stored ``Decimal`` as it is, so an amount keeps
its trailing precision (``110.000``) as Sage's answers do. Dates are ``YYYY-MM-DDT00:00:00Z``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .errors import SageError


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def loads(raw: bytes) -> Any:
    """The request body, numbers exact; ``InvalidPayload`` when it is not JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SageError("InvalidPayload", f"The request payload is not valid JSON: {exc}") from None


def date_text(value: date | None) -> str | None:
    return None if value is None else f"{value.isoformat()}T00:00:00Z"


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(k))
            out.append(":")
            _write(v, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _write(v, out)
        out.append("]")
    elif isinstance(value, Decimal):
        out.append(format(value, "f"))
    elif isinstance(value, datetime):
        out.append(json.dumps(value.strftime("%Y-%m-%dT%H:%M:%SZ")))
    elif isinstance(value, date):
        out.append(json.dumps(date_text(value)))
    else:
        out.append(json.dumps(value))


def dumps(value: Any) -> bytes:
    """JSON with ``Decimal`` printed as written (``110.000``) and dates as Sage prints them."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")
