"""A composed sandbox (PayTrace + Oracle Fusion) on a free loopback port, shared by a test module."""

from collections.abc import Iterator

import pytest

from paysync_dagster.sandbox.server import SandboxApp, ServerThread


@pytest.fixture(scope="module")
def oracle_server() -> Iterator[ServerThread]:
    with ServerThread(SandboxApp()) as server:
        yield server
