"""Sage 300 Web API client: customers, posted documents, receipt batches and their posting, GL, OE
(spec ``sage300_webapi.md``; §2 and §5 are the contract).

The wire belongs here:

- ``base_url`` is everything before the company (``https://host/Sage300WebApi/v1.0/-``); every path
  is ``{base_url}/{company}/{MODULE}/{Resource}``.
- HTTP Basic on every request and ``Content-Type: application/json`` on every request, GET included
  (Sage answers 500 without it). The server's cookie session is kept (``httpx.Client`` stores the
  cookies) and reused; when it expires (a 401 on a request that carried a session cookie) the cookies
  are dropped and the request is sent once more with Basic alone (a 401 means nothing was done).
- Entity keys per §2.1 (:func:`entity_key`): strings quoted with ``''`` escaping, numbers bare,
  composite keys with every segment named.
- Collections (:meth:`Sage300Client.iter_rows` / :meth:`~Sage300Client.list`) follow
  ``@odata.nextLink`` to the end and never assume a page size. A next link may drop the query (§5):
  what it dropped (``$filter``, ``$select``, ``$orderby``) is put back, a structured filter
  (:func:`eq`, :func:`and_`, ...) is re-checked on every row client-side, and ``top`` is counted
  here. The link is followed on the configured host only (credentials never go where an answer points).
- Bodies: JSON written by a Decimal-aware encoder (:func:`dumps`), so amounts are exact JSON numbers
  (``money.to_decimal(minor)`` -> ``12.30``), property order kept (Sage applies fields in body order),
  dates ISO. Answers are read with ``parse_float=Decimal``.

Retries go through :class:`~paysync_dagster.lib.http.RetryingClient`. Reads and idempotent PATCHes
(status, customer fields) are retried on transport errors, 429, 5xx. Creates, entry inserts and
``$process`` calls are not repeated once they may have reached Sage: a timeout or dropped connection
after sending, or a 5xx answer, raises :class:`~.errors.SageOutcomeUnknown` (with Sage's code when the
answer had one), which the posting ledger resolves by looking up (:meth:`Sage300Client.find_receipt_entries`).
429 and 503 are retried for every request (Sage did not act). Bodies, passwords and query strings are
never logged or put into exception messages.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

import httpx

from paysync_dagster.lib import money
from paysync_dagster.lib.http import (
    DEFAULT_TIMEOUT,
    Attempt,
    OutcomeUnknown,
    RetriesExhausted,
    RetryingClient,
    RetryPolicy,
    build_client,
)
from paysync_dagster.lib.sage.errors import (
    SESSION_ERROR,
    SageAmbiguousMatch,
    SageNotFound,
    SageOutcomeUnknown,
    SageResponseError,
    SageTransportError,
    error_for,
    parse_error_body,
)
from paysync_dagster.lib.sage.records import (
    Page,
    ReceiptBatch,
    ReceiptEntry,
    parse_date,
    parse_flag,
    parse_page,
    parse_posted_receipt,
    parse_receipt_batch,
)

log = logging.getLogger("paysync.sage")

Json = dict[str, Any]

# -- resources (§0 table, §2.4) ------------------------------------------------------------------------------------

CUSTOMERS = "AR/ARCustomers"
POSTED_DOCUMENTS = "AR/ARPostedDocuments"
INVOICE_BATCHES = "AR/ARInvoiceBatches"
RECEIPT_BATCHES = "AR/ARReceiptAndAdjustmentBatches"
POSTED_RECEIPTS = "AR/ARPostedReceipts"
REFUND_BATCHES = "AR/ARRefundBatches"
POST_INVOICES = "AR/ARPostInvoices"
POST_RECEIPTS = "AR/ARPostReceiptsAndAdjustments"
POST_REFUNDS = "AR/ARPostRefunds"
CREATE_GL_BATCH = "AR/ARCreateGLBatch"
GL_ACCOUNTS = "GL/GLAccounts"
GL_JOURNAL_BATCHES = "GL/GLJournalBatches"
OE_ORDERS = "OE/OEOrders"

CASH = "CA"  # BatchRecordType of receipt batches
ADJUSTMENTS = "AD"
RECEIPT = "Receipt"
PREPAYMENT = "Prepayment"
APPLY_DOCUMENT = "ApplyDocument"
OPEN = "Open"
READY_TO_POST = "ReadyToPost"
INSERT = "Insert"  # UpdateOperation of a detail row in a PATCH

_JSON = "application/json"


# -- JSON out --------------------------------------------------------------------------------------------------------

def dumps(value: Any) -> bytes:
    """JSON for Sage: Decimal as an exact JSON number (``Decimal("12.30")`` -> ``12.30``), dates as
    ``YYYY-MM-DD``, aware datetimes in UTC with ``Z``; dict order kept. NaN and infinities refused."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("not a finite amount")
        return format(value, "f")
    if isinstance(value, float):
        return json.dumps(value, allow_nan=False)
    if isinstance(value, datetime):
        return json.dumps(iso_datetime(value))
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def iso_datetime(value: datetime) -> str:
    """``2026-04-01T00:00:00Z``: aware datetimes converted to UTC, naive ones taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"


def amount(minor_units: int, currency: str = "USD") -> Decimal:
    """Integer minor units as the exact decimal Sage takes (``1230`` -> ``Decimal("12.30")``)."""
    return money.to_decimal(minor_units, currency)


# -- OData literals, keys and filters ----------------------------------------------------------------------------------

def odata_literal(value: Any) -> str:
    """A literal for ``$filter`` and keys: strings quoted (``'`` doubled), numbers and booleans bare,
    dates and datetimes as bare ISO (``2026-04-01T00:00:00Z``, the form of Sage's Postman collection)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("not a finite number")
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    return "'" + str(value).replace("'", "''") + "'"


_KEY_SAFE = "'(),=-_.~!*@:$"


def entity_key(key: Any) -> str:
    """``('1200')``, ``(66)``, ``(BatchRecordType='CA',BatchNumber=65)`` (URL-encoded inside literals).

    ``key`` is a single value or a mapping of segment names to values (every segment, in metadata order).
    """
    if isinstance(key, Mapping):
        if not key:
            raise ValueError("an empty composite key")
        inner = ",".join(f"{name}={odata_literal(v)}" for name, v in key.items())
    else:
        inner = odata_literal(key)
    return "(" + quote(inner, safe=_KEY_SAFE) + ")"


class Filter:
    """A ``$filter`` expression that renders itself and checks a row in Python (for answers whose next
    link dropped the query). Combine with ``&`` and ``|`` or :func:`and_` / :func:`or_`."""

    def render(self) -> str:
        raise NotImplementedError

    def matches(self, row: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def fields(self) -> tuple[str, ...]:
        raise NotImplementedError

    def __and__(self, other: Filter) -> Filter:
        return and_(self, other)

    def __or__(self, other: Filter) -> Filter:
        return or_(self, other)

    def __str__(self) -> str:
        return self.render()


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}


@dataclass(frozen=True)
class Comparison(Filter):
    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown operator {self.op!r}")
        if not self.field.replace("/", "").isidentifier():
            raise ValueError(f"not a property name: {self.field!r}")

    def render(self) -> str:
        return f"{self.field} {self.op} {odata_literal(self.value)}"

    def fields(self) -> tuple[str, ...]:
        return (self.field,)

    def matches(self, row: Mapping[str, Any]) -> bool:
        """True when the row satisfies the comparison; a row without the property cannot be checked and passes."""
        if self.field not in row:
            return True
        actual = row[self.field]
        if self.value is None or actual is None:
            return _OPS[self.op](actual, self.value) if self.op in ("eq", "ne") else False
        try:
            left, right = _comparable(actual, self.value)
        except (ValueError, ArithmeticError, SageResponseError):
            return self.op == "ne"
        try:
            return _OPS[self.op](left, right)
        except TypeError:
            return self.op == "ne"


def _comparable(actual: Any, wanted: Any) -> tuple[Any, Any]:
    if isinstance(wanted, bool) or isinstance(actual, bool):  # FullyPaid: 'No' / '0' / false
        return parse_flag(actual), parse_flag(wanted)
    if isinstance(wanted, (int, float, Decimal)):
        return Decimal(str(actual)), Decimal(str(wanted))
    if isinstance(wanted, datetime):
        text = str(actual).strip().replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        target = wanted if wanted.tzinfo else wanted.replace(tzinfo=timezone.utc)
        return moment, target
    if isinstance(wanted, date):
        return parse_date(actual), wanted
    return str(actual).rstrip(), str(wanted).rstrip()


@dataclass(frozen=True)
class _Junction(Filter):
    op: str
    parts: tuple[Filter, ...]

    def render(self) -> str:
        return f" {self.op} ".join(f"({p.render()})" if isinstance(p, _Junction) else p.render() for p in self.parts)

    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for p in self.parts for f in p.fields()))

    def matches(self, row: Mapping[str, Any]) -> bool:
        results = (p.matches(row) for p in self.parts)
        return all(results) if self.op == "and" else any(results)


