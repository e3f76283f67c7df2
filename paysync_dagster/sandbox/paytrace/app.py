"""The PayTrace JSON API v1 as a Starlette app, field for field as ``specs/paytrace_v1.md``.

``create_app(state)`` serves ``POST /oauth/token``, ``GET /v1/ping`` and the ``/v1`` business calls
listed in ``ROUTES``. Everything outside the spec is a sandbox assumption, listed here so that a
client written against the sandbox knows what it is relying on:

Sandbox assumptions (PayTrace does not publish these):

- A declined transaction keeps ``transaction_type`` SALE or AUTHORIZATION with ``approval_code`` "".
  It is answered HTTP 200, ``success`` false, ``response_code`` 102, and still has a transaction_id.
- A voided transaction keeps its id; its ``transaction_type`` becomes "VOID".
- A captured authorization keeps its id; ``transaction_type`` becomes "CAPTURE" and ``amount``
  becomes the captured amount. An authorization never captured stays "AUTHORIZATION", unsettled.
- A refund is a new transaction_id with ``transaction_type`` "REFUND", a positive ``amount``, and
  the original's ``invoice_id``, ``customer_id``, card and billing address; its ``description`` is
  "Refund of transaction <original id>". Refunds carry an approval code and the approval message
  "  APPROVAL - Approved and completed", with empty AVS/CSC responses.
- Export timestamps (``created.at``, ``settled``, batch ``created``) are in the merchant time zone
  (``America/Los_Angeles`` by default). ``settled`` is "" until the transaction's batch closes.
- Batches close every day at 8:00 pm merchant time (checked against the sandbox clock on each call)
  and on ``transactions/settle``; a batch takes every approved SALE, CAPTURE and REFUND not yet
  settled (never declines, voids or uncaptured authorizations). Batch numbers increase by 1. Batch
  record field names are ``lib/paytrace/batch_fields.py``. The open batch (``export_one`` without
  ``batch_number``) carries the number it will get and ``created`` "".
- ``transactions/settle`` answers ``{"success": true, "response_code": 1, "status_message": ...,
  "batch": BATCH or null, "external_transaction_id": ""}``.
- ``transaction_type`` filter: SALE, AUTHORIZATION, CAPTURE, REFUND, VOID match the type (so SALE
  includes declined sales); SETTLED = settled; PENDING = approved SALE/CAPTURE/REFUND not yet
  settled; DECLINED = declined; STR/FWD is accepted and matches nothing. ``transaction_id`` in a
  date-range export is a filter (exact id). ``including_text`` is a case-insensitive substring
  search of description, invoice_id, customer_id, customer_reference_id and the billing name.
- ``status_code`` and ``status_message`` of export records are "" (the spec's only sample holds an
  opaque processor code with no documented meaning).
- ``include_bin``: ``masked_number`` becomes first six + asterisks + last four, else 12 asterisks
  + last four. ``expiration_year`` is always 2 digits, in exports and in the vault export.
- Vault export addresses also carry ``country`` (transaction exports do; the one public list of
  vault fields simply did not read it).
- AVS/CSC on live sales: billing street and zip given -> "Full Exact Match"; zip only -> "Zip Match";
  otherwise "No Match". ``csc_response`` is "Match" when a CSC is sent, else "".
- Amount 0.29 declines ("    DECLINE - Do not honor"); an expiry date in the past declines
  ("  EXPIRED CARD - Expired card"); CSC "999" is approved then voided: ``success`` true,
  ``response_code`` 103, "Your transaction was successfully approved. However, it was voided because
  the CSC did not match.", ``csc_response`` "No Match", and the record becomes VOID.
- HTTP status: 400 for every ``success: false`` answer except declines (200); 401 for a bad token.
- Error codes the spec does not give, chosen here (all ``response_code`` 1 with ``errors``):
  39 "Please provide a valid Amount."; 40 "Please provide a valid Tax Amount.";
  44 "Please provide a valid Expiration Year."; 47 "Please provide a valid CSC.";
  815 capture of something that is not an open authorization; 816 capture above the authorized
  amount; 818 void of a settled (or declined, or already void) transaction (code as guessed by a
  third-party tool; text chosen here); 819 refund of a refund, or above what is left to refund;
  950/951 invalid start/end date; 952 invalid transaction_type; 953 unknown batch_number;
  954 "Please provide a valid Customer ID." (create without one); 960 body not a JSON object;
  970 "Please provide a valid Integrator ID." (``integrator_id`` missing or not the configured one,
  on every /v1 call except ping).
- Token endpoint: anything but a form-encoded body with grant_type, username and password answers 400
  ``invalid_request``; a grant_type other than "password" answers 400 ``unsupported_grant_type``
  (Doorkeeper's texts).

Full card numbers and CSCs are read, checked and dropped inside the handler; nothing here logs a
request body.
"""

