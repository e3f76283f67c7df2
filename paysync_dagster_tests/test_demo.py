"""`paysync demo` as a person runs it: real processes, free ports, everything stopped at the end."""

import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from paysync_dagster_tests.lib.sage.sage_support import entries as sage_entries
from paysync_dagster_tests.support import demo_env, free_port, port_open, start_process, stop_process, wait_for

REPO = Path(__file__).resolve().parents[1]
PAYSYNC = [sys.executable, "-m", "paysync_dagster.cli"]


def _headless_demo(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PAYSYNC, "demo", "--headless", "--days", "2", "--per-day", "40", "--sandbox-port", str(free_port()), "--home", str(home)],
        cwd=REPO, env=demo_env(home), capture_output=True, text=True, timeout=600,
    )


def _reconciliation_lines(out: str) -> list[str]:
    """The summary's reconciliation figures (statuses, rates, amounts), without paths or times."""
    return [line for line in out.splitlines()
            if re.match(r"^  (auto-match|straight-through|unapplied cash|batch|transactions matched|statuses|open exceptions)", line)]


def test_headless_demo_runs_the_main_job_and_prints_a_summary(tmp_path: Path) -> None:
    result = _headless_demo(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "2/2 business dates ran clean" in out
    assert re.search(r"^total\s+80\s", out, re.MULTILINE), out
    assert "checks passed" in out and "FAILED" not in out
    # Both ERPs side by side for the same merchant: each one's receipts and reconciliation.
    assert "Oracle Fusion cash receipts" in out and "Sage 300 cash receipts" in out
    assert re.search(r"^Reconciliation \S+ to \S+, oracle$", out, re.MULTILINE) and \
        re.search(r"^Reconciliation \S+ to \S+, sage$", out, re.MULTILINE), out
    assert (tmp_path / "warehouse.db").exists()

    # Run again in the same home: the sandboxes start afresh, so does PaySync's state (the previous demo's
    # moved aside), and the reconciliation says what it said the first time (a kept ledger would report
    # every receipt the new sandboxes never received as drift).
    again = _headless_demo(tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"moved to {tmp_path / 'previous'}" in again.stdout
    assert (tmp_path / "previous" / "warehouse.db").exists() and (tmp_path / "previous" / "dagster_home" / "storage").is_dir()
    assert "drift" not in " ".join(line for line in _reconciliation_lines(again.stdout) if "statuses" in line)
    assert _reconciliation_lines(again.stdout) == _reconciliation_lines(out)


def test_a_second_demo_on_a_home_in_use_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    from paysync_dagster.demo.state import hold_home

    (tmp_path / "warehouse.db").write_bytes(b"the running demo's")
    with hold_home(tmp_path):
        result = _headless_demo(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"another demo is running on {tmp_path}" in result.stderr
    assert (tmp_path / "warehouse.db").read_bytes() == b"the running demo's" and not (tmp_path / "previous").exists()


QUERY = """{
  workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } }
  runsOrError { ... on Runs { results { runId status jobName tags { key value } } } }
}"""
LIVE_PAYMENTS = 15


def _approved_live_payments(stream_log: Path) -> set[str]:
    """Sales the stream announced as approved and did not void (a void before posting rightly leaves no receipt)."""
    text = stream_log.read_text() if stream_log.exists() else ""
    voided = set(re.findall(r"webhook transaction\.voided for PayTrace (\d+)", text))
    return set(re.findall(r"webhook transaction\.approved for PayTrace (\d+): HTTP 200", text)) - voided


@pytest.mark.slow
def test_interactive_demo_posts_live_payments_runs_the_backfill_green_and_stops_everything(tmp_path: Path) -> None:
    """The demo as a person leaves it running, shortened: live payments every second beside the week's
    backfill. Counts, not times: no run fails, never more than one run waits per date, the backfill
    completes, and every approved live payment becomes a receipt in the Oracle and the Sage sandboxes."""
    ui_port, sandbox_port = free_port(), free_port()
    home = tmp_path / "home"
    log = tmp_path / "demo.out"
    proc = start_process([*PAYSYNC, "demo", "--days", "2", "--per-day", "30", "--ui-port", str(ui_port),
                          "--sandbox-port", str(sandbox_port), "--studio-port", str(free_port()), "--event-interval", "1",
                          "--home", str(home)],
                         env=demo_env(home), cwd=str(REPO), log_path=str(log))
    ui = f"http://127.0.0.1:{ui_port}"
    peak_waiting: Counter = Counter()
    try:
        wait_for(lambda: "Ctrl-C stops everything" in log.read_text(), timeout=240, what="the demo to come up")
        studio_url = re.search(r"mapping studio  (http://127\.0\.0\.1:(\d+)/)", log.read_text())
        assert studio_url, log.read_text()
        studio_page = httpx.get(f"{studio_url.group(1)}mapping", timeout=30).text
        assert f"<code>{home / 'mapping.yaml'}</code>" in studio_page and "version 1" in studio_page

        def graphql() -> dict:
            return httpx.post(f"{ui}/graphql", json={"query": QUERY}, timeout=30).json()["data"]

        entries = graphql()["workspaceOrError"]["locationEntries"]
        assert [(e["name"], e["loadStatus"], e["locationOrLoadError"]["__typename"]) for e in entries] == [
            ("paysync_dagster", "LOADED", "RepositoryLocation")]

        def runs() -> list[dict]:
            found = graphql()["runsOrError"]["results"]
            assert not [r for r in found if r["status"] == "FAILURE"], found
            waiting = Counter(next((t["value"] for t in r["tags"] if t["key"] == "dagster/partition"), "")
                              for r in found if r["status"] in ("QUEUED", "NOT_STARTED") and r["jobName"] == "paysync_live_job")
            for day, n in waiting.items():
                peak_waiting[day] = max(peak_waiting[day], n)
            return found

        def backfill_done() -> bool:
            backfill = [r for r in runs() if any(t["key"] == "dagster/backfill" for t in r["tags"])]
            return len(backfill) >= 2 and all(r["status"] == "SUCCESS" for r in backfill)

        wait_for(backfill_done, timeout=420, interval=2, what="the demo backfill to succeed")
        stream_log = home / "logs" / "stream.log"
        wait_for(lambda: runs() and len(_approved_live_payments(stream_log)) >= LIVE_PAYMENTS, timeout=300, interval=2,
                 what=f"{LIVE_PAYMENTS} approved live payments")
        paid = _approved_live_payments(stream_log)

        def all_receipts() -> bool:
            runs()
            state = httpx.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/oracle/state", timeout=60).json()
            expected = paid & _approved_live_payments(stream_log)  # less any voided since
            return {f"PT-{t}" for t in expected} <= {r["ReceiptNumber"] for r in state["receipts"]}

        wait_for(all_receipts, timeout=300, interval=2, what="a receipt in Oracle for every approved live payment")

        def all_sage_receipts() -> bool:
            expected = paid & _approved_live_payments(stream_log)
            return {f"PT-{t}" for t in expected} <= set(sage_entries(f"http://127.0.0.1:{sandbox_port}"))

        wait_for(all_sage_receipts, timeout=300, interval=2, what="a receipt in Sage for every approved live payment")
        assert max(peak_waiting.values(), default=0) <= 1, peak_waiting
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends; the demo stops its children
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        stop_process(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]
    wait_for(lambda: not port_open(ui_port) and not port_open(sandbox_port) and not port_open(int(studio_url.group(2))),
             timeout=60, what="the demo's ports to close")
