"""The exception queue: what could not go through, a person's decisions on it, and their audit trail."""

from paysync_dagster.lib.exceptions.queue import (AGE_BUCKETS, CLEARED, OPEN, RESOLVED, STATUSES, QueueError, ids_for,
                                                  open_exceptions, resolve, stage_writer, write_stage_exceptions)
from paysync_dagster.lib.exceptions.replay import REPLAY_ASSETS, ReplayResult, replay, replay_plan

__all__ = ["AGE_BUCKETS", "CLEARED", "OPEN", "REPLAY_ASSETS", "RESOLVED", "STATUSES", "QueueError", "ReplayResult",
           "ids_for", "open_exceptions", "replay", "replay_plan", "resolve", "stage_writer", "write_stage_exceptions"]
