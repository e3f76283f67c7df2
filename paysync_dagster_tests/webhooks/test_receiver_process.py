"""The receiver as a real process: an acknowledged event survives SIGKILL, and redelivery completes the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster_tests.support import free_port, start_process, stop_process, wait_for
from paysync_dagster_tests.webhooks import LA, PATH, SECRET, body_of, envelope, landing_table, signed_headers

REPO = Path(__file__).resolve().parents[2]
EVENTS = 5_000
KILL_AFTER = 2_000
CLIENTS = 8


class Receiver:
    def __init__(self, database_url: str, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PAYSYNC_WEBHOOK_SECRET": SECRET, "PAYSYNC_MERCHANT_TIMEZONE": LA}
        self.proc: subprocess.Popen = start_process(
            [sys.executable, "-m", "paysync_dagster.cli", "webhooks", "serve", "--port", str(self.port), "--database-url", database_url],
            env=env, cwd=str(REPO), log_path=str(log_path),
        )
        wait_for(self._healthy, timeout=90, what=f"the receiver on port {self.port} (log: {log_path})")

    def _healthy(self) -> bool:
        assert self.proc.poll() is None, "the receiver exited"
        return httpx.get(self.url + "/healthz", timeout=5).status_code == 200


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        stop_process(receiver.proc)


def _deliver(url: str, events: list[tuple[str, bytes]], acked: set[str], lock: threading.Lock, stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as client:
        for event_id, body in events:
            if stop.is_set():
                return
            try:
                answer = client.post(url + PATH, content=body, headers=signed_headers(body))
            except httpx.HTTPError:
                continue  # no answer, no acknowledgement: the sender would retry later
            if answer.is_success:
                with lock:
                    acked.add(event_id)


def _send_concurrently(url: str, events: list[tuple[str, bytes]], acked: set[str], stop: threading.Event) -> list[threading.Thread]:
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_deliver, args=(url, events[i::CLIENTS], acked, lock, stop), daemon=True)
        for i in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    return threads


@pytest.mark.slow
def test_every_acknowledged_event_survives_sigkill_and_redelivery_completes(tmp_path: Path, receivers: list[Receiver]) -> None:
    database_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    events = [(f"evt-{i:05d}", body_of(envelope(f"evt-{i:05d}", transaction_id=100_000 + i))) for i in range(EVENTS)]
    first = Receiver(database_url, tmp_path / "receiver-1.log")
    receivers.append(first)

    acked: set[str] = set()
    stop = threading.Event()
    threads = _send_concurrently(first.url, events, acked, stop)
    wait_for(lambda: len(acked) >= KILL_AFTER, timeout=90, interval=0.005, what=f"{KILL_AFTER} acknowledgements")
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    finally:
        engine.dispose()
    landed = {r["event_id"] for r in landing_table(database_url)}
    acknowledged = set(acked)
    assert len(acknowledged) >= KILL_AFTER
    assert acknowledged <= landed, f"{len(acknowledged - landed)} acknowledged events were lost"
    assert landed <= {e for e, _ in events} and len(landed) < EVENTS  # killed part-way

    # The sender redelivers everything it got no 2xx for; some of those had landed before the kill.
    second = Receiver(database_url, tmp_path / "receiver-2.log")
    receivers.append(second)
    retry = [(e, b) for e, b in events if e not in acknowledged]
    threads = _send_concurrently(second.url, retry, acked, threading.Event())
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    assert len(acked) == EVENTS
    rows = landing_table(database_url)
    assert sorted(r["event_id"] for r in rows) == [e for e, _ in events]
