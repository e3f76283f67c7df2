"""Helm values for Dagster's official chart (deploy/helm/values.yaml): valid against the chart's
schema (vendored excerpt), the user code deployment runs the PaySync image, runs go to Kubernetes
Jobs, and the queue limits are those of deploy/dagster.postgres.yaml, as Dagster itself accepts them."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

from paysync_dagster_tests.deploy.support import DEPLOY, REPO, SECRET_NAME, helm_values, load_yaml

SCHEMA = DEPLOY / "helm" / "values.schema.excerpt.json"


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(values: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator().iter_errors(values)]


def test_the_values_are_valid_for_the_charts_schema() -> None:
    assert _errors(helm_values()) == []
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert "bdb8547fab497826eeec292bc160b549a0a329ef" in schema["$comment"]  # the source is named
    assert not [r for r in json.dumps(schema).split('"$ref": "')[1:] if not r.startswith("#/")]  # works offline


@pytest.mark.parametrize(("path", "value"), [
    (("runLauncher", "config", "k8sRunLauncher", "imagePullPolicyy"), "IfNotPresent"),  # a typo
    (("runLauncher", "type"), "K8sLauncher"),
    (("dagster-user-deployments", "deployments", 0, "port"), "4000"),
    (("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator", "tagConcurrencyLimit"), []),
    (("concurrency", "runs", "tagConcurrencyLimits", 0, "value"), {"applyLimitPerUniqueValue": "yes"}),
])
def test_the_schema_refuses_what_the_chart_would(path: tuple, value: Any) -> None:
    broken = copy.deepcopy(helm_values())
    node = broken
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert _errors(broken), f"{path} = {value!r} was accepted"


def test_the_user_code_deployment_runs_the_paysync_image_and_runs_get_its_settings() -> None:
    values = helm_values()
    [deployment] = values["dagster-user-deployments"]["deployments"]
    module = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dagster"]["module_name"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == module
    assert deployment["image"]["tag"] and deployment["image"]["tag"] != "latest"
    assert deployment["env"]["PAYSYNC_ENV"] == "prod"
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]
    assert k8s["envConfigMaps"] == deployment["envConfigMaps"] and k8s["envSecrets"] == deployment["envSecrets"]
    assert "PAYSYNC_ENV=prod" in k8s["envVars"]
    assert k8s["runK8sConfig"]["podSpecConfig"]["securityContext"]["runAsNonRoot"]
    # Dagster's storage: PostgreSQL, the password from a Secret, never from these values.
    assert values["postgresql"]["postgresqlDatabase"] and "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False and values["global"]["postgresqlSecretName"]


def test_no_secret_value_in_the_values() -> None:
    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                # A key about a secret may name one (postgresqlSecretName) or switch one on, never hold it.
                if SECRET_NAME.search(str(key).upper()) and isinstance(child, str) and not str(key).endswith("Name"):
                    raise AssertionError(f"{path}/{key} holds a secret")
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}/{i}")
        elif isinstance(node, str) and "=" in node:
            assert not SECRET_NAME.search(node.split("=", 1)[0]), f"{path}: {node}"

    walk(helm_values(), "")


def _instance_from_values(values: dict[str, Any]) -> dict[str, Any]:
    """The parts of dagster.yaml the chart renders from these values (templates/helpers/instance/
    _run-coordinator.tpl and _concurrency.tpl, and the daemon sections of configmap-instance.yaml)."""
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator: dict[str, Any] = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator",
                                   "config": {}}
    for key, rendered in (("maxConcurrentRuns", "max_concurrent_runs"), ("tagConcurrencyLimits", "tag_concurrency_limits"),
                          ("dequeueIntervalSeconds", "dequeue_interval_seconds")):
        if queued.get(key):
            coordinator["config"][rendered] = queued[key]
    pools, runs = values["concurrency"]["pools"], values["concurrency"]["runs"]
    concurrency = {"pools": {"default_limit": pools["defaultLimit"], "granularity": pools["granularity"]},
                   "runs": {"max_concurrent_runs": runs["maxConcurrentRuns"],
                            "tag_concurrency_limits": runs["tagConcurrencyLimits"]}}
    monitoring, retries = daemon["runMonitoring"], daemon["runRetries"]
    return {
        "run_coordinator": coordinator,
        "concurrency": concurrency,
        "run_monitoring": {"enabled": monitoring["enabled"], "start_timeout_seconds": monitoring["startTimeoutSeconds"],
                           "poll_interval_seconds": monitoring["pollIntervalSeconds"],
                           "max_resume_run_attempts": monitoring["maxResumeRunAttempts"]},
        "run_retries": {"enabled": retries["enabled"], "max_retries": retries["maxRetries"],
                        "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"]},
        "sensors": {"use_threads": daemon["sensors"]["useThreads"], "num_workers": daemon["sensors"]["numWorkers"]},
        "schedules": {"use_threads": daemon["schedules"]["useThreads"], "num_workers": daemon["schedules"]["numWorkers"]},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }


def _validated_by_dagster(instance: dict[str, Any], where: Path) -> dict[str, Any]:
    where.mkdir(parents=True, exist_ok=True)
    (where / "dagster.yaml").write_text(yaml.safe_dump(instance), encoding="utf-8")
    config, _ = dagster_instance_config(str(where))
    return dict(config)


def test_the_queue_has_the_limits_of_the_production_instance_and_dagster_accepts_it(tmp_path: Path) -> None:
    values = helm_values()
    rendered = _validated_by_dagster(_instance_from_values(values), tmp_path / "helm")
    production = load_yaml(DEPLOY / "dagster.postgres.yaml")
    assert rendered["concurrency"]["runs"] == production["concurrency"]["runs"]
    assert rendered["concurrency"]["pools"] == production["concurrency"]["pools"]
    assert rendered["run_coordinator"]["class"] == production["run_coordinator"]["class"] == "QueuedRunCoordinator"
    limits = {(t["key"], t["limit"]) for t in rendered["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert ("dagster/partition", 1) in limits  # runs of one business date never overlap
    for section in ("run_retries", "sensors", "schedules"):  # the daemon works as on one machine
        assert rendered[section] == production[section]
    assert rendered["run_monitoring"]["start_timeout_seconds"] == production["run_monitoring"]["start_timeout_seconds"]


def test_limits_in_both_places_are_refused_as_the_chart_and_dagster_refuse_them(tmp_path: Path) -> None:
    values = copy.deepcopy(helm_values())
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    queued["tagConcurrencyLimits"] = values["concurrency"]["runs"]["tagConcurrencyLimits"]
    assert _errors(values) == []  # the schema alone allows it: the chart's template and Dagster do not
    with pytest.raises(DagsterInvalidConfigError, match="incompatible with the `concurrency > runs` config"):
        _validated_by_dagster(_instance_from_values(values), tmp_path / "both")
