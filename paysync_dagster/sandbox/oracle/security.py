"""Authentication of the Oracle sandbox: HTTP Basic with a Fusion user, and OAuth bearer tokens from
the identity domain's ``/oauth2/v1/token`` (JWT-bearer user assertion, spec §1.4).

Token endpoint checks, in order: client authentication (HTTP Basic ``client_id:client_secret``,
else 401 ``invalid_client``), ``grant_type`` (the JWT-bearer URN, else 400 ``unsupported_grant_type``),
``assertion`` present (else 400 ``invalid_request``), then the assertion: RS256 signature against the
configured public key or certificate, ``iss`` = the authenticated client id, ``sub`` (or ``prn``) = a
known Fusion user, ``aud`` naming one of the expected audiences, ``exp`` in the future and ``iat`` not
in the future (30 s leeway), lifetime at most an hour; any failure is 400 ``invalid_grant``. The
access token issued is itself a JWT (HS256 with a per-sandbox secret) carrying the user, the expiry
and the sandbox's token generation, so ``expire_tokens`` invalidates every token issued before it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from paysync_dagster.lib.oracle.auth import (DEFAULT_AUDIENCE, JWT_BEARER, JwtError, b64url, decode_unverified,
                                             load_public_key, verify_rs256)

from .state import OracleState

LEEWAY_S = 30
MAX_ASSERTION_LIFETIME_S = 3600


@dataclass(frozen=True)
class OAuthServerConfig:
    """The confidential application registered in the identity domain, as the sandbox knows it."""

    client_id: str
    client_secret: str = field(repr=False)
    public_key_pem: str = field(repr=False)  # public key or certificate PEM uploaded to the app
    audience: tuple[str, ...] = DEFAULT_AUDIENCE
    token_ttl_s: int = 3600
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def check_basic(users: Mapping[str, str], header: str | None) -> str | None:
    """The user name when ``header`` carries valid Basic credentials, else None."""
    creds = _basic(header)
    if creds is None:
        return None
    expected = users.get(creds[0])
    return creds[0] if expected is not None and hmac.compare_digest(expected.encode(), creds[1].encode()) else None


def _hs256(state: OracleState, signing_input: str) -> str:
    return b64url(hmac.new(state.token_secret, signing_input.encode("ascii"), hashlib.sha256).digest())


def issue_token(state: OracleState, user: str, scope: str, ttl_s: int, now: float) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": user, "scope": scope, "iat": int(now), "exp": int(now) + ttl_s,
                                "gen": state.token_generation, "jti": secrets.token_hex(8)}).encode())
    return f"{header}.{claims}.{_hs256(state, f'{header}.{claims}')}"


def check_bearer(state: OracleState, header: str | None, now: float) -> str | None:
    """The user of a valid, unexpired bearer token of this sandbox's current generation, else None."""
    if not header or not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    signing_input, _, signature = token.rpartition(".")
    if not signing_input or not hmac.compare_digest(signature, _hs256(state, signing_input)):
        return None
    try:
        _, claims = decode_unverified(token)
    except JwtError:
        return None
    if claims.get("gen") != state.token_generation or float(claims.get("exp", 0)) <= now:
        return None
    user = claims.get("sub")
    return user if isinstance(user, str) and user in state.users else None


def _oauth_error(status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": description}


def token_endpoint(state: OracleState, config: OAuthServerConfig | None, authorization: str | None,
                   content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for ``POST /oauth2/v1/token``."""
    if config is None:
        return _oauth_error(400, "unauthorized_client", "OAuth is not configured on this sandbox.")
    client = _basic(authorization)
    if client is None or client[0] != config.client_id or \
            not hmac.compare_digest(client[1].encode(), config.client_secret.encode()):
        return _oauth_error(401, "invalid_client", "Client authentication failed.")
    if "application/x-www-form-urlencoded" not in content_type.lower():
        return _oauth_error(400, "invalid_request", "The token request must be form-encoded.")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if form.get("grant_type") != JWT_BEARER:
        return _oauth_error(400, "unsupported_grant_type", "Only the JWT-bearer user assertion grant is supported.")
    assertion = form.get("assertion")
    if not assertion:
        return _oauth_error(400, "invalid_request", "The assertion parameter is missing.")
    now = config.clock()
    try:
        header, claims = verify_rs256(assertion, load_public_key(config.public_key_pem))
    except JwtError as exc:
        return _oauth_error(400, "invalid_grant", f"The user assertion is invalid: {exc}.")
    user = claims.get("sub") or claims.get("prn")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
    problems = []
    if claims.get("iss") != config.client_id:
        problems.append("iss is not the authenticated client")
    if not isinstance(user, str) or user not in state.users:
        problems.append("sub is not a known user")
    if not set(audiences) & set(config.audience):
        problems.append("aud does not name this identity domain")
    exp, iat = claims.get("exp"), claims.get("iat", now)
    if not isinstance(exp, (int, float)) or exp <= now - LEEWAY_S:
        problems.append("the assertion has expired")
    elif not isinstance(iat, (int, float)) or iat > now + LEEWAY_S or exp - iat > MAX_ASSERTION_LIFETIME_S:
        problems.append("iat is in the future or the lifetime is too long")
    if problems:
        return _oauth_error(400, "invalid_grant", f"The user assertion is invalid: {'; '.join(problems)}.")
    scope = form.get("scope", "")
    with state.lock:
        token = issue_token(state, str(user), scope, config.token_ttl_s, now)
        state.count("tokens_issued")
    return 200, {"access_token": token, "token_type": "Bearer", "expires_in": config.token_ttl_s}


__all__ = ["OAuthServerConfig", "check_basic", "check_bearer", "issue_token", "token_endpoint"]
