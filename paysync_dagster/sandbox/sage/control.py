"""Control API of the Sage 300 sandbox (loopback use, no auth, never faulted), under its prefix
(``/_sandbox/sage`` by default and in the composed sandbox):

- ``GET  /health`` -> ``{"status": "ok"}``.
- ``GET  /state[?documents=false]`` -> the store for tests and demos: counts, customers' numbers,
  posted documents (amounts due), posted receipts, every batch in summary, GL batches, orders, banks,
  sessions, settings.
- ``POST /reset`` ``{"empty": false}`` -> back to the startup seed (or empty); sessions dropped, settings
  and business date back to their startup values.
- ``POST /seed`` ``{"seed", "start_date", "end_date" | "days", "per_day", "tz_name", "card_on_file"?}``
  (the PayTrace generator's arguments; ``card_on_file``: its card-on-file customers and invoices too)
  or ``{"customers": [...], "invoices": [...]}`` (catalogue dicts) -> what was added.
- ``POST /expire_sessions`` -> ``{"expired": n}``: every live cookie session ends; clients must sign in
  again with Basic credentials.
- ``POST /post_batches`` ``{"ledger": "CA" | "IN" | "RF", "from": N, "to": N}`` (range optional: all) ->
  posts those batches as a clerk would in Sage's screens: Open batches are set ready and posted along
  with ReadyToPost ones. Answers ``{"posted": [numbers], "posting_sequence": n}``.
- ``POST /ship_order`` ``{"order_number": "...", "date": "YYYY-MM-DD" (optional: the business date)}`` ->
  ships what is left of an OE order and invoices it, as ``InvoiceWillBeProduced`` does at the create:
  the AR invoice (``IN...``) appears at once in ``ARPostedDocuments`` with the order's ``OrderNumber`` and
  ``PONumber``. The stand-in for a clerk shipping the order in Sage and Day End taking its invoice to AR
  (the Web API cannot: ``OEOrders`` has no PATCH). Answers ``{"shipped": bool, "order": {...},
  "invoice": {...} | null}``; an order with nothing left to ship answers ``shipped`` false (repeatable);
  an unknown order is 404 ``RecordNotFound``.
- ``POST /card_refund`` ``{"customer", "amount_minor", "transaction_id", "payment_code"? ("CARDRFND"),
  "date"? (the business date)}`` -> what a clerk enters to have a customer's card refunded
  (:func:`.seed.seed_card_refund`): a posted credit note and an open refund batch ("Card refunds <date>")
  whose entry draws on it with that ``PaymentCode`` and ``TransactionID``. Answers ``{"credit_note",
  "batch_number", "entry_number", "document_number", "amount", "currency"}``; an unknown customer or
  an amount not above zero is 400.
- ``GET/POST /settings`` ``{"page_size", "allow_admin", "session_error_on_expired", "database_offline",
  "session_idle_s"}`` -> the settings after the change.
- ``POST /clock`` ``{"today": "YYYY-MM-DD" | null}`` -> the business date defaults use.
- ``GET  /stats`` -> counts and requests by resource and status.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE

from ..asgi import control_body
from . import invoices, orders, receipts, refunds
from .errors import SageError
from .schema import ORDER, POSTED_DOCUMENT, render
from .wire import dumps

if TYPE_CHECKING:
    from .app import SageSandbox


class _Spec:
    """The generator's arguments (same fields as the Oracle seed's ``SeedSpec``)."""

    def __init__(self, raw: dict[str, Any]):
        self.start_date = date.fromisoformat(str(raw["start_date"]))
        self.end_date = date.fromisoformat(str(raw["end_date"])) if raw.get("end_date") else \
            self.start_date + timedelta(days=int(raw.get("days", 7)) - 1)
        self.per_day = int(raw.get("per_day", 300))
        self.seed = int(raw.get("seed", 7))
        self.tz_name = str(raw.get("tz_name") or DEFAULT_MERCHANT_TIMEZONE)
        self.card_on_file = bool(raw.get("card_on_file", False))
        if self.end_date < self.start_date or self.per_day < 0:
            raise ValueError("need start_date <= end_date and per_day >= 0")


def dump(sandbox: SageSandbox, *, with_documents: bool = True) -> dict[str, Any]:
    state = sandbox.state
    with state.lock:
        s = state.store

        def batch(b: dict, entries: str) -> dict:
            return {"BatchNumber": b["BatchNumber"], "BatchStatus": b["BatchStatus"], "BatchTotal": b["BatchTotal"],
                    "NumberOfEntries": len(b[entries]), "PostingSequenceNumber": b["PostingSequenceNumber"]}

        out: dict[str, Any] = {
            "counts": state.counts(),
            "customers": sorted(s.customers),
            "receipt_batches": [{"BatchRecordType": t, **batch(b, "ReceiptsAdjustments")}
                                for (t, _), b in sorted(s.receipt_batches.items())],
            "invoice_batches": [batch(b, "Invoices") for _, b in sorted(s.invoice_batches.items())],
            "refund_batches": [batch(b, "Refunds") for _, b in sorted(s.refund_batches.items())],
            "posted_receipts": [{k: r[k] for k in ("BankCode", "CustomerNumber", "CheckReceiptNumber", "BatchNumber",
                                                   "EntryNumber", "DocumentNumber", "ReceiptTransactionType",
                                                   "CustomerReceiptAmount")} for _, r in sorted(s.receipts.items())],
            "gl_batches": [{"BatchNumber": n, "SourceLedger": b["SourceLedger"], "Status": b["Status"],
                            "NumberOfEntries": b["NumberOfEntries"], "Debits": b["Debits"], "Credits": b["Credits"]}
                           for n, b in sorted(s.gl_batches.items())],
            "orders": [{"OrderNumber": o["OrderNumber"], "CustomerNumber": o["CustomerNumber"],
                        "OrderTotal": o["OrderTotal"], "LastInvoiceNumber": o["LastInvoiceNumber"]}
                       for _, o in sorted(s.orders.items())],
            "banks": [dict(b) for _, b in sorted(s.banks.items())],
            "sessions": {"live": sum(1 for x in state.sessions.values() if not x.expired),
                         "expired": sum(1 for x in state.sessions.values() if x.expired)},
            "settings": settings(state),
        }
        if with_documents:
            out["documents"] = [{k: d[k] for k in ("CustomerNumber", "DocumentNumber", "DocumentType", "OrderNumber",
                                                   "PONumber", "CustomerCurrencyInvoiceAmount",
                                                   "CustomerCurrencyAmountDue", "FullyPaid")}
                                for _, d in sorted(s.documents.items())]
        return out


def settings(state: Any) -> dict[str, Any]:
    return {"company": state.company, "page_size": state.page_size, "allow_admin": state.allow_admin,
            "session_error_on_expired": state.session_error_on_expired, "database_offline": state.database_offline,
            "session_idle_s": state.session_idle_s, "users": sorted(state.users)}


def post_now(sandbox: SageSandbox, ledger: str, lo: int | None, hi: int | None) -> dict[str, Any]:
    state = sandbox.state
    modules = {"CA": (receipts, lambda s: {n: b for (t, n), b in s.receipt_batches.items() if t == "CA"}),
               "IN": (invoices, lambda s: s.invoice_batches), "RF": (refunds, lambda s: s.refund_batches)}
    if ledger not in modules:
        raise ValueError(f"ledger must be one of {', '.join(modules)}")
    module, batches_of = modules[ledger]
    with state.lock:
        batches = batches_of(state.store)
        numbers = sorted(n for n, b in batches.items() if b["BatchStatus"] in ("Open", "ReadyToPost")
                         and (lo is None or n >= lo) and (hi is None or n <= hi))
        sequence = module.post_batches(state, [batches[n] for n in numbers])
        return {"posted": numbers, "posting_sequence": sequence}


def control_routes(sandbox: SageSandbox, prefix: str) -> list[Route]:
    from .seed import CARD_REFUND_PAYMENT_CODE, seed_card_refund, seed_from_catalogue, seed_from_generator

    state = sandbox.state

    def answer(value: Any, status: int = 200) -> Response:
        return Response(dumps(value), status, media_type="application/json")

    async def health(request: Request) -> Response:
        return answer({"status": "ok"})

    async def state_dump(request: Request) -> Response:
        with_documents = request.query_params.get("documents", "true").lower() != "false"
        return answer(await run_in_threadpool(dump, sandbox, with_documents=with_documents))

    async def reset(request: Request) -> Response:
        body = await control_body(request)
        await run_in_threadpool(state.reset, empty=bool(body.get("empty")))
        sandbox.reset_statistics()
        return answer({"sage": state.counts()})

    async def seed(request: Request) -> Response:
        body = await control_body(request)
        try:
            if "invoices" in body or "customers" in body:
                added = await run_in_threadpool(seed_from_catalogue, state, body.get("invoices") or [],
                                                body.get("customers") or [])
            else:
                added = await run_in_threadpool(seed_from_generator, state, _Spec(body))
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": "invalid_seed", "detail": str(exc)}, 400)
        return answer({"added": added, "sage": state.counts()})

    async def expire_sessions(request: Request) -> Response:
        return answer({"expired": state.expire_sessions()})

    async def post_batches(request: Request) -> Response:
        body = await control_body(request)
        try:
            result = await run_in_threadpool(post_now, sandbox, str(body.get("ledger", "CA")),
                                             body.get("from"), body.get("to"))
        except ValueError as exc:
            return JSONResponse({"error": "invalid_request", "detail": str(exc)}, 400)
        except SageError as err:
            return answer(err.body(), err.status)
        return answer(result)

    async def ship_order(request: Request) -> Response:
        body = await control_body(request)
        try:
            number = body.get("order_number")
            if not isinstance(number, str) or not number:
                raise ValueError("order_number is required")
            on = date.fromisoformat(str(body["date"])) if body.get("date") else None
            result = await run_in_threadpool(orders.ship, state, number, on)
        except ValueError as exc:
            return JSONResponse({"error": "invalid_request", "detail": str(exc)}, 400)
        except SageError as err:
            return answer(err.body(), err.status)
        with state.lock:
            return answer({"shipped": result["shipped"], "order": render(result["order"], ORDER),
                           "invoice": render(result["invoice"], POSTED_DOCUMENT) if result["invoice"] else None})

    async def card_refund(request: Request) -> Response:
        body = await control_body(request)
        try:
            customer, amount_minor = body.get("customer"), body.get("amount_minor")
            if not isinstance(customer, str) or not customer:
                raise ValueError("customer is required")
            if body.get("transaction_id") in (None, ""):
                raise ValueError("transaction_id is required")
            on = date.fromisoformat(str(body["date"])) if body.get("date") else None
            result = await run_in_threadpool(seed_card_refund, state, customer, amount_minor, body["transaction_id"],
                                             str(body.get("payment_code") or CARD_REFUND_PAYMENT_CODE), on=on)
        except ValueError as exc:
            return JSONResponse({"error": "invalid_request", "detail": str(exc)}, 400)
        except SageError as err:
            return answer(err.body(), err.status)
        return answer(result)

    async def get_settings(request: Request) -> Response:
        return answer(settings(state))

    async def set_settings(request: Request) -> Response:
        body = await control_body(request)
        known = {"page_size": int, "allow_admin": bool, "session_error_on_expired": bool, "database_offline": bool,
                 "session_idle_s": (int, float, type(None))}
        for name, value in body.items():
            if name not in known or not isinstance(value, known[name]) or \
                    (name == "page_size" and (isinstance(value, bool) or value < 1)):
                return JSONResponse({"error": "invalid_setting", "detail": f"{name}={value!r}"}, 400)
        with state.lock:
            for name, value in body.items():
                setattr(state, name, value)
        return answer(settings(state))

    async def clock(request: Request) -> Response:
        body = await control_body(request)
        try:
            state.business_date = date.fromisoformat(body["today"]) if body.get("today") else None
        except ValueError as exc:
            return JSONResponse({"error": "invalid_date", "detail": str(exc)}, 400)
        return answer({"today": state.today().isoformat()})

    async def stats(request: Request) -> Response:
        return answer(sandbox.statistics())

    p = prefix.rstrip("/")
    return [
        Route(f"{p}/health", health, methods=["GET"]),
        Route(f"{p}/state", state_dump, methods=["GET"]),
        Route(f"{p}/reset", reset, methods=["POST"]),
        Route(f"{p}/seed", seed, methods=["POST"]),
        Route(f"{p}/expire_sessions", expire_sessions, methods=["POST"]),
        Route(f"{p}/post_batches", post_batches, methods=["POST"]),
        Route(f"{p}/ship_order", ship_order, methods=["POST"]),
        Route(f"{p}/card_refund", card_refund, methods=["POST"]),
        Route(f"{p}/settings", get_settings, methods=["GET"]),
        Route(f"{p}/settings", set_settings, methods=["POST"]),
        Route(f"{p}/clock", clock, methods=["POST"]),
        Route(f"{p}/stats", stats, methods=["GET"]),
    ]


def control_app(sandbox: SageSandbox, prefix: str) -> Starlette:
    return Starlette(routes=control_routes(sandbox, prefix))
