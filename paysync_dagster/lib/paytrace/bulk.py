"""Bulk work on a day's export: the cyclic garbage collector kept out of it.

A day's export is a hundred thousand records decoded into half a million dicts, then read, written
out and inserted. None of it can form a reference cycle, and all of it is freed by reference
counting, yet every few hundred new dicts wake the cyclic collector, and as the heap grows its full
passes walk every record decoded so far, again and again: a third of the decode's time, and more
of the reading's. ``collector_paused`` stops the automatic passes for the length of such a step.

Pausing alone would only defer the cost: the objects made meanwhile sit in the youngest generation,
and the first pass after walks them all, and the next generation's pass again. So when the last
holder leaves, every tracked object is moved to the oldest generation at once (``gc.freeze`` then
``gc.unfreeze``, two list splices, no walk), where only a full pass, which their number does not
bring on, would look at them; by then they are usually freed. (Skipped when something else keeps
objects frozen: unfreezing would undo that.)

It is process-wide, as the collector is: nested and concurrent uses count, the last one out
restarts it, and only if it was running when the first one came in. Nothing is leaked meanwhile:
reference counting frees as ever, and cycles wait for the next pass of their generation.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_restart = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector's automatic passes paused inside the block, and what the block made
    moved to the oldest generation after it (see the module docstring)."""
    global _holders, _restart
    with _lock:
        if _holders == 0:
            _restart = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _restart:
                if gc.get_freeze_count() == 0:
                    gc.freeze()  # every tracked object to the permanent generation, then
                    gc.unfreeze()  # all of them into the oldest one: no young pass walks them
                gc.enable()
