"""What the outbound flows' library tests share: a PayTrace client with quick retries, and a pause of the
sandbox's faults while a test plays a person (a clerk, a customer service agent) or reads what happened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.sandbox.faults import FaultConfig
from paysync_dagster.sandbox.paytrace.state import DEFAULT_INTEGRATOR_ID, DEFAULT_PASSWORD, DEFAULT_USERNAME
from paysync_dagster.sandbox.server import ServerThread


def paytrace_client(url: str) -> PayTraceClient:
    return PayTraceClient(url, DEFAULT_USERNAME, DEFAULT_PASSWORD, DEFAULT_INTEGRATOR_ID,
                          retry=RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=0.05))


@contextmanager
def calm(sandbox: ServerThread, faults: dict) -> Iterator[None]:
    """No faults inside the block; ``faults`` again after it."""
    sandbox.app.faults.configure(FaultConfig())
    try:
        yield
    finally:
        sandbox.app.faults.configure(FaultConfig(**faults))
