"""The export-record contract: one model checks records and publishes the schema, and the two agree."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from paysync_dagster.lib.paytrace.contract import AMOUNT_MAX_MINOR, problem_in_values, read_amount
from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace.records import parse_record
from paysync_dagster.lib.paytrace.tables import transaction_rows
from paysync_dagster.lib.schemas import PayTraceTransactionsSchema, rows_failing
from paysync_dagster.lib.warehouse.tables import paytrace_transactions
from paysync_dagster.webhooks.envelope import EnvelopeError, envelope_json_schema, parse_event
from paysync_dagster_tests.lib.paytrace.records_fixtures import EXPORT_RECORD, record

LA = "America/Los_Angeles"
VALIDATOR = Draft202012Validator(envelope_json_schema())

# Values a sender might put in each field: well-formed ones, PayTrace's quirks, and hostile ones.
POOL: dict[str, list[Any]] = {
    "transaction_id": [1, 1143, "1143", " 42 ", 999_999_999_999, 10**12, 0, -1, 2**63, 12.0, 12.5, "12a", "", None, True, "٣"],
    "transaction_type": ["SALE", "sale", " Refund ", "STR/FWD", "str/fwd", "PAYOUT", "", 5, None],
    "amount": [0, 110, 12.34, 0.1, "12.30", "1,230.00", "12,30", "1e3", "12.345", "12.300", -5, 1e20, 999_999_999.99,
               "999999999.99", "1000000000", "١٢", True, None, "", "  7.5 "],
    "tax_amount": ["8.10", "", None, 0, "-1.00", "eight", 3.5],
    "created.at": ["4/10/2015 4:06:30 PM", "12/31/2099 11:59:59 pm", "1/1/9999 1:00:00 PM", "2/30/2026 1:00:00 PM",
                   "13/1/2026 1:00:00 PM", "4/10/2015 13:06:30 PM", "2015-04-10T16:06:30Z", "", 5],
    "settled": ["", "4/11/2015 8:00:00 PM", "soon", None],
    "credit_card.expiration_month": [12, "07", 0, 13, "", None, "x", 10**20],
    "credit_card.expiration_year": [20, "20", 2031, "2031", 1999, 10**19, "", None],
    "invoice_id": ["INV-1", 8888, 1.5, None, "", ["x"], {"a": 1}],
    "billing_address": [{"name": "A"}, None, "8320 E. West St.", []],
}


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(list(POOL)), min_size=1, max_size=3, unique=True).flatmap(
    lambda fields: st.tuples(*[st.tuples(st.just(f), st.sampled_from(POOL[f])) for f in fields])))
def test_nothing_the_published_schema_forbids_is_accepted(changes: tuple[tuple[str, Any], ...]) -> None:
    rec = copy.deepcopy(EXPORT_RECORD)
    for path, value in changes:
        rec = _with(rec, path, value)
    envelope = {"event_id": "e1", "event_type": "transaction.approved", "occurred_at": "2015-04-10T16:06:30-07:00", "transaction": rec}
    try:
        parse_event(envelope, LA, b"k")
    except EnvelopeError:
        return
    errors = [e.message for e in VALIDATOR.iter_errors(envelope)]
    assert not errors, (changes, errors)


@pytest.mark.parametrize(("wire", "cents"), [(110, 11000), ("1,230.00", 123000), ("12.300", 1230), (999_999_999.99, AMOUNT_MAX_MINOR),
                                             ("  7.5 ", 750), (0, 0)])
def test_amounts_within_the_contract_read_exactly(wire: Any, cents: int) -> None:
    assert read_amount(wire) == cents


@pytest.mark.parametrize("wire", ["12,30", "1e3", "١٢", "12.345", -5, 1e20, "1000000000", True, None, float("inf"), "1,2345"])
def test_amounts_outside_the_contract_are_refused(wire: Any) -> None:
    with pytest.raises(ValueError):
        read_amount(wire)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"transaction_id": 2**63}, "transaction_id"),
        ({"created__at": "1/1/9999 1:00:00 PM"}, "created.at"),
        ({"settled": "1/1/1999 1:00:00 PM"}, "settled"),
        ({"credit_card__expiration_year": 10**19}, "credit_card.expiration_year"),
        ({"billing_address__name": "Ste\ud800ve"}, "billing_address.name"),
        ({"description": "a\x00b"}, "description"),
        ({"extra": {"deep": [1, float("inf")]}}, "extra.deep.1"),
    ],
)
def test_values_the_warehouse_cannot_hold_are_refused_with_the_field(changes: dict, field: str) -> None:
    with pytest.raises(PayTraceDataError) as err:
        parse_record(record(**changes), LA)
    assert err.value.field == field


def test_problem_in_values_names_a_bad_key_escaped() -> None:
    assert problem_in_values({"a": {"k\ud800": 1}}) == ("a.k\\ud800", "is not valid Unicode text (a lone surrogate)")
    assert problem_in_values({"a": [1, 2**63 - 1, -(2**63)]}) is None
    assert problem_in_values({"a": [2**63]}) == ("a.0", "integer out of range (64-bit)")


def test_a_masked_number_with_the_first_six_digits_reads_its_last_four() -> None:
    row = parse_record(record(credit_card__masked_number="401200******5439"), LA)
    assert row["card_last_four"] == "5439"


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30) | st.sampled_from(["4/10/2015 4:06:30 PM", "12.30", "SALE", "", "0", "99999999999999"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
_PATHS = [*POOL, "created", "credit_card", "credit_card.masked_number", "shipping_address.zip", "extra", "description"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PATHS), _JSON_VALUES), min_size=1, max_size=3))
def test_an_accepted_event_always_builds_into_a_transaction(changes: list[tuple[str, Any]]) -> None:
    """No poison pill: whatever JSON a sender puts wherever, the receiver refuses it, or the row it
    lands builds into a transaction that satisfies the table's contract."""
    rec = copy.deepcopy(EXPORT_RECORD)
    for path, value in changes:
        rec = _with(rec, path, value)
    envelope = {"event_id": "e1", "event_type": "transaction.approved", "occurred_at": "2015-04-10T16:06:30-07:00", "transaction": rec}
    try:
        row = parse_event(envelope, LA, b"k").row
    except EnvelopeError:
        return
    landed = {**row.__dict__, "id": 1}
    rows, exceptions = transaction_rows([landed], LA)
    assert exceptions == [] and len(rows) == 1
    frame = pd.DataFrame(rows, columns=[c.name for c in paytrace_transactions.columns])
    assert rows_failing(PayTraceTransactionsSchema, frame) == {}
