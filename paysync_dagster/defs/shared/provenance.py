"""The environment and the mapping version in force, on every materialization and on the code location.

Finance reads a number against the rules that made it: each materialization carries which environment
(Dev, QA, Prod) built it and which mapping version, with the file's hash so an edit made without a
new version number still shows. Both are read when asked (at materialization), never at import.
"""

from __future__ import annotations

from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.lib.mapping import version_label
from paysync_dagster.lib.settings import environment

ENVIRONMENT_KEY = "paysync/environment"
MAPPING_VERSION_KEY = "paysync/mapping_version"


def provenance() -> dict[str, str]:
    """``paysync/environment`` and ``paysync/mapping_version`` (``<version> (sha256 <12 hex>)``)."""
    return {ENVIRONMENT_KEY: environment(), MAPPING_VERSION_KEY: version_label(MAPPING)}
