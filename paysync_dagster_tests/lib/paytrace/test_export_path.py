"""The export path's shortcuts give what the long way gives: the compiled readers, the one-pass
reading of a usual record, the landing row, the UTC conversion and the amount reader."""

from __future__ import annotations

import copy
import gc
import json
import random
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from paysync_dagster.lib.money import MoneyError, to_minor
from paysync_dagster.lib.paytrace import plain_read
from paysync_dagster.lib.paytrace.bulk import collector_paused
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.paytrace.contract import AMOUNT_MAX_MINOR, PayTraceExportRecord, read_amount
from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace.landing import STATE_EVENT_TYPES, landing_row_for_record, landing_rows_for_records
from paysync_dagster.lib.paytrace.records import _plain_of, _utc_and_day, _utc_and_day_of, dedup_key, parse_record, payload_json
from paysync_dagster.lib.scrub import keeps_as_is, plain_json, scrub, untouched_json
from paysync_dagster.lib.timeutil import business_date, local_to_utc
from paysync_dagster_tests.lib.paytrace.records_fixtures import EXPORT_RECORD, record
from paysync_dagster_tests.lib.paytrace.test_contract import _JSON_VALUES, _PATHS, POOL, _with

LA = "America/Los_Angeles"


class _Text(str):
    pass


# Changes that keep a record in the usual shape, or just leave it: the paths and values the export
# path meets, with the contract's pool and any JSON value on top.
_USUAL: dict[str, list[Any]] = {
    "amount": [956.3, 0.1, 0.0, 110, 12.345, "12.30", 1e-05, 999_999_999.99, True, None, float("nan")],
    "tax_amount": ["", "8.10", 3.5, None, 0],
    "settled": ["", "10/14/2026 8:00:00 PM", None],
    "transaction_id": [350282690, "350282690", 12.0, True],
    "credit_card": [None, {"masked_number": "************5454", "expiration_month": 12, "expiration_year": 20},
                    {"masked_number": "************5454", "expiration_month": 1.0, "expiration_year": "31"},
                    {"masked_number": "************5454"}, {"masked_number": 1234, "expiration_month": None, "expiration_year": None}],
    "billing_address": [None, {"name": "A"}, {"name": "Jos\u00e9", "zip": "99294"}, {"zip": 99294}, {"name": "A", "extra": "x"},
                        {}, {_Text("name"): "A"}],
    "shipping_address": [None, {"name": "", "street_address": "", "street_address2": "", "city": "", "county": "",
                                "state": "", "zip": "", "country": ""}],
    "created": [{"at": "10/14/2026 12:03:45 AM"}, {"at": "10/14/2026 12:03:45 AM", "through": "API", "by": "x", "from_ip": "1.2.3.4"}],
    "created.at": ["3/8/2026 2:30:00 AM", "11/1/2026 1:30:00 AM", "10/14/2026 11:59:59 PM"],
    "description": ["Payment for INV-1", "card 4012000098765439", "caf\u00e9", "\x7f", "nul\x00", 5, 1.5e-05, None],
    "extra": ["x", {"a": 1}, [1, 2]],
}
_ALL_PATHS = sorted({*POOL, *_USUAL, *_PATHS})
_VALUE = {path: st.sampled_from([*POOL.get(path, []), *_USUAL.get(path, [])]) if path in POOL or path in _USUAL else _JSON_VALUES
          for path in _ALL_PATHS}
_CHANGES = st.lists(st.sampled_from(_ALL_PATHS).flatmap(lambda path: st.tuples(st.just(path), st.one_of(_VALUE[path], _JSON_VALUES))),
                    max_size=3)


def _changed(changes: list[tuple[str, Any]]) -> dict[str, Any]:
    rec = copy.deepcopy(EXPORT_RECORD)
    for path, value in changes:
        rec = _with(rec, path, value)
    return rec


def _model_values(rec: Any) -> dict[str, Any] | None:
    """What the model holds for a record, or None when it refuses it (``problem_in_values`` is not
    the readers' to check: it comes first, on every path)."""
    try:
        return _plain_of(PayTraceExportRecord.model_validate(rec))
    except ValidationError:
        return None


