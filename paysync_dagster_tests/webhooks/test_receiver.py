"""The receiver over real HTTP (uvicorn on a loopback port), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sqlalchemy.exc import OperationalError

from paysync_dagster.webhooks.app import JsonLogFormatter, ReceiverLimits, Warehouse, _Pending, create_app
from paysync_dagster.webhooks.envelope import parse_event
from paysync_dagster.webhooks.signing import HEADER, SECRET_ENV
from paysync_dagster_tests.cli.support import invoke, one_line
from paysync_dagster_tests.support import free_port
from paysync_dagster_tests.webhooks import ID_KEY, LA, PATH, PREVIOUS_SECRET, SECRET, body_of, envelope, landing_table, serving, signed_headers

PAN = "4111111111111111"


@dataclass
class Receiver:
    url: str
    database_url: str

    def post(self, content: bytes | Iterator[bytes], headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url + PATH, content=content, headers=headers, timeout=60)

    def send(self, value: Any, secret: str | list[str] = SECRET) -> httpx.Response:
        body = body_of(value)
        return self.post(body, signed_headers(body, secret))


@pytest.fixture
def receiver(database_url: str) -> Iterator[Receiver]:
    with serving(create_app(database_url, [SECRET], LA, ReceiverLimits(max_body_bytes=64 * 1024))) as url:
        yield Receiver(url, database_url)


# --- bad input: (status, field named in the answer or None, request builder)

Request = tuple[bytes | Iterator[bytes], dict[str, str]]


def _good() -> bytes:
    return body_of(envelope("evt-bad", transaction_id=9001))


def _without(key: str) -> bytes:
    value = envelope("evt-bad", transaction_id=9001)
    del value[key]
    return body_of(value)


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


def _hostile(change: Callable[[dict[str, Any]], None]) -> Request:
    value = envelope("evt-bad", transaction_id=9001)
    change(value)
    body = body_of(value)
    return body, signed_headers(body)


def _set(path: str, item: Any) -> Callable[[dict[str, Any]], None]:
    def change(value: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = value
        for part in parents:
            node = node[part]
        node[last] = item
    return change


# Each class of hostile value a probe found, with the field the answer names: none may get a 2xx, a
# 500, or a row that a later run cannot process.
HOSTILE: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "transaction id of 2^63": ("transaction.transaction_id", _set("transaction.transaction_id", 2**63)),
    "transaction id of 13 digits": ("transaction.transaction_id", _set("transaction.transaction_id", 10**12)),
    "transaction id as a float": ("transaction.transaction_id", _set("transaction.transaction_id", 12.5)),
    "created in year 9999": ("transaction.created.at", _set("transaction.created.at", "1/1/9999 1:00:00 PM")),
    "created in year 1999": ("transaction.created.at", _set("transaction.created.at", "12/31/1999 1:00:00 PM")),
    "settled on February 30": ("transaction.settled", _set("transaction.settled", "2/30/2026 1:00:00 PM")),
    "occurred_at in year 9999": ("occurred_at", _set("occurred_at", "9999-12-31T23:00:00-05:00")),
    "occurred_at as Unix time in a string": ("occurred_at", _set("occurred_at", "1770000000")),
    "amount of 1e20": ("transaction.amount", _set("transaction.amount", 1e20)),
    "amount past a billion dollars": ("transaction.amount", _set("transaction.amount", "1000000000.00")),
    "amount with a decimal comma": ("transaction.amount", _set("transaction.amount", "12,30")),
    "amount with an exponent in text": ("transaction.amount", _set("transaction.amount", "1e3")),
    "amount in Arabic-Indic digits": ("transaction.amount", _set("transaction.amount", "\u0661\u0662")),
    "amount as true": ("transaction.amount", _set("transaction.amount", True)),
    "negative tax": ("transaction.tax_amount", _set("transaction.tax_amount", "-1.00")),
    "lone surrogate in a name": ("transaction.billing_address.name", _set("transaction.billing_address.name", "Ste\ud800ve")),
    "NUL in a description": ("transaction.description", _set("transaction.description", "a\x00b")),
    "lone surrogate in a key": (r"transaction.\ud83d", _set("transaction.\ud83d", "x")),
    "expiry year of 20 digits": ("transaction.credit_card.expiration_year", _set("transaction.credit_card.expiration_year", 10**19)),
    "expiry month 0": ("transaction.credit_card.expiration_month", _set("transaction.credit_card.expiration_month", 0)),
    "integer past int64 in an extra field": ("transaction.level3.quantity", _set("transaction.level3", {"quantity": 2**70})),
    "billing address as text": ("transaction.billing_address", _set("transaction.billing_address", "8320 E. West St.")),
    "a card number as the transaction id": ("transaction.transaction_id", _set("transaction.transaction_id", 4111111111111111)),
}


BAD_INPUTS: dict[str, tuple[int, str | None, Callable[[], Request]]] = {
    "no signature": (401, None, lambda: (_good(), {"Content-Type": "application/json"})),
    "wrong secret": (401, None, lambda: (_good(), signed_headers(_good(), "not-the-secret"))),
    "stale timestamp": (401, None, lambda: (_good(), signed_headers(_good(), timestamp=int(time.time()) - 330))),
    "timestamp from the future": (401, None, lambda: (_good(), signed_headers(_good(), timestamp=int(time.time()) + 330))),
    "garbled signature header": (401, None, lambda: (_good(), {"Content-Type": "application/json", HEADER: "sha256=abc"})),
    "body changed after signing": (401, None, lambda: (_good().replace(b"110", b"999"), signed_headers(_good()))),
    "truncated JSON": (400, None, lambda: (_good()[:-7], signed_headers(_good()[:-7]))),
    "wrong content type": (415, None, lambda: (_good(), {**signed_headers(_good()), "Content-Type": "text/plain"})),
    "huge body": (413, None, lambda: ((b := b'{"pad":"' + b"x" * 200_000 + b'"}'), signed_headers(b))),
    "huge streamed body": (413, None, lambda: (_chunks(200_000), signed_headers(b"whatever"))),
    "a JSON array": (400, "(body)", lambda: ((b := b"[]"), signed_headers(b))),
    "missing event_id": (400, "event_id", lambda: ((b := _without("event_id")), signed_headers(b))),
    "unknown event_type": (400, "event_type", lambda: ((b := body_of({**envelope("evt-bad"), "event_type": "transaction.teleported"})), signed_headers(b))),
    "occurred_at without offset": (400, "occurred_at", lambda: ((b := body_of(envelope("evt-bad", occurred_at="2015-04-10T16:06:30"))), signed_headers(b))),
    "missing transaction": (400, "transaction", lambda: ((b := _without("transaction")), signed_headers(b))),
    "bad transaction amount": (400, "transaction.amount", lambda: ((b := body_of(envelope("evt-bad", transaction_id=9001, amount="12.345"))), signed_headers(b))),
    "bad transaction timestamp": (400, "transaction.created.at", lambda: ((b := body_of(envelope("evt-bad", created__at="yesterday"))), signed_headers(b))),
    **{f"hostile: {name}": (400, field, (lambda change=change: _hostile(change))) for name, (field, change) in HOSTILE.items()},
    "signature timestamp of 400 digits": (401, None, lambda: (_good(), {**signed_headers(_good()), HEADER: f"t={'9' * 400},v1={'0' * 64}"})),
    "body not UTF-8": (400, None, lambda: ((b := _good().replace(b"Steve", b"St\xe9ve")), signed_headers(b))),
    "body in UTF-16": (400, None, lambda: ((b := _good().decode().encode("utf-16")), signed_headers(b))),
    "an integer of 5000 digits": (400, None, lambda: ((b := _good().replace(b'"amount":110', b'"amount":' + b"1" * 5000)), signed_headers(b))),
    "an infinite number (1e400)": (400, "transaction.amount", lambda: ((b := _good().replace(b'"amount":110', b'"amount":1e400')), signed_headers(b))),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_its_status_and_nothing_lands(receiver: Receiver, case: str) -> None:
    assert receiver.send(envelope("evt-good")).status_code == 200
    before = landing_table(receiver.database_url)
    status, field, build = BAD_INPUTS[case]
    content, headers = build()
    answer = receiver.post(content, headers)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    if field is not None:
        assert answer.json()["field"] == field
    assert landing_table(receiver.database_url) == before


def _table_text(database_url: str) -> str:
    return json.dumps([{k: str(v) for k, v in r.items()} for r in landing_table(database_url)])


def test_a_card_number_in_free_text_is_stored_masked(receiver: Receiver) -> None:
    value = envelope("evt-pan", description=f"paid by card {PAN[:4]} {PAN[4:8]} {PAN[8:12]} {PAN[12:]}, thanks")
    value["transaction"]["credit_card"]["number"] = PAN
    value["transaction"]["csc"] = "123"
    answer = receiver.send(value)
    assert answer.status_code == 200 and answer.json()["duplicate"] is False
    [row] = landing_table(receiver.database_url)
    stored = json.loads(row["payload"])
    assert stored["description"] == "paid by card **** **** **** 1111, thanks"  # the typed shape kept, the digits gone
    assert "number" not in stored["credit_card"] and "csc" not in stored
    everything = _table_text(receiver.database_url)
    assert PAN not in everything and "4111 1111 1111 1111" not in everything


def test_an_event_id_like_a_card_number_is_stored_masked_and_still_deduplicates(receiver: Receiver) -> None:
    value = envelope(f"evt-{PAN}")
    assert receiver.send(value).json()["duplicate"] is False
    assert receiver.send(value).json() == {"accepted": True, "duplicate": True}
    [row] = landing_table(receiver.database_url)
    assert row["event_id"].startswith("evt-************1111~")
    assert PAN not in _table_text(receiver.database_url)


def test_a_card_number_next_to_other_digits_is_stored_masked(receiver: Receiver) -> None:
    assert receiver.send(envelope("evt-near", description=f"order 12 {PAN}")).status_code == 200
    assert PAN not in _table_text(receiver.database_url)


def test_an_accepted_event_is_one_committed_row(receiver: Receiver) -> None:
    answer = receiver.send(envelope("evt-7", "transaction.settled", occurred_at="2015-04-10T20:00:00-07:00"))
    assert answer.status_code == 200
    [row] = landing_table(receiver.database_url)
    assert answer.json() == {"accepted": True, "duplicate": False, "landing_id": row["id"]}
    assert (row["event_id"], row["event_type"], row["state"], row["source"]) == ("evt-7", "transaction.settled", "settled", "webhook")
    assert row["dedup_key"] == "1143:settled"
    assert row["occurred_at"].isoformat() == "2015-04-11T03:00:00"  # UTC
    assert str(row["business_date"]) == "2015-04-10"


def test_both_secrets_are_accepted_during_rotation_and_a_third_is_not(database_url: str) -> None:
    with serving(create_app(database_url, [SECRET, PREVIOUS_SECRET], LA)) as url:
        hook = Receiver(url, database_url)
        assert hook.send(envelope("evt-new", transaction_id=1), SECRET).status_code == 200
        assert hook.send(envelope("evt-old", transaction_id=2), PREVIOUS_SECRET).status_code == 200
        assert hook.send(envelope("evt-other", transaction_id=3), "a-third-secret").status_code == 401
        # A sender mid-rotation may sign with several secrets; one good entry is enough.
        assert hook.send(envelope("evt-both", transaction_id=4), ["a-third-secret", PREVIOUS_SECRET]).status_code == 200
    assert [r["event_id"] for r in landing_table(database_url)] == ["evt-new", "evt-old", "evt-both"]


def test_every_event_delivered_three_times_lands_once(receiver: Receiver) -> None:
    events = [envelope(f"evt-{i}", transaction_id=5000 + i) for i in range(40)]
    answers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    # The first ten are redelivered one after the other, the rest with all three copies in flight at once.
    for value in events[:10]:
        for _ in range(3):
            answers[value["event_id"]].append(receiver.send(value).json())
    deliveries = [value for value in events[10:] for _ in range(3)]
    random.Random(7).shuffle(deliveries)
    with ThreadPoolExecutor(max_workers=16) as pool:
        for value, answer in zip(deliveries, pool.map(receiver.send, deliveries)):
            assert answer.status_code == 200, answer.text
            answers[value["event_id"]].append(answer.json())
    rows = landing_table(receiver.database_url)
    assert sorted(r["event_id"] for r in rows) == sorted(v["event_id"] for v in events)
    ids = {r["event_id"]: r["id"] for r in rows}
    for event_id, got in answers.items():
        firsts = [a for a in got if not a["duplicate"]]
        assert len(firsts) == 1 and firsts[0]["landing_id"] == ids[event_id], (event_id, got)
        assert [a for a in got if a["duplicate"]] == [{"accepted": True, "duplicate": True}] * 2


def test_the_same_transaction_state_under_a_new_event_id_is_a_duplicate(receiver: Receiver) -> None:
    assert receiver.send(envelope("evt-a")).json()["duplicate"] is False
    assert receiver.send(envelope("evt-b")).json() == {"accepted": True, "duplicate": True}
    assert receiver.send(envelope("evt-c", "transaction.voided")).json()["duplicate"] is False
    assert [(r["event_id"], r["state"]) for r in landing_table(receiver.database_url)] == [("evt-a", "approved"), ("evt-c", "voided")]


def test_one_group_commit_tells_each_request_its_own_outcome(database_url: str) -> None:
    # The batch a SQLite receiver lands when requests queue up, built by hand so every case is in it.
    warehouse = Warehouse(database_url)
    try:
        def row(event_id: str, transaction_id: int) -> Any:
            return parse_event(envelope(event_id, transaction_id=transaction_id), LA, ID_KEY).row

        assert warehouse.land(row("evt-old", 1)) is not None
        batch = [
            _Pending(row("evt-a", 2)),
            _Pending(row("evt-a", 2)),  # the same event twice in one batch
            _Pending(row("evt-old", 1)),  # a redelivery
            _Pending(row("evt-b", 1)),  # a new id for a transaction state already landed
            _Pending(row("evt-c", 3)),
            _Pending(row("evt-d", 3)),  # the same transaction state twice in one batch
        ]
        warehouse._land_batch(batch)
    finally:
        warehouse.engine.dispose()
    ids = {r["event_id"]: r["id"] for r in landing_table(database_url)}
    assert sorted(ids) == ["evt-a", "evt-c", "evt-old"]
    assert [p.result for p in batch] == [ids["evt-a"], None, None, None, ids["evt-c"], None]
    assert all(p.done and p.error is None for p in batch)


def test_a_failed_group_commit_fails_every_request_in_it(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'a-directory.db'}")
    batch = [_Pending(parse_event(envelope(f"evt-{i}", transaction_id=i + 1), LA, ID_KEY).row) for i in range(3)]
    warehouse._land_batch(batch)
    assert all(p.done and p.result is None and isinstance(p.error, OperationalError) for p in batch)
    with pytest.raises(OperationalError):
        warehouse.land(batch[0].row)
    warehouse.engine.dispose()


def test_healthz_answers_ok_with_a_reachable_warehouse(receiver: Receiver) -> None:
    answer = httpx.get(receiver.url + "/healthz", timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_an_unreachable_warehouse_gives_503_and_no_acknowledgement() -> None:
    closed = f"postgresql+psycopg://paysync:paysync@127.0.0.1:{free_port()}/nowhere"
    with serving(create_app(closed, [SECRET], LA)) as url:
        health = httpx.get(url + "/healthz", timeout=30)
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        hook = Receiver(url, closed)
        answer = hook.send(envelope("evt-lost"))
        assert answer.status_code == 503 and "accepted" not in answer.json()


def test_logs_are_json_lines_without_bodies_or_signatures(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="paysync.webhooks")
    value = envelope("evt-log", description=f"card {PAN}")
    body = body_of(value)
    headers = signed_headers(body)
    assert receiver.post(body, headers).status_code == 200
    forged = headers[HEADER][:-1] + ("1" if headers[HEADER].endswith("0") else "0")
    assert receiver.post(body, {**headers, HEADER: forged}).status_code == 401
    assert receiver.send({**value, "event_type": "nope"}).status_code == 400
    lines = [JsonLogFormatter().format(r) for r in caplog.records if r.name == "paysync.webhooks" and r.getMessage().startswith("webhook")]
    entries = [json.loads(line) for line in lines]
    assert [e["status"] for e in entries] == [200, 401, 400]
    assert entries[0]["event_id"] == "evt-log" and entries[0]["duplicate"] is False and entries[0]["duration_ms"] >= 0
    signature = headers[HEADER].split("v1=")[1]
    for line in lines:
        assert "\n" not in line
        assert PAN not in line and "Steve Smith" not in line and signature not in line and signature[:-1] not in line


def test_send_command_posts_signed_envelopes(receiver: Receiver, tmp_path: Path) -> None:
    env = {SECRET_ENV: SECRET}
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps(envelope(f"evt-cli-{i}", transaction_id=700 + i)) for i in range(3)) + "\n")
    sent = invoke("webhooks", "send", str(lines), "--url", receiver.url + PATH, env=env)
    assert sent.exit_code == 0, sent.stderr
    assert sent.stdout.count('"duplicate":false') == 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([envelope("evt-cli-0", transaction_id=700), {**envelope("evt-cli-x"), "event_type": "nope"}]))
    refused = invoke("webhooks", "send", str(bad), "--url", receiver.url + PATH, env=env)
    assert refused.exit_code == 1
    assert '"duplicate":true' in refused.stdout and '"field":"event_type"' in refused.stdout
    assert one_line(refused) == "paysync webhooks send: 1 of 2 events got no 2xx answer; see the answers above"
    assert len(landing_table(receiver.database_url)) == 3


def test_serve_refuses_to_start_without_a_secret() -> None:
    done = invoke("webhooks", "serve", "--port", str(free_port()), env={SECRET_ENV: None})
    assert done.exit_code == 2
    assert one_line(done).startswith(f"paysync webhooks serve: refusing to start: {SECRET_ENV} is not set; set it to ")
