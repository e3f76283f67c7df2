"""What the browser tests of the Dagster UI need: the demo's instance with real materializations, a real
``dagster-webserver`` on it, Debian's Chromium driven by Playwright, and the warehouse's figures as a
finance user should read them in the UI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from paysync_dagster_tests.support import free_port, start_process, stop_process, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ERPS = "oracle,sage"
MERCHANT_TIMEZONE = "America/Los_Angeles"
DEMO_DAYS, DEMO_PER_DAY = 2, 40
# Chromium's own outbound connections (updates, sync, field trials) have nowhere to go here or in CI.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # Containers give /dev/shm 64 MB, too little for full-page screenshots of a large page.
                 "--disable-dev-shm-usage"]
UI_TIMEOUT_MS = 60_000
MD_TABLE_LIMIT = 20  # rows a markdown table of the asset's metadata shows (paysync_dagster.lib.markdown.table)


def chromium_executable() -> str | None:
    """Debian's Chromium on the PATH or at /usr/bin/chromium; None when neither is there."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def chromium_or_skip() -> str:
    """Debian's Chromium, else the test is skipped (failed under CI, whose .ci/run installs it)."""
    import pytest

    found = chromium_executable()
    if found is None:
        reason = "Debian's chromium is not installed (not on the PATH, no /usr/bin/chromium); apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(reason + " (.ci/run installs it)")
        pytest.skip(reason)
    return found


def artifacts_dir() -> Path:
    """Where the screenshots go: ``PAYSYNC_TEST_ARTIFACTS``, else ``.paysync/test-artifacts/browser`` in the repository."""
    configured = os.environ.get("PAYSYNC_TEST_ARTIFACTS")
    path = Path(configured) if configured else REPO / ".paysync" / "test-artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_env(home: Path) -> dict[str, str]:
    """The environment of the demo and of the webserver that opens its instance: every PaySync setting the
    demo would default, given explicitly so both processes load the same definitions."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PAYSYNC_", "PAYTRACE_", "ORACLE_FUSION_", "SAGE300_", "DAGSTER_"))}
    env.update({
        "PAYSYNC_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),  # where the demo keeps its instance
        "PAYSYNC_ERPS": ERPS,
        "PAYSYNC_DATABASE_URL": f"sqlite:///{home / 'warehouse.db'}",
        "PAYSYNC_PARTITIONS_START": (date.today() - timedelta(days=45)).isoformat(),
        "PAYSYNC_MERCHANT_TIMEZONE": MERCHANT_TIMEZONE,
        "PAYSYNC_REPORTS_DIR": str(home / "reports"),
        "PAYSYNC_BANK_FILES_DIR": str(home / "bank"),
    })
    return env


def run_headless_demo(home: Path, env: dict[str, str]) -> str:
    """``paysync demo --headless`` over two business dates; its output. It keeps its runs in the
    persistent instance under ``$PAYSYNC_HOME/dagster_home`` (SQLite), which the webserver then opens."""
    args = [sys.executable, "-m", "paysync_dagster.cli", "demo", "--headless", "--days", str(DEMO_DAYS),
            "--per-day", str(DEMO_PER_DAY), "--sandbox-port", str(free_port()), "--home", str(home)]
    result = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"the headless demo failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert (home / "dagster_home" / "storage").is_dir(), "the demo left no instance storage under its home"
    return result.stdout


def expected_asset_keys(env: dict[str, str]) -> list[str]:
    """Every asset key of PaySync's definitions, as ``dagster asset list`` prints them."""
    result = subprocess.run([str(BIN / "dagster"), "asset", "list", "-m", "paysync_dagster.definitions"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    keys = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert keys, f"`dagster asset list` listed no asset: {result.stdout!r}"
    return keys


_WORKSPACE = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30).json()
    assert "errors" not in answer, answer
    return answer["data"]


def _location_loaded(url: str, proc: subprocess.Popen, log: Path) -> bool:
    assert proc.poll() is None, f"dagster-webserver exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
    entries = graphql(url, _WORKSPACE)["workspaceOrError"]["locationEntries"]
    for entry in entries:
        error = entry["locationOrLoadError"] or {}
        assert error.get("__typename") != "PythonError", f"the code location failed to load: {error.get('message')}"
    return [(e["name"], e["loadStatus"], (e["locationOrLoadError"] or {}).get("__typename")) for e in entries] == [
        ("paysync_dagster", "LOADED", "RepositoryLocation")]


@contextmanager
def dagster_webserver(env: dict[str, str], log: Path) -> Iterator[str]:
    """``dagster-webserver`` (a real process on a free loopback port) over the repository's workspace and the
    instance at ``$DAGSTER_HOME``; its URL once the code location is loaded. Stopped, with the code server it
    starts, on exit."""
    port = free_port()
    proc = start_process([str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w",
                          str(REPO / "workspace.yaml")], env=env, cwd=str(REPO), log_path=str(log))
    # 127.0.0.1, not localhost: Dagster's UI offers its first-visit dialog only on a local origin such as this.
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _location_loaded(url, proc, log), timeout=180, interval=0.5,
                 what=f"dagster-webserver at {url} with the paysync_dagster code location loaded (log: {log})")
        yield url
    finally:
        stop_process(proc, grace=15)


