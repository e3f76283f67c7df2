"""The webhook envelope: what a sender posts, how it is checked, and the landing row it becomes.

```json
{"event_id": "evt_01J...", "event_type": "transaction.approved",
 "occurred_at": "2026-03-02T16:06:30-08:00", "transaction": { ...a PayTrace export record... }}
```

The body must be UTF-8 JSON whose every value the warehouse can hold (``parse_json``). The envelope
is checked by pydantic; the ``transaction`` by the contract model ``PayTraceExportRecord`` run on the
scrubbed record (inside ``landing.landing_row_for_record``, the path the export poller takes too),
so a record the poller would refuse is refused here too and the error names the field
(``transaction.amount``); the published JSON Schema is generated from the same model. An error
quotes a value only from the scrubbed record: never a card number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, field_validator

from paysync_dagster.lib.paytrace.contract import EARLIEST_YEAR, LATEST_YEAR, PayTraceExportRecord, problem_in_values
from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace.landing import LandingRow, landing_row_for_record
from paysync_dagster.lib.scrub import mask_card_numbers, mask_then_cut
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
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}", re.ASCII)


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


def stored_event_id(event_id: str, key: bytes) -> str:
    """The event id as stored, logged and matched against redeliveries.

    An id with a digit run that passes the card-number check is masked like free text, because
    nothing that looks like a card number is stored. Such runs are mostly chance (one numeric id in
    ten), so the id is not refused: a keyed digest of the original (HMAC-SHA256 under the receiver's
    current webhook secret) keeps the masked form unique, and a redelivery maps to the same stored
    id. The digest is keyed because a plain hash of a card number whose last four are shown could be
    reversed by trying the few candidates left. Base32, whose digits are 2-7, so the digest itself
    never looks like a card number.
    """
    masked, found = mask_card_numbers(event_id)
    if not found:
        return event_id
    mac = hmac.new(key, b"paysync-event-id:" + event_id.encode("utf-8"), hashlib.sha256).digest()
    digest = base64.b32encode(mac).decode("ascii").rstrip("=").lower()[:26]
    return f"{mask_then_cut(masked, EVENT_ID_MAX - len(digest) - 1)}~{digest}"


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
    # Checked as a PayTrace export record once card data is scrubbed from it (landing_row_for_record);
    # the schema is that check's model.
    transaction: Annotated[dict[str, Any], PlainValidator(_an_object, json_schema_input_type=PayTraceExportRecord)]

    @field_validator("event_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # pydantic would read a number, or digits in a string, as Unix time; the contract is ISO 8601 text.
        if not isinstance(value, str) or not _ISO_DATETIME.match(value):
            raise ValueError("must be an ISO 8601 string with an offset, e.g. 2026-03-02T16:06:30-08:00")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _in_range(cls, value: datetime) -> datetime:
        try:
            year = to_utc_naive(value).year
        except OverflowError:
            year = value.year
        if not EARLIEST_YEAR <= year <= LATEST_YEAR:
            raise ValueError(f"is out of range (years {EARLIEST_YEAR} to {LATEST_YEAR})")
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
    """The body as JSON: UTF-8 text (RFC 8259), no NaN or Infinity, and every value one the warehouse
    can hold (``contract.problem_in_values``), so that nothing is refused later, after a 2xx."""

    def _refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvelopeError("malformed JSON: the body is not UTF-8 text") from None
    try:
        data = json.loads(text, parse_constant=_refuse)
    except RecursionError:
        raise EnvelopeError("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and integers past Python's digit limit
        raise EnvelopeError(f"malformed JSON: {exc}") from None
    problem = problem_in_values(data)
    if problem is not None:
        field, reason = problem
        raise EnvelopeError(reason, mask_then_cut(field, 200) or "(body)")
    return data


def parse_event(data: Any, tz_name: str, id_key: bytes) -> WebhookEvent:
    """A decoded JSON body -> a checked, scrubbed event. Raises ``EnvelopeError`` naming the field.

    ``id_key`` keys the digest of an event id that had to be masked (``stored_event_id``)."""
    if not isinstance(data, dict):
        raise EnvelopeError("the body must be a JSON object (one envelope)", "(body)")
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(exc) from None
    record = envelope.transaction
    event_id = stored_event_id(envelope.event_id, id_key)
    try:
        # Scrubs, then checks the record against the contract; with no fixed state the state is the record's own.
        row = landing_row_for_record(
            record, source="webhook", tz_name=tz_name, state=_EVENT_STATES[envelope.event_type],
            event_id=event_id, event_type=envelope.event_type, occurred_at=to_utc_naive(envelope.occurred_at),
        )
    except PayTraceDataError as exc:
        raise _record_error(exc) from None
    if envelope.event_type == "transaction.refunded" and str(record.get("transaction_type")).strip().upper() != "REFUND":
        raise EnvelopeError("a transaction.refunded event carries the refund transaction itself (transaction_type REFUND)", "transaction.transaction_type")
    return WebhookEvent(event_id=event_id, event_type=envelope.event_type, row=row)


def parse_body(body: bytes, tz_name: str, id_key: bytes) -> WebhookEvent:
    try:
        return parse_event(parse_json(body), tz_name, id_key)
    except RecursionError:
        raise EnvelopeError("malformed JSON: nested too deeply") from None
