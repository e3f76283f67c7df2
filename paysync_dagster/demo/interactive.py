"""The demo's processes and :func:`run_demo` (``paysync demo``): PaySync end to end on the local sandboxes,
on the embedded default (SQLite) or, with ``--db postgres``, on a throw-away PostgreSQL holding both the
Dagster instance and the warehouse, as in production.

Interactive: starts the sandboxes and ``dagster dev`` (UI on http://127.0.0.1:3000), backfills the
demo week, prints the URLs, and stops every process it started on Ctrl-C.
Headless (``--headless``): starts the sandboxes, runs the main job once per business date of the
demo week, prints a summary a finance user can read, and exits 0 when every run succeeded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from paysync_dagster.demo.state import PREVIOUS, HomeInUse, hold_home, set_aside_previous
from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE, zone

if TYPE_CHECKING:
    from paysync_dagster.lib.local_postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]

# The sandbox's own demo credentials (not secrets: they open nothing but the local simulator).
SANDBOX_CREDENTIALS = {
    "PAYTRACE_USERNAME": "paysync-demo",
    "PAYTRACE_PASSWORD": "paysync-demo-password",
    "PAYTRACE_INTEGRATOR_ID": "9575315uXt4u",
    "ORACLE_FUSION_USERNAME": "paysync.integration",
    "ORACLE_FUSION_PASSWORD": "paysync-demo-password",
    "SAGE300_USERNAME": "PAYSYNC",
    "SAGE300_PASSWORD": "PAYSYNC",
}
# The demo runs every ERP PaySync posts to, side by side for the same merchant.
DEMO_ERPS = "oracle,sage,sagepro"
DATABASES = ("sqlite", "postgres")
# With --db postgres: the Dagster instance settings of production, and the two databases of the demo's server.
POSTGRES_INSTANCE_TEMPLATE = REPO / "deploy" / "dagster.postgres.yaml"
INSTANCE_DATABASE = "dagster"
WAREHOUSE_DATABASE = "paysync_warehouse"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _pick_port(preferred: int) -> int:
    if _port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoError(RuntimeError):
    """A process the demo needs did not come up or went away; ``fix`` says where to look."""

    def __init__(self, what: str, fix: str, *, exit_code: int = 1):
        super().__init__(what)
        self.fix, self.exit_code = fix, exit_code


def wait_http(url: str, what: str, proc: subprocess.Popen, timeout: float = 180.0, *, log: Path | None = None) -> None:
    fix = f"see {log}" if log else f"see the output of {what}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with code {proc.returncode} before it was ready", fix)
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise DemoError(f"{what} did not answer at {url} within {timeout:.0f}s", fix)


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it after the grace period (dagster dev can ignore SIGTERM)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path, what: str):  # noqa: ANN202
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        _stop(proc)


def demo_week(tz_name: str, days: int) -> tuple[date, date]:
    """The ``days`` business dates that ended before today, in the merchant's zone."""
    today = datetime.now(timezone.utc).astimezone(zone(tz_name)).date()
    return today - timedelta(days=days), today - timedelta(days=1)


def write_instance_settings(dagster_home: Path, template: Path) -> Path:
    """``dagster.yaml`` of the demo's instance from ``template``; the UI opens on the asset graph, without
    Dagster's first-visit dialogs, whatever the template says about them."""
    import yaml

    text = template.read_text() if template.exists() else ""
    if "nux" not in (yaml.safe_load(text) or {}):
        text = (text.rstrip("\n") + ("\n" if text else "")
                + "# No first-visit dialog in front of the asset graph.\nnux:\n  enabled: false\n")
    target = dagster_home / "dagster.yaml"
    target.write_text(text)
    return target


