"""Replaying exceptions: re-run what produced them for their dates, then record what became of each.

Replaying a whole business date for one exception is safe: the posting ledger sends each ERP effect
at most once, so payments already posted cost no ERP call and only the failed ones are tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine

from paysync_dagster.lib.exceptions.audit import entry, record_many
from paysync_dagster.lib.exceptions.queue import (OPEN, QueueError, check_open, checked_actor, checked_ids, rows_by_id,
                                                  state, subject, utc_naive)
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.engine import begin_write

# What to run again for a stage's exception. A normalization exception needs the posting after it
# too: the payment it lets through has not been posted yet. Assets a deployment does not define
# (an ERP it does not use) are left out by the runner.
REPLAY_ASSETS: dict[str, tuple[str, ...]] = {
    # A record that could not be read: pull PayTrace's export for the date again, and carry on.
    "paytrace": ("paytrace_transactions", "normalized_payments", "oracle_cash_receipts", "sage_cash_receipts"),
    "normalize": ("normalized_payments", "oracle_cash_receipts", "sage_cash_receipts"),
    "oracle": ("oracle_cash_receipts",),
    "sage": ("sage_cash_receipts",),
    "reconciliation": ("reconciliation_report",),
    "sage_reconciliation": ("sage_reconciliation_report",),
}

# (business dates, asset names) -> {"run_ids": [...], "success": bool, "assets": what ran, if not all}
RunDates = Callable[[list[date], set[str]], Mapping[str, Any]]


@dataclass
class ReplayResult:
    runs: list[dict[str, Any]] = field(default_factory=list)  # per group: dates, assets, run_ids, success
    rows: list[dict[str, Any]] = field(default_factory=list)  # per exception: id, business_date, stage, before, after

    @property
    def success(self) -> bool:
        return bool(self.runs) and all(r["success"] for r in self.runs)


def replay_plan(rows: Iterable[tuple[date, str]]) -> list[tuple[list[date], frozenset[str]]]:
    """(business date, stage) pairs -> groups of dates that need the same assets run, each date once."""
    per_day: dict[date, set[str]] = {}
    for day, stage in rows:
        if stage not in REPLAY_ASSETS:
            raise QueueError(f"{stage} exceptions cannot be replayed (replayable: {', '.join(REPLAY_ASSETS)})")
        per_day.setdefault(day, set()).update(REPLAY_ASSETS[stage])
    groups: dict[frozenset[str], list[date]] = {}
    for day in sorted(per_day):
        groups.setdefault(frozenset(per_day[day]), []).append(day)
    return [(days, assets) for assets, days in groups.items()]


def replay(engine: Engine, ids: Iterable[int], actor: str, run_dates: RunDates, *,
           now: datetime | None = None) -> ReplayResult:
    """Re-run the stages behind open exceptions, for their dates, through ``run_dates``; then one audit
    entry per exception with its status before and after and the run ids. All ids must name open
    exceptions, or nothing runs."""
    ids, actor = checked_ids(ids), checked_actor(actor)
    with engine.connect() as conn:
        before = rows_by_id(conn, ids)
    check_open(ids, before)
    plan = replay_plan((r["business_date"], r["stage"]) for r in before.values())
    result = ReplayResult()
    try:
        for days, assets in plan:
            outcome = dict(run_dates(list(days), set(assets)))
            result.runs.append({**outcome, "dates": list(days), "assets": sorted(outcome.get("assets") or assets),
                                "run_ids": list(outcome.get("run_ids") or []), "success": bool(outcome.get("success"))})
    finally:
        _record(engine, ids, before, result, actor, utc_naive(now) or utcnow())
    return result


def _record(engine: Engine, ids: Sequence[int], before: Mapping[int, Mapping[str, Any]], result: ReplayResult,
            actor: str, at: datetime) -> None:
    """One entry per exception whose date ran (a runner that raised part-way leaves the rest unrecorded)."""
    notes = {day: run for run in result.runs for day in run["dates"]}
    ran = [i for i in ids if before[i]["business_date"] in notes]
    if not ran:
        return
    with begin_write(engine) as conn:
        after = rows_by_id(conn, ran)
        entries = []
        for i in ran:
            b, a, run = before[i], after.get(i), notes[before[i]["business_date"]]
            now_state = state(a["status"], a["reason_code"], a["reason"]) if a else state("deleted", b["reason_code"], "")
            entries.append(entry(actor, "exception.replayed", subject(i), state(OPEN, b["reason_code"], b["reason"]),
                                 now_state, _note(run), at))
            result.rows.append({"id": i, "business_date": b["business_date"], "stage": b["stage"],
                                "reason_code": b["reason_code"], "before": OPEN, "after": now_state["status"]})
        record_many(conn, entries)


def _note(run: Mapping[str, Any]) -> str:
    runs = ", ".join(run["run_ids"]) or "none started"
    return f"runs {runs} ({'succeeded' if run['success'] else 'failed'}; {', '.join(run['assets'])})"
