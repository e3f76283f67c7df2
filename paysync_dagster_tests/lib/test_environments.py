"""Dev, QA and Prod: PAYSYNC_ENV picks the env file and the mapping file; the env file never overrides
what is set; the shipped files document every setting and hold no secret; every materialization and
the code location show the environment and the mapping version."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from paysync_dagster.lib.mapping import SAMPLE_MAPPING, MappingError, load_mapping, mapping_path, parse_mapping, version_label
from paysync_dagster.lib.settings import (
    ENVIRONMENTS,
    SettingsError,
    environment,
    environment_mapping_file,
    load_environment,
    read_env_file,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|PRIVATE_KEY|DATABASE_URL")


@pytest.fixture
def clean_environ() -> Iterator[None]:
    """load_environment writes os.environ itself: put it back as it was after each test."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def deploy_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of deploy/env and deploy/mappings, used through PAYSYNC_DEPLOY_DIR."""
    target = tmp_path / "deploy"
    for part in ("env", "mappings"):
        shutil.copytree(DEPLOY / part, target / part)
    monkeypatch.setenv("PAYSYNC_DEPLOY_DIR", str(target))
    return target


def _readme_settings() -> list[str]:
    """The variables of the README's Configuration table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names = []
    for row in section.splitlines():
        if row.startswith("| `"):
            names += re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    return names


def _documented(path: Path) -> tuple[set[str], set[str]]:
    """The names an env file documents (assigned, or commented as `# NAME=`) and those it names as secrets."""
    text = path.read_text(encoding="utf-8")
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    secrets = set(re.findall(r"^# secret: ([A-Z][A-Z0-9_]+)", text, flags=re.MULTILINE))
    return named | secrets, secrets


# -- the shipped files --------------------------------------------------------------------------------

@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_env_file_documents_every_setting_of_the_readme_and_holds_no_secret(env: str) -> None:
    path = DEPLOY / "env" / f"{env}.env"
    settings = _readme_settings()
    assert len(settings) >= 25 and "PAYSYNC_DATABASE_URL" in settings and "DAGSTER_PG_PORT" in settings
    documented, secrets = _documented(path)
    assert set(settings) - documented == set(), f"{path.name} does not mention these README settings"
    assigned = read_env_file(path)
    assert not {n for n in assigned if SECRET_NAME.search(n)}, "a secret's value is written in the env file"
    assert {n for n in settings if SECRET_NAME.search(n)} <= secrets, "every secret is named as one"
    assert not secrets & set(assigned)
    for value in assigned.values():  # no credential slipped in under another name
        assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value)


def test_dev_is_the_built_in_defaults_and_qa_and_prod_are_complete() -> None:
    assert read_env_file(DEPLOY / "env" / "dev.env") == {}  # nothing set: a developer's machine is unchanged
    qa, prod = (read_env_file(DEPLOY / "env" / f"{e}.env") for e in ("qa", "prod"))
    assert qa["PAYTRACE_BASE_URL"] == "https://api.sandbox.paytrace.com"
    assert prod["PAYTRACE_BASE_URL"] == "https://api.paytrace.com"
    assert set(qa) == set(prod)  # the same settings, different values
    for values in (qa, prod):
        assert values["DAGSTER_HOME"] and values["DAGSTER_PG_DB"] and int(values["DAGSTER_PG_PORT"]) == 5432
        date.fromisoformat(values["PAYSYNC_PARTITIONS_START"])


def test_qa_and_prod_mapping_files_validate_and_prod_is_a_promoted_copy() -> None:
    qa, prod = (DEPLOY / "mappings" / f"{e}.yaml" for e in ("qa", "prod"))
    assert load_mapping(qa).version and load_mapping(prod).version
    assert qa.read_bytes() == prod.read_bytes()


# -- loading an env file ------------------------------------------------------------------------------

def test_env_file_fills_what_is_unset_and_never_overrides(deploy_copy: Path, clean_environ: None) -> None:
    (deploy_copy / "env" / "qa.env").write_text(
        "# comment\n\nPAYSYNC_PARTITIONS_START=2026-02-01\nexport PAYSYNC_ERPS='oracle,sage'\n"
        'PAYSYNC_MERCHANT_TIMEZONE="America/New_York"\n', encoding="utf-8")
    os.environ["PAYSYNC_ENV"] = "qa"
    os.environ["PAYSYNC_MERCHANT_TIMEZONE"] = "America/Chicago"  # set by the operator: wins
    os.environ.pop("PAYSYNC_PARTITIONS_START", None)
    os.environ.pop("PAYSYNC_ERPS", None)
    loaded = load_environment()
    assert loaded.name == "qa" and loaded.path == deploy_copy / "env" / "qa.env"
    assert set(loaded.applied) == {"PAYSYNC_PARTITIONS_START", "PAYSYNC_ERPS"}
    assert os.environ["PAYSYNC_PARTITIONS_START"] == "2026-02-01"
    assert os.environ["PAYSYNC_ERPS"] == "oracle,sage"
    assert os.environ["PAYSYNC_MERCHANT_TIMEZONE"] == "America/Chicago"


def test_a_bad_environment_or_env_file_is_refused_with_what_to_do(deploy_copy: Path, clean_environ: None) -> None:
    os.environ["PAYSYNC_ENV"] = "staging"
    with pytest.raises(SettingsError, match="PAYSYNC_ENV must be one of dev, qa, prod"):
        environment()
    os.environ["PAYSYNC_ENV"] = "QA"  # case does not matter
    assert environment() == "qa"
    (deploy_copy / "env" / "qa.env").write_text("PAYSYNC_ERPS=oracle\nthis is not a setting\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"qa\.env, line 2: not a NAME=value line"):
        load_environment()
    (deploy_copy / "env" / "prod.env").unlink()
    with pytest.raises(SettingsError, match="no env file at .*prod.env.*PAYSYNC_DEPLOY_DIR"):
        load_environment("prod")
    (deploy_copy / "env" / "dev.env").unlink()
    assert load_environment("dev").applied == ()  # Dev runs on the built-in defaults without one


# -- the mapping file of an environment ---------------------------------------------------------------

def test_paysync_env_picks_the_mapping_file_and_paysync_mapping_file_still_wins(
        deploy_copy: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PAYSYNC_MAPPING_FILE", raising=False)
    monkeypatch.delenv("PAYSYNC_ENV", raising=False)
    assert mapping_path() == SAMPLE_MAPPING  # Dev without a file of its own: the packaged sample
    for env in ("qa", "prod"):
        monkeypatch.setenv("PAYSYNC_ENV", env)
        assert mapping_path() == deploy_copy / "mappings" / f"{env}.yaml" == environment_mapping_file()
    (deploy_copy / "mappings" / "dev.yaml").write_bytes(SAMPLE_MAPPING.read_bytes())
    monkeypatch.setenv("PAYSYNC_ENV", "dev")
    assert mapping_path() == deploy_copy / "mappings" / "dev.yaml"
    own = tmp_path / "mine.yaml"
    own.write_bytes(SAMPLE_MAPPING.read_bytes())
    monkeypatch.setenv("PAYSYNC_MAPPING_FILE", str(own))
    monkeypatch.setenv("PAYSYNC_ENV", "prod")
    assert mapping_path() == own


def test_the_version_is_a_number_or_a_text_and_an_edit_without_a_new_number_shows() -> None:
    text = SAMPLE_MAPPING.read_text(encoding="utf-8")
    numbered = re.sub(r"(?m)^version: .*$", "version: 7", text)
    mapping = parse_mapping(numbered)
    assert mapping.version == "7"
    digest = hashlib.sha256(numbered.encode()).hexdigest()[:12]
    assert version_label(mapping) == f"7 (sha256 {digest})"
    edited = parse_mapping(numbered.replace("receipt_method: \"PayTrace Card\"", "receipt_method: \"PayTrace Cards\""))
    assert edited.version == "7" and version_label(edited) != version_label(mapping)
    with pytest.raises(MappingError, match="version"):
        parse_mapping(re.sub(r"(?m)^version: .*$", "version: true", text))


# -- what the UI and every materialization show --------------------------------------------------------

def test_materializations_carry_the_environment_and_the_mapping_version(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from paysync_dagster.defs.normalize.assets import normalized_payments
    from paysync_dagster.defs.normalize.rules import MAPPING
    from paysync_dagster.defs.paytrace.assets import paytrace_settlement_batches, paytrace_transactions
    from paysync_dagster.defs.shared.resources import WarehouseResource
    from paysync_dagster_tests.conftest import SANDBOX_WEEK, paytrace_resource, start_paytrace_sandbox

    in_force = hashlib.sha256(Path(MAPPING._source).read_bytes()).hexdigest()[:12]
    monkeypatch.setenv("PAYSYNC_ENV", "qa")  # read at materialization, not at import
    day = (date.fromisoformat(SANDBOX_WEEK[0]) + timedelta(days=1)).isoformat()
    with start_paytrace_sandbox(per_day=8) as sandbox:
        result = dg.materialize(
            [paytrace_transactions, paytrace_settlement_batches, normalized_payments], partition_key=day,
            resources={"warehouse": WarehouseResource(database_url=sqlite_url), "paytrace": paytrace_resource(sandbox.url)})
    assert result.success
    events = result.get_asset_materialization_events()
    assert {e.asset_key.to_user_string() for e in events} == {
        "paytrace_transactions", "paytrace_settlement_batches", "normalized_payments"}
    for event in events:
        meta = event.materialization.metadata
        assert meta["paysync/environment"].value == "qa"
        assert meta["paysync/mapping_version"].value == f"{MAPPING.version} (sha256 {in_force})"


_SHOW_DEFINITIONS = """
import json, warnings
warnings.simplefilter("ignore")
from paysync_dagster.definitions import defs
d = defs()
graph = d.resolve_asset_graph()
node = graph.get(next(iter(graph.get_all_asset_keys())))
print(json.dumps({
    "location": {k: v.value for k, v in d.metadata.items() if k.startswith("paysync/")},
    "assets": sorted({json.dumps({k: v for k, v in graph.get(key).metadata.items() if k.startswith("paysync/")},
                                 sort_keys=True) for key in graph.get_all_asset_keys()}),
    "partitions_start": node.partitions_def.start.date().isoformat(),
    "timezone": node.partitions_def.timezone,
}))
"""


def test_paysync_env_qa_loads_qa_settings_and_mapping_into_the_code_location(deploy_copy: Path, tmp_path: Path) -> None:
    qa_mapping = deploy_copy / "mappings" / "qa.yaml"
    text = re.sub(r"(?m)^version: .*$", 'version: "qa-7"', qa_mapping.read_text(encoding="utf-8"))
    qa_mapping.write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    env_text = (deploy_copy / "env" / "qa.env").read_text(encoding="utf-8")
    env_text = re.sub(r"(?m)^PAYSYNC_PARTITIONS_START=.*$", "PAYSYNC_PARTITIONS_START=2026-02-01", env_text)
    (deploy_copy / "env" / "qa.env").write_text(env_text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PAYTRACE_", "ORACLE_FUSION_", "SAGE300_", "DAGSTER_"))}
    env |= {"PAYSYNC_ENV": "qa", "PAYSYNC_DEPLOY_DIR": str(deploy_copy), "PAYSYNC_HOME": str(tmp_path / "home"),
            "PAYSYNC_MERCHANT_TIMEZONE": "America/Chicago"}  # set by the operator: wins over qa.env
    done = subprocess.run([sys.executable, "-c", _SHOW_DEFINITIONS], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {"paysync/environment": "qa", "paysync/mapping_version": f"qa-7 (sha256 {digest})"}
    assert shown["location"] == expected
    assert shown["assets"] == [json.dumps(expected, sort_keys=True)]  # every asset, the same
    assert shown["partitions_start"] == "2026-02-01"  # from qa.env, read before the defs modules load
    assert shown["timezone"] == "America/Chicago"


def test_the_paysync_command_reads_the_env_file_of_paysync_env(deploy_copy: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "qa-warehouse.db"
    with (deploy_copy / "env" / "qa.env").open("a", encoding="utf-8") as f:
        f.write(f"PAYSYNC_DATABASE_URL=sqlite:///{warehouse}\n")  # a throw-away file, no password in it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "DAGSTER_"))}
    env |= {"PAYSYNC_ENV": "qa", "PAYSYNC_DEPLOY_DIR": str(deploy_copy)}
    done = subprocess.run([sys.executable, "-m", "paysync_dagster.cli", "mapping", "history"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no mapping promotion recorded"
    assert warehouse.is_file()  # the warehouse named by qa.env, not the default
    env["PAYSYNC_ENV"] = "staging"
    refused = subprocess.run([sys.executable, "-m", "paysync_dagster.cli", "mapping", "history"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "paysync: PAYSYNC_ENV must be one of dev, qa, prod, got 'staging'"
