"""A throw-away PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, on a free port.

Binaries come from PATH or from the versioned folder Debian's postgresql package uses
(/usr/lib/postgresql/<version>/bin). initdb refuses to run as root, so as root the server runs as the
``postgres`` user (created by the Debian package) or ``nobody``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paysync_dagster_tests.support import free_port, wait_for


def find_pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    user: str | None  # OS user the server runs as, when we are root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://paysync:paysync@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text("paysync\n")
        if self.user:
            pw = pwd.getpwnam(self.user)
            for p in (self.root, pwfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data_dir), "-U", "paysync", f"--pwfile={pwfile}", "-A", "scram-sha-256", "-E", "UTF8", "--no-sync")
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-o", opts, "-w", "-t", "120", "start")
        wait_for(self._ready, timeout=60, what=f"PostgreSQL on port {self.port}")

    def _ready(self) -> bool:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="paysync", password="paysync", dbname="postgres", connect_timeout=3):
            return True

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="paysync", password="paysync", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "120", "restart", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off")
        wait_for(self._ready, timeout=60, what="PostgreSQL after restart")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            result = self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "60", "stop", check=False)
            if result.returncode != 0 and (self.data_dir / "postmaster.pid").exists():
                pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError(
            "PostgreSQL server binaries not found (initdb/pg_ctl on PATH or /usr/lib/postgresql/*/bin). "
            "Install them with: apt-get update && apt-get install -y postgresql  (.ci/run does this)"
        )
    user = None
    if os.geteuid() == 0:
        for candidate in ("postgres", "nobody"):
            try:
                pwd.getpwnam(candidate)
                user = candidate
                break
            except KeyError:
                continue
    root = Path(tempfile.mkdtemp(prefix="paysync-pg-"))
    os.chmod(root, 0o755)
    server = PostgresServer(bin_dir=bin_dir, root=root / "pg", port=free_port(), user=user)
    try:
        server.start()
    except Exception:
        log = server.root / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else ""
        server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {detail}") from None
    return server
