"""The ``paysync`` command in this process (click's runner), for tests that need no real process."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner, Result

from paysync_dagster.cli import main


def invoke(*args: str, obj: Any = None, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=obj, env=env)


def one_line(result: Result) -> str:
    """The single stderr line of a refused command (asserting it is single and not a traceback)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return lines[0]
