"""``paysync doctor`` against the real sandbox process (``paysync sandbox`` on a free port): all in order
with the demo's settings, and a FIX line naming what to change for each kind of mistake."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paysync_dagster.demo import DEMO_ERPS, SANDBOX_CREDENTIALS
from paysync_dagster.lib.mapping import mapping_file_for
from paysync_dagster_tests.cli.support import invoke
from paysync_dagster_tests.support import free_port, start_process, stop_process, wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    proc = start_process([sys.executable, "-m", "paysync_dagster.cli", "sandbox", "--port", str(port), "--days", "2",
                          "--per-day", "20"], cwd=str(REPO), log_path=str(log))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/v1/ping", timeout=2).status_code == 200, timeout=120,
                 what="the sandbox to answer")
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def warehouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('warehouse') / 'warehouse.db'}"
    done = invoke("db", "upgrade", "--database-url", url)
    assert done.exit_code == 0, done.output
    return url


@pytest.fixture(scope="module")
def sagepro_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Sage Pro stand-in's tables, as the demo writes them."""
    from datetime import date

    from paysync_dagster.sandbox.sagepro import StandInSpec, write_company

    out = tmp_path_factory.mktemp("sagepro")
    write_company(out, StandInSpec(11, date(2026, 3, 2), date(2026, 3, 3), 20, "America/Los_Angeles"))
    return str(out)


def _demo_settings(sandbox_url: str, warehouse_url: str, sagepro_dir: str = "") -> dict[str, str | None]:
    """What ``paysync demo`` gives its processes (paysync_dagster/demo: prepare_environment)."""
    return {**SANDBOX_CREDENTIALS, "PAYTRACE_BASE_URL": sandbox_url, "ORACLE_FUSION_BASE_URL": sandbox_url,
            "SAGE300_BASE_URL": f"{sandbox_url}/Sage300WebApi/v1.0/-", "PAYSYNC_ERPS": DEMO_ERPS,
            "PAYSYNC_DATABASE_URL": warehouse_url, "SAGEPRO_DATA_DIR": sagepro_dir or None}


def _lines(output: str, status: str, subject: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(f"{status:<4}{subject}:")]


def test_the_demo_settings_are_all_in_order(sandbox_url: str, warehouse_url: str, sagepro_dir: str) -> None:
    done = invoke("doctor", env=_demo_settings(sandbox_url, warehouse_url, sagepro_dir))
    assert done.exit_code == 0, done.output
    out = done.stdout
    checks = out.splitlines()[:-1]
    assert out.splitlines()[-1] == "Everything checked is in order."
    assert checks and all(line.startswith(("OK  ", "--  ")) for line in checks), out
    for subject in ("PayTrace settings", "PayTrace API", "ERPs", "mapping file", "Oracle Fusion settings",
                    "Oracle Fusion API", "Oracle Fusion GL accounts", "Sage 300 settings", "Sage 300 API",
                    "Sage 300 GL accounts", "Sage 300 suspense customer", "Sage Pro settings", "Sage Pro tables",
                    "warehouse"):
        assert len(_lines(out, "OK", subject)) == 1, (subject, out)
    # Sage's chart was read: the mapping's accounts were looked up there, not only checked for format.
    assert "in Sage 300's chart" in _lines(out, "OK", "Sage 300 GL accounts")[0]
    for secret in ("PAYTRACE_PASSWORD", "ORACLE_FUSION_PASSWORD"):  # Sage's demo password is the word PAYSYNC
        assert SANDBOX_CREDENTIALS[secret] not in done.output


def test_a_wrong_password_names_the_setting_and_never_shows_it(sandbox_url: str, warehouse_url: str,
                                                              sagepro_dir: str) -> None:
    wrong = "not-the-demo-password-7731"
    done = invoke("doctor", env={**_demo_settings(sandbox_url, warehouse_url, sagepro_dir), "PAYTRACE_PASSWORD": wrong,
                                 "SAGE300_PASSWORD": wrong})
    assert done.exit_code == 1
    out = done.stdout
    [paytrace] = _lines(out, "FIX", "PayTrace API")
    assert "PAYTRACE_PASSWORD" in paytrace and "refused the credentials" in paytrace
    [sage] = _lines(out, "FIX", "Sage 300 API")
    assert "SAGE300_PASSWORD" in sage
    # The rest still checked: Oracle's credentials are right.
    assert _lines(out, "OK", "Oracle Fusion API")
    assert wrong not in done.output
    assert done.stderr.strip() == "paysync doctor: 2 checks to fix; see the FIX lines above"


def test_a_gl_account_the_erp_lacks_is_named(sandbox_url: str, warehouse_url: str, tmp_path: Path,
                                             sagepro_dir: str) -> None:
    sample = mapping_file_for("dev").read_text()
    assert 'default: "101.10.12000.000"' in sample
    mapping = tmp_path / "mapping.yaml"
    # In Oracle's account format, so only a chart of accounts can tell it is missing.
    mapping.write_text(sample.replace('default: "101.10.12000.000"', 'default: "101.10.19999.000"'))
    done = invoke("doctor", env={**_demo_settings(sandbox_url, warehouse_url, sagepro_dir), "PAYSYNC_MAPPING_FILE": str(mapping)})
    assert done.exit_code == 1
    out = done.stdout
    assert _lines(out, "OK", "mapping file")
    [missing] = _lines(out, "FIX", "Sage 300 GL accounts")
    assert "101.10.19999.000" in missing and str(mapping) in missing
    assert _lines(out, "OK", "Oracle Fusion GL accounts")  # Oracle offers no chart: the format fits
    assert [line for line in out.splitlines() if line.startswith("FIX")] == [missing]


def test_an_unreachable_erp_names_its_url_setting(sandbox_url: str, warehouse_url: str, sagepro_dir: str) -> None:
    closed = free_port()
    done = invoke("doctor", env={**_demo_settings(sandbox_url, warehouse_url, sagepro_dir),
                                 "SAGE300_BASE_URL": f"http://127.0.0.1:{closed}/Sage300WebApi/v1.0/-",
                                 "ORACLE_FUSION_USERNAME": None})
    assert done.exit_code == 1
    out = done.stdout
    [sage] = _lines(out, "FIX", "Sage 300 API")
    assert "SAGE300_BASE_URL" in sage and f"127.0.0.1:{closed}" in sage
    [oracle] = _lines(out, "FIX", "Oracle Fusion settings")
    assert "set ORACLE_FUSION_USERNAME" in oracle
    assert not _lines(out, "OK", "Oracle Fusion API")  # without its settings it is not tried
    assert _lines(out, "OK", "PayTrace API") and _lines(out, "OK", "warehouse")


def test_sage_pro_without_its_folder_or_with_a_table_missing_is_named(sandbox_url: str, warehouse_url: str,
                                                                       sagepro_dir: str, tmp_path: Path) -> None:
    import shutil

    unset = invoke("doctor", env=_demo_settings(sandbox_url, warehouse_url))
    [line] = _lines(unset.stdout, "FIX", "Sage Pro settings")
    assert "SAGEPRO_DATA_DIR is not set" in line
    broken = tmp_path / "sagepro"
    shutil.copytree(sagepro_dir, broken)
    next(p for p in (broken / "ardata").iterdir() if p.name.lower() == "arcash01.dbf").unlink()
    done = invoke("doctor", env=_demo_settings(sandbox_url, warehouse_url, str(broken)))
    [line] = _lines(done.stdout, "FIX", "Sage Pro tables")
    assert "ardata/arcash01.dbf: not found" in line and done.exit_code == 1
