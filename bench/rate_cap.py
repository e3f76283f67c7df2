"""A server-side request limit for the posting benchmarks: an ASGI token bucket in front of an ERP
sandbox's API that holds each request until its turn (a throttle that queues instead of answering
429: Retry-After counts whole seconds, which would measure the client's sleeping, not its calls)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


class RateCap:
    """ASGI middleware: at most ``rate`` requests per second on paths starting with ``prefix``; a request
    over the rate waits for its turn (strict pacing, burst 1). Counts what it let through."""

    def __init__(self, app: Any, rate: float, prefix: str = "/fscmRestApi/"):
        self.app, self.interval, self.prefix = app, 1.0 / rate, prefix
        self._next = 0.0
        self._lock: asyncio.Lock | None = None
        self.passed = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                now = time.monotonic()
                wait = self._next - now
                self._next = max(now, self._next) + self.interval
            if wait > 0:
                await asyncio.sleep(wait)
            self.passed += 1
        await self.app(scope, receive, send)
