"""Who may use the studio, and that every change comes from its own pages.

- Bound to loopback, the studio trusts the machine's user (no login). Beyond loopback it starts only
  with a login: ``PAYSYNC_STUDIO_USER`` and ``PAYSYNC_STUDIO_PASSWORD_HASH`` (an scrypt hash made by
  ``paysync studio hash-password``; the password itself is never stored).
- Sessions are random tokens kept in the server's memory (a restart signs everyone out), in an
  HttpOnly, SameSite=Strict cookie.
- Sign-in attempts are throttled per client address: after ``LOGIN_FAILURES`` wrong ones within
  ``LOGIN_WINDOW_SECONDS`` the address is refused (429 with Retry-After) until the oldest leaves the
  window, whatever it sends, so a password cannot be guessed at the speed of the network.
- Every POST carries the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``) and,
  when the browser sends one, an Origin of the studio itself; anything else is refused with 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "paysync_studio"
SESSION_SECONDS = 8 * 3600
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
LOGIN_FAILURES = 5
LOGIN_WINDOW_SECONDS = 15 * 60


class PasswordHashError(ValueError):
    """``PAYSYNC_STUDIO_PASSWORD_HASH`` is not a hash ``paysync studio hash-password`` writes."""


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$<salt>$<hash>`` (base64): what ``PAYSYNC_STUDIO_PASSWORD_HASH`` holds."""
    if not password:
        raise ValueError("an empty password")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return "$".join(("scrypt", str(_SCRYPT["n"]), str(_SCRYPT["r"]), str(_SCRYPT["p"]),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()))


def check_hash(stored: str) -> None:
    """Raise PasswordHashError unless ``stored`` is a hash this module writes."""
    parts = stored.split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError
        int(parts[1]), int(parts[2]), int(parts[3])
        base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        raise PasswordHashError("PAYSYNC_STUDIO_PASSWORD_HASH is not an scrypt hash: make one with "
                                "`paysync studio hash-password`") from None


def password_matches(password: str, stored: str) -> bool:
    check_hash(stored)
    _, n, r, p, salt, expected = stored.split("$")
    digest = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r),
                            p=int(p))
    return hmac.compare_digest(digest, base64.b64decode(expected))


@dataclass
class Session:
    user: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    expires: float = field(default_factory=lambda: time.monotonic() + SESSION_SECONDS)


class Sessions:
    """The signed-in sessions, by token (thread-safe; the server may serve requests on threads)."""

    def __init__(self) -> None:
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, user: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._by_token = {t: s for t, s in self._by_token.items() if s.expires > now}
            session = self._by_token[token] = Session(user)
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
            if session is None or session.expires <= time.monotonic():
                self._by_token.pop(token, None)
                return None
            return session

    def end(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())


class LoginThrottle:
    """Wrong sign-ins per client address in a sliding window (thread-safe). Behind a proxy every client
    shares the proxy's address, and so its limit: a proxy should have its own as well."""

    def __init__(self, failures: int = LOGIN_FAILURES, window_seconds: float = LOGIN_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._failures, self._window, self._clock = failures, window_seconds, clock
        self._by_client: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        with self._lock:
            recent = self._recent(client, self._clock())
            if len(recent) < self._failures:
                return None
            return max(1, int(recent[-self._failures] + self._window - self._clock()) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            self._by_client[client] = [*self._recent(client, now), now]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._by_client.pop(client, None)

    def _recent(self, client: str, now: float) -> list[float]:
        recent = [t for t in self._by_client.get(client, []) if t > now - self._window]
        if recent:
            self._by_client[client] = recent
        else:
            self._by_client.pop(client, None)
        return recent
