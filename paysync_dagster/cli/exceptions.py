"""``paysync exceptions list | resolve | replay``: read the exception queue, resolve exceptions with a
note, replay them.

The warehouse is ``PAYSYNC_DATABASE_URL`` (default: the local SQLite file). The actor written to the
audit log is ``--actor``, else ``PAYSYNC_ACTOR``, else the OS user name. ``replay`` runs Dagster
through :func:`dagster_runner`; tests give another runner as ``obj={RUNNER: factory}`` to the
command's context (``CliRunner().invoke(main, [...], obj=...)``).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from paysync_dagster.cli.errors import Failure, Group, Refused
from paysync_dagster.cli.options import EXCEPTION_ID, IDS, MAX_DAYS, DateRange, LazyChoice, business_dates

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from paysync_dagster.lib.exceptions.replay import RunDates

ACTION_WIDTH = 72
RUNNER = "replay_runner"  # the key of an injected runner factory in the context's obj


def _stages() -> tuple[str, ...]:
    from paysync_dagster.lib.exceptions.replay import REPLAY_ASSETS

    return tuple(REPLAY_ASSETS)


def _statuses() -> tuple[str, ...]:
    from paysync_dagster.lib.exceptions.queue import STATUSES

    return (*STATUSES, "all")


STAGE = LazyChoice(_stages)


def default_actor() -> str:
    try:
        return os.environ.get("PAYSYNC_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "unknown"


@contextmanager
def _warehouse() -> Iterator[Engine]:
    from paysync_dagster.lib.warehouse.engine import default_database_url, make_engine, migrate

    engine = make_engine(default_database_url())
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@click.group(cls=Group, short_help="the exception queue: list, resolve, replay")
def exceptions() -> None:
    """The exception queue: what could not go through, and why."""


# -- list ---------------------------------------------------------------------------------------------


@exceptions.command("list", short_help="the exceptions, with amount, age and the next step")
@business_dates(required=False)
@click.option("--stage", type=STAGE, help="one stage's exceptions")
@click.option("--reason", help="a reason code, e.g. erp_unreachable")
@click.option("--status", type=LazyChoice(_statuses), default="open", help="exceptions in this status")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", help="output format")
def list_(dates: DateRange | None, stage: str | None, reason: str | None, status: str, fmt: str) -> None:
    """The exceptions, oldest business date first, with a total by currency. Without a date option,
    every date."""
    from paysync_dagster.lib.exceptions.queue import open_exceptions
    from paysync_dagster.lib.money import format_amount, to_wire

    start, end = (dates.start, dates.end) if dates else (None, None)
    with _warehouse() as engine:
        df = open_exceptions(engine, start=start, end=end, stage=stage, reason_code=reason, status=status)
    totals = {str(c): int(s) for c, s in df.groupby("currency")["amount_minor"].sum().items()} if len(df) else {}
    if fmt == "json":
        click.echo(json.dumps({"exceptions": [_json_row(r) for r in df.to_dict("records")],
                               "total": {"count": len(df), "amount_minor_by_currency": totals}}, indent=2))
    elif fmt == "csv":
        out = df.drop(columns=["details"]).assign(amount=[to_wire(int(a), c) for a, c in zip(df["amount_minor"], df["currency"])])
        out.to_csv(sys.stdout, index=False)
    else:
        click.echo(_table(df, show_status=status != "open"))
        what = "exception" if len(df) == 1 else "exceptions"
        shown = "" if status == "all" else f"{status} "
        amounts = ", ".join(format_amount(s, c) for c, s in sorted(totals.items())) or "nothing"
        click.echo(f"{len(df)} {shown}{what}; total {amounts}")


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    from paysync_dagster.lib.money import format_amount

    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    out["id"], out["transaction_id"] = int(row["id"]), int(row["transaction_id"])
    out["amount_minor"], out["age_days"], out["age_hours"] = (int(row["amount_minor"]), int(row["age_days"]),
                                                              int(row["age_hours"]))
    out["amount"] = format_amount(int(row["amount_minor"]), row["currency"])
    try:
        out["details"] = json.loads(row["details"])
    except (TypeError, ValueError):
        pass
    return out


def _table(df: pd.DataFrame, *, show_status: bool) -> str:
    from paysync_dagster.lib.money import format_amount

    heads = ["id", "date", "transaction", "stage", "reason", "amount", "age", "bucket"] + \
            (["status"] if show_status else []) + ["suggested action"]
    rows = []
    for r in df.to_dict("records"):
        action = str(r["suggested_action"])
        rows.append([str(r["id"]), str(r["business_date"]), str(r["transaction_id"]), r["stage"], r["reason_code"],
                     format_amount(int(r["amount_minor"]), r["currency"]), r["age"], r["age_bucket"]]
                    + ([r["status"]] if show_status else [])
                    + [action if len(action) <= ACTION_WIDTH else action[:ACTION_WIDTH - 1] + "…"])
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(heads)]
    right = {"id", "transaction", "amount"}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if h in right else c.ljust(w) for h, c, w in zip(heads, cells, widths)).rstrip()

    return "\n".join([line(heads), line(["-" * w for w in widths])] + [line(r) for r in rows])


# -- resolve ------------------------------------------------------------------------------------------

_ACTOR = "(default: $PAYSYNC_ACTOR, else the OS user)"


@exceptions.command(context_settings=IDS, short_help="close open exceptions with a note (all or none)")
@click.argument("ids", nargs=-1, type=EXCEPTION_ID, metavar="ID...")
@click.option("--note", default="", show_default=False, help="why nothing more is needed (required)")
@click.option("--actor", default=None, help=f"who decides {_ACTOR}")
def resolve(ids: tuple[int, ...], note: str, actor: str | None) -> None:
    """Close open exceptions that need nothing more, with a note saying why. Either every named
    exception is resolved, or none is.

    ID: exception ids, as `paysync exceptions list` shows them.
    """
    from paysync_dagster.lib.exceptions.queue import resolve as resolve_ids

    if not ids:
        raise Refused("no exception id given", "name the ids to resolve, as `paysync exceptions list` shows them")
    actor = actor or default_actor()
    with _warehouse() as engine:
        done = resolve_ids(engine, list(ids), note, actor)
    click.echo(f"resolved {len(done)} exception{'s' if len(done) != 1 else ''} by {actor}: {', '.join(map(str, done))}")


# -- replay -------------------------------------------------------------------------------------------

_WHICH = "name exception ids, or --date D (or --from D --to D) with --stage S"


@exceptions.command(context_settings=IDS, short_help="re-run the posting behind exceptions (nothing is posted twice)")
@click.argument("ids", nargs=-1, type=EXCEPTION_ID, metavar="[ID]...")
@business_dates(required=False, max_days=MAX_DAYS)
@click.option("--stage", type=STAGE, help="with a date: every open exception of that stage on those dates")
@click.option("--actor", default=None, help=f"who replays {_ACTOR}")
@click.pass_context
def replay(ctx: click.Context, ids: tuple[int, ...], dates: DateRange | None, stage: str | None,
           actor: str | None) -> None:
    """Re-run what produced the exceptions, for their business dates, on the Dagster instance
    (DAGSTER_HOME), so the runs show in the UI: oracle/sage exceptions re-run that ERP's posting;
    normalize exceptions re-run normalization and the posting after it; reconciliation exceptions the
    reconciliation report. An exception whose cause is gone becomes "cleared".

    Replaying a whole date for one exception is safe: the posting ledger guarantees nothing is posted
    twice, and payments already posted cost no ERP call.

    ID: exception ids, as `paysync exceptions list` shows them; or, instead of ids, a date option with
    --stage.
    """
    from paysync_dagster.lib.exceptions.replay import replay as replay_ids

    if ids and (dates or stage):
        raise Refused("exception ids cannot go with a date option or --stage", _WHICH)
    if not ids:
        if dates is None and stage is None:
            raise Refused("nothing to replay", _WHICH)
        if dates is None:
            raise Refused(f"--stage {stage} needs business dates", "give --date D, or --from D --to D")
        if stage is None:
            raise Refused("a date option needs --stage", f"give --stage S, one of {', '.join(STAGE.choices)}")
    actor = actor or default_actor()
    injected = ctx.obj.get(RUNNER) if isinstance(ctx.obj, dict) else None
    runner: Callable[[str], RunDates] = injected or dagster_runner
    with _warehouse() as engine:
        chosen = list(ids) or _ids_of(engine, dates, stage)
        result = replay_ids(engine, chosen, actor, runner(actor))
    for run in result.runs:
        days = ", ".join(str(d) for d in run["dates"])
        click.echo(f"ran {', '.join(run['assets'])} for {days}: run{'s' if len(run['run_ids']) != 1 else ''} "
                   f"{', '.join(run['run_ids'])} {'succeeded' if run['success'] else 'FAILED'}")
    for row in result.rows:
        click.echo(f"  {row['id']}  {row['business_date']}  {row['stage']}  {row['reason_code']}: "
                   f"{row['before']} -> {row['after']}")
    if not result.success:
        failed = [i for run in result.runs if not run["success"] for i in run["run_ids"]]
        raise Failure(f"a replay run failed ({', '.join(failed) or 'none started'})", "see it in the Dagster UI")


def _ids_of(engine: Engine, dates: DateRange, stage: str) -> list[int]:
    from paysync_dagster.lib.exceptions.queue import QueueError, ids_for, open_exceptions

    if dates.start == dates.end:
        return ids_for(engine, dates.start, stage)
    ids = open_exceptions(engine, start=dates.start, end=dates.end, stage=stage)["id"].astype(int).tolist()
    if not ids:
        raise QueueError(f"no open {stage} exceptions from {dates.start} to {dates.end}")
    return ids


def dagster_runner(actor: str) -> RunDates:
    """Runs the assets for each date in this process on the Dagster instance (``DAGSTER_HOME``, by
    default PaySync's local one), so the runs show in the UI with who asked for them."""

    def run_dates(days: list[date], assets: set[str]) -> dict[str, Any]:
        from paysync_dagster.lib.exceptions.queue import QueueError
        from paysync_dagster.lib.warehouse.engine import paysync_home

        os.environ.setdefault("DAGSTER_HOME", str(paysync_home() / "dagster_home"))
        os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
        import dagster as dg

        from paysync_dagster.definitions import defs

        definitions = defs()
        known = {k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()}
        selected = sorted(assets & known)
        if not selected:
            raise QueueError(f"none of {', '.join(sorted(assets))} is defined in this deployment; nothing to replay")
        job = definitions.resolve_implicit_global_asset_job_def()
        run_ids: list[str] = []
        failed_checks: list[str] = []
        success = True
        with dg.DagsterInstance.get() as instance:
            for day in days:
                result = job.execute_in_process(
                    partition_key=day.isoformat(), instance=instance, raise_on_error=False,
                    asset_selection=[dg.AssetKey(a) for a in selected],
                    tags={"paysync/replay": "exceptions", "paysync/actor": actor},
                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                )
                run_ids.append(result.run_id)
                failed_checks += [f"{day}:{c.asset_key.to_user_string()}:{c.check_name}"
                                  for c in result.get_asset_check_evaluations() if not c.passed]
                success = success and result.success
        return {"run_ids": run_ids, "success": success and not failed_checks, "failed_checks": failed_checks,
                "assets": selected}

    return run_dates
