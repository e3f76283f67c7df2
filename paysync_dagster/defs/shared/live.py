"""Near-real-time runs: how a run says it was started by new landing rows, and what that changes.

The landing sensor tags its runs ``paysync/trigger=landing``. In such a run each stage builds only the
transactions that moved on since it last built the date (``lib/warehouse/progress.py``); every other
run (a backfill, the nightly run, a replay) rebuilds the whole date, as it always has.
"""

from __future__ import annotations

import dagster as dg

TRIGGER_TAG = "paysync/trigger"
LANDING = "landing"


def is_live(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(TRIGGER_TAG) == LANDING
