"""The Oracle Fusion Cloud ERP REST API as a local sandbox, faithful to ``specs/oracle_fusion_rest.md``.

``create_oracle_app(...)`` returns an :class:`OracleSandbox`, an ASGI app serving:

- ``POST /oauth2/v1/token`` (the identity domain's token endpoint, JWT-bearer user assertion);
- ``GET  /fscmRestApi/resources`` (context root: versions, sample 13's shape);
- ``POST /fscmRestApi/resources/11.13.18.05/`` (batch, ``application/vnd.oracle.adf.batch+json``);
- under ``/fscmRestApi/resources/11.13.18.05/`` (``latest`` is an alias): ``standardReceipts``,
  ``receivablesInvoices``, ``receivablesCreditMemos``, ``receivablesCustomerAccountActivities``,
  ``receivablesCustomerAccountSiteActivities``, ``salesOrdersForOrderHub`` (modules of this package);
- the control API under ``/fscmRestApi/_sandbox/`` (:mod:`.control`), never faulted, no auth.

Everything but the control API needs Basic auth with a configured Fusion user or a Bearer token from
the token endpoint (401 otherwise), and sits behind the shared fault injector (:mod:`..faults`).

Sandbox assumptions, where the spec is silent or says [unverified] (a client written against the
sandbox should know what it relies on):

Framework
- ``REST-Framework-Version`` defaults to 1 (the Fusion docs; sample 13 prints 3 for another pod);
  1-9 are accepted, anything else is 400. v1 takes query-by-example ``q``, v2+ the expression grammar
  (v1-style ``A=1;B=2`` is 400 there), v3+ nests expanded children as collection objects.
- ``limit`` defaults to 25 and is capped at 500 (the response's ``limit`` shows the cap); ``limit=0``
  and negative values are 400. ``totalResults`` is exact. ``onlyData=true`` removes every ``links``,
  the collection's too. Rows are in primary-key (creation) order unless ``orderBy`` says otherwise;
  nulls sort last ascending, first descending. Every attribute is queryable.
- ``fields`` naming an unknown attribute or child, and an unknown ``orderBy`` attribute, are 400.
- POST creates answer 201 with the item (plus the children posted inline); PATCH answers 200; DELETE
  answers 204. ``PUT`` (batch ``replace``) behaves like PATCH. Unknown or read-only attributes in a
  payload are refused with 400 (ADF does not ignore them).
- Items carry ``links[].properties.changeIndicator``; the same value is the ``ETag``; a PATCH or DELETE
  with a stale ``If-Match`` is 412.
- Errors: 400/404/405/412/415 bodies are ``text/plain`` (one message per line, Oracle's message text
  without its code) unless ``Accept`` names ``application/vnd.oracle.adf.error+json``; then the body is
  ``{"type", "title", "detail", "status": "400", "o:errorDetails": [{"detail", "o:errorCode"}]}``.
  An unknown item or resource is 404; an operation a resource lacks is 405 ("POST action not
  supported" for the read-only activities resources, as the spec quotes). The 401 body is plain text
  with ``WWW-Authenticate: Basic``.
- Custom actions need ``Content-Type: application/vnd.oracle.adf.action+json`` (else 415), take the
  documented flat object (ADF's ``{"name", "parameters": [{...}]}`` is accepted too), and answer 200
  ``application/vnd.oracle.adf.actionresult+json`` ``{"result": {...}}`` (the result's keys are the
  sandbox's, camelCase like the parameters).
- Batch: parts run in order in one transaction; a failure rolls everything back and answers 400 with
  only the failing parts, each with the error JSON above as its ``payload`` (spec: [unverified]).
  Success answers 200 with every part, ``path`` made absolute, ``payload`` the resulting item (null
  for delete). No custom action is enabled for batch ("The action X isn't enabled for batch
  execution.") unless ``OracleState(batch_actions=(...))`` names it; then a part with operation
  ``create`` on ``.../action/<name>`` runs it with the part's payload as parameters. A batch of only
  ``get`` parts takes no snapshot of the store (nothing to roll back). The batch request must be
  ``application/vnd.oracle.adf.batch+json`` (else 415).

standardReceipts
- Required: ``Amount``, ``BusinessUnit`` (FND_CMN_REQ_ATTRIB_API_SERV per missing attribute). Defaults:
  ``ReceiptDate`` today (sandbox business date), ``AccountingDate``, ``MaturityDate`` and
  ``RemittanceBankDepositDate`` = ``ReceiptDate``; ``Currency`` the ledger currency (USD);
  ``RemittanceBankAllowOverride`` "N"; ``ReceiptNumber`` the receipt id when absent (automatic
  numbering); customer fields null (an unidentified receipt).
- ``Amount`` is echoed exactly as sent (string or number); ``UnappliedAmount``, ``AccountedAmount`` and
  ``ReferenceAmount`` are numbers. More decimals than the currency has, or a negative amount, is 400.
- Validation codes: AR_RAPI_BU_INVALID (business unit not configured), AR_RAPI_CURR_CODE_INVALID,
  AR_INVAL_RECEIPT_MTH_ID (receipt method not configured), AR_BOE_OBSOLETE ("Bills of Exchange",
  "BOE Remittance"); chosen here after Oracle's receipt API message names: AR_RAPI_CUS_NUM_INVALID
  (unknown ``CustomerAccountNumber``), AR_RAPI_CUST_NAME_INVALID (unknown, ambiguous or mismatched
  ``CustomerName``), AR_RAPI_CUS_SITE_NUM_INVALID (site not the account's bill-to site).
  ``ReceiptNumber`` is limited to 30 characters.
- Duplicate: 400 AR_RCP_DUP_NUM only when ReceiptNumber, ReceiptDate, amount (numerically) and the
  customer account (None for unidentified) all equal an existing receipt's, reversed ones included.
- Status: "Unidentified" (no customer), "Unapplied" (something left unapplied), "Applied" (fully
  applied), "Reversed"; State: "Cleared", or "Reversed".
- PATCH may change only: Comments, customer fields, TaxpayerIdentificationNumber, customer bank
  fields, MaturityDate, PostmarkDate, DocumentNumber, RemittanceBankDepositDate, card holder names.
  Changing the customer of an applied receipt gives sample 11's "You can't update the customer
  account on receipt {ReceiptNumber} because it was applied to a transaction." (no code). A reversed
  receipt cannot be updated; an applied one cannot be deleted.
- ``remittanceReferences``: ``ReferenceNumber`` required (max 50); ``ReceiptMatchBy`` one of "Purchase
  Order", "Transaction Number", "Sales Order", "Shipment Reference", "Contract Number", "Balance Forward
  Billing Number", "Customer Reference". The item has sample 05's attributes. They are applied only by
  the control API's ``/automatch`` (AutoMatch runs asynchronously in Oracle).
- Actions (26c/26d names): ``applyReceipt`` (``appliedPaymentScheduleId`` = an installment id,
  ``amountApplied`` optional = the installment's open balance, ``calledFrom``; sandbox extras
  ``applicationDate``, ``accountingDate``) -> ``{"receivableApplicationId", "appliedPaymentScheduleId",
  "amountApplied", "applicationDate", "unappliedAmount"}``. Refused: reversed or unidentified receipt,
  incomplete invoice, another currency, more than the installment's balance (no overapplication) or
  than the receipt's unapplied amount. Receipts may pay other customers' invoices.
  ``bulkApplyReceipt`` (``appliedPaymentScheduleIds``: ids separated by commas/spaces, or a JSON array)
  gives each installment in turn min(balance, what is left) -> ``{"applications": [...],
  "unappliedAmount"}``. ``unapplyReceipt`` (``receivableApplicationId``, or ``appliedPaymentScheduleId``
  = every active application of the receipt on it) -> ``{"receivableApplicationIds", "amountUnapplied",
  "unappliedAmount"}``. ``reverseReceipt`` (``reversalCategoryCode`` REV/NSF/STOP and
  ``reversalReasonCode`` required; ``reversalDate`` optional) unapplies everything -> ``{"status":
  "Reversed", "reversalDate", "unappliedApplicationIds"}``. ``refundReceipt`` is not implemented.
  Unapplied applications stay in the history with status UNAPP.

receivablesInvoices
- Required on POST: BusinessUnit, TransactionSource, TransactionType, TransactionDate,
  BillToCustomerNumber (an existing account), and at least one line (Quantity, UnitSellingPrice, and
  Description unless ItemNumber or MemoLineName). TransactionNumber is numbered automatically when
  absent and must be unique. Sources and types are not validated. InvoiceStatus defaults to
  "Complete"; PaymentTerms to "30 Net". DueDate, when given, overrides a single installment's due date.
- Read-only extras: ``EnteredAmount`` (total) and ``InvoiceBalanceAmount`` (sum of installment
  balances) [unverified names, as the spec warns]; lines carry ``LineAmount``.
- ``receivablesInvoiceInstallments``: ``InstallmentId``, ``InstallmentSequenceNumber``,
  ``InstallmentDueDate``, ``OriginalAmount``, ``InstallmentBalanceDue``, ``AccountedBalanceDue``,
  ``AmountPaid``, ``InstallmentStatus`` (Open/Closed); PATCH may change the due date, and the amount
  of an installment without activity when the amounts still add up to the invoice.
- PATCH of the invoice: only InvoiceStatus, PaymentTerms, TransactionDate (docs' wording), plus the
  nested installments array. With activity, it can be neither made incomplete nor re-termed.

receivablesCreditMemos
- GET (collection and item) and PATCH only, seeded by ``seed.add_credit_memo``; PATCH takes
  CreditMemoComments, InternalNotes, CrossReference, CreditMemoStatus, AllowCompletion, TransactionType.
  ``ReceiptMethod`` and ``CreditedTransactionNumber`` are sandbox attributes, and a PATCH of the text
  fields is not confirmed for Oracle: see :mod:`.credit_memos`, which lists what was found and where.

Activities and orders
- ``transactionPaymentSchedules`` use the attribute names of a third-party schema (InstallmentId,
  InstallmentNumber, InstallmentStatus 'Open'/'Closed', TransactionId, TransactionNumber,
  PaymentScheduleDueDate, TotalBalanceAmount, TotalOriginalAmount, EnteredCurrency, ...), over the
  installments of complete invoices. Account activities add ``TotalOpenReceivables`` and
  ``TotalTransactionsDue`` (the site resource's ``...ForSite`` pair: open balance, and the original
  amount of what is still open). ``standardReceiptApplications`` rows use the third-party names of
  spec §3.1 (ApplicationAmount, EnteredCurrency, ApplicationStatus 'Applied'/'Unapplied',
  ReferenceInstallmentId, ReferenceTransactionId/Number/Status, ...); no InstallmentId,
  AppliedAmount or Currency.
- Each customer is one party (``CustomerId``, ``PartyNumber`` "P"+account) with one account and one
  bill-to site (``<account>-BILL``).
- ``salesOrdersForOrderHub``: OrderKey = ``<SourceTransactionSystem>:<SourceTransactionId>`` (HeaderId
  works too). Required: the three SourceTransaction fields, BusinessUnitName (or BusinessUnitId), a
  buying party (BuyingPartyId/Number/Name, or a ``billToCustomer`` child with CustomerAccountId or
  AccountNumber), and ``lines`` with ProductNumber, OrderedQuantity and UnitSellingPrice (or
  UnitListPrice: the sandbox does no pricing). StatusCode "DOO_DRAFT", or "OPEN" when
  ``SubmittedFlag`` is true. ``Upsert-Mode: true`` updates header notes of an existing order.
  The sandbox-only action ``shipOrder`` (optional TransactionNumber, TransactionDate, PaymentTerms,
  TransactionType) closes the order and creates its invoice from source "Distributed Order
  Orchestration" with CrossReference = OrderNumber and lines carrying SalesOrder/SalesOrderLine.

Auth: see :mod:`.security`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..asgi import acknowledge_lifespan
from ..faults import FaultConfig, FaultInjector, fault_config
from . import activities, credit_memos, invoices, orders, receipts
from .control import control_app
from .rest import BATCH, ERROR, TITLES, Call, Registry, Result, dispatch, error_json, run_batch
from .security import OAuthServerConfig, check_basic, check_bearer, token_endpoint
from .seed import SeedSpec, seed_from_generator
from .state import ApiError, OracleState, utc_now

VERSION = "11.13.18.05"
CONTEXT_ROOT = "/fscmRestApi/resources"
CONTROL_PREFIX = "/fscmRestApi/_sandbox"
TOKEN_PATH = "/oauth2/v1/token"
FRAMEWORK_VERSIONS = range(1, 10)

REGISTRY: Registry = {spec.name: spec for spec in (
    receipts.SPEC, invoices.SPEC, credit_memos.SPEC, activities.ACCOUNT_SPEC, activities.SITE_SPEC, orders.SPEC)}


class OracleSandbox:
    """The ASGI app. ``.state`` is the store, ``.faults`` the injector (None when off), ``.api`` the
    unfaulted REST + token app, ``.control`` the control API app."""

    def __init__(self, state: OracleState, *, oauth: OAuthServerConfig | None = None,
                 faults: FaultConfig | dict | str | None = None, fault_injection: bool = True,
                 control_prefix: str = CONTROL_PREFIX):
        self.state = state
        self.oauth = oauth
        self.control_prefix = control_prefix.rstrip("/")
        self._lock = threading.Lock()
        self._requests: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.api = Starlette(routes=[Route("/{path:path}", self._handle,
                                           methods=["GET", "POST", "PATCH", "PUT", "DELETE"])])
        self.control = control_app(self, self.control_prefix)
        self.faults: FaultInjector | None = None
        if fault_injection:
            # Wraps only the REST and token paths; the control API is routed around it in __call__.
            self.faults = FaultInjector(self.api, fault_config(faults), on_expire_tokens=[state.expire_tokens],
                                        control_prefix=self.control_prefix + "/")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await acknowledge_lifespan(receive, send)
            return
        path = scope.get("path", "")
        if path == self.control_prefix or path.startswith(self.control_prefix + "/"):
            await self.control(scope, receive, send)
        elif self.faults is not None:
            await self.faults(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    # -- statistics --------------------------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        with self._lock:
            requests = {k: dict(v) for k, v in sorted(self._requests.items())}
        out: dict[str, Any] = {"oracle": self.state.counts(), "requests": requests}
        if self.faults is not None:
            out["faults"] = self.faults.stats()["faults"]
        return out

    def reset_statistics(self) -> None:
        with self._lock:
            self._requests.clear()
        if self.faults is not None:
            self.faults.configure(FaultConfig())
            self.faults.reset_stats()

    def _count(self, method: str, what: str, status: int) -> None:
        with self._lock:
            self._requests[f"{method} {what}"][str(status)] += 1

    # -- HTTP --------------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        path, method = request.url.path, request.method.upper()
        if path == TOKEN_PATH:
            if method != "POST":
                return Response("Method Not Allowed", 405, media_type="text/plain")
            status, body = await run_in_threadpool(
                token_endpoint, self.state, self.oauth, request.headers.get("authorization"),
                request.headers.get("content-type", ""), await request.body())
            self._count(method, "token", status)
            return JSONResponse(body, status, headers={"Cache-Control": "no-store"})
        structured = ERROR in request.headers.get("accept", "")
        if path != CONTEXT_ROOT and not path.startswith(CONTEXT_ROOT + "/"):
            return _error(ApiError(404, f"The requested resource {path} was not found."), structured)
        now = self.oauth.clock() if self.oauth else time.time()
        authorization = request.headers.get("authorization")
        user = check_basic(self.state.users, authorization) or check_bearer(self.state, authorization, now)
        rest = path[len(CONTEXT_ROOT):].strip("/")
        version, _, sub = rest.partition("/")
        what = sub.split("/", 1)[0] or version or "context-root"
        if user is None:
            self._count(method, what, 401)
            return _error(ApiError(401, "Authentication is required to access this resource.",
                                   headers={"WWW-Authenticate": 'Basic realm="Oracle Fusion sandbox"'}), structured)
        try:
            result = await self._serve(request, method, version, sub, user)
        except ApiError as err:
            self._count(method, what, err.status)
            return _error(err, structured)
        self._count(method, what, result.status)
        return _response(result)

    async def _serve(self, request: Request, method: str, version: str, sub: str, user: str) -> Result:
        fv_raw = request.headers.get("rest-framework-version", str(self.state.default_framework_version))
        if not fv_raw.strip().isdigit() or int(fv_raw) not in FRAMEWORK_VERSIONS:
            raise ApiError(400, f"The REST-Framework-Version {fv_raw} isn't supported.")
        fv = int(fv_raw)
        base = str(request.base_url).rstrip("/")
        if not version:
            if method != "GET":
                raise ApiError(405, f"{method} action not supported")
            return _versions(base, self.state.default_framework_version, fv)
        if version not in (VERSION, "latest"):
            raise ApiError(404, f"The requested resource version {version} was not found.")
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise ApiError(400, "The request body isn't valid JSON.") from None
        call = Call(method=method, path="/" + sub, params=dict(request.query_params), body=body,
                    headers={k.lower(): v for k, v in request.headers.items()}, framework_version=fv,
                    base_url=f"{base}{CONTEXT_ROOT}/{version}", content_type=request.headers.get("content-type", ""),
                    user=user)
        if not sub:
            if method == "POST":
                result = await run_in_threadpool(run_batch, self.state, REGISTRY, call)
            elif method == "GET":
                result = Result(200, {"items": [{"name": n, "links": [
                    {"rel": "self", "href": f"{call.base_url}/{n}", "name": n, "kind": "collection"}]}
                    for n in REGISTRY]}, "application/json")
            else:
                raise ApiError(405, f"{method} action not supported")
        else:
            result = await run_in_threadpool(dispatch, self.state, REGISTRY, call)
        result.headers.setdefault("REST-Framework-Version", str(fv))
        return result


def _versions(base: str, default: int, fv: int) -> Result:
    return Result(200, {"items": [{
        "version": VERSION, "isLatest": True,
        "adf:extension": {"defaultFrameworkVersion": str(default),
                          "allowedFrameworkVersions": [str(v) for v in FRAMEWORK_VERSIONS]},
        "links": [{"rel": "self", "href": f"{base}{CONTEXT_ROOT}/{VERSION}", "name": VERSION, "kind": "collection"}],
    }]}, "application/json", {"REST-Framework-Version": str(fv)})


def _response(result: Result) -> Response:
    if result.status == 204 or result.body is None:
        return Response(status_code=result.status, headers=result.headers)
    return Response(json.dumps(result.body).encode(), result.status, headers=result.headers,
                    media_type=result.media_type)


def _error(err: ApiError, structured: bool) -> Response:
    if structured:
        return Response(json.dumps(error_json(err)).encode(), err.status, headers=err.headers, media_type=ERROR)
    text = "\n".join(detail for detail, _ in err.messages) or TITLES.get(err.status, "Error")
    return Response(text.encode(), err.status, headers=err.headers, media_type="text/plain")


def create_oracle_app(
    state: OracleState | None = None,
    *,
    users: Mapping[str, str] | None = None,
    oauth: OAuthServerConfig | None = None,
    seed: SeedSpec | None = None,
    faults: FaultConfig | dict | str | None = None,
    fault_injection: bool = True,
    clock: Callable[[], datetime] = utc_now,
    default_framework_version: int = 1,
    control_prefix: str = CONTROL_PREFIX,
) -> OracleSandbox:
    """The Oracle sandbox app.

    ``state``: an existing store (else one is made from ``users``, ``clock``, ``default_framework_version``).
    ``oauth``: the confidential app the token endpoint accepts (None = Basic auth only).
    ``seed``: seed from the PayTrace generator's catalogue at startup; ``reset`` returns here.
    ``faults``: the initial config of the fault injector wrapping the REST and token paths (changed
    later through the control API); ``fault_injection=False`` leaves the injector out, e.g. when a
    composed sandbox already wraps everything in one injector.
    ``control_prefix``: where the control API lives (a composed sandbox may move it under its own
    ``/_sandbox/``).
    """
    if state is None:
        state = OracleState(users=users, clock=clock, default_framework_version=default_framework_version)
    if seed is not None:
        seed_from_generator(state, seed)
    state.mark_baseline()
    return OracleSandbox(state, oauth=oauth, faults=faults, fault_injection=fault_injection,
                         control_prefix=control_prefix)


__all__ = ["CONTROL_PREFIX", "OracleSandbox", "REGISTRY", "VERSION", "create_oracle_app", "BATCH"]
