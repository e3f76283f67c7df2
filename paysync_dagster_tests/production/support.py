"""PaySync in the production topology, as real processes on free loopback ports: one PostgreSQL server
(a database for the Dagster instance, one for the warehouse), the composed sandboxes (PayTrace, Oracle
Fusion, Sage 300), the webhook receiver, a gRPC code server, ``dagster-webserver`` and
``dagster-daemon`` over a workspace that points at the code server, and ``DAGSTER_HOME`` holding
``deploy/dagster.postgres.yaml`` as its ``dagster.yaml``. Never ``dagster dev``.

:func:`production_stack` is the module-scoped fixture; ``conftest.py`` in this folder offers it to
every test module here. Each process logs to a file under the stack's ``logs`` folder; the tails are
printed when a test of the module failed.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from paysync_dagster.demo import SANDBOX_CREDENTIALS
from paysync_dagster_tests.postgres import PostgresServer, start_postgres
from paysync_dagster_tests.support import free_port, start_process, stop_process, wait_for

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PRODUCTION_YAML = REPO / "deploy" / "dagster.postgres.yaml"
LOCATION = "paysync_dagster"
REPOSITORY = "__repository__"  # the name Dagster gives the one repository of a Definitions object
ERPS = "oracle,sage"
MERCHANT_TIMEZONE = "America/Los_Angeles"
SEED, PER_DAY = 7, 12
HISTORY_DAYS = 8  # room for a 7-date backfill, and the last date, which the restart test posts
INSTANCE_DB, WAREHOUSE_DB = "dagster", "paysync_warehouse"
WEBHOOK_PATH = "/webhooks/paytrace"
UP_TIMEOUT = 240  # a busy 2-core CI machine imports the definitions in several processes at once


def pool_limits(yaml_path: Path = PRODUCTION_YAML) -> dict[str, int]:
    """The per-pool limits the production instance documents (``dagster instance concurrency set POOL N``
    lines in its comments): dagster.yaml can hold only a default pool limit, so these are applied at deploy."""
    found = re.findall(r"dagster instance concurrency set (\w+) (\d+)", yaml_path.read_text(encoding="utf-8"))
    return {pool: int(limit) for pool, limit in found}


def instance_env(pg: PostgresServer, database: str = INSTANCE_DB) -> dict[str, str]:
    """The ``DAGSTER_PG_*`` variables the production dagster.yaml reads its storage from."""
    return {"DAGSTER_PG_USERNAME": pg.role, "DAGSTER_PG_PASSWORD": pg.password, "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_DB": database, "DAGSTER_PG_PORT": str(pg.port)}


def stop_postgres(pg: PostgresServer) -> None:
    """``pg_ctl stop -m fast``: every session is cut, the data stays (``pg.resume()`` starts it again)."""
    pg._run("pg_ctl", "-D", str(pg.data_dir), "-m", "fast", "-w", "-t", "60", "stop")


def start_postgres_again(pg: PostgresServer) -> None:
    """``pg_ctl start`` on the same data, port and socket folder as the first start."""
    pg.resume()


def today_in_merchant_zone() -> date:
    from paysync_dagster.lib.timeutil import zone

    return datetime.now(timezone.utc).astimezone(zone(MERCHANT_TIMEZONE)).date()


def graphql(url: str, query: str, variables: dict[str, Any] | None = None, *, timeout: float = 60) -> dict[str, Any]:
    """One GraphQL request to the webserver; its ``data`` (an error answer fails)."""
    answer = httpx.post(url, json={"query": query, "variables": variables or {}}, timeout=timeout).json()
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]


@dataclass
class ProductionStack:
    """The running topology. URLs are bases (``receiver_url`` + ``/webhooks/paytrace`` takes events)."""

    webserver_url: str
    graphql_url: str
    warehouse_url: str
    sandbox_url: str
    receiver_url: str
    pg: PostgresServer
    home: Path  # PAYSYNC_HOME: reports, bank files
    dagster_home: Path  # DAGSTER_HOME: the production dagster.yaml, local artifacts
    logs: Path
    env: dict[str, str]  # the environment every PaySync and Dagster process got
    webhook_secret: str
    history: tuple[date, date]  # the sandbox's generated business dates, first and last
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def webhook_url(self) -> str:
        return self.receiver_url + WEBHOOK_PATH

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return graphql(self.graphql_url, query, variables)

    def assert_running(self) -> None:
        """Every process is still up (a condition polled while waiting fails at once when one died)."""
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        assert not dead, f"processes exited: {dead}\n{self.tails()}"

    def tails(self, lines: int = 40) -> str:
        out = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {log} (last {len(text)} lines)\n" + "\n".join(text))
        server_log = self.pg.root / "server.log"
        if server_log.exists():
            out.append(f"----- {server_log}\n" + "\n".join(server_log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)

    def wait(self, condition: Callable[[], Any], *, timeout: float, what: str, interval: float = 1.0) -> Any:
        """:func:`wait_for` that fails at once when a process died, and shows the logs' tails on a timeout."""
        def checked() -> Any:
            self.assert_running()
            return condition()
        try:
            return wait_for(checked, timeout=timeout, interval=interval, what=what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.tails()}") from None


