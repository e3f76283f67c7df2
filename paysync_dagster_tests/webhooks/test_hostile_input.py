"""The receiver against a hostile sender, over real HTTP: events judged alone, slow senders cut off,
header limits, and no card number in any form reaching the table, the log or an answer."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paysync_dagster.lib.scrub import luhn_valid
from paysync_dagster.webhooks.app import JsonLogFormatter, ReceiverLimits, RowRefused, Warehouse, _Pending, create_app
from paysync_dagster.webhooks.envelope import parse_event
from paysync_dagster_tests.webhooks import ID_KEY, LA, PATH, SECRET, body_of, envelope, landing_table, serving, signed_headers

BODY_TIMEOUT = 2.0


@pytest.fixture
def receiver_url(database_url: str) -> Iterator[str]:
    limits = ReceiverLimits(body_timeout=BODY_TIMEOUT, max_headers=40)
    with serving(create_app(database_url, [SECRET], LA, limits)) as url:
        yield url


def _post(url: str, value: Any) -> httpx.Response:
    body = body_of(value)
    return httpx.post(url + PATH, content=body, headers=signed_headers(body), timeout=60)


# --- each event is judged alone


BAD_ONES = {
    "transaction id of 2^63": {"transaction_id": 2**63},
    "amount of 1e20": {"amount": 1e20},
    "created in year 9999": {"created__at": "1/1/9999 1:00:00 PM"},
    "lone surrogate in a name": {"billing_address__name": "Ste\ud800ve"},
}


@pytest.mark.parametrize("bad", list(BAD_ONES))
def test_twenty_valid_events_and_one_bad_sent_together_give_twenty_rows_and_one_400(receiver_url: str, database_url: str,
                                                                                    bad: str) -> None:
    events = [envelope(f"evt-ok-{i}", transaction_id=5000 + i) for i in range(20)]
    hostile = envelope("evt-hostile", **{"transaction_id": 4999, **BAD_ONES[bad]})
    # All at once, so the receiver commits them in shared groups on SQLite.
    with ThreadPoolExecutor(max_workers=21) as pool:
        answers = list(pool.map(lambda e: _post(receiver_url, e), [*events[:10], hostile, *events[10:]]))
    statuses = [a.status_code for a in answers]
    assert statuses[10] == 400, answers[10].text
    assert statuses[:10] + statuses[11:] == [200] * 20, [a.text for a in answers]
    rows = landing_table(database_url)
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in events)


def test_a_row_the_database_refuses_fails_only_its_own_request_in_a_group_commit(sqlite_url: str) -> None:
    """Past every check, a value the database still refuses (here an id past SQLite's integers, built by
    hand) is found by landing the group's rows one by one: the others land, it alone is refused."""
    warehouse = Warehouse(sqlite_url)
    try:
        good = [parse_event(envelope(f"evt-{i}", transaction_id=100 + i), LA, ID_KEY).row for i in range(5)]
        poison = replace(parse_event(envelope("evt-poison", transaction_id=99), LA, ID_KEY).row, transaction_id=2**64)
        batch = [_Pending(r) for r in good[:2]] + [_Pending(poison)] + [_Pending(r) for r in good[2:]]
        warehouse._land_batch(batch)
    finally:
        warehouse.engine.dispose()
    assert all(p.done for p in batch)
    assert isinstance(batch[2].error, RowRefused) and batch[2].result is None
    assert all(p.error is None and p.result for i, p in enumerate(batch) if i != 2)
    assert sorted(r["event_id"] for r in landing_table(sqlite_url)) == [f"evt-{i}" for i in range(5)]


# --- slow senders and headers