def prepare_environment(home: Path, sandbox_url: str, start: date, *,
                        instance_template: Path | None = None) -> dict[str, str]:
    """Environment for the demo's processes: local state under ``home``, PayTrace and the ERPs pointed at the
    sandbox. The Dagster instance's settings come from ``instance_template`` (default: the repository's
    ``dagster.yaml``, SQLite storage under ``DAGSTER_HOME``)."""
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    write_instance_settings(dagster_home, instance_template or REPO / "dagster.yaml")
    env = dict(os.environ)
    env.update({
        "PAYSYNC_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "PAYTRACE_BASE_URL": sandbox_url,
        "ORACLE_FUSION_BASE_URL": sandbox_url,  # the same composed sandbox serves Oracle Fusion and Sage 300
        "SAGE300_BASE_URL": f"{sandbox_url}/Sage300WebApi/v1.0/-",
        **{k: env.get(k) or v for k, v in SANDBOX_CREDENTIALS.items()},
    })
    env.setdefault("PAYSYNC_ERPS", DEMO_ERPS)
    env.setdefault("SAGEPRO_DATA_DIR", str(home / "sagepro"))  # the Sage Pro stand-in's tables (written per demo)
    # The demo charges Oracle's card-on-file invoices (off unless set, in production). Not Sage's: Sage marks
    # the customer, and the generated history has those customers pay their other invoices by card too.
    env.setdefault("PAYSYNC_CARD_CHARGES", "oracle")
    # The other outbound flows, on in the demo (off unless set, in production): Sage's customers kept in step
    # with PayTrace's vault, and the refunds a clerk marks for a card refund in either ERP.
    env.setdefault("PAYSYNC_VAULT_SYNC", "sage")
    env.setdefault("PAYSYNC_ERP_REFUNDS", "oracle,sage")
    env.setdefault("PAYSYNC_DATABASE_URL", f"sqlite:///{home / 'warehouse.db'}")
    env.setdefault("PAYSYNC_PARTITIONS_START", (start - timedelta(days=30)).isoformat())
    env.setdefault("PAYSYNC_MERCHANT_TIMEZONE", DEFAULT_MERCHANT_TIMEZONE)
    env.setdefault("PAYSYNC_REPORTS_DIR", str(home / "reports"))
    env.setdefault("PAYSYNC_BANK_FILES_DIR", str(home / "bank"))
    return env


def _sandbox_args(port: int, start: date, days: int, per_day: int, seed: int, tz_name: str, *,
                  card_on_file: bool = False) -> list[str]:
    return [sys.executable, "-m", "paysync_dagster.cli", "sandbox", "--host", "127.0.0.1", "--port", str(port),
            "--seed", str(seed), "--start-date", start.isoformat(), "--days", str(days), "--per-day", str(per_day),
            "--timezone", tz_name, *(["--card-on-file"] if card_on_file else [])]


def run_demo(*, headless: bool, days: int, per_day: int, seed: int, ui_port: int, sandbox_port: int,
             receiver_port: int, event_interval: float, home: Path | None, db: str = "sqlite",
             studio_port: int = 8730) -> int:
    """The demo (``paysync demo``); the exit code. ``home`` defaults to ``PAYSYNC_HOME``, else
    ``.paysync`` in the repository. ``db`` ``postgres``: the instance and the warehouse on a throw-away
    PostgreSQL under ``home``, stopped and removed at the end. Raises :class:`DemoError` when a process
    it needs does not come up."""
    if db not in DATABASES:
        raise DemoError(f"unknown database {db!r}", f"choose one of {', '.join(DATABASES)}", exit_code=2)
    tz_name = os.environ.get("PAYSYNC_MERCHANT_TIMEZONE") or DEFAULT_MERCHANT_TIMEZONE
    start, end = demo_week(tz_name, days)
    home = (home or Path(os.environ.get("PAYSYNC_HOME") or REPO / ".paysync")).resolve()
    with ExitStack() as held:
        try:
            held.enter_context(hold_home(home))
        except HomeInUse:
            raise DemoError(f"another demo is running on {home}", "stop it first, or give this one another --home",
                            exit_code=2) from None
        # The sandboxes start afresh, so must the demo's own warehouse and instance (a warehouse named in the
        # environment is the user's: it is left as it is, with the instance that goes with it).
        own_warehouse = db == "postgres" or not os.environ.get("PAYSYNC_DATABASE_URL")
        moved = set_aside_previous(home) if own_warehouse else []
        return _run(home, moved, headless=headless, days=days, per_day=per_day, seed=seed, ui_port=ui_port,
                    sandbox_port=sandbox_port, receiver_port=receiver_port, event_interval=event_interval, db=db,
                    studio_port=studio_port, tz_name=tz_name, start=start, end=end)
    return 0


