"""The envelope contract and the signature scheme, without a server."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paysync_dagster.cli.webhooks import read_envelopes
from paysync_dagster.webhooks.envelope import EVENT_TYPES, EnvelopeError, envelope_json_schema, parse_body, parse_event
from paysync_dagster.webhooks.signing import (
    MalformedSignature,
    MissingSignature,
    SignatureMismatch,
    StaleTimestamp,
    parse_header,
    secrets_from_env,
    sign,
    verify,
)
from paysync_dagster_tests.cli.support import invoke
from paysync_dagster_tests.webhooks import ID_KEY, LA, PREVIOUS_SECRET, SECRET, body_of, envelope

NOW = 1_770_000_000

# --- signatures


def test_a_signature_verifies_and_names_its_timestamp() -> None:
    header = sign(b'{"a":1}', SECRET, timestamp=NOW)
    assert header.startswith(f"t={NOW},v1=") and len(header.split("v1=")[1]) == 64
    assert verify(header, b'{"a":1}', [SECRET], now=NOW) == NOW


@pytest.mark.parametrize("skew", [-300, 300])
def test_the_tolerance_is_inclusive(skew: int) -> None:
    assert verify(sign(b"x", SECRET, NOW), b"x", [SECRET], now=NOW + skew) == NOW


@pytest.mark.parametrize("skew", [-301, 301, 86_400])
def test_stale_or_future_timestamps_are_refused(skew: int) -> None:
    with pytest.raises(StaleTimestamp) as info:
        verify(sign(b"x", SECRET, NOW), b"x", [SECRET], now=NOW + skew)
    assert info.value.part == "timestamp"


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, MissingSignature),
        ("", MissingSignature),
        ("v1=" + "0" * 64, MalformedSignature),  # no timestamp
        (f"t={NOW}", MalformedSignature),  # no signature
        (f"t={NOW},t={NOW},v1=" + "0" * 64, MalformedSignature),
        (f"t=soon,v1=" + "0" * 64, MalformedSignature),
        ("garbage", MalformedSignature),
        (f"t={NOW}," + ",".join(["v1=" + "0" * 64] * 9), MalformedSignature),
        (f"t={NOW},v1=" + "0" * 64, SignatureMismatch),
        (f"t={NOW},v1=not-hex", SignatureMismatch),
        (f"t={NOW},v0=" + "0" * 64 + ",v1=" + "é" * 64, SignatureMismatch),
    ],
)
def test_a_bad_header_says_which_part_failed(header: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        verify(header, b"x", [SECRET], now=NOW)


def test_rotation_accepts_either_secret_and_senders_may_sign_with_both() -> None:
    body = b'{"event_id":"e"}'
    assert verify(sign(body, PREVIOUS_SECRET, NOW), body, [SECRET, PREVIOUS_SECRET], now=NOW)
    both = sign(body, ["unknown", SECRET], NOW)
    assert both.count("v1=") == 2 and verify(both, body, [SECRET], now=NOW)
    with pytest.raises(SignatureMismatch):
        verify(sign(body, "unknown", NOW), body, [SECRET, PREVIOUS_SECRET], now=NOW)


def test_unknown_schemes_are_ignored_and_spaces_tolerated() -> None:
    sig = sign(b"x", SECRET, NOW).split("v1=")[1]
    assert parse_header(f" t={NOW} , v2=abc , v1={sig.upper()} ") == (NOW, [sig])
    assert verify(f"t={NOW}, v2=abc, v1={sig}", b"x", [SECRET], now=NOW) == NOW


def test_a_receiver_without_a_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        verify(sign(b"x", SECRET, NOW), b"x", ["", ""], now=NOW)


@given(body=st.binary(max_size=2_000), secret=st.text(min_size=1, max_size=64), flip=st.integers(min_value=0))
def test_any_changed_byte_breaks_the_signature(body: bytes, secret: str, flip: int) -> None:
    header = sign(body, secret, NOW)
    assert verify(header, body, [secret], now=NOW) == NOW
    tampered = bytearray(body + b"!")
    tampered[flip % len(tampered)] ^= 0x01
    with pytest.raises(SignatureMismatch):
        verify(header, bytes(tampered), [secret], now=NOW)


def test_secrets_come_from_the_environment_current_first() -> None:
    assert secrets_from_env({}) == []
    assert secrets_from_env({"PAYSYNC_WEBHOOK_SECRET_PREVIOUS": "old"}) == []  # no current secret, no receiver
    assert secrets_from_env({"PAYSYNC_WEBHOOK_SECRET": "new", "PAYSYNC_WEBHOOK_SECRET_PREVIOUS": "old"}) == ["new", "old"]
    assert secrets_from_env({"PAYSYNC_WEBHOOK_SECRET": "new", "PAYSYNC_WEBHOOK_SECRET_PREVIOUS": ""}) == ["new"]


# --- the envelope

STATES = [
    ("transaction.approved", {}, "approved"),
    ("transaction.approved", {"transaction_type": "AUTHORIZATION"}, "authorized"),
    ("transaction.approved", {"settled": "4/10/2015 8:00:00 PM"}, "settled"),
    ("transaction.declined", {"approval_code": ""}, "declined"),
    ("transaction.captured", {"transaction_type": "CAPTURE"}, "captured"),
    ("transaction.refunded", {"transaction_type": "REFUND"}, "approved"),
    ("transaction.refunded", {"transaction_type": "REFUND", "settled": "4/11/2015 8:00:00 PM"}, "settled"),
    ("transaction.voided", {}, "voided"),
    ("transaction.settled", {}, "settled"),
    ("chargeback.opened", {}, "chargeback_opened"),
    ("chargeback.resolved", {}, "chargeback_resolved"),
]


@pytest.mark.parametrize(("event_type", "changes", "state"), STATES)
def test_each_event_type_lands_in_its_state(event_type: str, changes: dict, state: str) -> None:
    event = parse_event(envelope("e", event_type, **changes), LA, ID_KEY)
    assert event.state == state
    row = event.row
    assert (row.state, row.event_type, row.source, row.dedup_key) == (state, event_type, "webhook", f"1143:{state}")


def test_every_event_type_has_a_state() -> None:
    assert {t for t, _, _ in STATES} == set(EVENT_TYPES)


def test_occurred_at_is_stored_in_utc() -> None:
    event = parse_event(envelope(occurred_at="2026-03-08T01:30:00-08:00"), LA, ID_KEY)
    assert event.row.occurred_at == datetime(2026, 3, 8, 9, 30)
    assert parse_event(envelope(occurred_at="2026-03-08T09:30:00Z"), LA, ID_KEY).row.occurred_at == event.row.occurred_at


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"event_id": "   "}, "event_id"),
        ({"event_id": "x" * 201}, "event_id"),
        ({"event_id": 17}, "event_id"),
        ({"event_type": "transaction.approve"}, "event_type"),
        ({"occurred_at": "2026-03-08T01:30:00"}, "occurred_at"),
        ({"occurred_at": 1_770_000_000}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "occurred_at"),
        ({"transaction": "1143"}, "transaction"),
    ],
)
def test_envelope_errors_name_the_field(change: dict, field: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_event({**envelope(), **change}, LA, ID_KEY)
    assert info.value.field == field
    assert info.value.as_json()["field"] == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "ten"}, "transaction.amount"),
        ({"amount": -5}, "transaction.amount"),
        ({"amount": ...}, "transaction.amount"),
        ({"transaction_id": ...}, "transaction.transaction_id"),
        ({"transaction_id": "11x"}, "transaction.transaction_id"),
        ({"transaction_type": "PAYOUT"}, "transaction.transaction_type"),
        ({"tax_amount": "8.1.0"}, "transaction.tax_amount"),
        ({"created__at": "2015-04-10 16:06:30"}, "transaction.created.at"),
        ({"settled": "soon"}, "transaction.settled"),
        ({"credit_card__expiration_month": 13}, "transaction.credit_card.expiration_month"),
    ],
)
def test_record_errors_name_the_transaction_field(changes: dict, field: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_event(envelope(**changes), LA, ID_KEY)
    assert info.value.field == field


def test_an_event_id_that_looks_like_a_card_number_is_stored_masked_and_stays_unique() -> None:
    stored = parse_event(envelope("evt-4111111111111111"), LA, ID_KEY).event_id
    assert stored.startswith("evt-************1111~") and "4111111111111111" not in stored
    assert parse_event(envelope("evt-4111111111111111"), LA, ID_KEY).row.event_id == stored  # a redelivery matches
    assert parse_event(envelope("evt-5500000000000004"), LA, ID_KEY).event_id != stored
    long_id = "x" * 180 + "4111111111111111"
    assert len(parse_event(envelope(long_id), LA, ID_KEY).event_id) == 200
    assert parse_event(envelope("evt_3f6c1f0e-6a55-4c5e"), LA, ID_KEY).event_id == "evt_3f6c1f0e-6a55-4c5e"


def test_a_refund_event_must_carry_the_refund() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_event(envelope(event_type="transaction.refunded"), LA, ID_KEY)
    assert info.value.field == "transaction.transaction_type"


def test_card_data_is_scrubbed_and_never_quoted_in_errors() -> None:
    pan = "5454545454545454"
    event = parse_event(envelope(description=f"pan {pan}", credit_card={"number": pan, "masked_number": "************5454"}), LA, ID_KEY)
    stored = json.loads(event.row.payload)
    assert stored["description"] == "pan ************5454" and "number" not in stored["credit_card"]
    assert pan not in event.row.payload
    with pytest.raises(EnvelopeError) as info:
        parse_event(envelope(amount=f"{pan}x"), LA, ID_KEY)
    assert pan not in json.dumps(info.value.as_json())


def test_several_envelope_errors_are_all_listed() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_event({"event_type": "x", "occurred_at": "now"}, LA, ID_KEY)
    body = info.value.as_json()
    assert body["field"] == "event_id"
    assert {e["field"] for e in body["errors"]} == {"event_id", "event_type", "occurred_at", "transaction"}


@pytest.mark.parametrize("body", [b"", b"{", b"NaN", b'{"amount": Infinity}', b"\xff\xfe{", b"[" * 100_000 + b"]" * 100_000])
def test_malformed_json_is_an_envelope_error(body: bytes) -> None:
    with pytest.raises(EnvelopeError, match="malformed JSON"):
        parse_body(body, LA, ID_KEY)


def test_unknown_top_level_keys_are_ignored() -> None:
    assert parse_body(body_of({**envelope(), "api_version": "2026-01"}), LA, ID_KEY).event_id == "evt-1"


# --- the JSON Schema


def test_the_schema_describes_the_envelope() -> None:
    schema = envelope_json_schema()
    assert set(schema["required"]) == {"event_id", "event_type", "occurred_at", "transaction"}
    props = schema["properties"]
    assert props["event_type"]["enum"] == list(EVENT_TYPES)
    assert (props["event_id"]["minLength"], props["event_id"]["maxLength"]) == (1, 200)
    assert props["occurred_at"]["format"] == "date-time"
    record = schema["$defs"]["PayTraceExportRecord"]
    assert props["transaction"]["$ref"] == "#/$defs/PayTraceExportRecord"
    assert set(record["required"]) == {"transaction_id", "transaction_type", "amount", "created"}
    assert record["additionalProperties"] is True
    printed = invoke("webhooks", "schema")
    assert printed.exit_code == 0
    assert json.loads(printed.stdout) == schema


# --- the send command's input


def test_send_reads_one_envelope_an_array_or_json_lines() -> None:
    one = envelope("a")
    assert read_envelopes(json.dumps(one)) == [one]
    assert read_envelopes(json.dumps([one, one])) == [one, one]
    assert read_envelopes(json.dumps(one) + "\n\n" + json.dumps(one) + "\n") == [one, one]
    for text, message in [("", "no envelope"), ("{}\n{}\n{", "line 3"), ("[1]", "item 0"), ('"x"', "item 0")]:
        with pytest.raises(ValueError, match=message):
            read_envelopes(text)
