"""Who may call the Web API: HTTP Basic against the site's users, and the cookie session it keeps.

- User names are matched as typed, and Sage's are upper case: ``paysync`` is not ``PAYSYNC`` (forum
  users report that lower-case names fail). Wrong or missing credentials: 401 ``Unauthorized`` with
  ``WWW-Authenticate: Basic``.
- ``ADMIN`` has no Web API access unless the site allows it (``AllowWebApiAccessForAdmin``): with the
  right password it is 403 ``Forbidden`` (authenticated, not allowed), so a client can tell a
  configuration problem from a wrong password.
- A successful Basic request without a live session gets a new one (``Set-Cookie: ASP.NET_SessionId``).
  A request with a live session cookie needs no credentials. A session ends after
  ``session_idle_s`` without use or when the control API expires it; then a request with only the
  cookie is 401, and one with Basic credentials is served with a fresh session, unless the state's
  ``session_error_on_expired`` is set: then it is 500 ``SessionError`` until the client drops the
  stale cookie (one more way a client's recovery can be exercised).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie

from .errors import SageError
from .state import SageState

COOKIE = "ASP.NET_SessionId"
COOKIE_PATH = "/Sage300WebApi"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Sage300WebApi"'}


@dataclass
class Caller:
    user: str
    new_session: str | None = None  # set when the answer must carry Set-Cookie


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def session_cookie(cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # noqa: BLE001 - a malformed Cookie header is as good as none
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def authenticate(state: SageState, headers: Mapping[str, str]) -> Caller:
    """The caller, or a SageError (401/403/500) saying why not."""
    sid = session_cookie(headers.get("cookie"))
    session = state.session(sid)
    creds = _basic(headers.get("authorization"))
    if creds is None:
        if headers.get("authorization"):
            raise SageError("Unauthorized", "Authorization has been denied for this request.", headers=CHALLENGE)
        if session is not None and not session.expired:
            return Caller(session.user)
        message = "The session has expired; sign in again." if session is not None else \
            "Authorization has been denied for this request."
        raise SageError("Unauthorized", message, headers=CHALLENGE)
    user, password = creds
    expected = state.users.get(user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        raise SageError("Unauthorized", "Authorization has been denied for this request.", headers=CHALLENGE)
    if user == "ADMIN" and not state.allow_admin:
        raise SageError("Forbidden", "The ADMIN user is not allowed to use the Web API on this site "
                                     "(AllowWebApiAccessForAdmin is off).")
    if session is not None and session.expired and state.session_error_on_expired:
        raise SageError("SessionError", "The session has expired.")
    if session is not None and not session.expired and session.user == user:
        return Caller(user)
    return Caller(user, new_session=state.new_session(user))


def set_cookie(sid: str) -> str:
    return f"{COOKIE}={sid}; path={COOKIE_PATH}; HttpOnly; SameSite=Lax"