def _run(home: Path, moved: list[str], *, headless: bool, days: int, per_day: int, seed: int, ui_port: int,
         sandbox_port: int, receiver_port: int, event_interval: float, db: str, studio_port: int, tz_name: str,
         start: date, end: date) -> int:
    sandbox_port = _pick_port(sandbox_port)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = prepare_environment(home, sandbox_url, start,
                              instance_template=POSTGRES_INSTANCE_TEMPLATE if db == "postgres" else None)
    logs = home / "logs"

    # SIGTERM unwinds like Ctrl-C, so that what the demo started (a PostgreSQL server among them) is stopped.
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    with ExitStack() as stack:
        stack.callback(signal.signal, signal.SIGTERM, previous)
        print(f"PaySync demo: {start} to {end} ({tz_name}), {per_day} PayTrace transactions a day, state in {home}")
        if moved:
            print(f"  previous demo   its warehouse, runs, reports and logs moved to {home / PREVIOUS} "
                  "(the sandboxes start afresh, and PaySync with them)")
        if db == "postgres":
            _start_postgres(stack, home, env)
        args = _sandbox_args(sandbox_port, start, days, per_day, seed, tz_name,
                             card_on_file=bool(env.get("PAYSYNC_CARD_CHARGES")))
        sandbox = stack.enter_context(_process(args, env, logs / "sandbox.log", "sandbox"))
        wait_http(f"{sandbox_url}/v1/ping", "the sandbox", sandbox, log=logs / "sandbox.log")
        print(f"  sandboxes       {sandbox_url}   (PayTrace v1, Oracle Fusion REST, Sage 300 Web API; log: {logs / 'sandbox.log'})")
        from paysync_dagster.sandbox.paytrace.bank import write_bank_files

        # The bank's statement of the week's deposits, as a treasury export would drop it for PaySync.
        csv_path, _ = write_bank_files(env["PAYSYNC_BANK_FILES_DIR"], seed, start, end, per_day, tz_name)
        print(f"  bank statement  {csv_path} (and .bai2)   reports: {env['PAYSYNC_REPORTS_DIR']}")
        if "sagepro" in env.get("PAYSYNC_ERPS", ""):
            from paysync_dagster.demo.sagepro_loop import write_standin

            invoices = write_standin(Path(env["SAGEPRO_DATA_DIR"]), seed, start, end, per_day, tz_name)
            print(f"  sage pro        {env['SAGEPRO_DATA_DIR']}   (a stand-in's Visual FoxPro tables, {invoices} invoices;"
                  " PaySync only reads them)")
        if env.get("PAYSYNC_ERP_REFUNDS"):
            from paysync_dagster.demo.erp_refunds import enter_card_refunds
            from paysync_dagster.lib.mapping import load_mapping

            rules = load_mapping(Path(env["PAYSYNC_MAPPING_FILE"]) if env.get("PAYSYNC_MAPPING_FILE") else None)
            for line in enter_card_refunds(sandbox_url, start, end, env, rules):
                print(f"  erp refund      {line}")
        if headless:
            from paysync_dagster.demo.headless import run_headless

            return run_headless(env, start, end)
        return _interactive(stack, env, ui_port, receiver_port, event_interval, logs, start, end, sandbox, studio_port)
    return 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _start_postgres(stack: ExitStack, home: Path, env: dict[str, str]) -> None:
    """A throw-away PostgreSQL under ``home`` for the Dagster instance and the warehouse, stopped when the
    stack closes, after every process that uses it; whatever an earlier demo left there is removed first."""
    import secrets

    from paysync_dagster.lib.local_postgres import LocalPostgresError, start_postgres
    from paysync_dagster.lib.warehouse import redact_url

    root = home / "postgres"
    print(f"  postgresql      starting in {root} ...", flush=True)
    try:
        # A password of this run's own: the server listens on loopback, where other local users are too.
        pg = start_postgres(root, password=secrets.token_urlsafe(18))
    except LocalPostgresError as exc:
        raise DemoError(f"PostgreSQL did not start: {exc}",
                        "or run the demo on SQLite (without --db postgres)") from None
    stack.callback(_stop_postgres, pg)
    pg.create_database(INSTANCE_DATABASE)
    env.update({
        "DAGSTER_PG_USERNAME": pg.role, "DAGSTER_PG_PASSWORD": pg.password, "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(pg.port), "DAGSTER_PG_DB": INSTANCE_DATABASE,
        # --db postgres is asked for: it wins over a warehouse URL from the environment.
        "PAYSYNC_DATABASE_URL": pg.create_database(WAREHOUSE_DATABASE),
    })
    print(f"  postgresql      127.0.0.1:{pg.port}   Dagster instance: database {INSTANCE_DATABASE}; "
          f"warehouse: {redact_url(env['PAYSYNC_DATABASE_URL'])} (stopped at the end)", flush=True)


