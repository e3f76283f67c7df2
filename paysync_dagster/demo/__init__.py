"""The demo, PaySync end to end on the local sandboxes; ``paysync demo`` runs :func:`run_demo`.

- :mod:`.interactive`: the processes (sandboxes, ``dagster dev``, the webhook receiver, the live
  payments), the demo's environment and :func:`run_demo` itself.
- :mod:`.headless`: the main job once per business date in this process, and the summary for finance.
- :mod:`.o2c`: order to cash, eCommerce orders from sale to applied receipt in each ERP.
- :mod:`paysync_dagster.lib.local_postgres` gives ``--db postgres`` its throw-away PostgreSQL.
"""

from __future__ import annotations

from paysync_dagster.demo.interactive import (DEMO_ERPS, SANDBOX_CREDENTIALS, DemoError, demo_week,
                                              prepare_environment, run_demo)

__all__ = ["DEMO_ERPS", "SANDBOX_CREDENTIALS", "DemoError", "demo_week", "prepare_environment", "run_demo"]
