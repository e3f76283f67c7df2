"""Helpers for tests that start real processes: free ports, waiting on conditions, clean stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the condition may fail until the thing is up
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc!r})" if last_exc else ""))


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def start_process(args: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None, log_path: str | None = None) -> subprocess.Popen:
    """Start a process in its own process group so that it and its children can be stopped together."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed by the OS at exit
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen, *, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=grace)


def rsa_pem_pair() -> tuple[str, str]:
    """A fresh RSA key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM), for OAuth JWT tests."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def demo_env(home: Path) -> dict[str, str]:
    """The environment a person starts ``paysync demo`` from: none of the developer's PaySync, PayTrace or
    Dagster settings, the demo's home in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PAYTRACE_", "DAGSTER_"))}
    env["PAYSYNC_HOME"] = str(home)
    return env