def _stop_postgres(pg: PostgresServer) -> None:
    # The data stays for a look afterwards (PostgresServer.resume); the next demo on PostgreSQL starts afresh.
    pg.stop(remove=False)
    print(f"  postgresql      stopped (port {pg.port}); its data stays in {pg.data_dir} until the next demo on "
          "PostgreSQL", flush=True)


def _interactive(stack: ExitStack, env: dict[str, str], ui_port: int, receiver_port: int, event_interval: float,
                 logs: Path, start: date, end: date, sandbox: subprocess.Popen, studio_port: int = 8730) -> int:
    from paysync_dagster.demo.headless import launch_backfill

    _own_mapping_file(env, Path(env["PAYSYNC_HOME"]))
    if not _port_free(ui_port):
        raise DemoError(f"port {ui_port} is taken", "stop what uses it or pass --ui-port", exit_code=2)
    dagster = stack.enter_context(_process(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(ui_port)],
        env, logs / "dagster.log", "dagster dev",
    ))
    ui = f"http://127.0.0.1:{ui_port}"
    print(f"  dagster dev     starting (log: {logs / 'dagster.log'}) ...", flush=True)
    wait_http(f"{ui}/server_info", "dagster dev", dagster, log=logs / "dagster.log")
    backfill = launch_backfill(ui, start, end)
    print(f"  Dagster UI      {ui}")
    print(f"  backfill        {backfill} of {start}..{end}: {ui}/overview/backfills")
    receiver_url = _start_receiver(stack, env, _pick_port(receiver_port), logs)
    print(f"  webhooks        {receiver_url}   (signed live payments every {event_interval:g}s; sensor ticks: {ui}/automation)")
    _start_stream(stack, env, receiver_url, event_interval, logs)
    studio_url = _start_studio(stack, env, _pick_port(studio_port), logs)
    print(f"  mapping studio  {studio_url}   (edits {env['PAYSYNC_MAPPING_FILE']}; the next run uses a saved version)")
    if env.get("SAGEPRO_DATA_DIR") and "sagepro" in env.get("PAYSYNC_ERPS", ""):
        sheet = Path(env["PAYSYNC_REPORTS_DIR"]) / end.isoformat() / f"sagepro_keying_{end.isoformat()}.csv"
        print(f"  sage pro keying play the clerk once the backfill is done: paysync sandbox sagepro key --worksheet "
              f"{sheet} --data-dir {env['SAGEPRO_DATA_DIR']}; then materialize sagepro_cash_receipts and "
              f"sagepro_reconciliation_report for {end}")
    from paysync_dagster.demo.o2c import start_interactive

    start_interactive(stack, env, ui, backfill, receiver_url)  # today's eCommerce orders, once the backfill is done
    print("Ctrl-C stops everything.", flush=True)
    stop = {"now": False}

    def _on_signal(_sig, _frame):  # noqa: ANN001
        stop["now"] = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    while not stop["now"]:
        for proc, what, log in ((dagster, "dagster dev", "dagster.log"), (sandbox, "the sandbox", "sandbox.log")):
            if proc.poll() is not None:
                raise DemoError(f"{what} exited with code {proc.returncode}; the demo stopped", f"see {logs / log}")
        time.sleep(0.5)
    print("\nstopping ...", flush=True)
    return 0


