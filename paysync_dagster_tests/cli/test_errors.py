"""Errors are one line on stderr, ``paysync <group> <command>: <what is wrong>; <the fix>``: exit 2 for the
command line, 1 for the work; never a traceback, unless PAYSYNC_DEBUG=1 asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import paysync_dagster.lib.reconciliation.summary as summary
from paysync_dagster.lib.mapping import MappingError
from paysync_dagster_tests.cli.support import invoke, one_line
from paysync_dagster_tests.conftest import REPO

PAN = "4111111111111111"


@pytest.mark.parametrize("url, line", [
    ("not a url", "the warehouse URL is not a database URL; set PAYSYNC_DATABASE_URL to e.g. "
                  "sqlite:///path/to/warehouse.db or postgresql+psycopg://user@host/dbname"),
    ("nosuchdb://warehouse", "the warehouse URL names a database driver that is not installed "
                             "(Can't load plugin: sqlalchemy.dialects:nosuchdb); set PAYSYNC_DATABASE_URL to a "
                             "sqlite:/// or postgresql+psycopg:// URL"),
])
def test_a_bad_warehouse_url_is_one_line_and_exit_1(url: str, line: str) -> None:
    for path, args in (("exceptions list", []), ("exceptions resolve", ["1", "--note", "x"]),
                       ("kpis", ["--date", "2026-03-05"])):
        done = invoke(*path.split(), *args, env={"PAYSYNC_DATABASE_URL": url})
        assert done.exit_code == 1, done.output
        assert one_line(done) == f"paysync {path}: {line}"


def test_an_unreachable_warehouse_names_the_cause_and_never_the_password() -> None:
    url = "postgresql+psycopg://paysync:hunter2secret@127.0.0.1:1/warehouse"
    done = subprocess.run([str(REPO / ".venv" / "bin" / "paysync"), "exceptions", "list"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PAYSYNC_DATABASE_URL": url})
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("paysync exceptions list: the warehouse cannot be reached: ")
    assert line.endswith("; check PAYSYNC_DATABASE_URL and that the database is running")
    assert "hunter2secret" not in line


def _boom(*args: object, **kwargs: object) -> str:
    raise RuntimeError(f"the summary broke on card {PAN}\nsecond line of detail")


def test_an_unexpected_error_is_one_line_and_the_traceback_only_on_request(monkeypatch: pytest.MonkeyPatch,
                                                                          sqlite_url: str) -> None:
    monkeypatch.setattr(summary, "range_summary", _boom)
    env = {"PAYSYNC_DATABASE_URL": sqlite_url, "PAYSYNC_DEBUG": None}
    done = invoke("kpis", "--date", "2026-03-05", env=env)
    assert done.exit_code == 1
    line = one_line(done)
    assert line.startswith("paysync kpis: unexpected error RuntimeError: the summary broke on card ")
    assert line.endswith("; run with PAYSYNC_DEBUG=1 for the traceback")
    assert PAN not in line and "second line" not in line

    debug = invoke("kpis", "--date", "2026-03-05", env={**env, "PAYSYNC_DEBUG": "1"})
    assert debug.exit_code == 1
    assert debug.stderr.startswith("Traceback (most recent call last):")
    assert "in _boom" in debug.stderr
    assert debug.stderr.splitlines()[-1].startswith("paysync kpis: unexpected error RuntimeError: ")
    assert debug.stderr.splitlines()[-1].endswith("; the traceback is above")


def test_known_failures_are_one_line_with_their_own_message(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                           tmp_path: Path) -> None:
    def bad_mapping(*args: object, **kwargs: object) -> str:
        raise MappingError("mapping.yaml line 4, status_maps.paytrace: unknown status 'Setled'")

    monkeypatch.setattr(summary, "range_summary", bad_mapping)
    done = invoke("kpis", "--date", "2026-03-05", env={"PAYSYNC_DATABASE_URL": sqlite_url})
    assert done.exit_code == 1
    assert one_line(done) == ("paysync kpis: mapping.yaml line 4, status_maps.paytrace: unknown status 'Setled'; "
                              "correct the mapping file, then run the command again")

    a_file = tmp_path / "a-file"
    a_file.write_text("")
    out = invoke("sandbox", "bank-files", "--out", str(a_file / "statements"), "--days", "1", "--per-day", "2")
    assert out.exit_code == 1
    assert one_line(out) == (f"paysync sandbox bank-files: cannot write to {a_file / 'statements'}: Not a directory; "
                             "give --out a folder you can write to")


@pytest.mark.parametrize("args, line", [
    (["nosuch"], "paysync: no such command 'nosuch'; see `paysync --help`"),
    (["kpis", "--dte", "2026-03-05"], "paysync kpis: no such option '--dte'"),
    (["exceptions", "resolve", "5", "--nte", "x"], "paysync exceptions resolve: no such option: --nte; "
                                                   "see `paysync exceptions resolve --help`"),
    (["exceptions", "list", "--format", "xml"], "paysync exceptions list: invalid value for '--format': 'xml' is not one of"),
    (["sandbox", "bank-files"], "paysync sandbox bank-files: missing option '--out'; see `paysync sandbox bank-files --help`"),
    (["sandbox", "--days", "2", "bank-files", "--out", "x"], "paysync sandbox: --days before bank-files would be "
                                                             "ignored; put it after `bank-files`"),
])
def test_usage_errors_click_finds_are_one_line_too(args: list[str], line: str) -> None:
    done = invoke(*args)
    assert done.exit_code == 2
    assert one_line(done).startswith(line)


def test_the_installed_command_and_the_module_say_paysync() -> None:
    for command in ([str(REPO / ".venv" / "bin" / "paysync")], [sys.executable, "-m", "paysync_dagster.cli"]):
        done = subprocess.run([*command, "kpis", "--to", "2026-03-05"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert done.stderr.splitlines() == ["paysync kpis: --to 2026-03-05 needs --from; give --from D as well, or "
                                            "--date D for one date"]
