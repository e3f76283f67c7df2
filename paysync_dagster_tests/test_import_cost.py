"""Loading the code location imports only what the posting path needs.

``dagster dev``'s code server and every run worker (``dagster api execute_run``) import
``paysync_dagster.definitions`` and call ``defs()`` before the first step, so whatever those import
is paid at the start of every run. Heavy modules used by one asset (scikit-learn for the anomalies,
openpyxl for the XLSX report, cryptography for Oracle OAuth) load where they are used, and the
sandboxes and the webhook server's stack are never part of the code location. Checked in a fresh
interpreter through ``sys.modules``, without timing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Modules (and their submodules) that loading the code location must not import.
NOT_AT_LOAD = (
    "sklearn",  # IsolationForest: imported inside model_outliers
    "scipy",  # arrives with scikit-learn
    "openpyxl",  # the XLSX report: pandas loads it when the report is written
    "cryptography",  # the Oracle OAuth JWT: imported when a key is loaded or a token signed
    "uvicorn",  # the webhook receiver and the sandboxes serve with it, the code location does not
    "starlette",
    "paysync_dagster.sandbox",  # the local simulators: never part of the code location
)

# Loaded by the same defs() call, so the check above is not vacuous.
LOADED = ("paysync_dagster.defs.reconciliation.anomalies", "paysync_dagster.lib.reconciliation.anomalies",
          "paysync_dagster.lib.reconciliation.files", "paysync_dagster.lib.oracle.auth")

_PROBE = """
import json, sys
import paysync_dagster.definitions as d
d.defs()
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after_loading_definitions() -> set[str]:
    # Without the developer's settings (OAuth configured or not, nothing is resolved at load).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYSYNC_", "PAYTRACE_", "ORACLE_FUSION_", "SAGE300_"))}
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_loading_the_code_location_imports_no_heavy_module_the_posting_path_does_not_need() -> None:
    modules = _modules_after_loading_definitions()
    assert set(LOADED) <= modules, sorted(set(LOADED) - modules)
    found = [name for name in NOT_AT_LOAD if any(m == name or m.startswith(name + ".") for m in modules)]
    assert not found, f"imported when the code location loads: {found}"
