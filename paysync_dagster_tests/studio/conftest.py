"""One sandbox and one warehouse with real days for every test module of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from paysync_dagster_tests.studio.support import build_warehouse, sandbox


@dataclass(frozen=True)
class World:
    sandbox_url: str
    database_url: str
    root: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("studio")
    database_url = f"sqlite:///{root / 'warehouse.db'}"
    with sandbox() as server:
        build_warehouse(server.url, database_url)
        yield World(server.url, database_url, root)