from __future__ import annotations

import json
import uuid
from json.encoder import encode_basestring as _esc  # the C escaper, quotes included
from datetime import date, datetime, timedelta
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysync_dagster.lib.money import MoneyError, to_minor
from paysync_dagster.lib.timeutil import TimeFormatError, parse_paytrace_date, zone

from .generator import (AMOUNT, APPROVAL_CODE, APPROVAL_MESSAGE, APPROVED, AVS, BATCH, BILLING, CARD, CREATED,
                        CREATED_BY, CSC, CUSTOMER_ID, DESCRIPTION, EMAIL, FROM_IP, ID, INVOICE_ID, NO_TAX,
                        ORIGINAL_ID, RECORD_WIDTH, REFERENCE, REFUND_APPROVAL, SHIPPING, TAX, TYPE, DECLINE_MESSAGE,
                        EXPIRED_MESSAGE)
from .state import Batch, PayTraceRefusal, PayTraceState

OK_EXPORT = "Your request has been successfully completed."
ERRORS_OCCURRED = "One or more errors has occurred."
INVALID_GRANT = {"error": "invalid_grant", "error_description": (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in "
    "the authorization request, or was issued to another client.")}
INVALID_REQUEST = {"error": "invalid_request", "error_description": (
    "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise "
    "malformed.")}
UNSUPPORTED_GRANT = {"error": "unsupported_grant_type",
                     "error_description": "The authorization grant type is not supported by the authorization server."}
FILTER_TYPES = ("SALE", "AUTHORIZATION", "CAPTURE", "REFUND", "VOID", "SETTLED", "PENDING", "DECLINED", "STR/FWD")
_NO_ADDRESS = ("", "", "", "", "", "", "")
# Export record layout, in the spec's field order; every %s is filled with JSON text.
_RECORD = ('{"transaction_id":%d,"credit_card":%s,"transaction_type":%s,"description":%s,"amount":%s,'
           '"invoice_id":%s,"shipping_address":%s,"billing_address":%s,"receipt_emailed_to":%s,"tax_amount":%s,'
           '"customer_reference_id":%s,"approval_code":%s,"approval_message":%s,"avs_response":%s,'
           '"csc_response":%s,"status_code":"","status_message":"","created":{"through":"API","at":%s,"by":%s,'
           '"from_ip":%s},"settled":%s,"customer_id":%s}')
_CARD = '{"masked_number":%s,"expiration_month":%d,"expiration_year":%d}'
_BILLING = ('{"name":%s,"street_address":%s,"street_address2":%s,"city":%s,"state":%s,"zip":%s,'
            '"country":%s}')
_SHIPPING = ('{"name":%s,"street_address":%s,"street_address2":%s,"city":%s,"county":%s,"state":%s,'
             '"zip":%s,"country":%s}')
_EMPTY_SHIPPING_JSON = _SHIPPING % (('""',) * 8)
_EPOCH_DATE = date(1970, 1, 1)
# Every path served: the token endpoint, ping (GET, no token), then the POST /v1 calls.
ROUTES = ("/oauth/token", "/v1/ping") + tuple(f"/v1/{p}" for p in (
    "transactions/sale/keyed", "transactions/sale/by_customer", "transactions/authorization/keyed",
    "transactions/authorization/by_customer", "transactions/authorization/capture",
    "transactions/refund/for_transaction", "transactions/void", "transactions/settle", "transactions/export/by_id",
    "transactions/export/by_date_range", "batches/export", "batches/export_one", "batches/transaction_list",
    "customer/create", "customer/create_from_transaction", "customer/update", "customer/delete", "customer/export"))


def _headers() -> dict[str, str]:
    return {"Cache-Control": "max-age=0, private, must-revalidate", "X-Request-Id": str(uuid.uuid4())}


class PayTraceJSON(JSONResponse):
    # PayTrace (Rails) answers with the charset in the content type; some clients look for it.
    media_type = "application/json; charset=utf-8"

    def __init__(self, content: Any, status_code: int = 200, headers: dict | None = None):
        super().__init__(content, status_code, {**_headers(), **(headers or {})})


def _splice(envelope: dict, key: str, array_json: str) -> str:
    """``envelope`` as JSON text with ``key`` (a None placeholder, unique in it) set to ``array_json``."""
    text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    marker = f'"{key}":null'
    assert text.count(marker) == 1
    return text.replace(marker, f'"{key}":{array_json}', 1)


def error_body(errors: dict[str, list[str]], **extra: object) -> dict:
    return {"success": False, "response_code": 1, "status_message": ERRORS_OCCURRED, "errors": errors, **extra}


# -- wire helpers -------------------------------------------------------------------------------

