"""Retrying HTTP over httpx, shared by the PayTrace, Oracle and Sage clients.

What is retried, and why:

- 429, 500, 502, 503, 504 (configurable) and transport failures (connect/read/write timeouts, dropped
  connections, protocol errors): all are transient on the APIs PaySync talks to.
- ``Retry-After`` (delta-seconds or HTTP-date) wins over the computed backoff: the server knows
  better than our formula when it will have capacity again. It is capped so that a bogus header
  cannot park a run for hours.
- A failure *after the request may have reached the server* (read timeout, connection dropped
  while waiting for the answer, 500/502/504) is retried only if the caller says the request is
  safe to repeat. For a payment write the caller says no, and gets :class:`OutcomeUnknown`: the
  charge may or may not exist, and only a look-up can tell. Failures where the server provably did
  not act (connection refused, 429, 503) are retried for every request.

Logging goes through :mod:`logging` (logger ``paysync.http``) and names method, path (never the
query string), status, attempt and wait. Bodies and headers are never logged: they carry card
numbers, passwords and tokens.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger("paysync.http")

# httpx logs every request at INFO with the full URL, query string included (where Oracle and Sage
# filters, and elsewhere tokens, can live). PaySync logs its own sanitized line instead, so httpx is
# quieted to WARNING unless the application configured that logger explicitly.
if logging.getLogger("httpx").level == logging.NOTSET:
    logging.getLogger("httpx").setLevel(logging.WARNING)

#: connect 5 s, read 30 s, write 30 s, pool 5 s: explicit, because httpx's default (5 s for
#: everything) is too short for a day's export and too long to notice a dead host.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)

RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})

#: Statuses by which a server says it did not act on the request (RFC 9110 §15.5.20 / §15.6.4 and
#: RFC 6585 §4), so even a non-idempotent request may be sent again.
NOT_PROCESSED_STATUSES: frozenset[int] = frozenset({429, 503})

# The request never left this machine: safe to retry whatever the method.
_NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have been received and acted on; the answer was lost.
_MAYBE_RECEIVED_ERRORS: tuple[type[Exception], ...] = (
    httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError,
)

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait.

    The wait before attempt ``n + 1`` is ``min(max_delay_s, base_delay_s * 2 ** (n - 1))`` reduced
    by a random fraction of up to ``jitter`` (drawn from ``rng``). With ``jitter <= 0.5`` each wait
    is at least the longest possible previous one until the cap is reached, yet clients that failed
    together spread out instead of retrying in lockstep.
    """

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    not_processed_statuses: frozenset[int] = NOT_PROCESSED_STATUSES
    max_retry_after_s: float = 120.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("delays must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return delay * (1 - self.jitter * self.rng.random())


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (a Unix time), or None if absent or unreadable.

    Both forms of RFC 9110 §10.2.3: delta-seconds (``"120"``) and an HTTP-date. A date in the past
    means "now" (0 s).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:  # RFC dates are always GMT; a naive one is garbage
        return None
    return max(0.0, moment.timestamp() - now)


@dataclass(frozen=True)
class Attempt:
    """One finished attempt, as given to the progress callback."""

    method: str
    path: str
    attempt: int
    max_attempts: int
    status: int | None  # None when no answer arrived
    error: str | None  # exception class name when no answer arrived
    wait_s: float | None  # seconds until the next attempt; None when this was the last


class HttpRetryError(Exception):
    """Base of the errors raised by :class:`RetryingClient`; carries no body and no query string."""

    def __init__(self, message: str, *, method: str, path: str, attempts: int, status: int | None = None):
        self.method = method
        self.path = path
        self.attempts = attempts
        self.status = status
        super().__init__(message)


class RetriesExhausted(HttpRetryError):
    """Every attempt failed with a retryable status or a transport error.

    ``response`` is the last answer when there was one (its body is there for callers that want it,
    never in the message).
    """

    def __init__(self, message: str, *, method: str, path: str, attempts: int, status: int | None = None,
                 response: httpx.Response | None = None):
        super().__init__(message, method=method, path=path, attempts=attempts, status=status)
        self.response = response


class OutcomeUnknown(HttpRetryError):
    """The request may have been acted on, no answer arrived, and the caller forbade a blind retry."""


def is_idempotent(request: httpx.Request) -> bool:
    """Default retry hook: RFC 9110 idempotent methods may be repeated after an uncertain failure."""
    return request.method.upper() in _IDEMPOTENT_METHODS


class RetryingClient:
    """Sends requests through an ``httpx.Client`` with backoff, jitter and ``Retry-After``.

    ``may_retry_uncertain`` is the hook that decides, per request, whether a request that may have
    been received may be sent again; ``send(..., retry_uncertain=...)`` overrides it per call.
    ``sleep`` and ``wall_clock`` are injectable so that tests record waits instead of waiting.
    """

    def __init__(
        self,
        client: httpx.Client,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        may_retry_uncertain: Callable[[httpx.Request], bool] = is_idempotent,
        on_attempt: Callable[[Attempt], None] | None = None,
        logger: logging.Logger = log,
    ):
        self.client = client
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.wall_clock = wall_clock
        self.may_retry_uncertain = may_retry_uncertain
        self.on_attempt = on_attempt
        self.log = logger

    def request(self, method: str, url: str, *, retry_uncertain: bool | None = None, **kwargs: Any) -> httpx.Response:
        """Build a request on the wrapped client (``json=``, ``data=``, ``headers=`` ...) and send it."""
        return self.send(self.client.build_request(method, url, **kwargs), retry_uncertain=retry_uncertain)

    def send(self, request: httpx.Request, *, retry_uncertain: bool | None = None) -> httpx.Response:
        """Send ``request`` until it gets a non-retryable answer, which is returned whatever its status.

        Raises :class:`RetriesExhausted` after ``max_attempts`` and :class:`OutcomeUnknown` when a
        possibly-received request may not be repeated. Other httpx errors (bad URL, ...) propagate.
        """
        policy = self.policy
        method, path = request.method, request.url.path  # never the query: it may carry secrets
        may_repeat = self.may_retry_uncertain(request) if retry_uncertain is None else retry_uncertain
        for attempt in range(1, policy.max_attempts + 1):
            last = attempt == policy.max_attempts
            try:
                response = self.client.send(request)
            except _NOT_SENT_ERRORS + _MAYBE_RECEIVED_ERRORS as exc:
                kind = type(exc).__name__
                if isinstance(exc, _MAYBE_RECEIVED_ERRORS) and not may_repeat:
                    self._report(method, path, attempt, None, kind, None, logging.WARNING, "not retried: outcome unknown")
                    raise OutcomeUnknown(
                        f"{method} {path}: {kind} after the request may have been received; not retried",
                        method=method, path=path, attempts=attempt,
                    ) from exc
                if last:
                    self._report(method, path, attempt, None, kind, None, logging.WARNING, "giving up")
                    raise RetriesExhausted(
                        f"{method} {path}: {kind} on each of {attempt} attempts", method=method, path=path,
                        attempts=attempt,
                    ) from exc
                wait = policy.backoff(attempt)
                self._report(method, path, attempt, None, kind, wait, logging.WARNING, "retrying")
                self.sleep(wait)
                continue

            status = response.status_code
            if status not in policy.retry_statuses:
                self._report(method, path, attempt, status, None, None, logging.INFO, "done")
                return response
            if status not in policy.not_processed_statuses and not may_repeat:
                self._report(method, path, attempt, status, None, None, logging.WARNING, "not retried: outcome unknown")
                raise OutcomeUnknown(
                    f"{method} {path}: HTTP {status} after the request was received; not retried",
                    method=method, path=path, attempts=attempt, status=status,
                )
            if last:
                self._report(method, path, attempt, status, None, None, logging.WARNING, "giving up")
                raise RetriesExhausted(
                    f"{method} {path}: HTTP {status} on attempt {attempt} of {attempt}", method=method, path=path,
                    attempts=attempt, status=status, response=response,
                )
            wait = self._wait_for(response, attempt)
            self._report(method, path, attempt, status, None, wait, logging.WARNING, "retrying")
            self.sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises on its last attempt")

    def _wait_for(self, response: httpx.Response, attempt: int) -> float:
        after = parse_retry_after(response.headers.get("Retry-After"), now=self.wall_clock())
        if after is None:
            return self.policy.backoff(attempt)
        return min(after, self.policy.max_retry_after_s)

    def _report(self, method: str, path: str, attempt: int, status: int | None, error: str | None,
                wait: float | None, level: int, outcome: str) -> None:
        what = f"HTTP {status}" if status is not None else error
        suffix = f" in {wait:.2f}s" if wait is not None else ""
        self.log.log(level, "%s %s -> %s (attempt %d/%d): %s%s", method, path, what, attempt,
                     self.policy.max_attempts, outcome, suffix)
        if self.on_attempt is not None:
            self.on_attempt(Attempt(method, path, attempt, self.policy.max_attempts, status, error, wait))


def build_client(base_url: str, *, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None, headers: dict[str, str] | None = None) -> httpx.Client:
    """An ``httpx.Client`` with PaySync's defaults: explicit timeouts, no redirects, no env proxies.

    ``trust_env=False`` so that a stray ``HTTP_PROXY`` or ``.netrc`` on a worker cannot reroute or
    add credentials to payment traffic; ``follow_redirects=False`` because a redirected POST would
    silently change meaning.
    """
    if not isinstance(timeout, httpx.Timeout):
        timeout = httpx.Timeout(float(timeout))
    return httpx.Client(base_url=base_url, timeout=timeout, transport=transport, headers=headers,
                        follow_redirects=False, trust_env=False)
