"""The landing table on SQLite and PostgreSQL: dedup across writers, scrubbing, the sensor read."""

import json
from datetime import date

import pytest

from paysync_dagster.lib.paytrace.errors import PayTraceDataError
from paysync_dagster.lib.paytrace import landing
from paysync_dagster.lib.paytrace.landing import (
    land,
    land_records,
    landing_dates_after,
    landing_row_for_record,
    landing_rows_for_dates,
    landing_rows_for_records,
)
from paysync_dagster_tests.lib.paytrace.records_fixtures import record

LA = "America/Los_Angeles"


def test_the_same_state_from_export_and_webhook_lands_once(engine) -> None:  # noqa: ANN001
    export = landing_row_for_record(record(), source="export", tz_name=LA)
    hook = landing_row_for_record(record(), source="webhook", tz_name=LA, event_id="evt-1", event_type="transaction.approved")
    assert land(engine, [export]).landed == 1
    again = land(engine, [hook, export])
    assert (again.landed, again.duplicates) == (0, 2)
    settled = landing_row_for_record(record(settled="4/10/2015 8:00:00 PM"), source="export", tz_name=LA)
    assert land(engine, [settled]).landed == 1
    rows = landing_rows_for_dates(engine, [date(2015, 4, 10)])
    assert [(r["transaction_id"], r["state"]) for r in rows] == [(1143, "approved"), (1143, "settled")]


def test_a_repeated_event_id_is_a_duplicate_even_with_another_state(engine) -> None:  # noqa: ANN001
    first = landing_row_for_record(record(), source="webhook", tz_name=LA, event_id="evt-9")
    other = landing_row_for_record(record(transaction_type="VOID"), source="webhook", tz_name=LA, event_id="evt-9")
    assert land(engine, [first]).landed == 1
    assert land(engine, [other]).landed == 0


def test_duplicates_inside_one_call_land_once(engine) -> None:  # noqa: ANN001
    row = landing_row_for_record(record(), source="export", tz_name=LA)
    assert land(engine, [row, row, row]).landed == 1


def test_card_numbers_never_reach_the_table(engine) -> None:  # noqa: ANN001
    raw = record(description="paid with 4012000098765439", credit_card={"number": "4012000098765439", "masked_number": "************5439", "expiration_month": 1, "expiration_year": 30})
    raw["csc"] = "999"
    land(engine, [landing_row_for_record(raw, source="webhook", tz_name=LA, event_id="e")])
    payload = landing_rows_for_dates(engine, [date(2015, 4, 10)])[0]["payload"]
    assert "4012000098765439" not in payload and '"csc"' not in payload
    assert json.loads(payload)["credit_card"]["masked_number"] == "************5439"


def test_the_sensor_read_is_bounded_and_aggregated_by_date(engine) -> None:  # noqa: ANN001
    rows = [landing_row_for_record(record(transaction_id=1000 + i, created__at=f"4/{10 + i % 2}/2015 4:06:30 PM"), source="export", tz_name=LA)
            for i in range(25)]
    land(engine, rows)
    first = landing_dates_after(engine, 0, 10)
    assert [(str(r["business_date"]), r["rows"], r["max_id"]) for r in first] == [("2015-04-10", 5, 9), ("2015-04-11", 5, 10)]
    rest = landing_dates_after(engine, 10, 100)
    assert sum(r["rows"] for r in rest) == 15 and max(r["max_id"] for r in rest) == 25


def test_an_unreadable_record_is_refused_before_anything_lands(engine) -> None:  # noqa: ANN001
    with pytest.raises(PayTraceDataError):
        [landing_row_for_record(r, source="export", tz_name=LA) for r in (record(), record(transaction_type="PAYOUT"))]
    assert landing_dates_after(engine, 0, 10) == []


def _landed(engine) -> list[tuple]:  # noqa: ANN001
    """The landing table's rows as a comparable list (what was landed, not when or with which id)."""
    rows = landing_rows_for_dates(engine, [date(2015, 4, 10), date(2015, 4, 11)])
    return sorted((r["transaction_id"], r["state"], r["source"], str(r["business_date"]), r["payload"]) for r in rows)


def test_a_pull_lands_what_reading_then_landing_would_across_statements_and_slices(engine, monkeypatch) -> None:  # noqa: ANN001
    """``land_records`` (statements of 7 rows, committed every 20) against ``landing_rows_for_records`` then
    ``land``: the same rows, the same count of new ones, the same records refused, duplicates inside a
    statement, across statements and already landed left out."""
    monkeypatch.setattr(landing, "ROWS_PER_STATEMENT", 7)
    records = [record(transaction_id=5000 + i % 40, created__at=f"4/{10 + i % 2}/2015 4:06:{i % 60:02d} PM",
                      description=f"paid with 4012000098765439 #{i}" if i % 9 == 0 else f"order {i}") for i in range(60)]
    records[13] = record(transaction_type="PAYOUT", transaction_id=77)  # refused, the rest go on
    records[30] = record(amount="lots", transaction_id=78)
    land(engine, [landing_row_for_record(records[2], source="export", tz_name=LA)])  # landed before the pull
    result, refused = land_records(engine, records, source="export", tz_name=LA, rows_per_commit=20)
    assert sorted(r.transaction_id for r in refused) == [77, 78]
    # 40 ids, 5030's only record refused, 5002 there already: 38 new of 58 read
    assert (result.received, result.landed) == (58, 38)
    pulled = _landed(engine)
    assert not any("4012000098765439" in row[-1] for row in pulled)

    reference, _ = landing_rows_for_records(records, source="export", tz_name=LA)
    monkeypatch.setattr(landing, "ROWS_PER_STATEMENT", 500)
    with engine.begin() as conn:
        conn.execute(landing.paytrace_landing.delete())
    land(engine, [landing_row_for_record(records[2], source="export", tz_name=LA)])
    assert land(engine, reference).landed == result.landed
    assert _landed(engine) == pulled


def test_a_pull_landed_again_adds_nothing(engine) -> None:  # noqa: ANN001
    records = [record(transaction_id=9000 + i) for i in range(30)]
    first, _ = land_records(engine, records, source="export", tz_name=LA, rows_per_commit=8)
    again, _ = land_records(engine, records, source="export", tz_name=LA, rows_per_commit=8)
    assert (first.landed, again.landed, again.duplicates) == (30, 0, 30)