def number(minor: int) -> int | float:
    """Cents as the JSON number PayTrace exports: 110 for $110.00, 12.5 for $12.50.

    ``minor / 100`` is the double nearest the decimal, so its repr is exactly that decimal.
    """
    return minor // 100 if minor % 100 == 0 else minor / 100


def _masked(card: tuple, char: str = "*", include_bin: bool = False) -> str:
    if include_bin:
        return card[1] + "*" * max(card[5] - 10, 2) + card[2]
    return char * 12 + card[2]


def _brand(num: str) -> str:
    p2, p3, p4 = int(num[:2]), int(num[:3]), int(num[:4])
    if num[0] == "4":
        return "VISA"
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return "MASTERCARD"
    if p2 in (34, 37):
        return "AMEX"
    if num.startswith("6011") or p2 == 65 or 644 <= p3 <= 649:
        return "DISCOVER"
    if 3528 <= p4 <= 3589:
        return "JCB"
    if p2 in (36, 38) or 300 <= p3 <= 305:
        return "DINERS"
    return "PRIVATE"


def _luhn_ok(num: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(num)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class TimestampFormatter:
    """``timeutil.format_paytrace_timestamp`` for epoch seconds, fast enough for 100,000-record exports.

    The zone's UTC offset is looked up once per quarter hour of UTC time (every real zone changes
    offset on a quarter-hour boundary) and the rest is integer arithmetic; tests hold it equal to
    ``format_paytrace_timestamp``.
    """

    def __init__(self, tz_name: str):
        self.tz_name = tz_name
        self._tz = zone(tz_name)
        self._offsets: dict[int, int] = {}
        self._dates: dict[int, str] = {}

    def format(self, epoch: int) -> str:
        bucket = epoch // 900
        offset = self._offsets.get(bucket)
        if offset is None:
            offset = int(datetime.fromtimestamp(bucket * 900, self._tz).utcoffset().total_seconds())
            self._offsets[bucket] = offset
        local = epoch + offset
        day, secs = divmod(local, 86400)
        text = self._dates.get(day)
        if text is None:
            d = _EPOCH_DATE + timedelta(days=day)
            text = self._dates[day] = f"{d.month}/{d.day}/{d.year}"
        hour, rest = divmod(secs, 3600)
        minute, second = divmod(rest, 60)
        return f"{text} {hour % 12 or 12}:{minute:02d}:{second:02d} {'PM' if hour >= 12 else 'AM'}"


def _wire(minor: int) -> str:
    """``money.to_wire`` for non-negative USD cents without the Decimal round trip (hot in exports)."""
    return f"{minor // 100}.{minor % 100:02d}"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _address(raw: object, shipping: bool = False) -> tuple | None:
    if not isinstance(raw, dict):
        return None
    keys = ("name", "street_address", "street_address2", "city") + (("county",) if shipping else ()) + \
        ("state", "zip", "country")
    return tuple(_text(raw.get(k)).strip() for k in keys)


def _amount(body: dict, key: str, errors: dict, code: str, message: str, *, required: bool, allow_zero: bool = False) -> int | None:
    raw = body.get(key)
    if raw is None or raw == "":
        if required:
            errors[code] = [message]
        return None
    try:
        minor = to_minor(raw)
    except MoneyError:
        minor = -1
    if minor < 0 or (minor == 0 and not allow_zero):
        errors[code] = [message]
        return None
    return minor


def _txn_id(body: dict) -> int:
    raw = body.get("transaction_id")
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).strip().isdigit():
        raise PayTraceRefusal("58", "Please provide a valid Transaction ID.")
    return int(str(raw).strip())


def _read_card(body: dict, errors: dict) -> tuple | None:
    """(brand, first6, last4, month, year4, length); the full number goes no further than this."""
    cc = body.get("credit_card")
    cc = cc if isinstance(cc, dict) else {}
    num = "".join(_text(cc.get("number")).split())
    if not (num.isdigit() and 12 <= len(num) <= 19 and _luhn_ok(num)):
        errors["35"] = ["Please provide a valid Credit Card Number."]
    month_text, year_text = _text(cc.get("expiration_month")).strip(), _text(cc.get("expiration_year")).strip()
    month = int(month_text) if month_text.isdigit() else 0
    if not 1 <= month <= 12:
        errors["43"] = ["Please provide a valid Expiration Month."]
    year = int(year_text) if year_text.isdigit() and len(year_text) in (2, 4) else 0
    year = year + 2000 if 0 < year < 100 or year_text == "00" else year
    if not 2000 <= year <= 2099:
        errors["44"] = ["Please provide a valid Expiration Year."]
    csc = _text(body.get("csc")).strip()
    if csc and not (csc.isdigit() and len(csc) in (3, 4)):
        errors["47"] = ["Please provide a valid CSC."]
    if errors:
        return None
    return (_brand(num), num[:6], num[-4:], month, year, len(num))


