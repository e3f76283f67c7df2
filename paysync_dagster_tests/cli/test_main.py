"""``paysync --help`` lists the command groups, one line each, without importing what the commands work
with; each command's help describes its options with their defaults."""

from __future__ import annotations

import re
import subprocess
import sys

import click
import pytest

from paysync_dagster.cli import main
from paysync_dagster_tests.cli.support import invoke

GROUPS = ["db", "demo", "doctor", "erp", "exceptions", "kpis", "mapping", "sandbox", "studio", "webhooks"]


def test_top_level_help_lists_each_group_on_one_line() -> None:
    done = invoke("--help")
    assert done.exit_code == 0
    listed = done.stdout.split("Commands:\n", 1)[1].splitlines()
    entries = [line.split()[0] for line in listed if re.match(r"  \S", line)]
    assert entries == GROUPS
    bare = invoke()
    assert bare.exit_code == 2 and "Commands:" in bare.stderr  # no command: the help, as a usage error


def test_help_is_quick_to_load() -> None:
    code = ("import sys, paysync_dagster.cli; "
            "print(sorted(m for m in ('pandas', 'sqlalchemy', 'dagster', 'uvicorn', 'httpx', 'starlette', 'pydantic') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def _commands(group: click.Group, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = []
    for name, command in group.commands.items():
        out.append(([*path, name], command))
        if isinstance(command, click.Group):
            out += _commands(command, [*path, name])
    return out


@pytest.mark.parametrize("path, command", _commands(main, []), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_each_command_describes_its_options_with_defaults(path: list[str], command: click.Command) -> None:
    done = invoke(*path, "--help")
    assert done.exit_code == 0, done.output
    text = " ".join(done.stdout.split())
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{path} {param.opts} has no help"
            name = max(param.opts, key=len)
            assert name in text
            shown = isinstance(param.default, (int, float, str)) and not isinstance(param.default, bool)
            if shown and param.default != "" and param.show_default is not False:
                assert f"[default: {param.default}" in text.split(name, 1)[1], (path, name)
