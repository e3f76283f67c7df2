"""Real processes for benchmark cases: free loopback ports, one process group per process, logs in the
case's workdir, waits on conditions with deadlines, and a stop that always happens (SIGTERM to the
group, SIGKILL after a grace period), even when the case fails.

    with Processes(ctx.workdir, env=env) as procs:
        sandbox = procs.start("sandbox", [...])
        procs.wait_http("sandbox", f"{url}/v1/ping")
        ...
    # every process group started above is stopped here
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds.

    An exception from ``condition`` counts as "not yet" (the thing may still be coming up), except a
    :class:`ProcessExited`, which ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except ProcessExited:
            raise
        except Exception as exc:  # noqa: BLE001 - the condition may fail until the thing is up
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last_exc!r})" if last_exc else ""))


def start_process(args: list[str], *, env: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None,
                  log_path: str | os.PathLike | None = None) -> subprocess.Popen:
    """Start a process in its own process group (so it and its children stop together), output to ``log_path``."""
    if log_path is None:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                start_new_session=True)
    with open(log_path, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen, *, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it after ``grace`` seconds.

    The group is signalled even when the leader has already exited, so that children it left behind
    (a daemon's run workers, say) are stopped too.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        if _group_gone(proc, grace):
            break
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


def _group_gone(proc: subprocess.Popen, grace: float) -> bool:
    """Wait up to ``grace`` seconds for the leader to exit and the whole group to be empty."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return True
        time.sleep(0.1)
    return False


class ProcessExited(RuntimeError):
    """A process a case depends on went away."""


class Processes:
    """The processes of one case. ``start`` puts each in its own group with its log in ``workdir``;
    leaving the ``with`` block stops every group (SIGTERM, SIGKILL after ``grace``), whatever happened."""

    def __init__(self, workdir: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 grace: float = 15.0):
        self.workdir = Path(workdir)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd or self.workdir
        self.grace = grace
        self.procs: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(self, name: str, args: list[str], *, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        if name in self.procs:
            raise ValueError(f"a process named {name} was started already")
        proc = start_process(args, env=env if env is not None else self.env, cwd=self.cwd, log_path=self.log(name))
        self.procs[name] = proc
        return proc

    def check(self, *names: str) -> None:
        """Raise :class:`ProcessExited` (naming its log) when one of ``names`` (default: all) has exited."""
        for name in names or tuple(self.procs):
            code = self.procs[name].poll()
            if code is not None:
                raise ProcessExited(f"{name} exited with code {code}; see {self.log(name)}")

    def wait_http(self, name: str, url: str, *, timeout: float = 240.0,
                  ok: Callable[[httpx.Response], bool] = lambda r: r.status_code < 500) -> None:
        """Wait until ``url`` answers (``ok``) while process ``name`` is alive."""

        def up() -> bool:
            self.check(name)
            return ok(httpx.get(url, timeout=5.0))

        wait_for(up, timeout=timeout, interval=0.25, what=f"{name} at {url} (log: {self.log(name)})")

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_process(proc, grace=self.grace)

    def stop_all(self) -> None:
        """SIGTERM every group at once (they shut down in parallel), then SIGKILL what is left after the grace."""
        procs, self.procs = list(self.procs.values()), {}
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + self.grace
        for proc in procs:
            _group_gone(proc, max(0.0, deadline - time.monotonic()))
        for proc in procs:
            stop_process(proc, grace=5.0)  # SIGKILL whatever group is still there, then reap