class _Api:
    """The handlers, bound to one state. Each returns (HTTP status, JSON body as a dict, or as text for exports)."""

    def __init__(self, state: PayTraceState):
        self.state = state
        self.tz = zone(state.tz_name)
        self._ts = TimestampFormatter(state.tz_name)

    # -- helpers ----------------------------------------------------------------------------

    def _local_now(self) -> datetime:
        return datetime.fromtimestamp(self.state.now(), self.tz)

    def ts(self, epoch: int) -> str:
        return self._ts.format(epoch)

    def _outcome(self, amount: int, card: tuple, billing: tuple | None, csc: str) -> tuple:
        """(approved, code, message, avs, csc_response, auto_voided) for a live sale or authorization."""
        now = self._local_now()
        if amount == 29:
            return False, "", DECLINE_MESSAGE, "", "", False
        if (card[4], card[3]) < (now.year, now.month):
            return False, "", EXPIRED_MESSAGE, "", "", False
        billing = billing or _NO_ADDRESS
        if billing[1] and billing[5]:
            message, avs = "  EXACT MATCH - Approved and completed", "Full Exact Match"
        elif billing[5]:
            message, avs = "  ZIP MATCH - Approved and completed", "Zip Match"
        else:
            message, avs = "  NO  MATCH - Approved and completed", "No Match"
        if csc == "999":
            return True, self.state.approval_code(), message, avs, "No Match", True
        return True, self.state.approval_code(), message, avs, "Match" if csc else "", False

    def _new_sale(self, kind: str, body: dict, card: tuple, billing: tuple | None, customer_id: str,
                  client_ip: str, errors: dict, csc: str = "", email: str = "") -> tuple[int, dict]:
        amount = _amount(body, "amount", errors, "39", "Please provide a valid Amount.", required=True,
                         allow_zero=kind == "AUTHORIZATION")  # a $0.00 authorization is PayTrace's card verification
        tax = _amount(body, "tax_amount", errors, "40", "Please provide a valid Tax Amount.", required=False,
                      allow_zero=True)
        if errors:
            raise _Invalid(errors)
        approved, code, message, avs, csc_response, auto_void = self._outcome(amount, card, billing, csc)
        rec = [None] * RECORD_WIDTH
        rec[TYPE] = "VOID" if auto_void else kind
        rec[AMOUNT], rec[TAX] = amount, NO_TAX if tax is None else tax
        rec[APPROVED], rec[APPROVAL_CODE], rec[APPROVAL_MESSAGE], rec[AVS], rec[CSC] = approved, code, message, avs, csc_response
        rec[CARD], rec[BILLING] = card, billing or _NO_ADDRESS
        rec[SHIPPING] = _address(body.get("shipping_address"), shipping=True)
        rec[CUSTOMER_ID], rec[INVOICE_ID] = customer_id, _text(body.get("invoice_id"))
        rec[DESCRIPTION], rec[EMAIL] = _text(body.get("description")), _text(body.get("email")) or email
        rec[REFERENCE], rec[CREATED_BY], rec[FROM_IP], rec[ORIGINAL_ID] = (
            _text(body.get("customer_reference_id")), self.state.username, client_ip, 0)
        saved = self.state.add(rec)
        if auto_void:
            status, code_, text = True, 103, ("Your transaction was successfully approved. However, it was voided "
                                              "because the CSC did not match.")
        elif approved:
            status, code_, text = True, 101, "Your transaction was successfully approved."
        else:
            status, code_, text = False, 102, "Your transaction was not approved."
        return 200, {"success": status, "response_code": code_, "status_message": text, "transaction_id": saved[ID],
                     "approval_code": saved[APPROVAL_CODE], "approval_message": saved[APPROVAL_MESSAGE],
                     "avs_response": saved[AVS], "csc_response": saved[CSC], "external_transaction_id": "",
                     "masked_card_number": _masked(card, "x")}

    # -- transactions -----------------------------------------------------------------------

    def keyed(self, kind: str) -> Callable[[dict, str], tuple[int, dict]]:
        def handler(body: dict, client_ip: str) -> tuple[int, dict]:
            errors: dict[str, list[str]] = {}
            card = _read_card(body, errors)
            return self._new_sale(kind, body, card, _address(body.get("billing_address")), "", client_ip, errors,
                                  csc=_text(body.get("csc")).strip())
        return handler

    def by_customer(self, kind: str) -> Callable[[dict, str], tuple[int, dict]]:
        def handler(body: dict, client_ip: str) -> tuple[int, dict]:
            profile = self.state.customer(_text(body.get("customer_id")))
            return self._new_sale(kind, body, profile["card"], profile["billing"], profile["customer_id"], client_ip,
                                  {}, email=profile.get("email", ""))
        return handler

    def capture(self, body: dict, client_ip: str) -> tuple[int, dict]:
        txn_id = _txn_id(body)
        errors: dict[str, list[str]] = {}
        amount = _amount(body, "amount", errors, "39", "Please provide a valid Amount.", required=False)
        if errors:
            raise _Invalid(errors)
        rec = self.state.capture(txn_id, amount)
        return 200, {"success": True, "response_code": 112, "status_message": "Your transaction was successfully captured.",
                     "transaction_id": rec[ID], "external_transaction_id": ""}

    def refund(self, body: dict, client_ip: str) -> tuple[int, dict]:
        txn_id = _txn_id(body)
        errors: dict[str, list[str]] = {}
        amount = _amount(body, "amount", errors, "39", "Please provide a valid Amount.", required=False)
        if errors:
            raise _Invalid(errors)
        with self.state.lock:  # check and write as one step, or two refunds could both pass the check
            orig, amount = self.state.refundable(txn_id, amount)
            rec = list(orig)
            message, avs, csc = REFUND_APPROVAL
            rec[TYPE], rec[AMOUNT], rec[TAX], rec[APPROVED] = "REFUND", amount, NO_TAX, True
            rec[APPROVAL_CODE], rec[APPROVAL_MESSAGE], rec[AVS], rec[CSC] = self.state.approval_code(), message, avs, csc
            rec[SHIPPING], rec[DESCRIPTION], rec[EMAIL], rec[REFERENCE] = None, f"Refund of transaction {orig[ID]}", "", ""
            rec[CREATED_BY], rec[FROM_IP], rec[ORIGINAL_ID] = self.state.username, client_ip, orig[ID]
            saved = self.state.add(rec)
        return 200, {"success": True, "response_code": 106, "status_message": "Your transaction was successfully refunded.",
                     "transaction_id": saved[ID], "external_transaction_id": ""}

    def void(self, body: dict, client_ip: str) -> tuple[int, dict]:
        rec = self.state.void(_txn_id(body))
        return 200, {"success": True, "response_code": 109, "status_message": "Your transaction was successfully voided.",
                     "transaction_id": rec[ID]}

    def settle(self, body: dict, client_ip: str) -> tuple[int, dict]:
        batch = self.state.settle()
        return 200, {"success": True, "response_code": 1, "status_message": OK_EXPORT,
                     "batch": self.batch_record(batch) if batch else None, "external_transaction_id": ""}

    # -- exports ----------------------------------------------------------------------------

    def _records(self, recs: list[tuple], include_bin: bool = False) -> str:
        """The export records as a JSON array, written straight to text.

        Exports are the hot path (a 100,000-record day is ~90 MB of JSON): formatting each record
        into ``_RECORD`` with the C string escaper takes about half the time of building dicts and
        ``json.dumps``-ing them. Card and address tuples are shared between records, so their JSON
        is made once per export (``recs`` keeps the tuples, hence their ids, alive meanwhile).
        """
        closes = self.state.batch_closes()
        settled = {n: _esc(self.ts(closes[n])) for n in {r[BATCH] for r in recs if r[BATCH]}}
        settled[0] = '""'
        cards: dict[int, str] = {}
        places: dict[int, str] = {}
        ts = self.ts
        out = []
        for rec in recs:
            card, b, s = rec[CARD], rec[BILLING], rec[SHIPPING]
            card_json = cards.get(id(card))
            if card_json is None:
                card_json = cards[id(card)] = _CARD % (_esc(_masked(card, include_bin=include_bin)), card[3], card[4] % 100)
            billing = places.get(id(b))
            if billing is None:
                billing = places[id(b)] = _BILLING % tuple(map(_esc, b))
            if s is None:
                shipping = _EMPTY_SHIPPING_JSON
            else:
                shipping = places.get(id(s))
                if shipping is None:
                    shipping = places[id(s)] = _SHIPPING % tuple(map(_esc, s))
            amount, tax = rec[AMOUNT], rec[TAX]
            out.append(_RECORD % (
                rec[ID], card_json, _esc(rec[TYPE]), _esc(rec[DESCRIPTION]),
                amount // 100 if amount % 100 == 0 else repr(amount / 100),  # as number()
                _esc(rec[INVOICE_ID]), shipping, billing, _esc(rec[EMAIL]),
                '""' if tax == NO_TAX else f'"{_wire(tax)}"', _esc(rec[REFERENCE]), _esc(rec[APPROVAL_CODE]),
                _esc(rec[APPROVAL_MESSAGE]), _esc(rec[AVS]), _esc(rec[CSC]), _esc(ts(rec[CREATED])),
                _esc(rec[CREATED_BY]), _esc(rec[FROM_IP]), settled[rec[BATCH]], _esc(rec[CUSTOMER_ID])))
        return "[" + ",".join(out) + "]"

    def _export(self, recs: list[tuple], include_bin: bool) -> tuple[int, str]:
        return 200, _splice({"success": True, "response_code": 1, "status_message": OK_EXPORT, "transactions": None,
                             "external_transaction_id": ""}, "transactions", self._records(recs, include_bin))

    def export_by_id(self, body: dict, client_ip: str) -> tuple[int, str]:
        return self._export([self.state.get(_txn_id(body))], bool(body.get("include_bin")))

    def _dates(self, body: dict) -> tuple:
        errors: dict[str, list[str]] = {}
        days = []
        for key, code, label in (("start_date", "950", "Start Date"), ("end_date", "951", "End Date")):
            try:
                days.append(parse_paytrace_date(_text(body.get(key))))
            except TimeFormatError:
                errors[code] = [f"Please provide a valid {label}."]
        if not errors and days[1] < days[0]:
            errors["951"] = ["Please provide a valid End Date."]
        if errors:
            raise _Invalid(errors)
        return days[0], days[1]

    def export_by_date_range(self, body: dict, client_ip: str) -> tuple[int, str]:
        start, end = self._dates(body)
        wanted = _text(body.get("transaction_type")).strip().upper()
        if wanted and wanted not in FILTER_TYPES:
            raise PayTraceRefusal("952", "Please provide a valid Transaction Type.")
        recs = self.state.between(start, end)
        if wanted == "SETTLED":
            recs = [r for r in recs if r[BATCH]]
        elif wanted == "PENDING":
            recs = [r for r in recs if not r[BATCH] and r[APPROVED] and r[TYPE] in ("SALE", "CAPTURE", "REFUND")]
        elif wanted == "DECLINED":
            recs = [r for r in recs if not r[APPROVED]]
        elif wanted:
            recs = [r for r in recs if r[TYPE] == wanted]
        if body.get("customer_id") not in (None, ""):
            cid = _text(body.get("customer_id"))
            recs = [r for r in recs if r[CUSTOMER_ID] == cid]
        if body.get("transaction_id") not in (None, ""):
            tid = _txn_id(body)
            recs = [r for r in recs if r[ID] == tid]
        text = _text(body.get("including_text")).strip().lower()
        if text:
            recs = [r for r in recs if any(text in f.lower() for f in (
                r[DESCRIPTION], r[INVOICE_ID], r[CUSTOMER_ID], r[REFERENCE], r[BILLING][0]))]
        return self._export(recs, bool(body.get("include_bin")))

    # -- batches ----------------------------------------------------------------------------

    def batch_record(self, b: Batch) -> dict:
        return {
            "number": b.number,
            "created": self.ts(b.closed_at) if b.closed_at else "",
            "transaction_count": b.sales_count + b.refund_count,
            "net_amount": number(b.sales_amount - b.refund_amount),
            "sales_count": b.sales_count,
            "sales_amount": number(b.sales_amount),
            "refund_count": b.refund_count,
            "refund_amount": number(b.refund_amount),
            "card_types": [{"card_type": brand, "sales_count": row[0], "sales_amount": number(row[1]),
                            "refund_count": row[2], "refund_amount": number(row[3])}
                           for brand, row in sorted(b.brands.items())],
        }

    def _batch_number(self, body: dict, required: bool) -> int | None:
        raw = body.get("batch_number")
        if raw in (None, "") and not required:
            return None
        if isinstance(raw, bool) or not str(raw).strip().isdigit():
            raise PayTraceRefusal("953", "Please provide a valid Batch Number.")
        return int(str(raw).strip())

    def batches_export(self, body: dict, client_ip: str) -> tuple[int, dict]:
        start, end = self._dates(body)
        return 200, {"success": True, "response_code": 1, "status_message": OK_EXPORT,
                     "batches": [self.batch_record(b) for b in self.state.batches_closed_between(start, end)],
                     "external_transaction_id": ""}

    def batch_export_one(self, body: dict, client_ip: str) -> tuple[int, dict]:
        number_ = self._batch_number(body, required=False)
        batch = self.state.open_batch() if number_ is None else self.state.batch(number_)[0]
        return 200, {"success": True, "response_code": 1, "status_message": OK_EXPORT,
                     "batch": self.batch_record(batch), "external_transaction_id": ""}

    def batch_transaction_list(self, body: dict, client_ip: str) -> tuple[int, str]:
        batch, recs = self.state.batch(self._batch_number(body, required=True))
        return 200, _splice({"success": True, "response_code": 1, "status_message": OK_EXPORT,
                             "batch": self.batch_record(batch), "transactions": None, "external_transaction_id": ""},
                            "transactions", self._records(recs))

    # -- vault ------------------------------------------------------------------------------

    @staticmethod
    def _customer_id(body: dict, key: str = "customer_id") -> str:
        cid = _text(body.get(key)).strip()
        if not cid:
            raise PayTraceRefusal("954", "Please provide a valid Customer ID.")
        return cid

    @staticmethod
    def _done(profile: dict, verb: str, code: int, masked: bool = True) -> tuple[int, dict]:
        out = {"success": True, "response_code": code,
               "status_message": f"The customer profile for {profile['customer_id']}/{profile['billing'][0]} was "
                                 f"successfully {verb}.",
               "customer_id": profile["customer_id"]}
        if masked:
            out["masked_card_number"] = _masked(profile["card"], "x")
        return 200, out

    def customer_create(self, body: dict, client_ip: str) -> tuple[int, dict]:
        errors: dict[str, list[str]] = {}
        card = _read_card(body, errors)
        cid = _text(body.get("customer_id")).strip()
        if not cid:
            errors["954"] = ["Please provide a valid Customer ID."]
        if errors:
            raise _Invalid(errors)
        profile = {"customer_id": cid, "card": card, "billing": _address(body.get("billing_address")) or _NO_ADDRESS,
                   "shipping": _address(body.get("shipping_address")), "email": _text(body.get("email")),
                   "phone": _text(body.get("phone")), "fax": _text(body.get("fax"))}
        try:
            self.state.create_customer(profile)
        except PayTraceRefusal as refusal:
            refusal.extra["masked_card_number"] = _masked(card, "x")
            raise
        return self._done(profile, "created", 160)

    def customer_from_transaction(self, body: dict, client_ip: str) -> tuple[int, dict]:
        cid = self._customer_id(body)
        rec = self.state.get(_txn_id(body))
        profile = {"customer_id": cid, "card": rec[CARD],
                   "billing": _address(body.get("billing_address")) or rec[BILLING], "shipping": None,
                   "email": _text(body.get("email")) or rec[EMAIL], "phone": "", "fax": ""}
        self.state.create_customer(profile)
        return self._done(profile, "created", 160, masked=False)

    def customer_update(self, body: dict, client_ip: str) -> tuple[int, dict]:
        cid = self._customer_id(body)
        current = self.state.customer(cid)
        changes: dict[str, object] = {}
        if isinstance(body.get("credit_card"), dict):
            errors: dict[str, list[str]] = {}
            card = _read_card(body, errors)
            if errors:
                raise _Invalid(errors)
            changes["card"] = card
        for key in ("billing_address", "shipping_address"):
            if isinstance(body.get(key), dict):
                # Only the sent fields change, as on PayTrace's update form.
                shipping = key == "shipping_address"
                old = current["shipping" if shipping else "billing"] or _address({}, shipping)
                sent = body[key]
                names = ("name", "street_address", "street_address2", "city") + (("county",) if shipping else ()) + \
                    ("state", "zip", "country")
                changes["shipping" if shipping else "billing"] = tuple(
                    _text(sent[n]).strip() if n in sent else old[i] for i, n in enumerate(names))
        for key in ("email", "phone", "fax"):
            if key in body:
                changes[key] = _text(body[key])
        new_id = _text(body.get("new_id")).strip() or None
        profile = self.state.update_customer(cid, changes, new_id)
        return self._done(profile, "updated", 161)

    def customer_delete(self, body: dict, client_ip: str) -> tuple[int, dict]:
        profile = self.state.delete_customer(self._customer_id(body))
        return self._done(profile, "deleted", 162, masked=False)

    def customer_export(self, body: dict, client_ip: str) -> tuple[int, dict]:
        profiles = self.state.all_customers()
        for key in ("customer_id", "email"):
            if body.get(key) not in (None, ""):
                profiles = [p for p in profiles if p[key] == _text(body[key])]

        def addr(a: tuple | None) -> dict:
            a = a or _NO_ADDRESS
            if len(a) == 8:  # shipping tuples carry a county the vault export does not show
                a = a[:4] + a[5:]
            return {"name": a[0], "street_address": a[1], "street_address2": a[2], "city": a[3], "state": a[4],
                    "zip": a[5], "country": a[6]}

        return 200, {"success": True, "response_code": 1, "status_message": OK_EXPORT, "customers": [
            {"customer_id": p["customer_id"],
             "credit_card": {"masked_number": _masked(p["card"]), "expiration_month": p["card"][3],
                             "expiration_year": p["card"][4] % 100},
             "billing_address": addr(p["billing"]), "shipping_address": addr(p["shipping"]),
             "email": p["email"], "phone": p["phone"]} for p in profiles]}