def _at(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if node is None:
            return None
        node = node[part]
    return node


def _only_plain(value: Any) -> bool:
    """Values exactly str, int, float, None or dicts of them (keys text: a subclass of str is ``plain_json``'s to turn away)."""
    if type(value) is dict:
        return all(isinstance(k, str) and _only_plain(v) for k, v in value.items())
    return type(value) in (str, int, float, type(None))


def _depth(value: Any) -> int:
    return 1 + max((_depth(v) for v in value.values()), default=0) if type(value) is dict else 0


@settings(max_examples=1500, deadline=None)
@given(_CHANGES)
def test_the_compiled_readers_read_as_the_reference_and_the_model(changes: list[tuple[str, Any]]) -> None:
    rec = _changed(changes)
    plain = plain_read.read_plain(rec)
    assert plain == plain_read._read_plain(plain_read._RECORD_PLAN, rec)  # the compiled reader is the reference's
    model = _model_values(rec)
    if plain is not None:
        assert model is not None
        assert _same_fields(plain, model)
    exact = plain_read.exact_record(rec)
    if exact is not None:
        assert plain is not None and model is not None
        assert list(exact) == [_at(model, path) for path in plain_read.READ_PATHS]
        assert _only_plain(rec) and _depth(rec) <= 2
        assert all(keeps_as_is(name) for name in plain_read.FIELD_NAMES)
        assert _keys(rec) <= plain_read.FIELD_NAMES
        assert plain_json(rec) == untouched_json(rec)


def _same_fields(plain: Any, model: Any) -> bool:
    """``plain`` holds ``model``'s values for the model's fields (it may hold the record's other keys too)."""
    if isinstance(model, dict):
        return isinstance(plain, dict) and all(name in plain and _same_fields(plain[name], value) for name, value in model.items())
    return plain == model and type(plain) is type(model)


def _keys(value: Any) -> set[str]:
    return {k for k in value} | {k for v in value.values() if type(v) is dict for k in _keys(v)} if type(value) is dict else set()


def _long_way(rec: Any) -> tuple[Any, ...]:
    """The landing row's values the long way: scrub everything, parse, write the payload."""
    clean, _ = scrub(dict(rec))
    parsed = parse_record(clean, LA)
    return (payload_json(clean), parsed["transaction_id"], parsed["state"], parsed["business_date"],
            parsed["settled_at"] or parsed["created_at"])


@settings(max_examples=1500, deadline=None)
@given(_CHANGES)
def test_a_landing_row_is_what_the_long_way_gives(changes: list[tuple[str, Any]]) -> None:
    rec = _changed(changes)
    try:
        expected: Any = _long_way(rec)
    except PayTraceDataError as exc:
        expected = (str(exc), exc.field, exc.transaction_id)
    try:
        row = landing_row_for_record(rec, source="export", tz_name=LA)
    except PayTraceDataError as exc:
        assert (str(exc), exc.field, exc.transaction_id) == expected
        return
    assert (row.payload, row.transaction_id, row.state, row.business_date, row.occurred_at) == expected
    assert row.dedup_key == dedup_key(row.transaction_id, row.state)
    assert row.event_type == STATE_EVENT_TYPES.get(row.state, f"transaction.{row.state}")
    assert list(row.__dict__) == ["dedup_key", "transaction_id", "state", "source", "event_id", "event_type",
                                  "business_date", "occurred_at", "payload"]


def test_a_usual_record_lands_through_the_one_pass_and_a_card_number_never_does() -> None:
    rec = record(amount=956.3, billing_address__county=...)
    assert plain_read.exact_record(rec) is not None
    row = landing_row_for_record(rec, source="export", tz_name=LA)
    assert row.payload == json.dumps(rec, separators=(",", ":"), sort_keys=True)
    carded = record(description="paid with 4012000098765439")
    assert plain_read.exact_record(carded) is not None  # the contract reads it; the scrub still masks it
    assert "4012000098765439" not in landing_row_for_record(carded, source="export", tz_name=LA).payload


def test_one_bad_record_is_refused_and_the_rest_land() -> None:
    records = [record(transaction_id=1), record(transaction_id=2, transaction_type="PAYOUT"), record(transaction_id=[5]),
               record(transaction_id=3, amount=float("nan")), record(transaction_id=4, extra={"deep": [1, float("inf")]})]
    rows, refused = landing_rows_for_records(records, source="export", tz_name=LA)
    assert [r.transaction_id for r in rows] == [1]
    assert [r.transaction_id for r in refused] == [2, 0, 3, 4]


# -- UTC and the business date ---------------------------------------------------------------------------

_ZONES = ["America/Los_Angeles", "Australia/Lord_Howe", "Pacific/Apia", "America/Santiago", "Europe/Dublin", "Asia/Kathmandu"]


def _conversions(local: datetime, tz_name: str) -> tuple[datetime, date]:
    utc = local_to_utc(local, tz_name)
    return utc, business_date(utc, tz_name)


@pytest.mark.parametrize("tz_name", _ZONES)
def test_utc_and_business_date_are_the_conversions_around_every_change_of_offset(tz_name: str) -> None:
    """Both shortcuts (an hour's remembered offset, one time's offsets) against the conversions."""
    fast = _utc_and_day_of.__wrapped__
    year = 2011 if tz_name == "Pacific/Apia" else 2026  # Apia skipped 30 December 2011
    rng = random.Random(tz_name)
    moment, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
    previous = None
    while moment < end:
        offset = local_to_utc(moment, tz_name) - moment
        if previous is not None and offset != previous:  # an offset changed in the last step: every second around it
            for second in range(-2 * 3600, 2 * 3600, 1 if rng.random() < 0.2 else 7):
                local = moment + timedelta(seconds=second)
                for fold in (0, 1):
                    at = local.replace(fold=fold)
                    assert fast(at, fold, tz_name) == _utc_and_day(at, tz_name) == _conversions(at, tz_name), (tz_name, at)
        for fold in (0, 1):
            at = moment.replace(fold=fold)
            assert fast(at, fold, tz_name) == _utc_and_day(at, tz_name) == _conversions(at, tz_name), (tz_name, at)
        previous = offset
        moment += timedelta(minutes=47, seconds=rng.randrange(60))


# -- amounts -----------------------------------------------------------------------------------------------


def _amount_the_old_way(value: float) -> int:
    """``read_amount`` for a float as it read one before the shortcut: its repr, else ``to_minor``."""
    if 0 <= value < 1_000_000_000:
        whole, _, fraction = repr(value).partition(".")
        if len(fraction) <= 2 and whole.isdigit() and fraction.isdigit():
            return int(whole) * 100 + int(fraction.ljust(2, "0"))
    if value != value or value in (float("inf"), float("-inf")) or not 0 <= value < 10**15:
        raise ValueError
    try:
        minor = to_minor(value, "USD")
    except MoneyError:
        raise ValueError from None
    if not 0 <= minor <= AMOUNT_MAX_MINOR:
        raise ValueError
    return minor


@settings(max_examples=5000, deadline=None)
@given(st.one_of(st.floats(), st.integers(0, 10**11).map(lambda c: c / 100), st.integers(0, 10**12).map(lambda m: m / 1000),
                 st.sampled_from([0.0, -0.0, 5e-05, 0.005, 0.015, 1.005, 2.675, 999_999_999.99, 999_999_999.995, 1e9 - 1e-7])))
def test_a_float_amount_reads_as_it_always_did(value: float) -> None:
    try:
        expected: Any = _amount_the_old_way(value)
    except ValueError:
        expected = ValueError
    try:
        got: Any = read_amount(value)
    except ValueError:
        got = ValueError
    assert got == expected


# -- the client's merge, the collector ---------------------------------------------------------------------


def test_an_id_that_is_a_list_or_an_object_does_not_stop_the_export() -> None:
    records = [{**EXPORT_RECORD, "transaction_id": [1]}, {**EXPORT_RECORD, "transaction_id": {"a": 1}}, EXPORT_RECORD, EXPORT_RECORD]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 7200})
        return httpx.Response(200, json={"success": True, "response_code": 1, "transactions": records})

    with PayTraceClient("https://paytrace.test", "u", "p", "i", transport=httpx.MockTransport(handler)) as client:
        got = client.export_transactions(date(2026, 10, 14), date(2026, 10, 14))
    assert [r["transaction_id"] for r in got] == [[1], {"a": 1}, 1143]  # the two copies of 1143 merged, the others kept
    rows, refused = landing_rows_for_records(got, source="export", tz_name=LA)
    assert len(rows) == 1 and len(refused) == 2


