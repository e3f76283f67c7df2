"""The Oracle sandbox's control API (loopback use, no auth, never faulted), under ``/fscmRestApi/_sandbox``:

- ``GET  /health`` -> ``{"status": "ok"}``
- ``POST /reset`` (``{"empty": true}`` optional) -> back to the startup state (seeded as at creation),
  or empty; also clears the fault config and statistics and expires every token.
- ``POST /seed`` -> ``{"seed", "start_date", "end_date" | "days", "per_day", "tz_name"?, "card_on_file"?}``
  seeds from the PayTrace generator's catalogue (and its card-on-file invoices, when asked);
  ``{"invoices": [...], "customers": [...]}`` seeds those catalogue dicts. Answers what was added.
  Idempotent. ``"credit_memos": [...]`` (alone or with invoices/customers) keys in receivables credit
  memos, each a dict of :func:`~.seed.add_credit_memo`'s keyword arguments (not idempotent).
- ``GET  /faults``, ``POST /faults`` (a full :class:`~paysync_dagster.sandbox.faults.FaultConfig`)
- ``GET  /stats`` -> ``{"oracle": counts, "requests": {"METHOD resource": {status: n}}, "faults": ...}``
- ``GET  /state`` -> every receipt with its remittance references and applications, every invoice with
  its installments and balances (minor units), customers and sales orders; ``?invoices=false`` omits
  invoices.
- ``POST /clock`` ``{"today": "YYYY-MM-DD" | null}`` -> the business date used for defaults.
- ``POST /expire_tokens`` -> every bearer token issued so far is refused from now on.
- ``POST /automatch`` -> runs "Apply Receipts Using AutoMatch": remittance references matched by
  "Transaction Number" are applied (amount = reference amount, else what is unapplied, capped by the
  installment balances); answers ``{"applied": n}``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from paysync_dagster.lib.money import to_minor, to_wire
from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE

from ..asgi import control_body
from ..faults import FaultConfig
from . import receipts
from .seed import SeedSpec, seed_credit_memos, seed_from_catalogue, seed_from_generator
from .state import ApiError, OracleState

if TYPE_CHECKING:
    from .app import OracleSandbox


def seed_spec(raw: dict[str, Any]) -> SeedSpec:
    start = date.fromisoformat(str(raw["start_date"]))
    end = date.fromisoformat(str(raw["end_date"])) if raw.get("end_date") else \
        start + timedelta(days=int(raw.get("days", 7)) - 1)
    per_day = int(raw.get("per_day", 300))
    if end < start or per_day < 0:
        raise ValueError("need start_date <= end_date and per_day >= 0")
    return SeedSpec(int(raw.get("seed", 7)), start, end, per_day, str(raw.get("tz_name") or DEFAULT_MERCHANT_TIMEZONE),
                    card_on_file=bool(raw.get("card_on_file", False)))


def dump(state: OracleState, *, with_invoices: bool = True) -> dict[str, Any]:
    """The whole store in minor units, for tests and demos (no timestamps, so two runs compare equal)."""
    with state.lock:
        s = state.store
        numbers = {inv.id: inv.number for inv in s.invoices.values()}
        out: dict[str, Any] = {"receipts": [{
            "StandardReceiptId": r.id, "ReceiptNumber": r.fields.get("ReceiptNumber"),
            "ReceiptDate": r.fields.get("ReceiptDate"), "Amount": r.fields.get("Amount"), "amount_minor": r.amount_minor,
            "Currency": r.currency, "CustomerAccountNumber": r.fields.get("CustomerAccountNumber"),
            "Status": receipts.status_of(r), "unapplied_minor": r.unapplied_minor, "reversal": r.reversal,
            "remittanceReferences": [{"RemittanceReferenceId": ref.id, **{k: v for k, v in ref.fields.items()
                                                                          if k in receipts.REF_WRITABLE}}
                                     for ref in r.remittance_references],
            "applications": [{"ReceivableApplicationId": a.id, "InstallmentId": a.installment_id,
                              "CustomerTransactionId": a.invoice_id, "TransactionNumber": numbers.get(a.invoice_id),
                              "amount_minor": a.amount_minor, "status": a.status, "apply_date": a.apply_date,
                              "gl_date": a.gl_date, "unapplied_on": a.unapplied_on} for a in r.applications],
        } for r in sorted(s.receipts.values(), key=lambda r: r.id)]}
        if with_invoices:
            out["invoices"] = [{
                "CustomerTransactionId": inv.id, "TransactionNumber": inv.number,
                "BillToCustomerNumber": inv.fields.get("BillToCustomerNumber"), "Currency": inv.currency,
                "InvoiceStatus": inv.fields.get("InvoiceStatus"), "total_minor": inv.total_minor,
                "balance_minor": inv.balance_minor,
                "installments": [{"InstallmentId": i.id, "number": i.number, "due_date": i.due_date,
                                  "original_minor": i.original_minor, "balance_minor": i.balance_minor}
                                 for i in inv.installments],
            } for inv in sorted(s.invoices.values(), key=lambda inv: inv.id)]
        out["customers"] = [{"AccountId": c.account_id, "AccountNumber": c.account_number, "CustomerName": c.customer_name,
                             "CustomerId": c.customer_id, "PartyNumber": c.party_number, "BillToSiteUseId": c.site_use_id,
                             "BillToSiteNumber": c.site_number} for c in sorted(s.customers.values(), key=lambda c: c.account_id)]
        out["sales_orders"] = [{"HeaderId": o.header_id, "OrderKey": o.order_key, "OrderNumber": o.order_number,
                                "StatusCode": o.fields.get("StatusCode"), "CustomerTransactionId": o.invoice_id,
                                "total_minor": sum(line.amount_minor for line in o.lines)}
                               for o in sorted(s.orders.values(), key=lambda o: o.header_id)]
        out["counts"] = state.counts()
        return out


def automatch(state: OracleState) -> int:
    applied = 0
    with state.lock:
        for r in sorted(state.store.receipts.values(), key=lambda r: r.id):
            for ref in r.remittance_references:
                if ref.fields.get("_matched") or ref.fields.get("ReceiptMatchBy") != "Transaction Number":
                    continue
                invoice = state.invoice_by_number(str(ref.fields.get("ReferenceNumber")))
                if invoice is None or r.reversal or r.account_id is None:
                    continue
                want = r.unapplied_minor
                if ref.fields.get("ReferenceAmount") is not None:
                    want = min(want, to_minor(ref.fields["ReferenceAmount"], r.currency))
                for inst in invoice.installments:
                    amount = min(want, inst.balance_minor)
                    if amount <= 0:
                        continue
                    try:
                        receipts.apply_receipt(state, r, {"appliedPaymentScheduleId": inst.id,
                                                          "amountApplied": to_wire(amount, r.currency),
                                                          "calledFrom": "AutoMatch"})
                    except ApiError:
                        break
                    want -= amount
                    applied += 1
                ref.fields["_matched"] = True
    return applied


def control_routes(sandbox: OracleSandbox, prefix: str) -> list[Route]:
    """The control routes under ``prefix`` (so a composed sandbox can mount them elsewhere)."""
    state = sandbox.state

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def reset(request: Request) -> JSONResponse:
        body = await control_body(request)
        await run_in_threadpool(state.reset, empty=bool(body.get("empty")))
        sandbox.reset_statistics()
        return JSONResponse({"oracle": state.counts()})

    async def seed(request: Request) -> JSONResponse:
        body = await control_body(request)
        try:
            if "invoices" in body or "customers" in body:
                added = await run_in_threadpool(seed_from_catalogue, state, body.get("invoices") or [],
                                                body.get("customers") or [])
            elif "credit_memos" not in body:
                added = await run_in_threadpool(seed_from_generator, state, seed_spec(body))
            else:
                added = {}
            if "credit_memos" in body:
                added = {**added, **await run_in_threadpool(seed_credit_memos, state, body["credit_memos"] or [])}
        except (ValueError, TypeError, KeyError, ApiError) as exc:
            return JSONResponse({"error": "invalid_seed", "detail": str(exc)}, 400)
        return JSONResponse({"added": added, "oracle": state.counts()})

    async def get_faults(request: Request) -> JSONResponse:
        if sandbox.faults is None:
            return JSONResponse({"error": "fault injection is off for this app"}, 409)
        return JSONResponse(sandbox.faults.config.model_dump(mode="json"))

    async def set_faults(request: Request) -> JSONResponse:
        if sandbox.faults is None:
            return JSONResponse({"error": "fault injection is off for this app"}, 409)
        try:
            config = FaultConfig.model_validate_json(await request.body() or b"{}")
        except ValueError as exc:
            return JSONResponse({"error": "invalid_fault_config", "detail": str(exc)}, 400)
        sandbox.faults.configure(config)
        return JSONResponse(config.model_dump(mode="json"))

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(sandbox.statistics())

    async def state_dump(request: Request) -> JSONResponse:
        with_invoices = request.query_params.get("invoices", "true").lower() != "false"
        return JSONResponse(await run_in_threadpool(dump, state, with_invoices=with_invoices))

    async def clock(request: Request) -> JSONResponse:
        body = await control_body(request)
        try:
            state.business_date = date.fromisoformat(body["today"]) if body.get("today") else None
        except ValueError as exc:
            return JSONResponse({"error": "invalid_date", "detail": str(exc)}, 400)
        return JSONResponse({"today": state.today()})

    async def expire_tokens(request: Request) -> JSONResponse:
        return JSONResponse({"generation": state.expire_tokens()})

    async def run_automatch(request: Request) -> JSONResponse:
        return JSONResponse({"applied": await run_in_threadpool(automatch, state)})

    p = prefix.rstrip("/")
    return [
        Route(f"{p}/health", health, methods=["GET"]),
        Route(f"{p}/reset", reset, methods=["POST"]),
        Route(f"{p}/seed", seed, methods=["POST"]),
        Route(f"{p}/faults", get_faults, methods=["GET"]),
        Route(f"{p}/faults", set_faults, methods=["POST"]),
        Route(f"{p}/stats", stats, methods=["GET"]),
        Route(f"{p}/state", state_dump, methods=["GET"]),
        Route(f"{p}/clock", clock, methods=["POST"]),
        Route(f"{p}/expire_tokens", expire_tokens, methods=["POST"]),
        Route(f"{p}/automatch", run_automatch, methods=["POST"]),
    ]


def control_app(sandbox: OracleSandbox, prefix: str) -> Starlette:
    return Starlette(routes=control_routes(sandbox, prefix))
