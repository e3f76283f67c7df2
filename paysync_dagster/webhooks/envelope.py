"""The webhook envelope: what a sender posts, how it is checked, and the landing row it becomes.

```json
{"event_id": "evt_01J...", "event_type": "transaction.approved",
 "occurred_at": "2026-03-02T16:06:30-08:00", "transaction": { ...a PayTrace export record... }}
```

The envelope is checked by pydantic; the ``transaction`` by ``records.parse_record`` run on the
scrubbed record (inside ``landing.landing_row_for_record``, the path the export poller takes too),
so a record the poller would refuse is refused here too and the error names the field
(``transaction.amount``). An error quotes a value only from the scrubbed record: never a card number.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema, field_validator

from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace.landing import LandingRow, landing_row_for_record
from paysync_dagster.lib.paytrace.records import TRANSACTION_TYPES
from paysync_dagster.lib.scrub import mask_card_numbers
from paysync_dagster.lib.timeutil import to_utc_naive

EventType = Literal[
    "transaction.approved",
    "transaction.declined",
    "transaction.captured",
    "transaction.refunded",
    "transaction.voided",
    "transaction.settled",
    "chargeback.opened",
    "chargeback.resolved",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

# The state an event puts the transaction in. ``None``: the record itself says (``state_of``), since
# an approval or a refund is an ordinary record that the export shows too.
_EVENT_STATES: dict[str, str | None] = {
    "transaction.approved": None,
    "transaction.refunded": None,
    "transaction.declined": "declined",
    "transaction.captured": "captured",
    "transaction.voided": "voided",
    "transaction.settled": "settled",
    "chargeback.opened": "chargeback_opened",
    "chargeback.resolved": "chargeback_resolved",
}

EVENT_ID_MAX = 200  # paytrace_landing.event_id
_PAYTRACE_TIMESTAMP = r"^\s*\d{1,2}/\d{1,2}/\d{4}\s+\d{1,2}:\d{2}:\d{2}\s*[AaPp][Mm]\s*$"
_TEXT = Annotated[str, Field(default="")]


class EnvelopeError(ValueError):
    """A request body that is not a valid envelope. ``field`` is the dotted path (``transaction.amount``)."""

    def __init__(self, message: str, field: str = "", errors: list[dict[str, str]] | None = None):
        self.message = message
        self.field = field
        self.errors = errors or ([{"field": field, "error": message}] if field else [])
        super().__init__(f"{field}: {message}" if field else message)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "field": self.field}
        if len(self.errors) > 1:
            body["errors"] = self.errors
        return body


# --- the documented shape of ``transaction`` (spec §3.4). It describes what parse_record accepts;
# parse_record is what checks it, so the two cannot disagree about a record.


class CreditCard(BaseModel):
    """Masked card data only; a full ``number`` or ``csc`` sent here is dropped before storage."""

    model_config = ConfigDict(extra="allow")
    masked_number: str = Field("", examples=["************5454"])
    expiration_month: int | str = Field("", description="1-12")
    expiration_year: int | str = Field("", description="two digits, e.g. 20")


class Created(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: str = Field(pattern=_PAYTRACE_TIMESTAMP, description="M/D/YYYY h:mm:ss AM|PM in the merchant's time zone", examples=["4/10/2015 4:06:30 PM"])
    through: _TEXT
    by: _TEXT
    from_ip: _TEXT


class Address(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: _TEXT
    street_address: _TEXT
    street_address2: _TEXT
    city: _TEXT
    county: _TEXT
    state: _TEXT
    zip: _TEXT
    country: _TEXT


class PayTraceExportRecord(BaseModel):
    """One record as ``transactions/export/by_date_range`` returns it. Other keys are kept, card fields dropped."""

    model_config = ConfigDict(extra="allow")
    transaction_id: Annotated[Any, WithJsonSchema({
        "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\s*[1-9][0-9]*\s*$"}],
        "description": "PayTrace transaction id", "examples": [1143],
    })]
    transaction_type: Annotated[Any, WithJsonSchema({
        "type": "string", "enum": sorted(TRANSACTION_TYPES), "description": "case-insensitive",
    })]
    amount: Annotated[Any, WithJsonSchema({
        "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\s*[0-9][0-9,]*(\.[0-9]{1,2})?\s*$"}],
        "description": "US dollars, at most 2 decimals; PayTrace sends a JSON number", "examples": [110, "12.30"],
    })]
    created: Created
    settled: str = Field("", description="M/D/YYYY h:mm:ss AM|PM when settled, empty before")
    approval_code: str = Field("", description="empty on a declined sale or authorization")
    tax_amount: Annotated[Any, WithJsonSchema({
        "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}], "description": "PayTrace sends a string, e.g. \"8.10\"",
    })] = ""
    credit_card: CreditCard | None = None
    description: _TEXT
    invoice_id: _TEXT
    customer_id: _TEXT
    customer_reference_id: _TEXT
    receipt_emailed_to: _TEXT
    approval_message: _TEXT
    avs_response: _TEXT
    csc_response: _TEXT
    status_code: _TEXT
    status_message: _TEXT
    billing_address: Address | None = None
    shipping_address: Address | None = None


def stored_event_id(event_id: str) -> str:
    """The event id as stored, logged and matched against redeliveries.

    An id with a digit run that passes the card-number check is masked like free text, because
    nothing that looks like a card number is stored. Such runs are mostly chance (one numeric id in
    ten, one UUID in five hundred), so the id is not refused: a digest of the original keeps the
    masked form unique, and a redelivery maps to the same stored id. Base32, whose digits are 2-7,
    so the digest itself never looks like a card number.
    """
    masked, found = mask_card_numbers(event_id)
    if not found:
        return event_id
    digest = base64.b32encode(hashlib.sha256(event_id.encode("utf-8")).digest()).decode("ascii").rstrip("=").lower()[:26]
    return f"{masked[: EVENT_ID_MAX - len(digest) - 1]}~{digest}"


def _an_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object (a PayTrace export record)")
    return value


class Envelope(BaseModel):
    """A PaySync webhook event: one PayTrace transaction in the state an event put it in."""

    model_config = ConfigDict(title="PaySyncWebhookEnvelope", extra="ignore")
    event_id: str = Field(
        min_length=1, max_length=EVENT_ID_MAX,
        description="Unique per event; a redelivery carries the same id. A card-number-like digit run in it is stored masked.",
        examples=["evt_01J9Z6Q3K8V6"],
    )
    event_type: EventType
    occurred_at: AwareDatetime = Field(description="ISO 8601 with an offset; stored in UTC", examples=["2026-03-02T16:06:30-08:00"])
    transaction: Annotated[dict[str, Any], PlainValidator(_an_object, json_schema_input_type=PayTraceExportRecord)]

    @field_validator("event_id")
    @classmethod
    def _stored_form(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return stored_event_id(value)

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # pydantic would read a bare number as Unix time; the contract is ISO 8601 text.
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 string with an offset, e.g. 2026-03-02T16:06:30-08:00")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _in_utc_range(cls, value: datetime) -> datetime:
        try:
            to_utc_naive(value)
        except OverflowError:
            raise ValueError("is out of range") from None
        return value


def envelope_json_schema() -> dict[str, Any]:
    """The JSON Schema of the request body (``paysync webhooks schema`` prints it)."""
    schema = Envelope.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    row: LandingRow  # scrubbed, ready to land

    @property
    def state(self) -> str:
        return self.row.state


def _pydantic_error(exc: ValidationError) -> EnvelopeError:
    # Only the location and pydantic's message: its ``input`` may be a card number.
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "error": e["msg"].removeprefix("Value error, ")}
        for e in exc.errors(include_input=False, include_url=False)
    ]
    return EnvelopeError(errors[0]["error"], errors[0]["field"], errors)


def _record_error(exc: PayTraceDataError) -> EnvelopeError:
    field = f"transaction.{exc.field}" if exc.field else "transaction"
    # Drop the "transaction N, field 'x': " prefix; the field is reported on its own.
    message = str(exc).split(": ", 1)[1] if ": " in str(exc) else str(exc)
    return EnvelopeError(message, field)


def parse_json(body: bytes) -> Any:
    def _refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(body, parse_constant=_refuse)
    except RecursionError:
        raise EnvelopeError("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise EnvelopeError(f"malformed JSON: {exc}") from None


def parse_event(data: Any, tz_name: str) -> WebhookEvent:
    """A decoded JSON body -> a checked, scrubbed event. Raises ``EnvelopeError`` naming the field."""
    if not isinstance(data, dict):
        raise EnvelopeError("the body must be a JSON object (one envelope)", "(body)")
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(exc) from None
    record = envelope.transaction
    try:
        # Scrubs, then parse_record; with no fixed state the state is the record's own (state_of).
        row = landing_row_for_record(
            record, source="webhook", tz_name=tz_name, state=_EVENT_STATES[envelope.event_type],
            event_id=envelope.event_id, event_type=envelope.event_type, occurred_at=to_utc_naive(envelope.occurred_at),
        )
    except PayTraceDataError as exc:
        raise _record_error(exc) from None
    if envelope.event_type == "transaction.refunded" and str(record.get("transaction_type", "")).strip().upper() != "REFUND":
        raise EnvelopeError("a transaction.refunded event carries the refund transaction itself (transaction_type REFUND)", "transaction.transaction_type")
    return WebhookEvent(event_id=envelope.event_id, event_type=envelope.event_type, row=row)


def parse_body(body: bytes, tz_name: str) -> WebhookEvent:
    try:
        return parse_event(parse_json(body), tz_name)
    except RecursionError:
        raise EnvelopeError("malformed JSON: nested too deeply") from None
