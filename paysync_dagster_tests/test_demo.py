"""`paysync demo` as a person runs it: real processes, free ports, everything stopped at the end."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from paysync_dagster_tests.support import free_port, port_open, start_process, stop_process, wait_for

REPO = Path(__file__).resolve().parents[1]
PAYSYNC = [sys.executable, "-m", "paysync_dagster.cli"]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PAYTRACE_", "DAGSTER_"))}
    env["PAYSYNC_HOME"] = str(home)
    return env


def test_headless_demo_runs_the_main_job_and_prints_a_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PAYSYNC, "demo", "--headless", "--days", "2", "--per-day", "40", "--sandbox-port", str(free_port()), "--home", str(tmp_path)],
        cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "2/2 business dates ran clean" in out
    assert re.search(r"^total\s+80\s", out, re.MULTILINE), out
    assert "checks passed" in out and "FAILED" not in out
    assert (tmp_path / "warehouse.db").exists()


QUERY = """{
  workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } }
  runsOrError { ... on Runs { results { status tags { key value } } } }
}"""


@pytest.mark.slow
def test_interactive_demo_serves_the_ui_runs_the_backfill_and_stops_everything(tmp_path: Path) -> None:
    ui_port, sandbox_port = free_port(), free_port()
    log = tmp_path / "demo.out"
    proc = start_process([*PAYSYNC, "demo", "--days", "2", "--per-day", "30", "--ui-port", str(ui_port),
                          "--sandbox-port", str(sandbox_port), "--home", str(tmp_path / "home")],
                         env=_env(tmp_path / "home"), cwd=str(REPO), log_path=str(log))
    ui = f"http://127.0.0.1:{ui_port}"
    try:
        wait_for(lambda: "Ctrl-C stops everything" in log.read_text(), timeout=240, what="the demo to come up")

        def graphql() -> dict:
            return httpx.post(f"{ui}/graphql", json={"query": QUERY}, timeout=30).json()["data"]

        entries = graphql()["workspaceOrError"]["locationEntries"]
        assert [(e["name"], e["loadStatus"], e["locationOrLoadError"]["__typename"]) for e in entries] == [
            ("paysync_dagster", "LOADED", "RepositoryLocation")]

        def backfill_done() -> bool:
            runs = [r for r in graphql()["runsOrError"]["results"]
                    if any(t["key"] == "dagster/backfill" for t in r["tags"])]
            assert not [r for r in runs if r["status"] == "FAILURE"], runs
            return len(runs) >= 2 and all(r["status"] == "SUCCESS" for r in runs)

        wait_for(backfill_done, timeout=420, interval=2, what="the demo backfill to succeed")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends; the demo stops its children
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        stop_process(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]
    wait_for(lambda: not port_open(ui_port) and not port_open(sandbox_port), timeout=60, what="the demo's ports to close")