class _Invalid(Exception):
    """Several validation errors at once (PayTrace lists them all in one ``errors`` object)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(", ".join(errors))
        self.errors = errors


def _unauthorized(description: str) -> PayTraceJSON:
    return PayTraceJSON({"error": "invalid_token", "error_description": description}, 401, headers={
        "WWW-Authenticate": f'Bearer realm="PayTrace", error="invalid_token", error_description="{description}"'})


def _endpoint(state: PayTraceState, handler: Callable[[dict, str], tuple[int, dict | str]]) -> Callable[[Request], Awaitable[Response]]:
    """Bearer check, JSON body, integrator_id, then the handler off the event loop (exports can be large)."""

    async def endpoint(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        problem = state.token_problem(token.strip()) if scheme.lower() == "bearer" and token.strip() else \
            "The access token is invalid"
        if problem:
            return _unauthorized(problem)
        is_txn = request.url.path.startswith("/v1/transactions/")
        extra = {"external_transaction_id": ""} if is_txn else {}
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return PayTraceJSON(error_body({"960": ["Please provide a valid JSON request body."]}, **extra), 400)
        if _text(body.get("integrator_id")) != state.integrator_id:
            return PayTraceJSON(error_body({"970": ["Please provide a valid Integrator ID."]}, **extra), 400)
        client_ip = request.client.host if request.client else ""

        def run() -> tuple[int, dict]:
            state.tick()
            try:
                return handler(body, client_ip)
            except _Invalid as invalid:
                return 400, error_body(invalid.errors, **extra)
            except PayTraceRefusal as refusal:
                return refusal.http_status, error_body({refusal.code: [refusal.message]}, **extra, **refusal.extra)

        def respond() -> Response:
            status, payload = run()
            if isinstance(payload, str):  # an export, already JSON text
                return Response(payload, status, _headers(), PayTraceJSON.media_type)
            return PayTraceJSON(payload, status)  # serialised here, in the worker thread

        return await run_in_threadpool(respond)

    return endpoint


def create_app(state: PayTraceState | None = None) -> Starlette:
    """The PayTrace API for one state (a fresh default one if none is given): ``app.state.paytrace``."""
    state = state or PayTraceState()
    api = _Api(state)

    async def token(request: Request) -> PayTraceJSON:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if not request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded"):
            return PayTraceJSON(INVALID_REQUEST, 400, headers)
        form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        field = {k: v[0] for k, v in form.items()}
        if not field.get("grant_type"):
            return PayTraceJSON(INVALID_REQUEST, 400, headers)
        if field["grant_type"] != "password":
            return PayTraceJSON(UNSUPPORTED_GRANT, 400, headers)
        if "username" not in field or "password" not in field:
            return PayTraceJSON(INVALID_REQUEST, 400, headers)
        if not state.check_credentials(field["username"], field["password"]):
            return PayTraceJSON(INVALID_GRANT, 400, headers)
        return PayTraceJSON({"access_token": state.issue_token(), "token_type": "bearer",
                             "expires_in": state.token_ttl}, 200, headers)

    async def ping(request: Request) -> PayTraceJSON:
        return PayTraceJSON({"status": "success"})

    handlers: dict[str, Callable[[dict, str], tuple[int, dict | str]]] = {
        "/v1/transactions/sale/keyed": api.keyed("SALE"),
        "/v1/transactions/sale/by_customer": api.by_customer("SALE"),
        "/v1/transactions/authorization/keyed": api.keyed("AUTHORIZATION"),
        "/v1/transactions/authorization/by_customer": api.by_customer("AUTHORIZATION"),
        "/v1/transactions/authorization/capture": api.capture,
        "/v1/transactions/refund/for_transaction": api.refund,
        "/v1/transactions/void": api.void,
        "/v1/transactions/settle": api.settle,
        "/v1/transactions/export/by_id": api.export_by_id,
        "/v1/transactions/export/by_date_range": api.export_by_date_range,
        "/v1/batches/export": api.batches_export,
        "/v1/batches/export_one": api.batch_export_one,
        "/v1/batches/transaction_list": api.batch_transaction_list,
        "/v1/customer/create": api.customer_create,
        "/v1/customer/create_from_transaction": api.customer_from_transaction,
        "/v1/customer/update": api.customer_update,
        "/v1/customer/delete": api.customer_delete,
        "/v1/customer/export": api.customer_export,
    }
    assert tuple(handlers) == ROUTES[2:]
    routes = [Route("/oauth/token", token, methods=["POST"]), Route("/v1/ping", ping, methods=["GET"])]
    routes += [Route(path, _endpoint(state, h), methods=["POST"]) for path, h in handlers.items()]
    app = Starlette(routes=routes)
    app.state.paytrace = state
    return app
