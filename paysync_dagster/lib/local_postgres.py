"""A throw-away PostgreSQL server: initdb + pg_ctl in a folder of its own, on a free loopback port.

For ``paysync demo --db postgres`` (the Dagster instance and the warehouse on PostgreSQL, as in
production) and for the tests. Nothing here is for production: durability is switched off
(``fsync=off``) because the data is thrown away when the server stops.

Binaries come from PATH or from the versioned folder Debian's postgresql package uses
(/usr/lib/postgresql/<version>/bin). initdb refuses to run as root, so as root the server runs as the
``postgres`` user (created by the Debian package) or ``nobody``; that user must be able to reach the
server's folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_USER = "paysync"
DEFAULT_PASSWORD = "paysync"  # the tests' fixed role password; the demo passes a fresh one each start
# A Unix socket path is limited to about 107 bytes; a deeper folder serves TCP on loopback only.
_MAX_SOCKET_DIR = 80
INSTALL_HINT = ("Install them with: apt-get update && apt-get install -y postgresql  (.ci/run does this), "
                "or put initdb and pg_ctl on PATH")


class LocalPostgresError(RuntimeError):
    """The server could not be set up or started; the message says why and what to do."""


def free_port() -> int:
    """A port nobody listens on now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL's server binaries are not installed."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def server_user() -> str | None:
    """The OS user the server runs as when this process is root (initdb refuses root), else None."""
    if os.geteuid() != 0:
        return None
    for candidate in ("postgres", "nobody"):
        try:
            pwd.getpwnam(candidate)
            return candidate
        except KeyError:
            continue
    raise LocalPostgresError("running as root, and neither a 'postgres' nor a 'nobody' user exists for the "
                             "server to run as; create one or run as an ordinary user")


@dataclass
class PostgresServer:
    """One server: its binaries, its folder (data, log, password file, socket), its port and role."""

    bin_dir: Path
    root: Path
    port: int
    user: str | None  # OS user the server runs as, when we are root
    role: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server (it holds the role's password)."""
        return f"postgresql+psycopg://{self.role}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _options(self) -> str:
        sockets = str(self.root) if len(str(self.root)) <= _MAX_SOCKET_DIR else "''"
        return (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={sockets} "
                "-c fsync=off -c full_page_writes=off")

    def _check_reachable(self) -> None:
        """As root the server runs as another user, who must be able to enter every folder above its own."""
        if not self.user:
            return
        probe = subprocess.run(["runuser", "-u", self.user, "--", "test", "-x", str(self.root.parent)],
                               capture_output=True, timeout=30)
        if probe.returncode != 0:
            raise LocalPostgresError(f"PostgreSQL runs as the user {self.user}, who cannot reach {self.root.parent}; "
                                     "choose a folder every user may enter (e.g. under /tmp)")

    def start(self, *, timeout: float = 120.0) -> None:
        """initdb a fresh data folder (whatever a previous server left there is stopped and removed
        first) and start the server; returns once it accepts connections."""
        self.stop_leftover()
        self.root.mkdir(parents=True, exist_ok=True)
        self._check_reachable()
        pwfile = self.root / "pw"
        pwfile.write_text(f"{self.password}\n")
        pwfile.chmod(0o600)
        if self.user:
            pw = pwd.getpwnam(self.user)
            for p in (self.root, pwfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data_dir), "-U", self.role, f"--pwfile={pwfile}", "-A", "scram-sha-256",
                      "-E", "UTF8", "--no-sync")
        finally:
            pwfile.unlink(missing_ok=True)
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", self._options(), "-w",
                  "-t", str(int(timeout)), "start")
        self._wait_ready(timeout, "PostgreSQL on port %d" % self.port)

    def _wait_ready(self, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if self.ready():
                    return
            except Exception as exc:  # noqa: BLE001 - refused until the server is up
                last = exc
            time.sleep(0.1)
        raise LocalPostgresError(f"{what} did not accept connections within {timeout:.0f}s"
                                 + (f" (last error: {last})" if last else "") + f"; see {self.log_file}")

    def resume(self, *, timeout: float = 120.0) -> None:
        """Start the server again on the data an earlier :meth:`start` left (stopped with ``remove=False``)."""
        if not (self.data_dir / "PG_VERSION").exists():
            raise LocalPostgresError(f"no PostgreSQL data in {self.data_dir} to start on")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", self._options(), "-w",
                  "-t", str(int(timeout)), "start")
        self._wait_ready(timeout, "PostgreSQL on port %d" % self.port)

    def ready(self) -> bool:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.role, password=self.password,
                             dbname="postgres", connect_timeout=3):
            return True

    def create_database(self, name: str) -> str:
        """A new empty database ``name`` (dropped first if there is one); its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.role, password=self.password,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self, *, timeout: float = 120.0) -> None:
        # With its log file named: a server started without one keeps this process's output pipes open.
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-m", "fast", "-w",
                  "-t", str(int(timeout)), "restart", "-o", self._options())
        self._wait_ready(timeout, "PostgreSQL after restart")

    def running_pid(self) -> int | None:
        """The postmaster's process id while it runs (from its pid file), else None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # it exists, run by another user
        return pid

    def stop_leftover(self) -> None:
        """Stop a server a previous process left running on this folder (killed before it could stop
        it), and remove the folder: each start begins empty."""
        if self.root.exists():
            self._halt()
            shutil.rmtree(self.root, ignore_errors=True)

    def _halt(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        result = self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "60", "stop", check=False)
        pid = self.running_pid()
        if result.returncode != 0 and pid is not None:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def stop(self, *, remove: bool = True) -> None:
        """Stop the server (immediately: nothing in it is kept) and, by default, remove its folder."""
        self._halt()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(root: Path | None = None, *, port: int | None = None, password: str = DEFAULT_PASSWORD,
                   timeout: float = 120.0) -> PostgresServer:
    """A started throw-away server in ``root`` (default: a new temporary folder) on ``port`` (default:
    a free one). Raises :class:`LocalPostgresError` when the binaries are missing or it does not start;
    a server that failed to start is stopped and its folder removed."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise LocalPostgresError(f"PostgreSQL server binaries not found (initdb/pg_ctl on PATH or "
                                 f"/usr/lib/postgresql/*/bin). {INSTALL_HINT}")
    user = server_user()
    if root is None:
        parent = Path(tempfile.mkdtemp(prefix="paysync-pg-"))
        os.chmod(parent, 0o755)
        root = parent / "pg"
    server = PostgresServer(bin_dir=bin_dir, root=Path(root).resolve(), port=port or free_port(), user=user,
                            password=password)
    try:
        server.start(timeout=timeout)
    except LocalPostgresError:
        server.stop()
        raise
    except Exception as exc:
        detail = server.log_file.read_text()[-2000:] if server.log_file.exists() else ""
        stderr = getattr(exc, "stderr", "") or ""
        server.stop()
        raise LocalPostgresError(f"PostgreSQL did not start: {(stderr or detail or exc)!s}".strip()) from None
    except BaseException:  # Ctrl-C while it starts: no server is left behind
        server.stop()
        raise
    return server