def eq(field: str, value: Any) -> Comparison:
    return Comparison(field, "eq", value)


def ne(field: str, value: Any) -> Comparison:
    return Comparison(field, "ne", value)


def gt(field: str, value: Any) -> Comparison:
    return Comparison(field, "gt", value)


def ge(field: str, value: Any) -> Comparison:
    return Comparison(field, "ge", value)


def lt(field: str, value: Any) -> Comparison:
    return Comparison(field, "lt", value)


def le(field: str, value: Any) -> Comparison:
    return Comparison(field, "le", value)


def and_(*parts: Filter | None) -> Filter:
    kept = tuple(p for p in parts if p is not None)
    if not kept:
        raise ValueError("and_ of nothing")
    return kept[0] if len(kept) == 1 else _Junction("and", kept)


def or_(*parts: Filter | None) -> Filter:
    kept = tuple(p for p in parts if p is not None)
    if not kept:
        raise ValueError("or_ of nothing")
    return kept[0] if len(kept) == 1 else _Junction("or", kept)


def _query(params: Iterable[tuple[str, str]]) -> str:
    # '$' stays literal in option names (as OData clients write them); values are percent-encoded
    # with %20 for spaces, quotes and the characters of ISO datetimes kept readable.
    return "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(39) + ',:()$')}" for k, v in params)


# -- what PaySync sends ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewApplication:
    """An ``AppliedReceiptsAdjustments`` line: apply ``amount_minor`` to an invoice's installment."""

    document_number: str
    amount_minor: int
    payment_number: int = 1
    discount_minor: int = 0

    def to_json(self, currency: str = "USD") -> Json:
        body: Json = {"DocumentNumber": self.document_number, "PaymentNumber": self.payment_number,
                      "CustomerReceiptAmount": amount(self.amount_minor, currency)}
        if self.discount_minor:
            body["CustomerDiscountAmountTaken"] = amount(self.discount_minor, currency)
        return body


