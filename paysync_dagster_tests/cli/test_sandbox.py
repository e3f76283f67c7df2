"""``paysync sandbox`` refuses a bad fault config before it generates or serves anything."""

from __future__ import annotations

import pytest

from paysync_dagster_tests.cli.support import invoke, one_line


@pytest.mark.parametrize("faults, reason", [
    ('{"error_rate": 2}', "error_rate: Input should be less than or equal to 1"),
    ("not json", "Invalid JSON"),
])
def test_cli_rejects_bad_faults_json(faults: str, reason: str) -> None:
    done = invoke("sandbox", "--faults", faults, "--port", "0")
    assert done.exit_code == 2
    line = one_line(done)
    assert line.startswith(f"paysync sandbox: --faults {faults!r} is not a fault config (")
    assert reason in line and line.endswith("""; give a JSON object such as '{"error_rate": 0.05}'""")
    assert done.stdout == ""
