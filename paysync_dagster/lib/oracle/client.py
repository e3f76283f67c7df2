"""Oracle Fusion Cloud ERP REST client: receivables receipts, invoices and credit memos, customer activities,
order hub, batch (spec: ``specs/oracle_fusion_rest.md``).

The wire belongs here: the resource root ``/fscmRestApi/resources/11.13.18.05``, the
``REST-Framework-Version`` header (4 unless configured; ``q`` is written in the grammar of that
version), Basic or OAuth bearer authentication (:mod:`.auth`), the ADF media types of custom actions
and batches, pagination by ``hasMore``/``offset``, and the mapping of every error answer onto
:mod:`.errors`. Items are returned as Oracle's JSON dicts; the ``parse_*`` functions of :mod:`.records`
turn them into small typed records with money in integer minor units.

Retries go through :class:`~paysync_dagster.lib.http.RetryingClient`. Reads, PATCH and DELETE may be
repeated after an uncertain failure; creates, custom actions (apply, unapply, reverse) and batches
with writes may not: a timeout, dropped connection or 500/502/504 after sending raises
:class:`~.errors.OracleOutcomeUnknown` (an :class:`~paysync_dagster.lib.http.OutcomeUnknown`), and the
caller resolves it with :meth:`OracleFusionClient.find_receipt_by_number` before anything else.
429 and 503 are retried for every request (Oracle did not act). Bodies, tokens and passwords are
never logged or put into exception messages.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from paysync_dagster.lib import money
from paysync_dagster.lib.http import DEFAULT_TIMEOUT, OutcomeUnknown, RetriesExhausted, RetryingClient, RetryPolicy, build_client
from paysync_dagster.lib.oracle.auth import JWT_BEARER, OAuthSettings, TokenCache, basic_credentials, build_user_assertion, load_private_key
from paysync_dagster.lib.oracle.errors import (
    OracleAmbiguousMatch,
    OracleAuthError,
    OracleBatchError,
    OracleOutcomeUnknown,
    OracleResponseError,
    OracleTransportError,
    error_for,
    parse_error_body,
)
from paysync_dagster.lib.oracle.records import (
    BatchPart,
    FrameworkVersions,
    Page,
    parse_batch_response,
    parse_framework_versions,
    parse_installment,
    parse_page,
    parse_receipt,
)

log = logging.getLogger("paysync.oracle")

RESOURCE_VERSION = "11.13.18.05"
CONTEXT_ROOT = "/fscmRestApi/resources"
ACTION = "application/vnd.oracle.adf.action+json"
BATCH = "application/vnd.oracle.adf.batch+json"
ITEM = "application/vnd.oracle.adf.resourceitem+json"
ERROR = "application/vnd.oracle.adf.error+json"
DEFAULT_PAGE_SIZE = 500
CALLED_FROM = "PaySync"

Json = dict[str, Any]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # shortest repr of a 2-decimal amount is that decimal
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# -- the client --------------------------------------------------------------------------------------------

class OracleFusionClient:
    """One Fusion pod. ``base_url`` is the host (``https://<pod>.fa.<dc>.oraclecloud.com``).

    Authentication: ``username``/``password`` (Basic) or ``oauth`` (JWT user assertion exchanged at
    ``oauth.token_url``; the token is cached until shortly before it expires, and a 401 on a bearer
    request fetches a new one and repeats the request once, which is safe since 401 means nothing was
    done).
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        oauth: OAuthSettings | None = None,
        framework_version: int = 4,
        structured_errors: bool = True,
        resource_version: str = RESOURCE_VERSION,
        page_size: int = DEFAULT_PAGE_SIZE,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        token_margin_s: float = 60.0,
    ):
        if oauth is None and not (username and password is not None):
            raise ValueError("give username and password (Basic) or oauth settings")
        self._username = username
        self._password = password
        self._oauth = oauth
        self._wall_clock = wall_clock
        self.framework_version = framework_version
        self.structured_errors = structured_errors
        self.page_size = page_size
        self.root = f"{CONTEXT_ROOT}/{resource_version}"
        self._http = build_client(base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._retrying = RetryingClient(self._http, retry or RetryPolicy(), sleep=sleep, wall_clock=wall_clock)
        self._tokens: TokenCache | None = None
        if oauth is not None:
            self._private_key = load_private_key(oauth.private_key_pem, oauth.private_key_password)
            self._tokens = TokenCache(self._fetch_token, clock=clock, margin_s=token_margin_s)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OracleFusionClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        who = f"oauth client {self._oauth.client_id!r}" if self._oauth else f"user {self._username!r}"
        return f"OracleFusionClient(base_url={str(self._http.base_url)!r}, {who})"

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    @property
    def token_fetches(self) -> int:
        return self._tokens.fetches if self._tokens else 0

    # -- auth ----------------------------------------------------------------------------------------

    def _fetch_token(self) -> Json:
        oauth = self._oauth
        assert oauth is not None
        assertion = build_user_assertion(oauth, now=self._wall_clock(), private_key=self._private_key)
        path = urlsplit(oauth.token_url).path
        # Asking for a token twice is harmless: every failure may be retried.
        response = self._send("POST", oauth.token_url, retry_uncertain=True, data={
            "grant_type": JWT_BEARER, "scope": oauth.scope, "assertion": assertion,
        }, headers={"Authorization": basic_credentials(oauth.client_id, oauth.client_secret), "Accept": "application/json"})
        if response.status_code != 200:
            messages = parse_error_body(response.text, response.headers.get("content-type", ""))
            raise OracleAuthError("the token endpoint refused the user assertion", http_status=response.status_code,
                                  messages=messages, method="POST", path=path)
        body = _json(response, path)
        if not isinstance(body.get("access_token"), str) or "expires_in" not in body:
            raise OracleResponseError("token answer without access_token/expires_in", path=path,
                                      http_status=response.status_code)
        log.info("Oracle OAuth token obtained, valid for %ss", body.get("expires_in"))
        return body

    def _authorization(self) -> str:
        if self._tokens is not None:
            return f"Bearer {self._tokens.get()}"
        return basic_credentials(self._username or "", self._password or "")

    # -- plumbing ------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, retry_uncertain: bool, **kwargs: Any) -> httpx.Response:
        path = urlsplit(url).path
        try:
            return self._retrying.request(method, url, retry_uncertain=retry_uncertain, **kwargs)
        except OutcomeUnknown as exc:
            raise OracleOutcomeUnknown(
                f"{exc}. Oracle may have committed it: look it up before trying again.",
                method=method, path=path, attempts=exc.attempts, status=exc.status,
            ) from exc
        except RetriesExhausted as exc:
            raise OracleTransportError(str(exc), path=path, attempts=exc.attempts, http_status=exc.status) from exc
        except httpx.HTTPError as exc:
            raise OracleTransportError(f"{method} {path}: {type(exc).__name__}", path=path) from exc

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.root}{path}" if not path.startswith(CONTEXT_ROOT) else path

    def request(self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None,
                content_type: str = "application/json", retry_uncertain: bool | None = None,
                headers: Mapping[str, str] | None = None, raise_for_status: bool = True) -> httpx.Response:
        """One REST call (path relative to the resource root, or a ``self`` href); error statuses raise
        the :mod:`.errors` class for their status and codes unless ``raise_for_status`` is false."""
        url = self._url(path)
        may_repeat = method.upper() in ("GET", "HEAD", "PUT", "PATCH", "DELETE") if retry_uncertain is None \
            else retry_uncertain
        accept = f"application/json, {ERROR}" if self.structured_errors else "application/json"
        content = json.dumps(body, default=_json_default).encode() if body is not None else None
        for fresh_token in (False, True):
            sent = {"Authorization": self._authorization(), "REST-Framework-Version": str(self.framework_version),
                    "Accept": accept, **(headers or {})}
            if content is not None:
                sent["Content-Type"] = content_type
            response = self._send(method, url, retry_uncertain=may_repeat, content=content,
                                  params={k: v for k, v in (params or {}).items() if v is not None}, headers=sent)
            if response.status_code == 401 and self._tokens is not None and not fresh_token:
                log.warning("%s %s -> 401 with a bearer token; fetching a new token once", method, urlsplit(url).path)
                self._tokens.forget()
                continue
            break
        if response.status_code >= 400 and raise_for_status:
            messages = parse_error_body(response.text, response.headers.get("content-type", ""))
            raise error_for(response.status_code, messages, method=method, path=urlsplit(url).path)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> Json:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        return _json(response, urlsplit(self._url(path)).path)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Json:
        return self._call("GET", path, params=params)

    def q(self, **conditions: Any) -> str:
        """An equality ``q`` in the grammar of the configured framework version."""
        if self.framework_version <= 1:
            return ";".join(f"{k}={v}" for k, v in conditions.items())
        return " and ".join(f"{k}={_q_literal(v)}" for k, v in conditions.items())

    def page(self, path: str, params: Mapping[str, Any] | None = None) -> Page:
        return parse_page(self.get(path, params), path=path)

    def iter_items(self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int | None = None) -> Iterator[Json]:
        """Every item of a collection, page by page (``limit``/``offset`` until ``hasMore`` is false)."""
        offset, size = 0, page_size or self.page_size
        while True:
            page = self.page(path, {**(params or {}), "limit": size, "offset": offset})
            yield from page.items
            if not page.has_more:
                return
            if not page.items:
                raise OracleResponseError("hasMore is true but the page is empty", path=path)
            offset += len(page.items)

    def list_items(self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int | None = None) -> list[Json]:
        return list(self.iter_items(path, params, page_size=page_size))

    def framework_versions(self) -> FrameworkVersions:
        return parse_framework_versions(self._call("GET", CONTEXT_ROOT))

    # -- receipts ----------------------------------------------------------------------------------------

    def create_receipt(self, payload: Mapping[str, Any]) -> Json:
        """POST a standard receipt. Not retried after an uncertain failure: raises OracleOutcomeUnknown."""
        return self._call("POST", "/standardReceipts", body=dict(payload), retry_uncertain=False)

    def get_receipt(self, receipt_id: int | str) -> Json:
        return self.get(f"/standardReceipts/{_key(receipt_id)}")

    def update_receipt(self, receipt_id: int | str, changes: Mapping[str, Any], *, if_match: str | None = None) -> Json:
        return self._call("PATCH", f"/standardReceipts/{_key(receipt_id)}", body=dict(changes),
                          headers={"If-Match": if_match} if if_match else None)

    def delete_receipt(self, receipt_id: int | str) -> None:
        self._call("DELETE", f"/standardReceipts/{_key(receipt_id)}")

    def find_receipts_by_number(self, receipt_number: str) -> list[Json]:
        return self.list_items("/standardReceipts", {"q": self.q(ReceiptNumber=receipt_number)})

    def find_receipt_by_number(self, receipt_number: str, *, receipt_date: str | None = None,
                               amount_minor: int | None = None, customer_account_number: str | None = None) -> Json | None:
        """The receipt with this number (and, when given, date, amount and customer), or None.

        The look-up that resolves an uncertain create: PaySync's receipt numbers are deterministic.
        Raises :class:`OracleAmbiguousMatch` when several receipts match.
        """
        found = []
        for item in self.find_receipts_by_number(receipt_number):
            r = parse_receipt(item)
            if receipt_date is not None and r.receipt_date != receipt_date:
                continue
            if amount_minor is not None and r.amount_minor != amount_minor:
                continue
            if customer_account_number is not None and r.customer_account_number != customer_account_number:
                continue
            found.append(item)
        if len(found) > 1:
            raise OracleAmbiguousMatch(f"{len(found)} receipts numbered {receipt_number!r} match")
        return found[0] if found else None

    def create_remittance_reference(self, receipt_id: int | str, payload: Mapping[str, Any]) -> Json:
        return self._call("POST", f"/standardReceipts/{_key(receipt_id)}/child/remittanceReferences",
                          body=dict(payload), retry_uncertain=False)

    def remittance_references(self, receipt_id: int | str) -> list[Json]:
        return self.list_items(f"/standardReceipts/{_key(receipt_id)}/child/remittanceReferences")

    def _action(self, path: str, params: Mapping[str, Any]) -> Any:
        body = self._call("POST", path, body={k: v for k, v in params.items() if v is not None}, content_type=ACTION,
                          retry_uncertain=False)
        return body.get("result")

    def apply_receipt(self, receipt_id: int | str, payment_schedule_id: int, amount_minor: int | None = None, *,
                      currency: str = "USD", application_date: str | None = None, accounting_date: str | None = None,
                      called_from: str = CALLED_FROM) -> Json:
        """Apply to one invoice installment; ``amount_minor`` None applies its whole open balance."""
        return self._action(f"/standardReceipts/{_key(receipt_id)}/action/applyReceipt", {
            "appliedPaymentScheduleId": payment_schedule_id,
            "amountApplied": money.to_decimal(amount_minor, currency) if amount_minor is not None else None,
            "calledFrom": called_from, "applicationDate": application_date, "accountingDate": accounting_date})

    def bulk_apply_receipt(self, receipt_id: int | str, payment_schedule_ids: Iterable[int], *,
                           called_from: str = CALLED_FROM) -> Json:
        return self._action(f"/standardReceipts/{_key(receipt_id)}/action/bulkApplyReceipt", {
            "appliedPaymentScheduleIds": ",".join(str(i) for i in payment_schedule_ids), "calledFrom": called_from})

    def unapply_receipt(self, receipt_id: int | str, *, receivable_application_id: int | None = None,
                        payment_schedule_id: int | None = None, called_from: str = CALLED_FROM) -> Json:
        if receivable_application_id is None and payment_schedule_id is None:
            raise ValueError("give receivable_application_id or payment_schedule_id")
        return self._action(f"/standardReceipts/{_key(receipt_id)}/action/unapplyReceipt", {
            "receivableApplicationId": receivable_application_id, "appliedPaymentScheduleId": payment_schedule_id,
            "calledFrom": called_from})

    def reverse_receipt(self, receipt_id: int | str, *, category: str = "REV", reason: str = "PAYMENT REVERSAL",
                        reversal_date: str | None = None, called_from: str = CALLED_FROM) -> Json:
        return self._action(f"/standardReceipts/{_key(receipt_id)}/action/reverseReceipt", {
            "reversalCategoryCode": category, "reversalReasonCode": reason, "reversalDate": reversal_date,
            "calledFrom": called_from})

    # -- invoices and customers --------------------------------------------------------------------------

    def create_invoice(self, payload: Mapping[str, Any]) -> Json:
        return self._call("POST", "/receivablesInvoices", body=dict(payload), retry_uncertain=False)

    def get_invoice(self, invoice_id: int | str) -> Json:
        return self.get(f"/receivablesInvoices/{_key(invoice_id)}")

    def find_invoice_by_number(self, transaction_number: str) -> Json | None:
        """The invoice whose TransactionNumber is exactly ``transaction_number``, or None."""
        found = [i for i in self.list_items("/receivablesInvoices", {"q": self.q(TransactionNumber=transaction_number)})
                 if i.get("TransactionNumber") == transaction_number]
        if len(found) > 1:
            raise OracleAmbiguousMatch(f"{len(found)} invoices numbered {transaction_number!r}")
        return found[0] if found else None

    def invoices_for_customer(self, customer_account_number: str, *, order_by: str = "TransactionNumber:asc") -> list[Json]:
        return self.list_items("/receivablesInvoices", {"q": self.q(BillToCustomerNumber=customer_account_number),
                                                        "orderBy": order_by})

    def search_invoices(self, q: str | None = None, **params: Any) -> list[Json]:
        return self.list_items("/receivablesInvoices", {"q": q, **params})

    def search_credit_memos(self, q: str | None = None, **params: Any) -> list[Json]:
        """Every ``receivablesCreditMemos`` item matching ``q`` (all pages); ``params`` are further query
        parameters (``onlyData``, ``fields``, ``orderBy``, ``finder``...). Credit memo amounts
        (``EnteredAmount``) are negative; the currency is ``CreditMemoCurrency``."""
        return self.list_items("/receivablesCreditMemos", {"q": q, **params})

    def get_credit_memo(self, customer_transaction_id: int | str) -> Json:
        return self.get(f"/receivablesCreditMemos/{_key(customer_transaction_id)}")

    def update_credit_memo(self, customer_transaction_id: int | str, fields: Mapping[str, Any], *,
                           if_match: str | None = None) -> Json:
        """PATCH a credit memo with ``fields`` (repeated after an uncertain failure: a PATCH sets values,
        so sending it twice changes nothing more); returns the item as Oracle answers it."""
        return self._call("PATCH", f"/receivablesCreditMemos/{_key(customer_transaction_id)}", body=dict(fields),
                          headers={"If-Match": if_match} if if_match else None)

    def invoice_installments(self, invoice_id: int | str) -> list[Json]:
        return self.list_items(f"/receivablesInvoices/{_key(invoice_id)}/child/receivablesInvoiceInstallments")

    def invoice_balance_minor(self, invoice_id: int | str, currency: str = "USD") -> int:
        """What is still due on an invoice: the sum of its installments' balances."""
        return sum(parse_installment(i, currency).balance_minor or 0 for i in self.invoice_installments(invoice_id))

    def customer_account_activities(self, account_number: str | None = None) -> list[Json]:
        params = {"q": self.q(AccountNumber=account_number)} if account_number else None
        return self.list_items("/receivablesCustomerAccountActivities", params)

    def find_customer_account(self, account_number: str) -> Json | None:
        rows = [r for r in self.customer_account_activities(account_number) if r.get("AccountNumber") == account_number]
        return rows[0] if rows else None

    def payment_schedules(self, account_id: int | str, *, open_only: bool = True) -> list[Json]:
        params = {"q": self.q(InstallmentStatus="Open")} if open_only else None
        return self.list_items(f"/receivablesCustomerAccountActivities/{_key(account_id)}/child/transactionPaymentSchedules",
                               params)

    def receipt_applications(self, account_id: int | str, receipt_id: int | None = None) -> list[Json]:
        """The account's ``standardReceiptApplications`` rows (of one receipt when ``receipt_id`` is
        given), as Oracle sends them: read them with :func:`.records.parse_application` (the names are
        third-party, e.g. ``ReferenceInstallmentId`` and ``ApplicationAmount``, and may be missing)."""
        params = {"q": self.q(StandardReceiptId=receipt_id)} if receipt_id is not None else None
        return self.list_items(f"/receivablesCustomerAccountActivities/{_key(account_id)}/child/standardReceiptApplications",
                               params)

    # -- order hub ------------------------------------------------------------------------------------------

    def create_sales_order(self, payload: Mapping[str, Any], *, upsert: bool = False) -> Json:
        """POST an order; with ``upsert`` (``Upsert-Mode: true``) a repeat updates instead, so it may retry."""
        return self._call("POST", "/salesOrdersForOrderHub", body=dict(payload), retry_uncertain=upsert,
                          headers={"Upsert-Mode": "true"} if upsert else None)

    def get_sales_order(self, order_key: str) -> Json:
        return self.get(f"/salesOrdersForOrderHub/{_key(order_key)}")

    def ship_sales_order(self, order_key: str, **params: Any) -> Json:
        """Sandbox only (``shipOrder``): ship, close, and create the AR invoice as AutoInvoice would."""
        return self._action(f"/salesOrdersForOrderHub/{_key(order_key)}/action/shipOrder", params)

    # -- batch ----------------------------------------------------------------------------------------------

    def batch(self, parts: Iterable[Mapping[str, Any]]) -> list[BatchPart]:
        """POST a batch; all parts commit together or none does (then :class:`OracleBatchError`)."""
        body = {"parts": [dict(p) for p in parts]}
        read_only = all(str(p.get("operation", "")).lower() == "get" for p in body["parts"])
        path = f"{self.root}/"
        response = self.request("POST", path, body=body, content_type=BATCH, retry_uncertain=read_only,
                                raise_for_status=False)
        if response.status_code < 400:
            return parse_batch_response(_json(response, path), path=path)
        try:
            failed = parse_batch_response(response.json(), path=path)
        except (ValueError, OracleResponseError):
            messages = parse_error_body(response.text, response.headers.get("content-type", ""))
            raise error_for(response.status_code, messages, method="POST", path=path) from None
        raise OracleBatchError("the batch was refused; nothing was applied", http_status=response.status_code,
                               parts=[{"id": p.id, "path": p.path, "operation": p.operation, "messages": p.messages}
                                      for p in failed], method="POST", path=path)


def _q_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _key(value: int | str) -> str:
    return quote(str(value), safe="")


def _json(response: httpx.Response, path: str) -> Json:
    try:
        body = response.json()
    except ValueError:
        raise OracleResponseError("the answer is not JSON", path=path, http_status=response.status_code) from None
    if not isinstance(body, dict):
        raise OracleResponseError("the answer is not a JSON object", path=path, http_status=response.status_code)
    return body
