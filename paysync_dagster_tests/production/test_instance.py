"""deploy/dagster.postgres.yaml, the production instance, as the installed Dagster loads it: its own config
validation (a wrong key fails), storage on a real PostgreSQL server, and the settings production relies on."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from paysync_dagster_tests.postgres import PostgresServer
from paysync_dagster_tests.production.support import BIN, PRODUCTION_YAML, REPO, instance_env, pool_limits

pytestmark = pytest.mark.postgres


def _home(tmp_path: Path, config: dict | None = None) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    if config is None:
        shutil.copyfile(PRODUCTION_YAML, home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return home


def _load(home: Path):  # noqa: ANN202
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


@pytest.fixture
def instance_database(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> PostgresServer:
    """A fresh database for the instance, and the DAGSTER_PG_* variables pointing at it."""
    name = f"dagster_instance_{os.getpid()}"
    postgres_server.create_database(name)
    for key, value in instance_env(postgres_server, name).items():
        monkeypatch.setenv(key, value)
    return postgres_server


def test_the_production_instance_loads_on_postgresql_with_every_setting(instance_database: PostgresServer,
                                                                        tmp_path: Path) -> None:
    from dagster._core.instance.config import PoolGranularity
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    with _load(_home(tmp_path)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.get_runs() == []  # a query that reaches the database

        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        runs = instance.get_concurrency_config().run_queue_config
        assert runs.max_concurrent_runs == 10
        limits = {(t["key"], json_key(t.get("value"))): t["limit"] for t in runs.tag_concurrency_limits}
        assert limits == {("dagster/partition", "per value"): 1, ("dagster/backfill", "per value"): 3}
        pools = instance.get_concurrency_config().pool_config
        assert pools.pool_granularity == PoolGranularity.OP and pools.default_pool_limit == 2

        assert instance.run_monitoring_enabled and instance.run_monitoring_settings["start_timeout_seconds"] == 180
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        # A step failed by a database restart is retried with its run (every step is safe to run again).
        assert instance.run_retries_retry_on_asset_or_op_failure is True
        assert instance.get_sensor_settings()["use_threads"] and instance.get_scheduler_settings()["use_threads"]
        assert instance.get_backfill_settings()["use_threads"]
        assert instance.telemetry_enabled is False
        assert instance.nux_enabled is False


def json_key(value: object) -> str:
    return "per value" if value == {"applyLimitPerUniqueValue": True} else str(value)


def test_no_password_sits_in_the_file_and_every_connection_setting_comes_from_the_environment() -> None:
    config = yaml.safe_load(PRODUCTION_YAML.read_text(encoding="utf-8"))
    db = config["storage"]["postgres"]["postgres_db"]
    for key in ("username", "password", "hostname", "db_name", "port"):
        assert set(db[key]) == {"env"} and db[key]["env"].startswith("DAGSTER_PG_"), (key, db[key])


def test_a_wrong_key_fails_dagsters_own_validation(instance_database: PostgresServer, tmp_path: Path) -> None:
    from dagster._core.errors import DagsterInvalidConfigError

    config = yaml.safe_load(PRODUCTION_YAML.read_text(encoding="utf-8"))
    config["run_retries"]["max_retry"] = config["run_retries"].pop("max_retries")  # a plausible typo
    with pytest.raises(DagsterInvalidConfigError, match="max_retry"):
        _load(_home(tmp_path, config))


def test_each_api_pool_of_the_assets_has_a_documented_limit_that_dagster_applies(
        instance_database: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dagster.yaml holds only the default pool limit: each pool's own limit is set at deploy with the
    ``dagster instance concurrency set`` lines the file documents, one for each pool the assets declare."""
    import dagster as dg

    from paysync_dagster.definitions import defs

    monkeypatch.setenv("PAYSYNC_ERPS", "oracle,sage,sagepro")  # every ERP's assets, so every pool
    declared = {a.node_def.pool for a in defs().resolve_asset_graph().assets_defs
                if a.is_executable and isinstance(a.node_def, dg.OpDefinition)} - {None}
    limits = pool_limits()
    assert set(limits) == declared, f"pools the assets declare: {sorted(declared)}; documented: {limits}"
    assert all(limit >= 1 for limit in limits.values())

    home = _home(tmp_path)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    for pool, limit in limits.items():
        result = subprocess.run([str(BIN / "dagster"), "instance", "concurrency", "set", pool, str(limit)], env=env,
                                cwd=REPO, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-2000:]
    with _load(home) as instance:
        assert {pool: instance.event_log_storage.get_concurrency_info(pool).slot_count for pool in limits} == limits
