"""The exception queue on SQLite and PostgreSQL: merging a stage's set, resolving, the audit trail, listing."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from paysync_dagster.lib.exceptions import (QueueError, open_exceptions, resolve, stage_writer,
                                            write_stage_exceptions)
from paysync_dagster.lib.exceptions.audit import history
from paysync_dagster.lib.warehouse.tables import normalized_payments, payment_exceptions
from paysync_dagster_tests.lib.exceptions.support import reported

DAY = date(2026, 3, 5)
T0 = datetime(2026, 3, 5, 18, 0, 0)


def table(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(select(payment_exceptions).order_by(payment_exceptions.c.id))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys())).set_index("transaction_id")


def test_a_stage_set_is_merged_keeping_ids_ages_and_decisions(engine: Engine) -> None:
    first = write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, t) for t in (1, 2, 3, 4)], now=T0)
    assert first == {"inserted": 4, "updated": 0, "unchanged": 0, "cleared": 0, "reopened": 0}
    before = table(engine)
    assert set(before["status"]) == {"open"} and set(before["created_at"]) == {T0}
    resolve(engine, [int(before.loc[2, "id"])], "customer paid by cheque; posted by hand", "alice")

    later = T0 + timedelta(hours=5)
    rows = [reported(DAY, 1, amount=1_250, reason="Oracle refused: invalid bank account", action="fix the account"),
            reported(DAY, 2), reported(DAY, 5)]  # 3 and 4 went away, 5 is new
    counts = write_stage_exceptions(engine, [DAY], "oracle", rows, now=later)
    assert counts == {"inserted": 1, "updated": 1, "unchanged": 1, "cleared": 2, "reopened": 0}
    after = table(engine)
    for t in (1, 2, 3, 4):  # the same exception: same id, same age
        assert after.loc[t, "id"] == before.loc[t, "id"] and after.loc[t, "created_at"] == T0
    assert (after.loc[1, "amount_minor"], after.loc[1, "reason"], after.loc[1, "suggested_action"], after.loc[1, "status"]) \
        == (1_250, "Oracle refused: invalid bank account", "fix the account", "open")
    assert after.loc[2, "status"] == "resolved"  # a person decided; the stage reporting it again changes nothing
    assert after.loc[3, "status"] == after.loc[4, "status"] == "cleared"
    assert after.loc[5, "status"] == "open" and after.loc[5, "created_at"] == later and after.loc[5, "id"] > before["id"].max()

    cleared = history(engine, action="exception.cleared")
    assert sorted(cleared["subject"]) == sorted(f"payment_exceptions:{before.loc[t, 'id']}" for t in (3, 4))
    assert set(cleared["actor"]) == {"paysync"} and set(cleared["at"]) == {later}
    assert [json.loads(b)["status"] for b in cleared["before"]] == ["open", "open"]
    assert [json.loads(a)["status"] for a in cleared["after"]] == ["cleared", "cleared"]
    assert all(f"no longer reports it for {DAY}" in n for n in cleared["note"])

    # Nothing reported any more: the resolved row stays resolved, only open ones clear.
    assert write_stage_exceptions(engine, [DAY], "oracle", [], now=later)["cleared"] == 2
    assert table(engine)["status"].to_dict() == {1: "cleared", 2: "resolved", 3: "cleared", 4: "cleared", 5: "cleared"}


def test_a_cause_that_comes_back_reopens_the_same_exception(engine: Engine) -> None:
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 1)], now=T0)
    write_stage_exceptions(engine, [DAY], "oracle", [], now=T0)
    counts = write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 1)], now=T0 + timedelta(days=1))
    assert counts["reopened"] == 1 and counts["inserted"] == 0
    row = table(engine).loc[1]
    assert row["status"] == "open" and row["created_at"] == T0
    assert list(history(engine, subject=f"payment_exceptions:{row['id']}")["action"]) == \
        ["exception.cleared", "exception.reopened"]


def test_a_stage_touches_only_its_own_rows_of_its_own_dates(engine: Engine) -> None:
    other_day = DAY + timedelta(days=1)
    write_stage_exceptions(engine, [DAY], "normalize", [reported(DAY, 1, stage="normalize", code="unknown_customer")])
    write_stage_exceptions(engine, [other_day], "oracle", [reported(other_day, 2)])
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 3)])
    write_stage_exceptions(engine, [DAY], "oracle", [])
    assert table(engine)["status"].to_dict() == {1: "open", 2: "open", 3: "cleared"}
    # A different reason for the same payment is a different exception.
    write_stage_exceptions(engine, [DAY], "normalize", [reported(DAY, 1, stage="normalize", code="missing_rate")])
    rows = table(engine).reset_index().query("stage == 'normalize'")
    assert sorted(zip(rows["reason_code"], rows["status"])) == [("missing_rate", "open"), ("unknown_customer", "cleared")]


def test_rows_outside_the_dates_or_the_stage_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="outside the dates"):
        write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY + timedelta(days=1), 1)])
    with pytest.raises(ValueError, match="its own exceptions"):
        write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 1, stage="sage")])
    assert table(engine).empty


def test_the_stage_writer_changes_its_table_and_the_queue_together_or_not_at_all(engine: Engine) -> None:
    write_stage_exceptions(engine, [DAY], "normalize", [reported(DAY, 1, stage="normalize")], now=T0)
    with engine.begin() as conn:
        conn.execute(normalized_payments.insert(), [_payment(DAY, 10)])
    with pytest.raises(RuntimeError, match="chunk 2 failed"), \
            stage_writer(engine, [DAY], "normalize", {normalized_payments: None}) as write:
        write(normalized_payments, [_payment(DAY, 11)])
        write(payment_exceptions, [reported(DAY, 2, stage="normalize")])
        raise RuntimeError("chunk 2 failed")
    with engine.connect() as conn:
        assert conn.execute(select(normalized_payments.c.transaction_id)).scalars().all() == [10]
    assert table(engine)["status"].to_dict() == {1: "open"} and history(engine).empty

    with stage_writer(engine, [DAY], "normalize", {normalized_payments: None}) as write:
        write(normalized_payments, [_payment(DAY, 11)])
        write(payment_exceptions, [reported(DAY, 2, stage="normalize")])
    with engine.connect() as conn:
        assert conn.execute(select(normalized_payments.c.transaction_id)).scalars().all() == [11]
    assert table(engine)["status"].to_dict() == {1: "cleared", 2: "open"}


def test_resolve_is_all_or_nothing_with_a_note_and_an_audit_entry_each(engine: Engine) -> None:
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, t) for t in (1, 2, 3)], now=T0)
    ids = table(engine)["id"].to_dict()
    resolve(engine, [ids[3]], "written off under tolerance", "carol")
    audit_before = history(engine)

    with pytest.raises(QueueError) as err:
        resolve(engine, [ids[1], 999_999, ids[3]], "done", "bob")
    assert str(err.value) == f"unknown exception ids: 999999; not open: {ids[3]} (resolved); nothing was changed"
    for note in ("", "   "):
        with pytest.raises(QueueError, match="a note is required"):
            resolve(engine, [ids[1]], note, "bob")
    with pytest.raises(QueueError, match="an actor is required"):
        resolve(engine, [ids[1]], "done", " ")
    assert table(engine)["status"].to_dict() == {1: "open", 2: "open", 3: "resolved"}
    pd.testing.assert_frame_equal(history(engine), audit_before)

    at = T0 + timedelta(days=2)
    assert resolve(engine, [ids[1], ids[2], ids[1]], "  refunded in PayTrace; nothing to post  ", "bob", now=at) == [ids[1], ids[2]]
    assert set(table(engine)["status"]) == {"resolved"}
    entries = history(engine, action="exception.resolved")
    mine = entries[entries["actor"] == "bob"]
    assert list(mine["subject"]) == [f"payment_exceptions:{ids[1]}", f"payment_exceptions:{ids[2]}"]
    assert set(mine["note"]) == {"refunded in PayTrace; nothing to post"} and set(mine["at"]) == {at}
    assert json.loads(mine["before"].iloc[0]) == {"status": "open", "reason_code": "erp_unreachable", "reason": "Oracle did not answer"}
    assert json.loads(mine["after"].iloc[0])["status"] == "resolved"


def test_the_audit_log_only_grows_and_every_entry_is_complete(engine: Engine) -> None:
    snapshots = []
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, t) for t in (1, 2, 3)], now=T0)
    snapshots.append(history(engine))
    ids = table(engine)["id"].to_dict()
    resolve(engine, [ids[1]], "posted by hand as receipt 8812", "alice", now=T0 + timedelta(hours=1))
    snapshots.append(history(engine))
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 1)], now=T0 + timedelta(hours=2))
    snapshots.append(history(engine))
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 2)], now=T0 + timedelta(hours=3))
    snapshots.append(history(engine))
    assert [len(s) for s in snapshots] == [0, 1, 3, 4]
    for earlier, later in zip(snapshots, snapshots[1:]):  # what was written is never changed
        pd.testing.assert_frame_equal(later.iloc[:len(earlier)], earlier, check_dtype=False)
    final = snapshots[-1]
    assert final["id"].is_monotonic_increasing
    assert list(final["action"]) == ["exception.resolved", "exception.cleared", "exception.cleared", "exception.reopened"]
    assert list(final["actor"]) == ["alice", "paysync", "paysync", "paysync"]
    assert final[["at", "actor", "action", "subject", "before", "after", "note"]].notna().all().all()
    assert list(final["at"]) == [T0 + timedelta(hours=h) for h in (1, 2, 2, 3)]


def test_the_list_filters_and_ages_from_a_fixed_now(engine: Engine) -> None:
    now = datetime(2026, 3, 20, 12, 0, 0)
    ages = {1: 0, 2: 23, 3: 24, 4: 71, 5: 72, 6: 167, 7: 168, 8: 24 * 30 + 5}  # hours before now
    for t, hours in ages.items():
        day = DAY + timedelta(days=t % 3)
        write_stage_exceptions(engine, [day], "oracle", _keep(engine, day, "oracle") + [reported(day, t, amount=100 * t)],
                               now=now - timedelta(hours=hours))
    write_stage_exceptions(engine, [DAY], "normalize", [reported(DAY, 9, stage="normalize", code="unknown_customer",
                                                                 currency="EUR")], now=now)
    everything = open_exceptions(engine, now=now).set_index("transaction_id")
    assert list(everything.columns[:8]) == ["id", "business_date", "stage", "reason_code", "reason", "amount_minor",
                                            "currency", "created_at"]
    assert everything["age_hours"].to_dict() == {**ages, 9: 0}
    assert everything["age_bucket"].to_dict() == {1: "<1d", 2: "<1d", 3: "1-3d", 4: "1-3d", 5: "3-7d", 6: "3-7d",
                                                  7: ">7d", 8: ">7d", 9: "<1d"}
    assert everything.loc[8, "age"] == "30d 5h" and everything.loc[8, "age_days"] == 30
    assert list(everything["business_date"]) == sorted(everything["business_date"])  # oldest business date first

    second = DAY + timedelta(days=1)
    assert sorted(open_exceptions(engine, start=second, end=second, now=now)["transaction_id"]) == [1, 4, 7]
    assert sorted(open_exceptions(engine, start=second, now=now)["transaction_id"]) == [1, 2, 4, 5, 7, 8]
    assert sorted(open_exceptions(engine, stage="normalize", now=now)["transaction_id"]) == [9]
    assert sorted(open_exceptions(engine, reason_code="unknown_customer", now=now)["transaction_id"]) == [9]
    resolve(engine, [int(everything.loc[3, "id"])], "duplicate of 4", "alice")
    assert 3 not in set(open_exceptions(engine, now=now)["transaction_id"])
    assert list(open_exceptions(engine, status="resolved", now=now)["transaction_id"]) == [3]
    assert len(open_exceptions(engine, status="all", now=now)) == 9
    assert open_exceptions(engine, status="cleared", now=now).empty
    with pytest.raises(QueueError, match="status must be one of"):
        open_exceptions(engine, status="closed")


def test_a_hundred_thousand_exceptions_merge_in_set_operations(engine: Engine) -> None:
    n = 100_000
    write_stage_exceptions(engine, [DAY], "normalize",
                           [reported(DAY, t, stage="normalize", code="unknown_customer") for t in range(n)], now=T0)
    # Half gone, the other half with new details, and 10,000 new.
    rows = [reported(DAY, t, stage="normalize", code="unknown_customer", reason="still unmapped") for t in range(n // 2, n + 10_000)]
    counts = write_stage_exceptions(engine, [DAY], "normalize", rows, now=T0 + timedelta(hours=1))
    assert counts == {"inserted": 10_000, "updated": n // 2, "unchanged": 0, "cleared": n // 2, "reopened": 0}
    with engine.connect() as conn:
        by_status = dict(conn.execute(select(payment_exceptions.c.status, func.count())
                                      .group_by(payment_exceptions.c.status)).all())
        reasons = dict(conn.execute(select(payment_exceptions.c.reason, func.count())
                                    .where(payment_exceptions.c.status == "open").group_by(payment_exceptions.c.reason)).all())
        ids = conn.execute(select(func.min(payment_exceptions.c.id), func.max(payment_exceptions.c.id))).one()
    assert by_status == {"open": n // 2 + 10_000, "cleared": n // 2}
    assert reasons == {"still unmapped": n // 2 + 10_000}
    assert ids[1] - ids[0] + 1 == n + 10_000  # no row was deleted and inserted again
    assert len(history(engine, action="exception.cleared")) == n // 2


def _keep(engine: Engine, day: date, stage: str) -> list[dict]:
    """What a stage already reports for a date (so adding one more row keeps the others open)."""
    with engine.connect() as conn:
        result = conn.execute(select(payment_exceptions).where(payment_exceptions.c.business_date == day,
                                                               payment_exceptions.c.stage == stage))
        return [dict(r) for r in result.mappings()]


def _payment(day: date, transaction_id: int) -> dict:
    text = {c.name: "x" for c in normalized_payments.columns}
    return {**text, "business_date": day, "transaction_id": transaction_id, "amount_minor": 100, "currency": "USD",
            "base_currency": "USD", "base_amount_minor": 100, "occurred_at": T0, "settled_at": None,
            "settlement_batch": None, "card_last_four": "1111"}
