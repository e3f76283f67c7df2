"""The shared option rules: every command that takes business dates refuses the same bad inputs the same
way, and every integer or interval option has its range. All refused while parsing, so in this process
and without a warehouse."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from paysync_dagster.cli.errors import Refused
from paysync_dagster.cli.options import MAX_DAYS, DateRange, resolve_dates
from paysync_dagster_tests.cli.support import invoke, one_line

# Every command that takes business dates, with what it needs besides them.
DATED = {
    "exceptions list": [],
    "exceptions replay": ["--stage", "oracle"],
    "kpis": [],
    "sandbox": [],
    "sandbox bank-files": ["--out", "{tmp}"],
}

# (options, the option the message names, the value it quotes, the fix it gives)
BAD_DATES = [
    pytest.param(["--from", "2026-03-05", "--to", "2026-03-01"], "--from", "2026-03-05", "swap them", id="reversed"),
    pytest.param(["--date", "2026-03-05", "--from", "2026-03-01"], "--date", "2026-03-05", "give --date D for one date",
                 id="date-with-from"),
    pytest.param(["--date", "2026-03-05", "--to", "2026-03-06"], "--date", "2026-03-05", "give --date D for one date",
                 id="date-with-to"),
    pytest.param(["--to", "2026-03-05"], "--to", "2026-03-05", "give --from D as well", id="to-alone"),
    pytest.param(["--date", "05/03/2026"], "--date", "'05/03/2026'", "write it as YYYY-MM-DD", id="malformed"),
    pytest.param(["--from", "2026-3-5", "--to", "2026-03-06"], "--from", "'2026-3-5'", "write it as YYYY-MM-DD",
                 id="unpadded"),
    pytest.param(["--date", "2026-02-30"], "--date", "'2026-02-30'", "give a real calendar date", id="no-such-day"),
    pytest.param(["--from", "2026-01-01", "--to", "0000-01-01"], "--to", "'0000-01-01'", "give a real calendar date",
                 id="year-out-of-range"),
]


@pytest.mark.parametrize("command", list(DATED))
@pytest.mark.parametrize("options, option, value, fix", BAD_DATES)
def test_every_dated_command_refuses_the_same_bad_dates(command: str, options: list[str], option: str, value: str,
                                                        fix: str, tmp_path: Path) -> None:
    extra = [a.format(tmp=tmp_path / "out") for a in DATED[command]]
    done = invoke(*command.split(), *extra, *options)
    assert done.exit_code == 2, done.output
    line = one_line(done)
    assert line.startswith(f"paysync {command}: {option} {value} ")
    assert line.endswith(fix) or f"; {fix}" in line
    assert done.stdout == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["exceptions replay", "sandbox", "sandbox bank-files"])
def test_commands_that_work_per_date_refuse_a_range_longer_than_the_bound(command: str, tmp_path: Path) -> None:
    extra = [a.format(tmp=tmp_path / "out") for a in DATED[command]]
    start = date(2025, 1, 1)
    done = invoke(*command.split(), *extra, "--from", str(start), "--to", str(start + timedelta(days=MAX_DAYS)))
    assert done.exit_code == 2
    assert one_line(done) == (f"paysync {command}: --from 2025-01-01 through 2026-01-02 is {MAX_DAYS + 1} days, "
                              f"more than {MAX_DAYS}; split it into ranges of at most {MAX_DAYS} days")


def test_reading_takes_any_range(sqlite_engine, sqlite_url: str) -> None:  # noqa: ANN001
    env = {"PAYSYNC_DATABASE_URL": sqlite_url}
    listed = invoke("exceptions", "list", "--from", "2020-01-01", "--to", "2026-12-31", env=env)
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines()[-1] == "0 open exceptions; total nothing"
    kpis = invoke("kpis", "--from", "2020-01-01", "--to", "2026-12-31", env=env)
    assert kpis.exit_code == 0, kpis.stderr
    assert kpis.stdout.startswith("Reconciliation 2020-01-01 to 2026-12-31")


def test_from_alone_runs_through_today_in_the_merchant_zone(sqlite_engine, sqlite_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    assert resolve_dates(None, date(2026, 3, 1), None, today=lambda: date(2026, 3, 9), max_days=None) == \
        DateRange(date(2026, 3, 1), date(2026, 3, 9))
    with pytest.raises(Refused, match=r"--from 2026-03-10 is after today \(2026-03-09\)"):
        resolve_dates(None, date(2026, 3, 10), None, today=lambda: date(2026, 3, 9), max_days=None)
    assert resolve_dates(None, None, None, today=date.today, max_days=None) is None

    # The same rule through two commands: the merchant's zone, and the sandbox's own --timezone.
    zone = "Pacific/Kiritimati"  # UTC+14: its today is often not the machine's
    today = datetime.now(ZoneInfo(zone)).date()
    start = today - timedelta(days=2)
    kpis = invoke("kpis", "--from", str(start), env={"PAYSYNC_DATABASE_URL": sqlite_url, "PAYSYNC_MERCHANT_TIMEZONE": zone})
    assert kpis.exit_code == 0, kpis.stderr
    assert kpis.stdout.startswith(f"Reconciliation {start} to {today}")
    files = invoke("sandbox", "bank-files", "--out", str(tmp_path), "--from", str(start), "--per-day", "3",
                   "--timezone", zone)
    assert files.exit_code == 0, files.stderr
    assert Path(files.stdout.split()[0]).name == f"paytrace-bank-7-{start:%Y%m%d}-{today:%Y%m%d}.csv"


def test_the_sandbox_history_is_given_one_way(tmp_path: Path) -> None:
    both = invoke("sandbox", "bank-files", "--out", str(tmp_path), "--start-date", "2026-03-02", "--days", "3",
                  "--to", "2026-03-04")
    assert both.exit_code == 2
    assert one_line(both) == ("paysync sandbox bank-files: --start-date 2026-03-02 --days 3 cannot go with --to "
                              "2026-03-04; give the history as --start-date D --days N, or as --from D --to D")
    bad_start = invoke("sandbox", "bank-files", "--out", str(tmp_path), "--start-date", "March 2")
    assert bad_start.exit_code == 2
    assert one_line(bad_start).startswith("paysync sandbox bank-files: --start-date 'March 2' is not a date; ")
    # --start-date/--days and --from/--to are the same history.
    old = invoke("sandbox", "bank-files", "--out", str(tmp_path / "a"), "--start-date", "2026-03-02", "--days", "3",
                 "--per-day", "5")
    new = invoke("sandbox", "bank-files", "--out", str(tmp_path / "b"), "--from", "2026-03-02", "--to", "2026-03-04",
                 "--per-day", "5")
    assert old.exit_code == new.exit_code == 0, old.stderr + new.stderr
    assert [Path(p).read_bytes() for p in old.stdout.split()] == [Path(p).read_bytes() for p in new.stdout.split()]


# (command, option, value, what fits)
BAD_NUMBERS = [
    ("webhooks serve", "--port", "0", "1 to 65535"),
    ("webhooks serve", "--port", "65536", "1 to 65535"),
    ("webhooks serve", "--port", "http", None),
    ("webhooks serve", "--max-body-bytes", "0", "1 or more"),
    ("webhooks send -", "--timeout", "0", "more than 0"),
    ("webhooks send -", "--timeout", "-1", "more than 0"),
    ("webhooks send -", "--timeout", "nan", None),
    ("sandbox", "--port", "-1", "0 to 65535"),
    ("sandbox", "--days", "0", f"1 to {MAX_DAYS}"),
    ("sandbox", "--per-day", "-1", "0 or more"),
    ("sandbox bank-files --out x", "--seed", "-3", "0 to 9223372036854775807"),
    ("sandbox bank-files --out x", "--days", "1.5", None),
    ("demo", "--days", "0", f"1 to {MAX_DAYS}"),
    ("demo", "--ui-port", "99999", "1 to 65535"),
    ("demo", "--sandbox-port", "0", "1 to 65535"),
    ("demo", "--receiver-port", "0", "1 to 65535"),
    ("demo", "--event-interval", "0", "more than 0"),
    ("demo", "--per-day", "-5", "0 or more"),
]


@pytest.mark.parametrize("command, option, value, fits", BAD_NUMBERS)
def test_numbers_have_ranges(command: str, option: str, value: str, fits: str | None) -> None:
    done = invoke(*command.split(), option, value)
    assert done.exit_code == 2, done.output
    line = one_line(done)
    path = " ".join(w for w in command.split() if w not in ("-", "--out", "x"))
    if fits is None:
        assert re.fullmatch(rf"paysync {path}: {option} '{re.escape(value)}' is not a (whole number|number of seconds); "
                            rf"give {option} .+", line), line
    else:
        assert line.startswith(f"paysync {path}: {option} {value} is out of range ({fits}); give {option} ")