@dataclass(frozen=True)
class NewReceipt:
    """A ``ReceiptsAdjustments`` entry: a ``Receipt`` applied to invoices (``applications``; what is not
    applied stays unapplied on the receipt) or a ``Prepayment`` (cash on account).

    ``check_receipt_number`` carries PaySync's deterministic reference (the PayTrace transaction):
    it is what finds the receipt again after a lost answer. ``extra`` fields (e.g. the card fields
    ``TransactionID``, ``AuthorizationCode``, ``Last4``) are appended after the standard ones."""

    customer_number: str
    amount_minor: int
    receipt_date: date
    check_receipt_number: str
    transaction_type: str = RECEIPT
    applications: tuple[NewApplication, ...] = ()
    description: str = ""
    reference: str = ""
    payment_code: str | None = None
    currency: str = "USD"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Json:
        body: Json = {"CustomerNumber": self.customer_number, "ReceiptDateAdjustmentDate": self.receipt_date,
                      "CheckReceiptNumber": self.check_receipt_number}
        if self.description:
            body["EntryDescription"] = self.description
        if self.reference:
            body["EntryReference"] = self.reference
        if self.payment_code:
            body["PaymentCode"] = self.payment_code
        total = amount(self.amount_minor, self.currency)
        body["BankReceiptAmount"] = total
        body["CustomerReceiptAmount"] = total
        body["ReceiptTransactionType"] = self.transaction_type
        if self.applications:
            body["AppliedReceiptsAdjustments"] = [a.to_json(self.currency) for a in self.applications]
        body.update(self.extra)
        return body


@dataclass(frozen=True)
class NewRefund:
    """A ``Refunds`` entry of an ``ARRefundBatches`` batch: pays back ``lines`` (posted credit document
    number, amount in minor units) to the customer. Refund fields were not in the public material
    (spec §0): these names follow the receipt entry's, as the sandbox does."""

    customer_number: str
    document_date: date
    lines: tuple[tuple[str, int], ...]
    check_number: str = ""
    description: str = ""
    reference: str = ""
    payment_code: str | None = None
    currency: str = "USD"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Json:
        body: Json = {"CustomerNumber": self.customer_number, "DocumentDate": self.document_date}
        if self.description:
            body["EntryDescription"] = self.description
        if self.reference:
            body["EntryReference"] = self.reference
        if self.check_number:
            body["CheckNumber"] = self.check_number
        if self.payment_code:
            body["PaymentCode"] = self.payment_code
        body["RefundDetails"] = [{"DocumentNumber": doc, "CustomerRefundAmount": amount(minor_units, self.currency)}
                                 for doc, minor_units in self.lines]
        body.update(self.extra)
        return body


def _entry_json(entry: NewReceipt | NewRefund | Mapping[str, Any]) -> Json:
    return entry.to_json() if isinstance(entry, (NewReceipt, NewRefund)) else dict(entry)


@dataclass(frozen=True)
class FoundReceipt:
    """Where a receipt with a given ``CheckReceiptNumber`` is: in an unposted batch (``entry`` set) or posted (``posted`` set)."""

    check_receipt_number: str
    batch_number: int | None
    entry_number: int | None
    batch_status: str | None
    entry: ReceiptEntry | None = None
    posted: Json | None = None


# -- the client ------------------------------------------------------------------------------------------------------