def _own_mapping_file(env: dict[str, str], home: Path) -> None:
    """The interactive demo's mapping file: the one configured, else a copy of the packaged sample in
    ``home``, so that what the studio saves never lands in the package or the repository."""
    if env.get("PAYSYNC_MAPPING_FILE"):
        return
    from paysync_dagster.lib.mapping import SAMPLE_MAPPING
    from paysync_dagster.lib.settings import environment_mapping_file

    if environment_mapping_file(env.get("PAYSYNC_ENV") or "dev").is_file():
        return  # the environment has a file of its own: the studio edits that one
    own = home / "mapping.yaml"
    if not own.exists():
        own.parent.mkdir(parents=True, exist_ok=True)
        own.write_bytes(SAMPLE_MAPPING.read_bytes())
    env["PAYSYNC_MAPPING_FILE"] = str(own)


def _start_studio(stack: ExitStack, env: dict[str, str], port: int, logs: Path) -> str:
    studio = stack.enter_context(_process(
        [sys.executable, "-m", "paysync_dagster.cli", "studio", "--host", "127.0.0.1", "--port", str(port)],
        env, logs / "studio.log", "mapping studio",
    ))
    wait_http(f"http://127.0.0.1:{port}/mapping", "the mapping studio", studio, log=logs / "studio.log")
    return f"http://127.0.0.1:{port}/"


def _start_receiver(stack: ExitStack, env: dict[str, str], port: int, logs: Path) -> str:
    import secrets

    # A secret for this demo only; production reads PAYSYNC_WEBHOOK_SECRET from its own environment.
    env.setdefault("PAYSYNC_WEBHOOK_SECRET", secrets.token_hex(24))
    receiver = stack.enter_context(_process(
        [sys.executable, "-m", "paysync_dagster.cli", "webhooks", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env, logs / "receiver.log", "webhook receiver",
    ))
    wait_http(f"http://127.0.0.1:{port}/healthz", "the webhook receiver", receiver, log=logs / "receiver.log")
    return f"http://127.0.0.1:{port}/webhooks/paytrace"


def _start_stream(stack: ExitStack, env: dict[str, str], receiver_url: str, interval: float, logs: Path) -> None:
    import threading

    from paysync_dagster.lib.paytrace.client import PayTraceClient
    from paysync_dagster.webhooks.stream import stream

    stop = threading.Event()
    client = PayTraceClient(env["PAYTRACE_BASE_URL"], env["PAYTRACE_USERNAME"], env["PAYTRACE_PASSWORD"], env["PAYTRACE_INTEGRATOR_ID"])
    log_file = open(logs / "stream.log", "a", buffering=1)  # noqa: SIM115 - closed by the stack

    def say(message: str) -> None:
        log_file.write(f"{datetime.now(timezone.utc).isoformat()} {message}\n")

    worker = threading.Thread(target=stream, args=(client, receiver_url, env["PAYSYNC_WEBHOOK_SECRET"], stop),
                              kwargs={"interval_s": interval, "say": say}, daemon=True, name="demo-webhooks")
    worker.start()

    def _close() -> None:
        stop.set()
        worker.join(timeout=15)
        client.close()
        log_file.close()

    stack.callback(_close)