def _raw_exchange(url: str, request: bytes, *, then_stall: bool) -> bytes:
    """Send raw bytes on a fresh connection and read until the server answers and closes (60 s at most)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(request)
        if not then_stall:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_sender_that_stops_sending_its_body_gets_408_and_loses_the_connection(receiver_url: str, database_url: str) -> None:
    body = body_of(envelope("evt-slow", transaction_id=777))
    headers = signed_headers(body)
    head = (f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {headers['Content-Type']}\r\n"
            f"PaySync-Signature: {headers['PaySync-Signature']}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    # Half the body, then nothing: the receiver answers on its own once body_timeout passes, and closes.
    answer = _raw_exchange(receiver_url, head + body[: len(body) // 2], then_stall=True)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within" in answer
    assert landing_table(database_url) == []


def test_too_many_or_too_large_headers_get_431(receiver_url: str) -> None:
    body = body_of(envelope("evt-h", transaction_id=778))
    many = {**signed_headers(body), **{f"X-Filler-{i}": "1" for i in range(45)}}
    answer = httpx.post(receiver_url + PATH, content=body, headers=many, timeout=60)
    assert answer.status_code == 431 and "headers" in answer.json()["error"]
    huge = {**signed_headers(body), "X-Filler": "x" * 20_000}
    answer = httpx.post(receiver_url + PATH, content=body, headers=huge, timeout=60)
    assert answer.status_code == 431 and "larger than" in answer.json()["error"]


# --- no card number in any form, anywhere (property)

_SEPARATORS = [" ", "-", "  ", ".", "_", "/", "\t", "\u00a0", "\u2013", " - ", ","]
_DIGIT_SHIFT = {"ascii": 0, "fullwidth": 0xFF10 - 0x30, "arabic-indic": 0x0660 - 0x30}


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    body = str(draw(st.sampled_from("3456"))) + body[1:]
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


@st.composite
def written(draw: st.DrawFn, card: str) -> str:
    """The card number as a person or a system might write it: grouped, separated, in other digits."""
    cuts = sorted(set(draw(st.lists(st.integers(min_value=1, max_value=len(card) - 1), max_size=4))))
    groups = [card[a:b] for a, b in zip([0, *cuts], [*cuts, len(card)])]
    sep = draw(st.sampled_from(_SEPARATORS))
    text = sep.join(groups)
    shift = _DIGIT_SHIFT[draw(st.sampled_from(list(_DIGIT_SHIFT)))]
    return "".join(chr(ord(c) + shift) if c.isdigit() else c for c in text)


PLACES = ["description", "invoice_id", "billing_name", "extra_value", "extra_key", "json_number", "nested_list",
          "glued_to_digits", "event_id", "csc_field", "number_field", "customer_reference_id"]
CSC_NAMES = ["csc", "cvv", "cvv2", "cvc", "securityCode", "card_code", "Card-Verification-Value"]
_counter = itertools.count(1)


def _digits_only(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in text if unicodedata.decimal(c, None) is not None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_card_number_in_any_form_survives_in_the_row_the_log_or_the_answer(sqlite_receiver: tuple[str, str], data: st.DataObject) -> None:
    url, database_url = sqlite_receiver
    card = data.draw(card_numbers())
    text = data.draw(written(card))
    place = data.draw(st.sampled_from(PLACES))
    n = next(_counter)
    value = envelope(f"evt-prop-{n}", transaction_id=600_000 + n)
    record = value["transaction"]
    csc = None
    if place == "description":
        record["description"] = f"paid with {text} thanks"
    elif place in ("invoice_id", "customer_reference_id"):
        record[place] = text
    elif place == "billing_name":
        record["billing_address"]["name"] = f"J Doe {text}"
    elif place == "extra_value":
        record["notes"] = {"memo": f"card {text}"}
    elif place == "extra_key":
        record["lookup"] = {text: "x"}
    elif place == "json_number":
        record["reference_number"] = int(card)
    elif place == "nested_list":
        record["lines"] = [{"sku": "A1", "note": ["x", text]}]
    elif place == "glued_to_digits":
        record["description"] = f"ref 000{card}999"
    elif place == "event_id":
        value["event_id"] = f"evt-{text}-{n}"
    elif place == "csc_field":
        csc = data.draw(st.sampled_from(["123", "4567", "0815"]))
        record["credit_card"][data.draw(st.sampled_from(CSC_NAMES))] = csc
    elif place == "number_field":
        record["credit_card"]["cardNumber"] = text

    lines: list[str] = []
    handler = logging.Handler()
    handler.setFormatter(JsonLogFormatter())
    handler.emit = lambda rec: lines.append(handler.format(rec))  # type: ignore[method-assign]
    logger = logging.getLogger("paysync.webhooks")
    logger.addHandler(handler)
    try:
        answer = _post(url, value)
    finally:
        logger.removeHandler(handler)
    assert answer.status_code in (200, 400), answer.text
    stored = [r for r in landing_table(database_url) if r["transaction_id"] == 600_000 + n]
    assert len(stored) == (1 if answer.status_code == 200 else 0)
    seen = json.dumps([{k: str(v) for k, v in r.items()} for r in stored], ensure_ascii=False) + "\n".join(lines) + answer.text
    assert card not in _digits_only(seen), (place, text)
    if csc is not None and stored:
        payload = json.loads(stored[0]["payload"])
        assert set(payload["credit_card"]) == {"masked_number", "expiration_month", "expiration_year"}


@pytest.fixture(scope="module")
def sqlite_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'warehouse.db'}"
    with serving(create_app(database_url, [SECRET], LA)) as url:
        yield url, database_url
