"""The PayTrace API as a Dagster resource."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import dagster as dg
import httpx
from pydantic import Field

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.paytrace.client import PayTraceClient


class PayTraceResource(dg.ConfigurableResource):
    """PayTrace JSON API v1 (``https://api.paytrace.com`` in production).

    Credentials are the merchant's API user; wire them with ``dg.EnvVar`` so they never appear in
    code, logs or the UI. The client caches its OAuth token, re-authenticates once on
    ``invalid_token``, and retries 5xx, 429 and timeouts with backoff that honours ``Retry-After``.
    """

    base_url: str = Field(description="PayTrace API root, without /v1")
    username: str = Field(description="PayTrace API user")
    password: str = Field(description="PayTrace API password")
    integrator_id: str = Field(description="integrator id issued by PayTrace for PaySync")
    connect_timeout_s: float = Field(default=5.0, description="seconds to open a connection")
    read_timeout_s: float = Field(default=60.0, description="seconds to wait for an answer; a day's export can be large")
    max_attempts: int = Field(default=6, description="attempts per request before giving up")
    base_delay_s: float = Field(default=0.5, description="first wait between attempts; doubles each time")
    max_delay_s: float = Field(default=30.0, description="longest wait between attempts")

    @contextmanager
    def client(self) -> Iterator[PayTraceClient]:
        timeout = httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s)
        retry = RetryPolicy(max_attempts=self.max_attempts, base_delay_s=self.base_delay_s, max_delay_s=self.max_delay_s)
        with PayTraceClient(
            base_url=self.base_url,
            username=self.username,
            password=self.password,
            integrator_id=self.integrator_id,
            timeout=timeout,
            retry=retry,
        ) as client:
            yield client
