"""PayTrace JSON API v1 client: token, exports, batches, vault and the transaction writes.

Returns PayTrace's records as parsed JSON, unchanged; turning them into cents and UTC is the job of
the record parser. This module owns the wire: the OAuth password grant, ``integrator_id`` in every
body, amounts as ``"12.30"``, dates as ``MM/DD/YYYY``, and the mapping of every answer onto the
typed errors of :mod:`paysync_dagster.lib.paytrace.errors`.

Card numbers and CSCs are sent, never logged and never put into an exception message: the retrying
layer logs only method, path, status and attempt, and any answer text that echoes them is redacted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date
from types import TracebackType
from typing import Any

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
from paysync_dagster.lib.paytrace.bulk import collector_paused
from paysync_dagster.lib.paytrace.errors import (
    PayTraceApiError,
    PayTraceAuthError,
    PayTraceOutcomeUnknown,
    PayTraceResponseError,
    PayTraceTransportError,
)
from paysync_dagster.lib.timeutil import date_range, format_paytrace_date

log = logging.getLogger("paysync.paytrace")

TOKEN_PATH = "/oauth/token"
DECLINED = 102  # response_code of a declined sale/authorization: an answer, not a failure
NOT_FOUND_CODE = "58"  # "Please provide a valid Transaction ID.": also PayTrace's answer to an unknown id

Json = dict[str, Any]
Progress = Callable[[date, int], None]


class PayTraceClient:
    """A PayTrace v1 account, reached over HTTPS with the OAuth password grant.

    Reads (exports, token, ping, settle) are retried on any transient failure. Writes that move
    money or change the vault are retried only when PayTrace provably did not act (connection
    refused, 429, 503); otherwise :class:`PayTraceOutcomeUnknown` is raised.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        integrator_id: str,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        *,
        token_margin_s: float = 60.0,
        on_attempt: Callable[[Attempt], None] | None = None,
    ):
        self._username = username
        self._password = password
        self.integrator_id = integrator_id
        self._clock = clock
        self._token_margin_s = token_margin_s
        self._http = build_client(base_url.rstrip("/"), timeout=timeout, transport=transport)
        # on_attempt: progress per HTTP attempt (method, path, status, wait), e.g. for Dagster's log.
        self._retrying = RetryingClient(self._http, retry or RetryPolicy(), sleep=sleep, on_attempt=on_attempt)
        self._token: str | None = None
        self._token_valid_until = 0.0
        self._token_lock = threading.Lock()
        self.token_fetches = 0  # how many tokens were obtained; visible for tests and metrics

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PayTraceClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:  # the default repr would be harmless, but say so explicitly: no secrets
        return f"PayTraceClient(base_url={str(self._http.base_url)!r}, username={self._username!r})"

    # -- token -------------------------------------------------------------------------------------

    def _bearer(self) -> str:
        with self._token_lock:
            if self._token is None or self._clock() >= self._token_valid_until:
                self._fetch_token()
            assert self._token is not None
            return self._token

    def _forget_token(self) -> None:
        with self._token_lock:
            self._token = None

    def _fetch_token(self) -> None:
        """Password grant; caches the token until shortly before ``expires_in``."""
        started = self._clock()
        # Asking for a token twice is harmless, so every failure may be retried.
        response = self._send("POST", TOKEN_PATH, retry_uncertain=True, data={
            "grant_type": "password", "username": self._username, "password": self._password,
        }, headers={"Accept": "*/*"})
        body = _json_object(response, TOKEN_PATH)
        if "error" in body or response.status_code >= 400:
            # error_description is PayTrace's own text; the password is never part of it.
            description = _redact(str(body.get("error_description", "")), (self._password,))
            raise PayTraceAuthError(
                f"{TOKEN_PATH}: token refused for user {self._username!r}: {body.get('error', f'HTTP {response.status_code}')}"
                + (f": {description}" if description else "")
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PayTraceResponseError("token answer without access_token", path=TOKEN_PATH,
                                        http_status=response.status_code, field="access_token")
        try:
            expires_in = float(body.get("expires_in", 0))
        except (TypeError, ValueError):
            raise PayTraceResponseError("expires_in is not a number", path=TOKEN_PATH,
                                        http_status=response.status_code, field="expires_in") from None
        # Renew a little early (10% of the lifetime, at most token_margin_s) so that a token never
        # expires between our check and PayTrace's; the invalid_token retry covers clock skew.
        margin = min(self._token_margin_s, expires_in * 0.1)
        self._token = token
        self._token_valid_until = started + expires_in - margin
        self.token_fetches += 1
        log.info("PayTrace token obtained, valid for %.0fs", expires_in)

    # -- plumbing ----------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, retry_uncertain: bool, **kwargs: Any) -> httpx.Response:
        """One logical call through the retrying layer, with its errors mapped onto PayTrace's."""
        try:
            return self._retrying.request(method, path, retry_uncertain=retry_uncertain, **kwargs)
        except OutcomeUnknown as exc:
            raise PayTraceOutcomeUnknown(
                f"{exc}. PayTrace may have processed it: look it up before trying again.",
                path=path, attempts=exc.attempts, http_status=exc.status,
            ) from exc
        except RetriesExhausted as exc:
            raise PayTraceTransportError(str(exc), path=path, attempts=exc.attempts, http_status=exc.status) from exc
        except httpx.HTTPError as exc:  # not retryable at all (bad URL, TLS failure, ...)
            raise PayTraceTransportError(f"{method} {path}: {type(exc).__name__}", path=path) from exc

    def _post(self, path: str, body: Json, *, retry_uncertain: bool, decline_ok: bool = False,
              secrets: Iterable[str | None] = ()) -> Json:
        """POST a /v1 JSON call with the bearer token; one re-authentication on ``invalid_token``."""
        payload = {**{k: v for k, v in body.items() if v is not None}, "integrator_id": self.integrator_id}
        hidden = tuple(s for s in secrets if s)
        for fresh_token_tried in (False, True):
            response = self._send("POST", path, retry_uncertain=retry_uncertain, json=payload,
                                  headers={"Authorization": f"Bearer {self._bearer()}"})
            answer = _json_object(response, path)
            if answer.get("error") != "invalid_token":
                return _checked(answer, response.status_code, path, decline_ok=decline_ok, secrets=hidden)
            if fresh_token_tried:
                raise PayTraceAuthError(f"{path}: PayTrace refused a freshly issued token (invalid_token)")
            # The token expired or was revoked early; the call was rejected before any processing,
            # so sending it again with a new token is safe even for a sale.
            log.warning("POST %s -> invalid_token; re-authenticating once", path)
            self._forget_token()
        raise AssertionError("unreachable")

    def _export_by_day(self, path: str, key: str, id_key: str, start: date, end: date, extra: Json,
                       progress: Progress | None) -> list[Json]:
        """The v1 exports have no paging: ask one day at a time so each answer stays small."""
        merged: dict[Any, Json] = {}
        for day in date_range(start, end):
            text = format_paytrace_date(day)
            answer = self._post(path, {"start_date": text, "end_date": text, **extra}, retry_uncertain=True)
            records = _list_of_objects(answer, key, path)
            if start == end and _distinct_ids(records, id_key):
                merged = dict(enumerate(records))  # one answer, every id there once: nothing to merge
            else:
                with collector_paused():  # a key per record, after the decode's half a million dicts: see bulk.py
                    for i, record in enumerate(records):
                        # A record on a day boundary can come back twice; the later copy is the fresher one.
                        rid = record.get(id_key)
                        ident = ("id", rid) if rid not in (None, "") and _hashable(rid) else ("anonymous", day, i)
                        merged.pop(ident, None)
                        merged[ident] = record
            if progress is not None:
                progress(day, len(records))
        return list(merged.values())

    # -- reads -------------------------------------------------------------------------------------

    def ping(self) -> Json:
        """``GET /v1/ping`` (no token). Raises unless PayTrace says ``status: success``."""
        path = "/v1/ping"
        response = self._send("GET", path, retry_uncertain=True)
        answer = _json_object(response, path)
        if answer.get("status") != "success" and answer.get("success") is not True:
            raise PayTraceApiError("ping did not answer success", http_status=response.status_code,
                                   response_code=_int_or_none(answer.get("response_code")), errors=None, path=path)
        return answer

    def export_transactions(self, start: date, end: date, transaction_type: str | None = None,
                            customer_id: str | None = None, progress: Progress | None = None) -> list[Json]:
        """Every transaction from ``start`` to ``end`` (both included), one request per day,
        deduplicated by ``transaction_id`` (last copy wins). ``progress(day, count)`` after each day."""
        extra = {"transaction_type": transaction_type, "customer_id": customer_id}
        return self._export_by_day("/v1/transactions/export/by_date_range", "transactions", "transaction_id",
                                   start, end, extra, progress)

    def export_transaction(self, transaction_id: int | str) -> Json | None:
        """One transaction by id, or None when PayTrace has none with that id.

        PayTrace answers an unknown id with error 58 ("Please provide a valid Transaction ID.") rather
        than an empty list; both mean "not found" here. Any other error is raised.
        """
        path = "/v1/transactions/export/by_id"
        try:
            answer = self._post(path, {"transaction_id": transaction_id}, retry_uncertain=True)
        except PayTraceApiError as exc:
            if exc.codes == [NOT_FOUND_CODE]:
                return None
            raise
        records = _list_of_objects(answer, "transactions", path)
        return records[0] if records else None

    def export_batches(self, start: date, end: date, progress: Progress | None = None) -> list[Json]:
        """Settlement batches closed from ``start`` to ``end``, one request per day, deduplicated by ``number``."""
        return self._export_by_day("/v1/batches/export", "batches", "number", start, end, {}, progress)

    def export_batch(self, batch_number: int | None = None) -> Json:
        """One batch summary; without a number, the batch currently open."""
        path = "/v1/batches/export_one"
        answer = self._post(path, {"batch_number": batch_number}, retry_uncertain=True)
        batch = answer.get("batch")
        if not isinstance(batch, dict):
            raise PayTraceResponseError("answer has no 'batch' object", path=path, field="batch")
        return batch

    def batch_transactions(self, batch_number: int) -> list[Json]:
        """The settled transactions of one batch, in the export record layout."""
        path = "/v1/batches/transaction_list"
        answer = self._post(path, {"batch_number": batch_number}, retry_uncertain=True)
        return _list_of_objects(answer, "transactions", path)

    def export_customers(self) -> list[Json]:
        """Every vault customer profile (masked card, addresses, email, phone)."""
        path = "/v1/customer/export"
        return _list_of_objects(self._post(path, {}, retry_uncertain=True), "customers", path)

    # -- transaction writes --------------------------------------------------------------------------

    def sale_keyed(self, amount_minor: int, card_number: str, exp_month: int | str, exp_year: int | str,
                   csc: str | None = None, billing_address: Json | None = None, invoice_id: str | None = None,
                   description: str | None = None, email: str | None = None, tax_minor: int | None = None) -> Json:
        """Keyed sale. A decline (``response_code`` 102) is returned, not raised: check ``success``."""
        return self._keyed("/v1/transactions/sale/keyed", amount_minor, card_number, exp_month, exp_year, csc,
                           billing_address, invoice_id, description, email, tax_minor)

    def authorize_keyed(self, amount_minor: int, card_number: str, exp_month: int | str, exp_year: int | str,
                        csc: str | None = None, billing_address: Json | None = None, invoice_id: str | None = None,
                        description: str | None = None, email: str | None = None, tax_minor: int | None = None) -> Json:
        """Keyed authorization (capture it later). A decline is returned, not raised."""
        return self._keyed("/v1/transactions/authorization/keyed", amount_minor, card_number, exp_month, exp_year,
                           csc, billing_address, invoice_id, description, email, tax_minor)

    def _keyed(self, path: str, amount_minor: int, card_number: str, exp_month: int | str, exp_year: int | str,
               csc: str | None, billing_address: Json | None, invoice_id: str | None, description: str | None,
               email: str | None, tax_minor: int | None) -> Json:
        body = {
            "amount": money.to_wire(amount_minor),
            "credit_card": _card(card_number, exp_month, exp_year),
            "csc": csc, "billing_address": billing_address, "invoice_id": invoice_id,
            "description": description, "email": email,
            "tax_amount": None if tax_minor is None else money.to_wire(tax_minor),
        }
        return self._post(path, body, retry_uncertain=False, decline_ok=True, secrets=(card_number, csc))

    def sale_by_customer(self, customer_id: str, amount_minor: int, invoice_id: str | None = None,
                         description: str | None = None, tax_minor: int | None = None, csc: str | None = None) -> Json:
        """Sale on a vault profile's card. A decline is returned, not raised."""
        return self._by_customer("/v1/transactions/sale/by_customer", customer_id, amount_minor, invoice_id,
                                 description, tax_minor, csc)

    def authorize_by_customer(self, customer_id: str, amount_minor: int, invoice_id: str | None = None,
                              description: str | None = None, tax_minor: int | None = None,
                              csc: str | None = None) -> Json:
        """Authorization on a vault profile's card. A decline is returned, not raised."""
        return self._by_customer("/v1/transactions/authorization/by_customer", customer_id, amount_minor,
                                 invoice_id, description, tax_minor, csc)

    def _by_customer(self, path: str, customer_id: str, amount_minor: int, invoice_id: str | None,
                     description: str | None, tax_minor: int | None, csc: str | None) -> Json:
        body = {
            "customer_id": customer_id, "amount": money.to_wire(amount_minor), "invoice_id": invoice_id,
            "description": description, "csc": csc,
            "tax_amount": None if tax_minor is None else money.to_wire(tax_minor),
        }
        return self._post(path, body, retry_uncertain=False, decline_ok=True, secrets=(csc,))

    def capture(self, transaction_id: int | str, amount_minor: int | None = None) -> Json:
        """Capture an authorization, fully or (with ``amount_minor``) partially."""
        body = {"transaction_id": transaction_id,
                "amount": None if amount_minor is None else money.to_wire(amount_minor)}
        return self._post("/v1/transactions/authorization/capture", body, retry_uncertain=False)

    def refund(self, transaction_id: int | str, amount_minor: int | None = None) -> Json:
        """Refund a settled transaction, fully or partially (PayTrace error 817 if not settled yet)."""
        body = {"transaction_id": transaction_id,
                "amount": None if amount_minor is None else money.to_wire(amount_minor)}
        return self._post("/v1/transactions/refund/for_transaction", body, retry_uncertain=False)

    def void(self, transaction_id: int | str) -> Json:
        """Void an unsettled transaction."""
        return self._post("/v1/transactions/void", {"transaction_id": transaction_id}, retry_uncertain=False)

    def settle(self) -> Json:
        """Close the open batch now (sandbox helper). Settling twice settles nothing more: retry-safe."""
        return self._post("/v1/transactions/settle", {}, retry_uncertain=True)

    # -- vault -------------------------------------------------------------------------------------

    def create_customer(self, customer_id: str, card_number: str, exp_month: int | str, exp_year: int | str,
                        billing_address: Json | None = None, csc: str | None = None, email: str | None = None,
                        phone: str | None = None, shipping_address: Json | None = None) -> Json:
        """Store a card in the vault under our own ``customer_id``."""
        body = {
            "customer_id": customer_id, "credit_card": _card(card_number, exp_month, exp_year),
            "billing_address": billing_address, "csc": csc, "email": email, "phone": phone,
            "shipping_address": shipping_address,
        }
        # Not blindly retried: a repeat after an unseen success would answer "171 not unique".
        return self._post("/v1/customer/create", body, retry_uncertain=False, secrets=(card_number, csc))

    def create_customer_from_transaction(self, customer_id: str, transaction_id: int | str,
                                         billing_address: Json | None = None, email: str | None = None) -> Json:
        """Store the card of an earlier transaction in the vault under ``customer_id`` (no card number
        passes through PaySync). Not blindly retried: a repeat after an unseen success answers 171."""
        body = {"customer_id": customer_id, "transaction_id": transaction_id, "billing_address": billing_address,
                "email": email}
        return self._post("/v1/customer/create_from_transaction", body, retry_uncertain=False)

    def update_customer(self, customer_id: str, billing_address: Json | None = None, email: str | None = None,
                        phone: str | None = None) -> Json:
        """Change a vault profile's billing address (only the fields sent), e-mail or phone. The same
        update sent twice leaves the same profile, so an uncertain answer is retried."""
        body = {"customer_id": customer_id, "billing_address": billing_address, "email": email, "phone": phone}
        return self._post("/v1/customer/update", body, retry_uncertain=True)

    def delete_customer(self, customer_id: str) -> Json:
        """Remove a vault profile."""
        return self._post("/v1/customer/delete", {"customer_id": customer_id}, retry_uncertain=False)


# -- answer checking (module level: pure functions of the response) ---------------------------------

def _json_object(response: httpx.Response, path: str) -> Json:
    """The body as a JSON object, or a typed error naming the path (never quoting the body)."""
    try:
        with collector_paused():  # an export's answer is half a million dicts: see bulk.py
            body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        kind = response.headers.get("Content-Type", "no content type")
        raise PayTraceResponseError(f"body is not JSON ({kind}, {len(response.content)} bytes)", path=path,
                                    http_status=response.status_code) from None
    if not isinstance(body, dict):
        raise PayTraceResponseError(f"body is JSON but not an object ({type(body).__name__})", path=path,
                                    http_status=response.status_code)
    return body


def _checked(answer: Json, http_status: int, path: str, *, decline_ok: bool, secrets: tuple[str, ...]) -> Json:
    """Return a ``success: true`` answer (or a decline when allowed); raise PayTraceApiError otherwise."""
    if answer.get("success") is True:
        return answer
    response_code = _int_or_none(answer.get("response_code"))
    if decline_ok and response_code == DECLINED and answer.get("success") is False:
        return answer
    raw_errors = answer.get("errors")
    errors: dict[str, list[str]] = {}
    if isinstance(raw_errors, dict):
        for code, messages in raw_errors.items():
            items = messages if isinstance(messages, list) else [messages]
            errors[str(code)] = [_redact(str(m), secrets) for m in items]
    message = answer.get("status_message") or answer.get("error_description") or answer.get("error") \
        or "PayTrace did not answer success"
    raise PayTraceApiError(_redact(str(message), secrets), http_status=http_status, response_code=response_code,
                           errors=errors, path=path)


def _list_of_objects(answer: Json, key: str, path: str) -> list[Json]:
    records = answer.get(key)
    if not isinstance(records, list) or not all(map(_is_dict, records)):
        raise PayTraceResponseError(f"answer has no list of objects under {key!r}", path=path, field=key)
    return records


_is_dict = dict.__instancecheck__  # isinstance(value, dict)


def _card(number: str, exp_month: int | str, exp_year: int | str) -> Json:
    # PayTrace's own samples send strings ("12", "2020"); months are zero-padded as on the card.
    return {"number": str(number), "expiration_month": f"{int(exp_month):02d}", "expiration_year": str(exp_year)}


def _distinct_ids(records: list[Json], id_key: str) -> bool:
    """Whether every record has an id, none empty, no two equal (the usual answer, merged as it is)."""
    ids = [record.get(id_key) for record in records]
    try:
        distinct = set(ids)
    except TypeError:  # an id that is a list or an object
        return False
    return len(distinct) == len(ids) and None not in distinct and "" not in distinct


def _hashable(value: object) -> bool:
    """Whether an id can key the merge: a list or an object cannot (the record is kept as it is, and
    refused when it is read, rather than stopping the whole export)."""
    if type(value) is int or type(value) is str:
        return True
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """Hide card numbers and CSCs should PayTrace ever echo them in an error text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
