"""``paysync exceptions list | resolve | replay`` as a person runs them: the installed command, in its own
process, against a SQLite warehouse file named by PAYSYNC_DATABASE_URL; and in this process (click's
runner) where a replay runner is injected or the arguments are refused before any work."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paysync_dagster.cli.exceptions import RUNNER
from paysync_dagster.lib.exceptions import open_exceptions, resolve, write_stage_exceptions
from paysync_dagster.lib.exceptions.audit import history
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse import make_engine, migrate
from paysync_dagster_tests.cli.support import invoke, one_line
from paysync_dagster_tests.conftest import REPO
from paysync_dagster_tests.lib.exceptions.support import reported

PAYSYNC = str(REPO / ".venv" / "bin" / "paysync")
DAY = date(2026, 3, 5)


def paysync(url: str, *args: str, actor: str | None = "erin", **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "DAGSTER_"))}
    environ.update({"PAYSYNC_DATABASE_URL": url, **env})
    if actor:
        environ["PAYSYNC_ACTOR"] = actor
    return subprocess.run([PAYSYNC, "exceptions", *args], env=environ, capture_output=True, text=True, timeout=120)


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[str, Engine]:
    """Four open exceptions over two dates and two stages, first reported 30 hours ago, and one resolved."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = make_engine(url)
    migrate(engine)
    reported_at = utcnow() - timedelta(hours=30)
    write_stage_exceptions(engine, [DAY], "oracle", [reported(DAY, 101, amount=123_456), reported(DAY, 102, amount=50)],
                           now=reported_at)
    write_stage_exceptions(engine, [DAY], "normalize", [
        reported(DAY, 103, stage="normalize", code="missing_rate", amount=9_900, currency="EUR",
                 reason="no exchange rate into the base currency", action="add a rate for EUR, then replay")],
        now=reported_at)
    later = DAY + timedelta(days=1)
    write_stage_exceptions(engine, [later], "oracle", [reported(later, 104, amount=700), reported(later, 105)],
                           now=reported_at)
    resolve(engine, [int(open_exceptions(engine).query("transaction_id == 105")["id"].iloc[0])], "duplicate", "ops")
    yield url, engine
    engine.dispose()


