"""``paysync demo``'s command line: its help, and a process that does not come up ends as one line."""

from __future__ import annotations

import pytest

import paysync_dagster.demo as demo
from paysync_dagster_tests.cli.support import invoke, one_line


def test_help_describes_the_options_with_defaults() -> None:
    done = invoke("demo", "--help")
    assert done.exit_code == 0
    text = " ".join(done.stdout.split())
    for option, default in [("--days", "7"), ("--per-day", "300"), ("--seed", "7"), ("--ui-port", "3000"),
                            ("--sandbox-port", "8710"), ("--receiver-port", "8720"), ("--event-interval", "3.0")]:
        assert f"[default: {default};" in text.split(option, 1)[1]
    assert "--headless" in text and "$PAYSYNC_HOME" in text


def test_a_demo_failure_is_one_line_with_where_to_look(monkeypatch: pytest.MonkeyPatch) -> None:
    def run_demo(**options: object) -> int:
        assert options["days"] == 2 and options["headless"] is True and options["home"] is None
        raise demo.DemoError("the sandbox exited with code 1 before it was ready", "see /tmp/h/logs/sandbox.log")

    monkeypatch.setattr(demo, "run_demo", run_demo)
    done = invoke("demo", "--headless", "--days", "2")
    assert done.exit_code == 1
    assert one_line(done) == ("paysync demo: the sandbox exited with code 1 before it was ready; "
                              "see /tmp/h/logs/sandbox.log")