def _merged_the_long_way(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[Any, dict[str, Any]] = {}
    for i, record in enumerate(records):
        rid = record.get("transaction_id")
        try:
            ident = ("id", rid) if rid not in (None, "") else ("anonymous", i)
            hash(ident)
        except TypeError:
            ident = ("anonymous", i)
        merged.pop(ident, None)
        merged[ident] = record
    return list(merged.values())


@pytest.mark.parametrize("ids", [[1, 2, 3], [1, 2, 1], [1, None, 2, None], [1, "", ""], [1, True, 2], [1, 1.0, "1"], [[1], [1], 2],
                                 [{"a": 1}, 3, 3], [5, 4, 3, 2, 1, 5]])
def test_one_day_is_merged_as_the_long_way_merges_it(ids: list[Any]) -> None:
    records = [{"transaction_id": tid, "n": n} for n, tid in enumerate(ids)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 7200})
        return httpx.Response(200, json={"success": True, "response_code": 1, "transactions": records})

    with PayTraceClient("https://paytrace.test", "u", "p", "i", transport=httpx.MockTransport(handler)) as client:
        got = client.export_transactions(date(2026, 10, 14), date(2026, 10, 14))
    assert got == _merged_the_long_way(json.loads(json.dumps(records)))


def test_the_collector_is_paused_inside_and_restarted_after_the_last_holder() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # it was not running before: it is not started
    finally:
        gc.enable()


def test_what_a_pause_made_goes_to_the_oldest_generation_and_nothing_frozen_is_thawed() -> None:
    with collector_paused():
        made = [{"n": [i]} for i in range(1000)]  # tracked (a dict of atomic values is not)
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(gc.is_tracked(d) and id(d) in oldest for d in made) and gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            [{"n": i} for i in range(10)]
        assert gc.get_freeze_count() == frozen  # someone else's frozen objects stay frozen
    finally:
        gc.unfreeze()
