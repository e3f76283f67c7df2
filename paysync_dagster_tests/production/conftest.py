"""The production topology fixture for every test module of this folder (see support.py)."""

from paysync_dagster_tests.production.support import production_stack  # noqa: F401 - a fixture, offered here
