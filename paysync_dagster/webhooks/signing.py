"""Signed webhook bodies: HMAC-SHA256 over ``f"{timestamp}.{raw_body}"`` with a shared secret.

One header carries the timestamp and the signatures: ``PaySync-Signature: t=<unix seconds>,v1=<hex>``.
Several ``v1=`` entries are allowed so that a sender can sign with both secrets while they rotate;
the receiver, for its part, accepts either of its two secrets (``PAYSYNC_WEBHOOK_SECRET`` and
``PAYSYNC_WEBHOOK_SECRET_PREVIOUS``). The timestamp is inside the MAC, so a captured request cannot
be replayed with a fresh timestamp, and a stale one is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Mapping, Sequence

HEADER = "PaySync-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300
SECRET_ENV = "PAYSYNC_WEBHOOK_SECRET"
PREVIOUS_SECRET_ENV = "PAYSYNC_WEBHOOK_SECRET_PREVIOUS"

# A header is parsed before anything is authenticated; cap the work an attacker can ask for.
_MAX_HEADER_CHARS = 2_048
_MAX_SIGNATURES = 8
_HEX_DIGITS = frozenset("0123456789abcdef")


class SignatureError(Exception):
    """A signature was refused. ``part`` says which part failed: header, timestamp or signature."""

    part = "signature"


class MissingSignature(SignatureError):
    part = "header"


class MalformedSignature(SignatureError):
    part = "header"


class StaleTimestamp(SignatureError):
    part = "timestamp"


class SignatureMismatch(SignatureError):
    part = "signature"


def secrets_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secrets in force, current first; empty when ``PAYSYNC_WEBHOOK_SECRET`` is not set."""
    env = os.environ if environ is None else environ
    current = (env.get(SECRET_ENV) or "").strip()
    if not current:
        return []
    previous = (env.get(PREVIOUS_SECRET_ENV) or "").strip()
    return [current] + ([previous] if previous and previous != current else [])


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | Sequence[str], timestamp: int | None = None) -> str:
    """The ``PaySync-Signature`` header value for ``body``; several secrets give several ``v1=`` entries."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(secrets):
        raise ValueError("signing needs a non-empty secret")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return ",".join([f"t={ts}", *(f"{SCHEME}={_mac(s, ts, body)}" for s in secrets)])


def parse_header(header: str | None) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) from a header value. Unknown schemes are ignored, for later versions."""
    if header is None or not header.strip():
        raise MissingSignature(f"missing {HEADER} header")
    if len(header) > _MAX_HEADER_CHARS:
        raise MalformedSignature(f"{HEADER} header is too long")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise MalformedSignature(f"{HEADER} header: expected key=value items, like t=<unix seconds>,v1=<hex>")
        if key == "t":
            timestamps.append(value.strip())
        elif key == SCHEME:
            signatures.append(value.strip().lower())
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not timestamps[0].isascii() or len(timestamps[0]) > 12:
        raise MalformedSignature(f"{HEADER} header: needs exactly one t=<unix seconds> (at most 12 digits)")
    if not signatures:
        raise MalformedSignature(f"{HEADER} header: no {SCHEME}= signature")
    if len(signatures) > _MAX_SIGNATURES:
        raise MalformedSignature(f"{HEADER} header: more than {_MAX_SIGNATURES} signatures")
    return int(timestamps[0]), signatures


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a signature header against the raw body. Returns the signed timestamp or raises a ``SignatureError``."""
    usable = [s for s in secrets if s]
    if not usable:
        # A receiver without a secret would accept anything; that is a deployment error, not a bad request.
        raise ValueError("no webhook secret configured")
    timestamp, signatures = parse_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise StaleTimestamp(f"timestamp is more than {tolerance} s away from the receiver's clock")
    expected = [_mac(s, timestamp, body) for s in usable]
    # Every pair is compared, in constant time each, so timing does not tell which entry came close.
    matched = False
    for candidate in signatures:
        well_formed = len(candidate) == 64 and set(candidate) <= _HEX_DIGITS
        for mac in expected:
            matched |= hmac.compare_digest(mac, candidate if well_formed else "0" * 64) and well_formed
    if not matched:
        raise SignatureMismatch("no signature matches the body with a current secret")
    return timestamp
