"""Helpers shared by the webhook tests: envelopes, signed requests, a receiver on a free loopback port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette

from paysync_dagster.lib.warehouse import make_engine
from paysync_dagster.lib.warehouse.tables import paytrace_landing
from paysync_dagster.webhooks.app import server_config
from paysync_dagster.webhooks.signing import HEADER, sign
from paysync_dagster_tests.lib.paytrace.records_fixtures import record
from paysync_dagster_tests.support import free_port, wait_for

SECRET = "whsec-current-0123456789abcdef"
PREVIOUS_SECRET = "whsec-previous-fedcba9876543210"
LA = "America/Los_Angeles"
PATH = "/webhooks/paytrace"
ID_KEY = SECRET.encode()  # the receiver keys masked event ids' digests with its current secret


def envelope(event_id: str = "evt-1", event_type: str = "transaction.approved", *, occurred_at: str = "2015-04-10T16:06:30-07:00", **changes: Any) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": event_type, "occurred_at": occurred_at, "transaction": record(**changes)}


def body_of(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def signed_headers(body: bytes, secret: str | list[str] = SECRET, timestamp: int | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", HEADER: sign(body, secret, timestamp)}


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields the base URL and always stops it."""
    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout=60, what=f"uvicorn on port {port}")
        assert server.started, "uvicorn stopped before it started (see the log)"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        assert not thread.is_alive(), "uvicorn did not stop"


def landing_table(database_url: str) -> list[dict[str, Any]]:
    """Every landing row, every column, oldest first."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(paytrace_landing).order_by(paytrace_landing.c.id))]
    finally:
        engine.dispose()
