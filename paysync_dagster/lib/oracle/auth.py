"""OAuth 2.0 for Oracle Fusion through the OCI IAM identity domain: the JWT user assertion (spec §1.4).

The client signs a JWT with its RSA private key (RS256, built here with ``cryptography``; no JWT
library) and exchanges it at ``/oauth2/v1/token`` with the JWT-bearer grant, authenticating itself
with HTTP Basic ``client_id:client_secret``::

    header  {"alg": "RS256", "typ": "JWT", "kid": <key alias>, "x5t": .., "x5t#S256": ..}
    claims  {"iss": client_id, "sub": user, "prn": user, "aud": ["oauth.idm.oracle.com",
             "https://identity.oraclecloud.com/"], "iat", "exp", "jti", "user.tenant.name"?}
    form    grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&scope=<scope>&assertion=<jwt>

:class:`TokenCache` keeps the access token until ``token_margin_s`` (at most a tenth of its
lifetime) before ``expires_in``. Verification helpers (``verify_rs256``) are here too, for the
sandbox's token endpoint. Nothing in this module logs; keys and secrets never appear in a repr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# cryptography is imported inside the functions that sign or verify, not here: only OAuth needs it, and
# this module is imported by every code-location load and run worker (start-up time of every run).
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_AUDIENCE = ("oauth.idm.oracle.com", "https://identity.oraclecloud.com/")
DEFAULT_SCOPE = "urn:opc:resource:consumer::all"
TOKEN_PATH = "/oauth2/v1/token"


class JwtError(ValueError):
    """A JWT that cannot be read, is not RS256, or whose signature does not verify."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise JwtError("not base64url") from exc


def _json_segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":"), sort_keys=False).encode())


def load_private_key(pem: str | bytes, password: bytes | None = None) -> rsa.RSAPrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=password)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the Oracle JWT assertion needs an RSA private key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """A public key PEM or an X.509 certificate PEM (what is uploaded to the confidential app)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    data = pem.encode() if isinstance(pem, str) else pem
    key = x509.load_pem_x509_certificate(data).public_key() if b"CERTIFICATE" in data \
        else serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("expected an RSA public key")
    return key


def certificate_thumbprints(certificate_pem: str | bytes) -> dict[str, str]:
    """``x5t`` (SHA-1) and ``x5t#S256`` of a certificate, for the JWT header."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
    der = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return {"x5t": b64url(hashlib.sha1(der).digest()), "x5t#S256": b64url(hashlib.sha256(der).digest())}  # noqa: S324


def sign_rs256(header: dict[str, Any], claims: dict[str, Any], private_key: rsa.RSAPrivateKey) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = f"{_json_segment({**header, 'alg': 'RS256'})}.{_json_segment(claims)}"
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("a JWT has three dot-separated parts")
    try:
        header, claims = json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwtError("header or claims are not JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("header and claims must be JSON objects")
    return header, claims


def verify_rs256(token: str, public_key: rsa.RSAPublicKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT whose RS256 signature verifies; raises :class:`JwtError` otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header, claims = decode_unverified(token)
    if header.get("alg") != "RS256":
        raise JwtError(f"unsupported alg {header.get('alg')!r}; expected RS256")
    signing_input, _, signature = token.rpartition(".")
    try:
        public_key.verify(b64url_decode(signature), signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise JwtError("signature does not verify") from exc
    return header, claims


@dataclass(frozen=True)
class OAuthSettings:
    """What the JWT user-assertion flow needs. ``private_key_pem`` comes from the environment."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    username: str
    private_key_pem: str = field(repr=False)
    scope: str = DEFAULT_SCOPE
    audience: tuple[str, ...] = DEFAULT_AUDIENCE
    key_id: str | None = None
    certificate_pem: str | None = field(default=None, repr=False)
    tenant_name: str | None = None
    assertion_lifetime_s: int = 300
    private_key_password: bytes | None = field(default=None, repr=False)


def build_user_assertion(settings: OAuthSettings, *, now: float | None = None, jti: str | None = None,
                         private_key: rsa.RSAPrivateKey | None = None) -> str:
    """The signed user assertion (claims per Oracle's Fusion CoE blog, spec §1.4)."""
    issued = int(time.time() if now is None else now)
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if settings.key_id:
        header["kid"] = settings.key_id
    if settings.certificate_pem:
        header.update(certificate_thumbprints(settings.certificate_pem))
    claims: dict[str, Any] = {
        "iss": settings.client_id, "sub": settings.username, "prn": settings.username,
        "aud": list(settings.audience), "iat": issued, "exp": issued + settings.assertion_lifetime_s,
        "jti": jti or str(uuid.uuid4()),
    }
    if settings.tenant_name:
        claims["user.tenant.name"] = settings.tenant_name
    key = private_key or load_private_key(settings.private_key_pem, settings.private_key_password)
    return sign_rs256(header, claims, key)


def basic_credentials(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


@dataclass
class Token:
    access_token: str = field(repr=False)
    expires_in: float
    valid_until: float  # on the cache's clock


class TokenCache:
    """One cached access token, fetched through ``fetch`` when absent or about to expire; thread-safe.

    ``fetch`` returns the token answer (``access_token``, ``expires_in``); ``clock`` is monotonic.
    """

    def __init__(self, fetch: Callable[[], dict[str, Any]], *, clock: Callable[[], float] = time.monotonic,
                 margin_s: float = 60.0):
        self._fetch = fetch
        self._clock = clock
        self._margin_s = margin_s
        self._lock = threading.Lock()
        self._token: Token | None = None
        self.fetches = 0

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._token.valid_until:
                started = self._clock()
                answer = self._fetch()
                expires_in = float(answer["expires_in"])
                margin = min(self._margin_s, expires_in * 0.1)
                self._token = Token(str(answer["access_token"]), expires_in, started + expires_in - margin)
                self.fetches += 1
            return self._token.access_token

    def forget(self) -> None:
        with self._lock:
            self._token = None
