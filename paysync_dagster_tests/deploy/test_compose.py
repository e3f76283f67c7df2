"""The whole stack (deploy/compose.yaml), parsed: every command, env file, config and dependency
refers to something that exists; images, ports and the database agree with the rest of the deployment;
secrets come only from the environment of `docker compose`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paysync_dagster.cli.webhooks import DEFAULT_PORT as RECEIVER_PORT
from paysync_dagster.lib.settings import read_env_file
from paysync_dagster_tests.cli.support import invoke
from paysync_dagster_tests.deploy.support import DEPLOY, SECRET_NAME, compose, dockerfile_instructions, env_assignments

SERVICES = {"postgres", "migrate", "code", "webserver", "daemon", "receiver"}
PAYSYNC_ROLES = SERVICES - {"postgres"}
INTERPOLATED = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(:?[-?][^}]*)?\}")


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_stack_has_every_role_and_each_paysync_role_runs_the_one_image() -> None:
    stack = compose()
    assert set(stack["services"]) == SERVICES
    images = {stack["services"][s]["image"] for s in PAYSYNC_ROLES}
    assert len(images) == 1, images
    for name in PAYSYNC_ROLES:
        build = stack["services"][name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
    assert re.fullmatch(r"postgres:\d+\.\d+(-[a-z]+)?", stack["services"]["postgres"]["image"])


def test_env_files_configs_and_dependencies_refer_to_what_exists() -> None:
    stack = compose()
    services = stack["services"]
    for name, service in services.items():
        for env_file in service.get("env_file", []):
            assert (DEPLOY / env_file).is_file(), f"{name}: env_file {env_file}"
        if name in PAYSYNC_ROLES:
            assert service["env_file"] == ["env/prod.env"]
        for config in service.get("configs", []):
            assert config["source"] in stack["configs"], f"{name}: config {config['source']}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # a folder of the checkout
                assert (DEPLOY / source).is_dir(), f"{name}: bind mount {volume}"
            else:
                assert source in stack["volumes"], f"{name}: volume {volume}"
        for other, condition in service.get("depends_on", {}).items():
            assert other in services, f"{name} depends on {other}"
            assert condition["condition"] in ("service_started", "service_healthy", "service_completed_successfully")
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[other], f"{name} waits for {other} to be healthy; it has no healthcheck"
            if condition["condition"] == "service_completed_successfully":
                assert services[other]["restart"] == "no"
    for config in stack["configs"].values():
        assert ("file" in config) != ("content" in config)
        if "file" in config:
            assert (DEPLOY / config["file"]).is_file()
    # The instance every Dagster process reads is the production one.
    assert stack["configs"]["dagster_instance"]["file"] == "./dagster.postgres.yaml"
    # Nothing starts before the warehouse schema is at head.
    for name in ("code", "receiver"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["paysync", "db", "upgrade"]
    # The code server reads the mapping files where PAYSYNC_DEPLOY_DIR of the image says they are.
    deploy_dir = next(a for w, a in dockerfile_instructions() if w == "ENV" and "PAYSYNC_DEPLOY_DIR" in a)
    target = env_assignments(deploy_dir)["PAYSYNC_DEPLOY_DIR"] + "/mappings"
    assert f"./mappings:{target}:ro" in services["code"]["volumes"]


@pytest.mark.parametrize("name", ["migrate", "receiver"])
def test_each_paysync_command_exists_with_its_options(name: str) -> None:
    command = compose()["services"][name]["command"]
    assert command[0] == "paysync"
    done = invoke(*command[1:], "--help")
    assert done.exit_code == 0, done.output


@pytest.mark.parametrize("name", ["code", "webserver", "daemon"])
def test_each_dagster_command_exists_with_its_options(name: str) -> None:
    service = compose()["services"][name]
    for command in (service["command"], service.get("healthcheck", {}).get("test", ["CMD"])[1:]):
        if not command or command[0] == "python":
            continue
        executable = Path(sys.executable).with_name(command[0])
        done = subprocess.run([str(executable), *command[1:], "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"


def test_ports_workspace_and_database_agree() -> None:
    stack = compose()
    services = stack["services"]
    exposed = {int(p) for w, a in dockerfile_instructions() if w == "EXPOSE" for p in a.split()}
    code_port = int(_option(services["code"]["command"], "--port"))
    web_port = int(_option(services["webserver"]["command"], "--port"))
    receiver_port = int(_option(services["receiver"]["command"], "--port"))
    assert {code_port, web_port, receiver_port} == exposed
    assert receiver_port == RECEIVER_PORT
    # The UI and the receiver are published on loopback only: TLS terminates in a proxy in front.
    assert services["webserver"]["ports"] == [f"127.0.0.1:{web_port}:{web_port}"]
    assert services["receiver"]["ports"] == [f"127.0.0.1:{receiver_port}:{receiver_port}"]
    assert "ports" not in services["code"] and "ports" not in services["postgres"]
    # Every process finds the code server where it listens.
    workspace = yaml.safe_load(stack["configs"]["workspace"]["content"])
    [server] = [entry["grpc_server"] for entry in workspace["load_from"]]
    assert (server["host"], server["port"]) == ("code", code_port)
    for name in ("webserver", "daemon"):
        target = next(c["target"] for c in services[name]["configs"] if c["source"] == "workspace")
        assert _option(services[name]["command"], "--workspace") == target
    # Dagster's instance file lands in DAGSTER_HOME, and its database is the postgres service's.
    prod = read_env_file(DEPLOY / "env" / "prod.env")
    for name in ("code", "webserver", "daemon"):
        targets = {c["source"]: c["target"] for c in services[name]["configs"]}
        assert targets["dagster_instance"] == f"{prod['DAGSTER_HOME']}/dagster.yaml"
    postgres = services["postgres"]["environment"]
    assert prod["DAGSTER_PG_HOST"] == "postgres"
    assert (prod["DAGSTER_PG_USERNAME"], prod["DAGSTER_PG_DB"]) == (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"])
    assert "CREATE DATABASE paysync" in stack["configs"]["create_warehouse"]["content"]


def test_secrets_come_only_from_the_environment_of_compose_and_each_role_gets_its_own() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for key, value in service.get("environment", {}).items():
            if SECRET_NAME.search(key):
                found = INTERPOLATED.fullmatch(str(value))
                assert found, f"{name}: {key} must come from the environment, not this file"
    environments = {name: set(s.get("environment", {})) for name, s in services.items()}
    assert "PAYSYNC_WEBHOOK_SECRET" in environments["receiver"]
    assert "PAYTRACE_PASSWORD" in environments["code"] and "DAGSTER_PG_PASSWORD" in environments["code"]
    for name in ("webserver", "daemon"):  # they never touch the warehouse or an external API
        assert not {k for k in environments[name] if SECRET_NAME.search(k)} - {"DAGSTER_PG_PASSWORD"}
    for name in PAYSYNC_ROLES:
        assert services[name]["environment"]["PAYSYNC_ENV"] == "prod"
    # Every secret a role reads is named in prod.env as one.
    named = set(re.findall(r"^# secret: ([A-Z0-9_]+)", (DEPLOY / "env" / "prod.env").read_text(encoding="utf-8"), re.M))
    used = {k for env in environments.values() for k in env if SECRET_NAME.search(k)} - {"POSTGRES_PASSWORD"}
    assert used <= named, used - named