_LATEST = """query Latest($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
  ... on Asset { assetMaterializations(limit: 1) { runId partition timestamp } } } }"""


@dataclass(frozen=True)
class Materialization:
    run_id: str
    partition: str


def latest_materialization(url: str, asset: str) -> Materialization:
    """The asset's latest materialization, as the instance holds it (asked over GraphQL, not read off the page)."""
    found = graphql(url, _LATEST, {"key": {"path": asset.split("/")}})["assetOrError"]
    assert found["__typename"] == "Asset" and found["assetMaterializations"], found
    latest = found["assetMaterializations"][0]
    return Materialization(latest["runId"], latest["partition"])


@contextmanager
def chromium(executable: str) -> Iterator[Browser]:
    """Headless Debian Chromium under Playwright (never a downloaded browser); closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Page, name: str) -> Path:
    """A full-page PNG of what the page shows now, under :func:`artifacts_dir`; its path is printed."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def next_frames(page: Page) -> None:
    """Wait until the page has painted twice: React has committed what it was handed before."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


# --- what the warehouse holds, as the reconciliation's metadata should show it -------------------------------

def warehouse_rows(database_url: str, table_name: str, day: date, erp: str) -> list[dict[str, Any]]:
    """Rows of a reconciliation table for one business date and ERP, read with SQLAlchemy."""
    from sqlalchemy import select

    from paysync_dagster.lib.warehouse import make_engine, tables

    table = getattr(tables, table_name)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.business_date == day, table.c.erp == erp)).mappings().all()
    finally:
        engine.dispose()
    return [dict(r) for r in rows]


def warehouse_variance_days(database_url: str, erp: str) -> list[date]:
    """The business dates holding variance items of one ERP's reconciliation, in order."""
    from sqlalchemy import select

    from paysync_dagster.lib.warehouse import make_engine
    from paysync_dagster.lib.warehouse.tables import reconciliation_variances as v

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(select(v.c.business_date).where(v.c.erp == erp).distinct()).scalars())
    finally:
        engine.dispose()


def _rate(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.1%}" if denominator else "n/a"


def expected_kpi_lines(kpi_rows: list[dict[str, Any]]) -> list[str]:
    """One line per KPI row of ``reconciliation_kpis``, in the published order of the KPIs, as a finance
    user reads it: rates with numerator and denominator, money in currency units with the currency."""
    from paysync_dagster.lib.money import format_amount
    from paysync_dagster.lib.reconciliation.kpis import LABELS, RATES

    lines = []
    for r in sorted(kpi_rows, key=lambda r: (RATES.index(r["kpi"]), r["currency"])):
        n, d, label = int(r["numerator"]), int(r["denominator"]), LABELS[r["kpi"]]
        if r["kpi"] == "unapplied_cash":
            share = f" ({_rate(n, d)} of {format_amount(d, r['currency'])})" if d else ""
            lines.append(f"{label}: {format_amount(n, r['currency'])}{share}")
        else:
            lines.append(f"{label}: {_rate(n, d)} ({n:,} of {d:,})")
    return lines


VARIANCE_COLUMNS = ["batch_number", "leg", "cause", "amount_minor", "transaction_id", "note"]


def expected_variance_cells(variance_rows: list[dict[str, Any]], currency: str) -> list[tuple[str, ...]]:
    """The cells of each ``reconciliation_variances`` row as the metadata table shows them (sorted)."""
    from paysync_dagster.lib.money import format_amount

    cells = []
    for r in variance_rows:
        cells.append((str(r["batch_number"]), r["leg"], r["cause"], format_amount(int(r["amount_minor"]), currency),
                      "" if r["transaction_id"] is None else str(r["transaction_id"]), r["note"]))
    return sorted(cells)


# --- what the page shows -------------------------------------------------------------------------------------

def metadata_value(page: Page, key: str) -> Locator:
    """The value cell of one metadata entry of the materialization shown (the table's row whose key is ``key``)."""
    # The key's own cell holds nothing but the key (an enclosing cell would hold the whole table).
    key_cell = page.locator("tr > td:first-child").filter(has_text=re.compile(rf"^\s*{re.escape(key)}\s*$"))
    return key_cell.first.locator("xpath=../td[2]")


def shown_kpi_lines(page: Page) -> list[str]:
    cell = metadata_value(page, "kpis")
    cell.locator("li").first.wait_for(timeout=UI_TIMEOUT_MS)
    return [" ".join(t.split()) for t in cell.locator("li").all_inner_texts()]


def shown_variances(page: Page) -> tuple[list[tuple[str, ...]], str]:
    """The variance items the page shows (sorted cell tuples), and the cell's whole text."""
    cell = metadata_value(page, "variances")
    cell.wait_for(timeout=UI_TIMEOUT_MS)
    header = [" ".join(t.split()) for t in cell.locator("thead th").all_inner_texts()]
    if header:
        assert header == VARIANCE_COLUMNS, header
    rows = [tuple(" ".join(c.split()) for c in row.locator("td").all_inner_texts())
            for row in cell.locator("tbody tr").all()]
    return sorted(rows), cell.inner_text()


def dialogs_in_the_way(page: Page) -> list[str]:
    """The text of every visible dialog (Dagster's first-visit dialog is a role=dialog)."""
    return [d.inner_text()[:300] for d in page.get_by_role("dialog").all() if d.is_visible()]


def json_dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