def test_list_prints_a_table_with_amounts_ages_next_steps_and_totals(warehouse: tuple[str, Engine]) -> None:
    url, _ = warehouse
    done = paysync(url, "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["id", "date", "transaction", "stage", "reason", "amount", "age", "bucket", "suggested", "action"]
    rows = {line.split()[2]: line for line in lines[2:-1]}
    assert sorted(rows) == ["101", "102", "103", "104"]  # open only: 105 is resolved
    assert "1,234.56 USD" in rows["101"] and "1d 6h" in rows["101"] and "1-3d" in rows["101"]
    assert "replay the date once the ERP answers" in rows["101"]
    assert "99.00 EUR" in rows["103"] and "add a rate for EUR, then replay" in rows["103"]
    assert lines[-1] == "4 open exceptions; total 99.00 EUR, 1,242.06 USD"

    one_day = paysync(url, "list", "--date", str(DAY), "--stage", "oracle")
    assert [line.split()[2] for line in one_day.stdout.splitlines()[2:-1]] == ["101", "102"]
    assert one_day.stdout.splitlines()[-1] == "2 open exceptions; total 1,235.06 USD"
    none = paysync(url, "list", "--from", "2026-04-01", "--to", "2026-04-30")
    assert none.returncode == 0 and none.stdout.splitlines()[-1] == "0 open exceptions; total nothing"


def test_list_as_json_and_csv(warehouse: tuple[str, Engine]) -> None:
    url, _ = warehouse
    done = paysync(url, "list", "--status", "all", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["total"] == {"count": 5, "amount_minor_by_currency": {"EUR": 9_900, "USD": 125_206}}
    by_txn = {r["transaction_id"]: r for r in data["exceptions"]}
    assert by_txn[105]["status"] == "resolved" and by_txn[101]["status"] == "open"
    first = by_txn[101]
    assert (first["business_date"], first["stage"], first["reason_code"], first["amount_minor"], first["amount"]) == \
        ("2026-03-05", "oracle", "erp_unreachable", 123_456, "1,234.56 USD")
    assert (first["age_hours"], first["age_bucket"], first["details"]) == (30, "1-3d", {"receipt_number": "PT-101"})

    resolved = json.loads(paysync(url, "list", "--status", "resolved", "--format", "json").stdout)
    assert [r["transaction_id"] for r in resolved["exceptions"]] == [105]

    table = list(csv.DictReader(io.StringIO(paysync(url, "list", "--reason", "missing_rate", "--format", "csv").stdout)))
    assert [(r["transaction_id"], r["amount_minor"], r["currency"], r["amount"]) for r in table] == [("103", "9900", "EUR", "99.00")]


def test_resolve_with_a_note_is_audited_under_the_actor(warehouse: tuple[str, Engine]) -> None:
    url, engine = warehouse
    ids = open_exceptions(engine).set_index("transaction_id")["id"].astype(int).to_dict()
    done = paysync(url, "resolve", str(ids[101]), str(ids[102]), "--note", "posted by hand in Oracle as 88120")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"resolved 2 exceptions by erin: {ids[101]}, {ids[102]}"
    assert sorted(open_exceptions(engine)["transaction_id"]) == [103, 104]
    entries = history(engine, action="exception.resolved")
    mine = entries[entries["actor"] == "erin"]
    assert list(mine["subject"]) == [f"payment_exceptions:{ids[101]}", f"payment_exceptions:{ids[102]}"]
    assert set(mine["note"]) == {"posted by hand in Oracle as 88120"}
    assert [json.loads(a)["status"] for a in mine["after"]] == ["resolved", "resolved"]

    by_flag = paysync(url, "resolve", str(ids[103]), "--note", "rate added", "--actor", "frank")
    assert by_flag.returncode == 0 and "by frank" in by_flag.stdout
    assert history(engine, subject=f"payment_exceptions:{ids[103]}")["actor"].tolist() == ["frank"]


@pytest.mark.parametrize("args, code, message", [
    (["resolve", "#104"], 1, "paysync exceptions resolve: a note is required: say why the exception needs nothing more"),
    (["resolve", "#104", "--note", "  "], 1,
     "paysync exceptions resolve: a note is required: say why the exception needs nothing more"),
    (["resolve", "#104", "#105", "999", "--note", "x"], 1,
     "paysync exceptions resolve: unknown exception ids: 999; not open: #105 (resolved); nothing was changed"),
    (["list", "--date", "05/03/2026"], 2,
     "paysync exceptions list: --date '05/03/2026' is not a date; write it as YYYY-MM-DD, e.g. 2026-03-05"),
    (["list", "--date", "2026-03-05", "--to", "2026-03-06"], 2,
     "paysync exceptions list: --date 2026-03-05 cannot go with --to 2026-03-06; give --date D for one date, "
     "or --from D --to D for a range"),
    (["replay"], 2,
     "paysync exceptions replay: nothing to replay; name exception ids, or --date D (or --from D --to D) with --stage S"),
    (["replay", "--date", "2026-04-01", "--stage", "oracle"], 1,
     "paysync exceptions replay: no open oracle exceptions on 2026-04-01"),
    (["replay", "#105"], 1, "paysync exceptions replay: not open: #105 (resolved); nothing was changed"),
])
def test_user_errors_exit_with_one_line_and_change_nothing(warehouse: tuple[str, Engine], args: list[str], code: int,
                                                           message: str) -> None:
    """Exit 2 when the command line needs fixing, 1 when the queue refuses the request."""
    url, engine = warehouse
    ids = open_exceptions(engine, status="all").set_index("transaction_id")["id"].astype(int).to_dict()
    audit_before = history(engine)
    done = paysync(url, *[_ids(a, ids) for a in args])
    assert done.returncode == code
    assert done.stderr.splitlines() == [_ids(message, ids)]
    assert done.stdout == ""
    assert sorted(open_exceptions(engine)["transaction_id"]) == [101, 102, 103, 104]
    assert history(engine).equals(audit_before)


@pytest.mark.parametrize("command", [["resolve", "--note", "x"], ["replay"]])
@pytest.mark.parametrize("typed, problem", [
    ("99999999999999999999", "exception id 99999999999999999999 is out of range (1 to 9223372036854775807)"),
    ("9223372036854775808", "exception id 9223372036854775808 is out of range (1 to 9223372036854775807)"),
    ("0", "exception id 0 is out of range (1 to 9223372036854775807)"),
    ("-5", "exception id -5 is out of range (1 to 9223372036854775807)"),
    ("12ab", "exception id '12ab' is not a whole number"),
])
def test_an_absurd_id_is_one_line_and_exit_2(command: list[str], typed: str, problem: str) -> None:
    name, *options = command
    # Refused while parsing: no warehouse is opened, so none is needed.
    done = invoke("exceptions", name, typed, *options, env={"PAYSYNC_DATABASE_URL": "sqlite:////nonexistent/w.db"})
    assert done.exit_code == 2
    assert one_line(done) == f"paysync exceptions {name}: {problem}; use an id from `paysync exceptions list`"


def test_replay_runs_through_an_injected_runner(warehouse: tuple[str, Engine]) -> None:
    url, engine = warehouse
    ids = open_exceptions(engine).set_index("transaction_id")["id"].astype(int).to_dict()
    asked: list[tuple[str, list[date], set[str]]] = []

    def runner(actor: str):  # noqa: ANN202
        def run_dates(days: list[date], assets: set[str]) -> dict:
            asked.append((actor, days, assets))
            return {"run_ids": ["run-1"], "success": True}
        return run_dates

    env = {"PAYSYNC_DATABASE_URL": url, "PAYSYNC_ACTOR": "ivy"}
    done = invoke("exceptions", "replay", "--date", str(DAY), "--stage", "oracle", obj={RUNNER: runner}, env=env)
    assert done.exit_code == 0, done.stderr
    assert asked == [("ivy", [DAY], {"oracle_cash_receipts"})]
    assert done.stdout.splitlines()[0] == "ran oracle_cash_receipts for 2026-03-05: run run-1 succeeded"
    assert {line.split()[0] for line in done.stdout.splitlines()[1:]} == {str(ids[101]), str(ids[102])}

    def failing(actor: str):  # noqa: ANN202
        return lambda days, assets: {"run_ids": ["run-2"], "success": False}

    failed = invoke("exceptions", "replay", str(ids[103]), obj={RUNNER: failing}, env=env)
    assert failed.exit_code == 1
    assert failed.stderr.splitlines() == ["paysync exceptions replay: a replay run failed (run-2); see it in the Dagster UI"]


def test_replay_takes_a_range_of_dates(warehouse: tuple[str, Engine]) -> None:
    url, _ = warehouse
    asked: list[list[date]] = []
    runner = {RUNNER: lambda actor: lambda days, assets: asked.append(days) or {"run_ids": ["r"], "success": True}}
    env = {"PAYSYNC_DATABASE_URL": url}
    done = invoke("exceptions", "replay", "--from", str(DAY), "--to", str(DAY + timedelta(days=1)), "--stage", "oracle",
                  obj=runner, env=env)
    assert done.exit_code == 0, done.stderr
    assert asked == [[DAY, DAY + timedelta(days=1)]]  # 105 is resolved, 104 is open on the second day
    none = invoke("exceptions", "replay", "--from", "2026-04-01", "--to", "2026-04-02", "--stage", "oracle",
                  obj=runner, env=env)
    assert none.exit_code == 1
    assert none.stderr.splitlines() == ["paysync exceptions replay: no open oracle exceptions from 2026-04-01 to 2026-04-02"]


def _ids(text: str, ids: dict[int, int]) -> str:
    """``#104`` -> the id of transaction 104's exception."""
    return re.sub(r"#(\d+)", lambda m: str(ids[int(m.group(1))]), text)