# --- GraphQL the tests share --------------------------------------------------------------------------------

_WORKSPACE = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
_SENSOR = """query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
  ... on Sensor { name sensorState { id status } } ... on PythonError { message } } }"""
_START_SENSOR = """mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { status } } ... on PythonError { message } } }"""
_STOP_SENSOR = """mutation Stop($id: String!) { stopSensor(id: $id) { __typename
  ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"""
_DAEMONS = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"""


def sensor_selector(name: str) -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}


def sensor_status(stack: ProductionStack, name: str) -> str:
    found = stack.graphql(_SENSOR, {"selector": sensor_selector(name)})["sensorOrError"]
    assert found["__typename"] == "Sensor", found
    return found["sensorState"]["status"]


def set_sensor(stack: ProductionStack, name: str, running: bool) -> None:
    """Start or stop a sensor over GraphQL, as a person does with the UI's toggle."""
    if running:
        answer = stack.graphql(_START_SENSOR, {"selector": sensor_selector(name)})["startSensor"]
        assert answer["__typename"] == "Sensor", answer
    else:
        found = stack.graphql(_SENSOR, {"selector": sensor_selector(name)})["sensorOrError"]
        assert found["__typename"] == "Sensor", found
        answer = stack.graphql(_STOP_SENSOR, {"id": found["sensorState"]["id"]})["stopSensor"]
        assert answer["__typename"] == "StopSensorMutationResult", answer
    assert sensor_status(stack, name) == ("RUNNING" if running else "STOPPED")


def _location_loaded(stack: ProductionStack) -> bool:
    entries = stack.graphql(_WORKSPACE)["workspaceOrError"]["locationEntries"]
    for entry in entries:
        error = entry["locationOrLoadError"] or {}
        assert error.get("__typename") != "PythonError", f"the code location failed to load: {error.get('message')}"
    return [(e["name"], e["loadStatus"], (e["locationOrLoadError"] or {}).get("__typename")) for e in entries] == [
        (LOCATION, "LOADED", "RepositoryLocation")]