class Sage300Client:
    """One Sage 300 company over the Web API.

    ``base_url``: everything before the company, e.g. ``https://sage.example.com/Sage300WebApi/v1.0/-``;
    ``company``: the Sage org id (``SAMLTD``); ``username``/``password``: a Sage 300 user with Web API
    access (Sage wants the user name in upper case; an empty password when security is off).
    """

    def __init__(
        self,
        base_url: str,
        company: str,
        username: str,
        password: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        on_attempt: Callable[[Attempt], None] | None = None,
    ):
        if not company:
            raise ValueError("company is required (the Sage org id, e.g. SAMLTD)")
        if not username:
            raise ValueError("username is required")
        parts = urlsplit(base_url.strip().rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http(s) URL up to the company, e.g. https://host/Sage300WebApi/v1.0/-")
        self.company = company
        self._username = username
        self._auth = "Basic " + base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
        self._service_path = parts.path.rstrip("/")
        self._root = f"{self._service_path}/{quote(company, safe='')}"
        self._http = build_client(f"{parts.scheme}://{parts.netloc}", timeout=timeout, transport=transport)
        policy = retry or RetryPolicy()
        # First passes (and writes that may not be repeated) get an answer back for every status but
        # the "did not act" ones (429, 503): a 5xx keeps Sage's code (SageOutcomeUnknown, SessionError).
        write_policy = dataclasses.replace(policy, retry_statuses=policy.retry_statuses & policy.not_processed_statuses)
        common = {"sleep": sleep, "wall_clock": wall_clock, "on_attempt": on_attempt}
        self._policy = policy
        self._sleep = sleep
        self._once = RetryingClient(self._http, write_policy, **common)
        # what a repeatable request has left after a first pass that ended on a 5xx
        self._rest = RetryingClient(self._http, dataclasses.replace(policy, max_attempts=max(1, policy.max_attempts - 1)),
                                    **common)
        self.session_renewals = 0

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Sage300Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sage300Client(base_url={self.base_url!r}, company={self.company!r}, user={self._username!r})"

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/") + self._service_path

    @property
    def company_root(self) -> str:
        """The path of the company, ``/Sage300WebApi/v1.0/-/SAMLTD``."""
        return self._root

    def forget_session(self) -> None:
        """Drop the server's session cookie; the next request authenticates with Basic alone."""
        self._http.cookies.clear()

    @property
    def has_session(self) -> bool:
        return len(self._http.cookies) > 0

    # -- plumbing --------------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return self._rebase(path)
        if path.startswith("/"):
            return path
        return f"{self._root}/{path}"

    def _rebase(self, link: str) -> str:
        """A link the server gave, as a path on the configured host (under the configured company
        root when the link names the company), so that a proxy's internal host name or scheme in
        ``@odata.nextLink`` does not matter and credentials never leave the configured host."""
        parts = urlsplit(link)
        path = parts.path
        marker = f"/-/{self.company}/".lower()
        at = path.lower().find(marker)
        if at >= 0:
            path = f"{self._root}/{path[at + len(marker):]}"
        return path + (f"?{parts.query}" if parts.query else "")

    def request(self, method: str, path: str, *, body: Any = None, params: Sequence[tuple[str, str]] | None = None,
                retry_uncertain: bool | None = None) -> httpx.Response:
        """One call (``path`` relative to the company root, e.g. ``AR/ARCustomers``; an absolute path;
        or a link the server gave). Error statuses raise the :mod:`.errors` class of their Sage code.

        ``retry_uncertain`` (default: true for GET, false otherwise) says whether the request may be
        sent again after it may have reached Sage; when false, a failure after sending (a timeout, a
        dropped connection, a 5xx answer) raises :class:`SageOutcomeUnknown`.

        Session expiry: a request that carried the server's session cookie and was refused for its
        session (401, or 500 ``SessionError``: the request never reached the business layer) is sent
        once more without cookies, with Basic alone.
        """
        method = method.upper()
        may_repeat = (method in ("GET", "HEAD")) if retry_uncertain is None else retry_uncertain
        url = self._url(path)
        if params:
            url += ("&" if "?" in url else "?") + _query(params)
        content = dumps(body) if body is not None else None
        where = urlsplit(url).path
        headers = {"Authorization": self._auth, "Content-Type": _JSON, "Accept": _JSON}
        for renewed in (False, True):
            request = self._http.build_request(method, url, content=content, headers=headers)
            had_session = "cookie" in request.headers
            response = self._exchange(request, may_repeat=may_repeat)
            if had_session and not renewed and _session_refused(response):
                log.info("%s %s -> HTTP %s with a session cookie: session expired, authenticating again",
                         method, where, response.status_code)
                self.forget_session()
                self.session_renewals += 1
                continue
            break
        if response.status_code >= 400:
            if not may_repeat and response.status_code >= 500:
                parsed = parse_error_body(response.content, response.headers.get("content-type", ""))
                raise SageOutcomeUnknown(
                    f"{method} {where}: HTTP {response.status_code}"
                    + (f" {parsed.code}" if parsed.code else "")
                    + " after the request reached Sage; not retried. Sage may have committed it: look it up first.",
                    method=method, path=where, attempts=1, status=response.status_code, code=parsed.code,
                    sage_message=parsed.message)
            raise error_for(response.status_code, response.content, content_type=response.headers.get("content-type", ""),
                            method=method, path=where)
        return response

    def _exchange(self, request: httpx.Request, *, may_repeat: bool) -> httpx.Response:
        """Send with retries. The first pass retries only what Sage did not act on (429, 503, and for
        a repeatable request transport failures) and hands back any other 5xx, so that a session
        refusal is seen at once; a repeatable request that got another 5xx then gets the policy's
        remaining attempts (after one backoff)."""
        response = self._send(request, self._once, may_repeat)
        if may_repeat and response.status_code in self._policy.retry_statuses and not _session_refused(response) \
                and self._policy.max_attempts > 1:
            log.warning("%s %s -> HTTP %s (attempt 1/%d): retrying", request.method, request.url.path,
                        response.status_code, self._policy.max_attempts)
            self._sleep(self._policy.backoff(1))
            response = self._send(request, self._rest, may_repeat, earlier_attempts=1)
        return response

    def _send(self, request: httpx.Request, retrying: RetryingClient, may_repeat: bool, *,
              earlier_attempts: int = 0) -> httpx.Response:
        method, path = request.method, request.url.path
        try:
            return retrying.send(request, retry_uncertain=may_repeat)
        except OutcomeUnknown as exc:
            raise SageOutcomeUnknown(
                f"{exc}. Sage may have committed it: look it up before trying again.",
                method=method, path=path, attempts=exc.attempts + earlier_attempts, status=exc.status,
            ) from exc
        except RetriesExhausted as exc:
            attempts = exc.attempts + earlier_attempts
            if exc.response is not None:
                raise error_for(exc.response.status_code, exc.response.content,
                                content_type=exc.response.headers.get("content-type", ""), method=method, path=path,
                                attempts=attempts) from exc
            raise SageTransportError(str(exc), method=method, path=path, attempts=attempts,
                                     http_status=exc.status) from exc
        except httpx.HTTPError as exc:
            raise SageTransportError(f"{method} {path}: {type(exc).__name__}", method=method, path=path) from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Json:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        return _json(response, urlsplit(self._url(path)).path)

    # -- generic OData -------------------------------------------------------------------------------------------

    def get(self, path: str, params: Sequence[tuple[str, str]] | None = None) -> Json:
        return self._call("GET", path, params=params)

    def get_entity(self, entity_set: str, key: Any, *, select: Sequence[str] | str | None = None) -> Json:
        """One record by key (:func:`entity_key`); :class:`SageNotFound` when there is none."""
        params = [("$select", _names(select))] if select else None
        return self.get(f"{entity_set}{entity_key(key)}", params)

    def find_entity(self, entity_set: str, key: Any) -> Json | None:
        """One record by key, or None (RecordNotFound)."""
        try:
            return self.get_entity(entity_set, key)
        except SageNotFound:
            return None

    def page(self, path: str, params: Sequence[tuple[str, str]] | None = None) -> Page:
        return parse_page(self.get(path, params), path=urlsplit(self._url(path)).path)

    def iter_rows(self, path: str, *, filter: Filter | str | None = None, select: Sequence[str] | str | None = None,
                  orderby: Sequence[str] | str | None = None, top: int | None = None, skip: int | None = None,
                  ) -> Iterator[Json]:
        """Every row of a collection, following ``@odata.nextLink`` to the end.

        A next link that dropped ``$filter``/``$select``/``$orderby`` gets them back; rows are
        re-checked against a structured ``filter`` (a string filter is trusted to the server);
        ``top`` is counted here. The page size is the server's.
        """
        wanted: list[tuple[str, str]] = []
        if filter is not None:
            wanted.append(("$filter", filter.render() if isinstance(filter, Filter) else str(filter)))
        if select:
            names = _names(select).split(",")
            if isinstance(filter, Filter):
                names += [f for f in filter.fields() if f not in names]
            wanted.append(("$select", ",".join(names)))
        if orderby:
            wanted.append(("$orderby", _names(orderby)))
        first = list(wanted)
        if top is not None:
            if top <= 0:
                return
            first.append(("$top", str(top)))
        if skip:
            first.append(("$skip", str(skip)))
        check = filter.matches if isinstance(filter, Filter) else None
        url, params = path, first
        seen: set[str] = set()
        returned = 0
        while True:
            page = self.page(url, params)
            for row in page.value:
                if check is not None and not check(row):
                    continue
                yield row
                returned += 1
                if top is not None and returned >= top:
                    return
            if not page.next_link:
                return
            url, params = self._follow(page.next_link, self._url(url), wanted)
            if url in seen:
                raise SageResponseError("@odata.nextLink repeats a page already read", path=urlsplit(url).path)
            seen.add(url)

    def list(self, path: str, *, filter: Filter | str | None = None, select: Sequence[str] | str | None = None,
             orderby: Sequence[str] | str | None = None, top: int | None = None, skip: int | None = None) -> list[Json]:
        """Every row of a collection (see :meth:`iter_rows`)."""
        return [*self.iter_rows(path, filter=filter, select=select, orderby=orderby, top=top, skip=skip)]

    def _follow(self, link: str, current: str, wanted: Sequence[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
        """The next link on our host, with the query options it dropped put back (its own win)."""
        absolute = urljoin(f"{self._http.base_url}".rstrip("/") + current.split("?")[0], link)
        rebased = self._rebase(absolute)
        path, _, query = rebased.partition("?")
        have = parse_qsl(query, keep_blank_values=True)
        names = {k.lower() for k, _ in have}
        missing = [(k, v) for k, v in wanted if k.lower() not in names]
        params = have + missing
        return path + ("?" + _query(params) if params else ""), []

    def create(self, entity_set: str, body: Mapping[str, Any]) -> Json:
        """POST one record; the answer echoes it with the keys Sage generated. Not repeated after it may
        have reached Sage (:class:`SageOutcomeUnknown`)."""
        return self._call("POST", entity_set, body=body, retry_uncertain=False)

    def patch(self, entity_set: str, key: Any, body: Mapping[str, Any], *, repeatable: bool = True) -> Json:
        """PATCH a record (partial body). ``repeatable`` false for a PATCH that inserts detail rows."""
        return self._call("PATCH", f"{entity_set}{entity_key(key)}", body=body, retry_uncertain=repeatable)

    def process(self, process: str, body: Mapping[str, Any]) -> Json:
        """POST ``{process}('$process')``. Not repeated after it may have reached Sage."""
        return self._call("POST", f"{process}('$process')", body=body, retry_uncertain=False)

    def template(self, entity_set: str) -> Json:
        """POST ``{entity_set}('$template')``: a default-filled body (nothing is stored)."""
        return self._call("POST", f"{entity_set}('$template')", body={}, retry_uncertain=True)

    # -- customers -------------------------------------------------------------------------------------------------

    def list_customers(self, *, filter: Filter | str | None = None, select: Sequence[str] | str | None = None,
                       top: int | None = None) -> list[Json]:
        return self.list(CUSTOMERS, filter=filter, select=select, orderby="CustomerNumber", top=top)

    def get_customer(self, customer_number: str) -> Json:
        return self.get_entity(CUSTOMERS, customer_number)

    def find_customer(self, customer_number: str) -> Json | None:
        return self.find_entity(CUSTOMERS, customer_number)

    def create_customer(self, customer: Mapping[str, Any]) -> Json:
        """POST a customer (``CustomerNumber`` first); RecordDuplicate -> :class:`SageDuplicate`."""
        return self.create(CUSTOMERS, customer)

    def patch_customer(self, customer_number: str, changes: Mapping[str, Any]) -> Json:
        return self.patch(CUSTOMERS, customer_number, changes)

    # -- posted documents (open invoices) ------------------------------------------------------------------------

    def posted_document(self, customer_number: str, document_number: str) -> Json:
        return self.get_entity(POSTED_DOCUMENTS, {"CustomerNumber": customer_number, "DocumentNumber": document_number})

    def posted_documents(self, filter: Filter | str | None = None, *, select: Sequence[str] | str | None = None,
                         top: int | None = None) -> list[Json]:
        return self.list(POSTED_DOCUMENTS, filter=filter, select=select, orderby="DocumentNumber", top=top)

    def open_invoices(self, customer_number: str, *, document_type: str | None = "Invoice") -> list[Json]:
        """The customer's documents with something still due (``FullyPaid`` false), oldest first."""
        rows = self.posted_documents(and_(eq("CustomerNumber", customer_number), eq("FullyPaid", "No"),
                                          eq("DocumentType", document_type) if document_type else None))
        return sorted(rows, key=lambda r: (str(r.get("DueDate") or ""), str(r.get("DocumentNumber") or "")))

    def posted_documents_by_number(self, document_number: str) -> list[Json]:
        return self.posted_documents(eq("DocumentNumber", document_number))

    def posted_documents_by_order(self, order_number: str) -> list[Json]:
        return self.posted_documents(eq("OrderNumber", order_number))

    # -- receipt batches -----------------------------------------------------------------------------------------

    @staticmethod
    def receipt_batch_key(batch_number: int, batch_type: str = CASH) -> dict[str, Any]:
        return {"BatchRecordType": batch_type, "BatchNumber": int(batch_number)}

    def create_receipt_batch(self, *, batch_date: date, description: str, bank_code: str,
                             entries: Sequence[NewReceipt | Mapping[str, Any]], currency: str | None = None,
                             ready_to_post: bool = False, batch_type: str = CASH) -> Json:
        """POST a receipt batch with its entries (keys are Sage's: read ``BatchNumber`` and each entry's
        ``EntryNumber``/``DocumentNumber`` from the answer). ``ready_to_post`` sends ``BatchStatus``
        ReadyToPost with it (Sage 300 2021+). Outcome unknown after sending: look it up with
        :meth:`find_receipt_entries` (the day's open batches of ``description``)."""
        body: Json = {"BatchRecordType": batch_type, "BatchDate": batch_date, "Description": description,
                      "BankCode": bank_code}
        if currency:
            body["DefaultBankCurrency"] = currency
        body["ReceiptsAdjustments"] = [_entry_json(e) for e in entries]
        if ready_to_post:
            body["BatchStatus"] = READY_TO_POST
        return self.create(RECEIPT_BATCHES, body)

    def get_receipt_batch(self, batch_number: int, batch_type: str = CASH) -> Json:
        return self.get_entity(RECEIPT_BATCHES, self.receipt_batch_key(batch_number, batch_type))

    def receipt_batches(self, filter: Filter | str | None = None, *, batch_type: str = CASH) -> list[Json]:
        """Receipt batches of ``batch_type`` matching ``filter`` (a string filter is sent as it is)."""
        conditions = filter if isinstance(filter, str) else and_(eq("BatchRecordType", batch_type), filter)
        return self.list(RECEIPT_BATCHES, filter=conditions, orderby="BatchNumber")

    def open_receipt_batches(self, batch_date: date | None = None, description: str | None = None, *,
                             statuses: Sequence[str] = (OPEN,), batch_type: str = CASH) -> list[Json]:
        """The unposted receipt batches of a date and/or description (with their entries inline).
        ``statuses`` defaults to Open; add ReadyToPost to see batches waiting for posting too."""
        status = or_(*(eq("BatchStatus", s) for s in statuses)) if statuses else None
        conditions = and_(eq("BatchRecordType", batch_type), status,
                          eq("BatchDate", batch_date) if batch_date else None,
                          eq("Description", description) if description else None)
        return self.list(RECEIPT_BATCHES, filter=conditions, orderby="BatchNumber")

    def set_receipt_batch_ready(self, batch_number: int, batch_type: str = CASH) -> Json:
        """PATCH ``BatchStatus`` ReadyToPost (repeatable: the same PATCH twice is the same state)."""
        return self.patch(RECEIPT_BATCHES, self.receipt_batch_key(batch_number, batch_type),
                          {"BatchNumber": int(batch_number), "BatchStatus": READY_TO_POST})

    def add_receipt_entry(self, batch_number: int, entry: NewReceipt | Mapping[str, Any], *,
                          batch_type: str = CASH) -> Json:
        """Insert one entry into an open batch (PATCH, ``UpdateOperation`` Insert); Sage numbers it.
        Returns the batch as answered (or read back when the answer is empty). Not repeated after it
        may have reached Sage: an insert twice is two receipts."""
        row = {"UpdateOperation": INSERT, **_entry_json(entry)}
        key = self.receipt_batch_key(batch_number, batch_type)
        body = self.patch(RECEIPT_BATCHES, key, {"ReceiptsAdjustments": [row]}, repeatable=False)
        return body if body.get("ReceiptsAdjustments") is not None else self.get_receipt_batch(batch_number, batch_type)

    def post_receipt_batches(self, batch_from: int, batch_to: int | None = None, *, batch_type: str = CASH) -> Json:
        """``ARPostReceiptsAndAdjustments('$process')`` for batches ``batch_from``..``batch_to`` (ReadyToPost ones)."""
        return self.process(POST_RECEIPTS, {"BatchType": batch_type, "PostAllBatches": "Donotpostallbatches",
                                            "PostBatchFrom": int(batch_from),
                                            "PostBatchTo": int(batch_to if batch_to is not None else batch_from)})

    def create_gl_batch(self, *, receipts: bool = True, invoices: bool = False, through_sequence: int = 999999,
                        extra: Mapping[str, Any] | None = None) -> Json:
        """``ARCreateGLBatch('$process')``: GL batches for posted receipt (and optionally invoice) batches."""
        body: Json = {}
        if receipts:
            body |= {"ProcessReceiptBatch": "PostCashbatches", "ReceiptThroughPostingSequenceNumber": through_sequence}
        if invoices:
            body |= {"ProcessInvoiceBatch": "PostInvoicebatches", "InvoiceThroughPostingSequenceNumber": through_sequence}
        body |= dict(extra or {})
        return self.process(CREATE_GL_BATCH, body)

    # -- posted receipts and the look-up after a lost answer ------------------------------------------------------

    def posted_receipts(self, check_receipt_number: str | None = None, *, customer_number: str | None = None,
                        filter: Filter | None = None) -> list[Json]:
        conditions = and_(eq("CheckReceiptNumber", check_receipt_number) if check_receipt_number else None,
                          eq("CustomerNumber", customer_number) if customer_number else None, filter) \
            if (check_receipt_number or customer_number or filter) else None
        return self.list(POSTED_RECEIPTS, filter=conditions)

    def find_receipt_entries(self, check_receipt_number: str, *, batch_date: date | None = None,
                             description: str | None = None, batch_numbers: Iterable[int] = (),
                             include_posted: bool = True, batch_type: str = CASH) -> list[FoundReceipt]:
        """Every receipt carrying ``check_receipt_number``: in the unposted batches of ``batch_date``
        (and ``description``), in the batches numbered ``batch_numbers`` (PaySync's ledger knows them),
        and among the posted receipts. An unposted entry is only reachable through its batch (§5)."""
        found: dict[tuple[Any, Any], FoundReceipt] = {}
        batches: list[ReceiptBatch] = []
        if batch_date is not None or description is not None:
            batches += [parse_receipt_batch(b) for b in self.open_receipt_batches(
                batch_date, description, statuses=(OPEN, READY_TO_POST), batch_type=batch_type)]
        for number in batch_numbers:
            try:
                batches.append(parse_receipt_batch(self.get_receipt_batch(number, batch_type)))
            except SageNotFound:
                continue
        for batch in batches:
            for entry in batch.entries:
                if entry.check_receipt_number == check_receipt_number:
                    found[(batch.batch_number, entry.entry_number)] = FoundReceipt(
                        check_receipt_number, batch.batch_number, entry.entry_number, batch.status, entry=entry)
        if include_posted:
            for row in self.posted_receipts(check_receipt_number):
                posted = parse_posted_receipt(row)
                if posted.check_receipt_number != check_receipt_number:
                    continue
                k = (posted.batch_number, posted.entry_number)
                previous = found.get(k)
                found[k] = FoundReceipt(check_receipt_number, posted.batch_number, posted.entry_number,
                                        previous.batch_status if previous else None,
                                        entry=previous.entry if previous else None, posted=row)
        return list(found.values())

    def find_receipt_entry(self, check_receipt_number: str, **kwargs: Any) -> FoundReceipt | None:
        """The one receipt carrying ``check_receipt_number`` (see :meth:`find_receipt_entries`), or None;
        :class:`SageAmbiguousMatch` when there are several."""
        found = self.find_receipt_entries(check_receipt_number, **kwargs)
        if len(found) > 1:
            raise SageAmbiguousMatch(f"{len(found)} receipts carry CheckReceiptNumber {check_receipt_number!r}")
        return found[0] if found else None

    # -- refunds -----------------------------------------------------------------------------------------------------

    def create_refund_batch(self, *, batch_date: date, description: str, bank_code: str,
                            refunds: Sequence[NewRefund | Mapping[str, Any]], ready_to_post: bool = False) -> Json:
        """POST an ``ARRefundBatches`` batch; not repeated once sent (look it up by description and date)."""
        body: Json = {"BatchDate": batch_date, "Description": description, "BankCode": bank_code,
                      "Refunds": [_entry_json(r) for r in refunds]}
        if ready_to_post:
            body["BatchStatus"] = READY_TO_POST
        return self.create(REFUND_BATCHES, body)

    def get_refund_batch(self, batch_number: int) -> Json:
        return self.get_entity(REFUND_BATCHES, int(batch_number))

    def refund_batches(self, filter: Filter | str | None = None) -> list[Json]:
        return self.list(REFUND_BATCHES, filter=filter, orderby="BatchNumber")

    def set_refund_batch_ready(self, batch_number: int) -> Json:
        return self.patch(REFUND_BATCHES, int(batch_number), {"BatchNumber": int(batch_number),
                                                              "BatchStatus": READY_TO_POST})

    def post_refund_batches(self, batch_from: int, batch_to: int | None = None) -> Json:
        return self.process(POST_REFUNDS, {"PostAllBatches": "Donotpostallbatches", "PostBatchFrom": int(batch_from),
                                           "PostBatchTo": int(batch_to if batch_to is not None else batch_from)})

    # -- invoices (what PaySync's tests and the demo seed) ----------------------------------------------------------

    def create_invoice_batch(self, batch: Mapping[str, Any]) -> Json:
        return self.create(INVOICE_BATCHES, batch)

    def get_invoice_batch(self, batch_number: int) -> Json:
        return self.get_entity(INVOICE_BATCHES, int(batch_number))

    def set_invoice_batch_ready(self, batch_number: int) -> Json:
        return self.patch(INVOICE_BATCHES, int(batch_number), {"BatchNumber": int(batch_number),
                                                               "BatchStatus": READY_TO_POST})

    def post_invoice_batches(self, batch_from: int | None = None, batch_to: int | None = None) -> Json:
        if batch_from is None:
            return self.process(POST_INVOICES, {"PostAllBatches": "Postallbatches"})
        return self.process(POST_INVOICES, {"PostAllBatches": "Donotpostallbatches", "PostBatchFrom": int(batch_from),
                                            "PostBatchTo": int(batch_to if batch_to is not None else batch_from)})

    # -- GL ----------------------------------------------------------------------------------------------------------

    def gl_accounts(self, filter: Filter | str | None = None, *, select: Sequence[str] | str | None = None) -> list[Json]:
        return self.list(GL_ACCOUNTS, filter=filter, select=select, orderby="AccountNumber")

    def get_gl_account(self, unformatted_account: str) -> Json:
        """By key (``UnformattedAccount``, **unverified** as Sage's key: :meth:`find_gl_account` filters instead)."""
        return self.get_entity(GL_ACCOUNTS, unformatted_account)

    def find_gl_account(self, account_number: str) -> Json | None:
        """The account whose ``AccountNumber`` (formatted) or ``UnformattedAccount`` is ``account_number``."""
        rows = self.gl_accounts(eq("AccountNumber", account_number))
        if not rows:
            rows = self.gl_accounts(eq("UnformattedAccount", account_number))
        if len(rows) > 1:
            raise SageAmbiguousMatch(f"{len(rows)} GL accounts numbered {account_number!r}")
        return rows[0] if rows else None

    def create_gl_journal_batch(self, batch: Mapping[str, Any]) -> Json:
        return self.create(GL_JOURNAL_BATCHES, batch)

    def get_gl_journal_batch(self, batch_number: str) -> Json:
        return self.get_entity(GL_JOURNAL_BATCHES, str(batch_number))

    # -- OE ------------------------------------------------------------------------------------------------------------

    def create_order(self, order: Mapping[str, Any]) -> Json:
        """POST an OE order; the answer carries ``OrderNumber`` (and, with ``InvoiceWillBeProduced``,
        ``LastShipmentNumber``/``LastInvoiceNumber``). Not repeated once sent."""
        return self.create(OE_ORDERS, order)

    def get_order(self, order_uniquifier: int | str) -> Json:
        """By key (``OrderUniquifier``, **unverified**); :meth:`find_orders` filters by ``OrderNumber``."""
        key = int(order_uniquifier) if isinstance(order_uniquifier, int) or str(order_uniquifier).isdigit() \
            else order_uniquifier
        return self.get_entity(OE_ORDERS, key)

    def find_orders(self, order_number: str | None = None, *, customer_number: str | None = None) -> list[Json]:
        conditions = and_(eq("OrderNumber", order_number) if order_number else None,
                          eq("CustomerNumber", customer_number) if customer_number else None) \
            if (order_number or customer_number) else None
        return self.list(OE_ORDERS, filter=conditions)


def _session_refused(response: httpx.Response) -> bool:
    """401, or 500 with Sage's ``SessionError``: refused for its session, before any work was done."""
    if response.status_code == 401:
        return True
    if response.status_code == 500 and b"SessionError" in response.content[:2000]:
        return parse_error_body(response.content, response.headers.get("content-type", "")).code == SESSION_ERROR
    return False


def _names(value: Sequence[str] | str) -> str:
    return value if isinstance(value, str) else ",".join(value)


def _json(response: httpx.Response, path: str) -> Json:
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise SageResponseError("the answer is not JSON", path=path, http_status=response.status_code) from None
    if not isinstance(body, dict):
        raise SageResponseError("the answer is not a JSON object", path=path, http_status=response.status_code)
    return body


__all__ = [
    "ADJUSTMENTS", "APPLY_DOCUMENT", "CASH", "CUSTOMERS", "Comparison", "Filter", "FoundReceipt", "GL_ACCOUNTS",
    "NewApplication", "NewReceipt", "NewRefund", "OE_ORDERS", "OPEN", "POSTED_DOCUMENTS", "POSTED_RECEIPTS", "PREPAYMENT",
    "READY_TO_POST", "RECEIPT", "RECEIPT_BATCHES", "REFUND_BATCHES", "Sage300Client", "amount",
    "and_", "dumps", "entity_key", "eq", "ge", "gt", "iso_datetime", "le", "lt", "ne", "odata_literal", "or_",
]