def _daemons_healthy(stack: ProductionStack) -> bool:
    statuses = stack.graphql(_DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    required = {s["daemonType"]: s["healthy"] for s in statuses if s["required"]}
    return bool(required) and all(required.values())


# --- starting and stopping ----------------------------------------------------------------------------------

def _sandbox_url(log: Path) -> str | None:
    """The sandbox prints its bare URL on a line of its own once it serves."""
    if not log.exists():
        return None
    found = re.search(r"^(http://127\.0\.0\.1:\d+)\s*$", log.read_text(errors="replace"), re.MULTILINE)
    return found.group(1) if found else None


def _http_ok(url: str) -> bool:
    return httpx.get(url, timeout=5).status_code == 200


def _environment(stack_root: Path, pg: PostgresServer, warehouse_url: str, start: date) -> dict[str, str]:
    """What the demo gives its processes (paysync_dagster/demo.py ``prepare_environment``), with PostgreSQL
    for the instance and the warehouse, and nothing of the developer's own PaySync or Dagster settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PAYSYNC_", "PAYTRACE_", "ORACLE_FUSION_", "SAGE300_", "DAGSTER_"))}
    home = stack_root / "home"
    env.update(SANDBOX_CREDENTIALS)
    env.update(instance_env(pg))
    env.update({
        "PAYSYNC_HOME": str(home),
        "DAGSTER_HOME": str(stack_root / "dagster_home"),
        "PAYSYNC_ERPS": ERPS,
        "PAYSYNC_DATABASE_URL": warehouse_url,
        "PAYSYNC_PARTITIONS_START": (start - timedelta(days=30)).isoformat(),
        "PAYSYNC_MERCHANT_TIMEZONE": MERCHANT_TIMEZONE,
        "PAYSYNC_REPORTS_DIR": str(home / "reports"),
        "PAYSYNC_BANK_FILES_DIR": str(home / "bank"),
        "PAYSYNC_WEBHOOK_SECRET": secrets.token_hex(24),
        # Quick landing ticks, as the demo's default: a posted event becomes a run within seconds.
        "PAYSYNC_LANDING_SENSOR_INTERVAL_SECONDS": "2",
    })
    return env


def start_stack(root: Path) -> Iterator[ProductionStack]:
    """Start the topology under ``root`` (a generator: the stack, then everything stopped, in reverse order)."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pg = start_postgres()
    processes: dict[str, subprocess.Popen] = {}
    stack: ProductionStack | None = None
    try:
        pg.create_database(INSTANCE_DB)
        warehouse_url = pg.create_database(WAREHOUSE_DB)
        end = today_in_merchant_zone() - timedelta(days=1)
        start = end - timedelta(days=HISTORY_DAYS - 1)
        env = _environment(root, pg, warehouse_url, start)
        home, dagster_home = Path(env["PAYSYNC_HOME"]), Path(env["DAGSTER_HOME"])
        dagster_home.mkdir(parents=True)
        shutil.copyfile(PRODUCTION_YAML, dagster_home / "dagster.yaml")

        def launch(name: str, args: list[str]) -> subprocess.Popen:
            processes[name] = start_process(args, env=env, cwd=str(REPO), log_path=str(logs / f"{name}.log"))
            return processes[name]

        # The sandboxes: the same generated history as the demo's, and its bank statement for the reconciliation.
        launch("sandbox", [sys.executable, "-m", "paysync_dagster.cli", "sandbox", "--host", "127.0.0.1", "--port", "0",
                           "--seed", str(SEED), "--start-date", start.isoformat(), "--days", str(HISTORY_DAYS),
                           "--per-day", str(PER_DAY), "--timezone", MERCHANT_TIMEZONE])
        from paysync_dagster.sandbox.paytrace.bank import write_bank_files

        write_bank_files(env["PAYSYNC_BANK_FILES_DIR"], SEED, start, end, PER_DAY, MERCHANT_TIMEZONE)
        sandbox_url = wait_for(lambda: _sandbox_url(logs / "sandbox.log") if processes["sandbox"].poll() is None
                               else pytest.fail("the sandbox exited:\n" + (logs / "sandbox.log").read_text()),
                               timeout=UP_TIMEOUT, interval=0.25, what="the sandbox's URL")
        env.update({"PAYTRACE_BASE_URL": sandbox_url, "ORACLE_FUSION_BASE_URL": sandbox_url,
                    "SAGE300_BASE_URL": f"{sandbox_url}/Sage300WebApi/v1.0/-"})

        # The warehouse schema before anything reads it (`paysync db upgrade`, the deploy step).
        subprocess.run([sys.executable, "-m", "paysync_dagster.cli", "db", "upgrade"], env=env, cwd=REPO, check=True,
                       capture_output=True, timeout=180)
        # The per-API pool limits, applied to the instance at deploy (dagster.yaml holds only the default).
        for pool, limit in pool_limits().items():
            subprocess.run([str(BIN / "dagster"), "instance", "concurrency", "set", pool, str(limit)], env=env,
                           cwd=REPO, check=True, capture_output=True, timeout=180)

        receiver_port, grpc_port, web_port = free_port(), free_port(), free_port()
        launch("receiver", [sys.executable, "-m", "paysync_dagster.cli", "webhooks", "serve", "--host", "127.0.0.1",
                            "--port", str(receiver_port)])
        launch("code-server", [str(BIN / "dagster"), "api", "grpc", "--module-name", "paysync_dagster.definitions",
                               "--host", "127.0.0.1", "--port", str(grpc_port), "--location-name", LOCATION])
        workspace = root / "workspace.yaml"
        workspace.write_text(f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
                             f"      location_name: {LOCATION}\n", encoding="utf-8")
        wait_for(lambda: subprocess.run([str(BIN / "dagster"), "api", "grpc-health-check", "--host", "127.0.0.1",
                                         "--port", str(grpc_port)], env=env, capture_output=True, timeout=60).returncode == 0
                 if processes["code-server"].poll() is None else pytest.fail(
                     "the code server exited:\n" + (logs / "code-server.log").read_text()[-3000:]),
                 timeout=UP_TIMEOUT, interval=1, what="the gRPC code server")
        launch("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", str(workspace)])
        receiver_url = f"http://127.0.0.1:{receiver_port}"
        webserver_url = f"http://127.0.0.1:{web_port}"
        stack = ProductionStack(
            webserver_url=webserver_url, graphql_url=f"{webserver_url}/graphql", warehouse_url=warehouse_url,
            sandbox_url=sandbox_url, receiver_url=receiver_url, pg=pg, home=home, dagster_home=dagster_home,
            logs=logs, env=env, webhook_secret=env["PAYSYNC_WEBHOOK_SECRET"], history=(start, end), processes=processes)
        stack.wait(lambda: _http_ok(f"{receiver_url}/healthz"), timeout=UP_TIMEOUT, what="the webhook receiver")
        stack.wait(lambda: _location_loaded(stack), timeout=UP_TIMEOUT, what="the webserver with the code location")
        # The export poller pulls PayTrace's export of yesterday and today every two minutes, so a lost webhook is
        # caught. Its runs would land rows at times of their own while the tests count, and no webhook is lost
        # here: off before the daemon starts. The landing sensor is on by default (as in
        # the demo); it must be.
        set_sensor(stack, "paytrace_export_poller", running=False)
        assert sensor_status(stack, "paytrace_landing_sensor") == "RUNNING"
        launch("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)])
        stack.wait(lambda: _daemons_healthy(stack), timeout=UP_TIMEOUT, interval=2, what="every dagster-daemon daemon healthy")
        yield stack
    finally:
        # Last started, first stopped: the daemon launches no run on a code server that is gone.
        for name in reversed(list(processes)):
            stop_process(processes[name], grace=20)
        pg.stop()


@pytest.fixture(scope="module")
def production_stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ProductionStack]:
    """The production topology for one test module (see the module docstring); stopped at the module's end,
    whatever happened. When a test of the module failed, the processes' log tails are printed."""
    failed_before = request.session.testsfailed
    generator = start_stack(tmp_path_factory.mktemp("production"))
    stack = next(generator)
    try:
        yield stack
    finally:
        if request.session.testsfailed > failed_before:
            capture = request.config.pluginmanager.getplugin("capturemanager")
            if capture is not None:
                with capture.global_and_fixture_disabled():
                    print("\n" + stack.tails(80))
            else:
                print(stack.tails(80))
        generator.close()
