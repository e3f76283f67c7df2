"""``paysync exceptions``: read the exception queue, resolve exceptions with a note, replay them.

The warehouse is ``PAYSYNC_DATABASE_URL`` (default: the local SQLite file). The actor written to the
audit log is ``--actor``, else ``PAYSYNC_ACTOR``, else the OS user name.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, NoReturn

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from paysync_dagster.lib.exceptions.queue import STATUSES, QueueError, ids_for, open_exceptions, resolve
from paysync_dagster.lib.exceptions.replay import REPLAY_ASSETS, RunDates, replay
from paysync_dagster.lib.money import format_amount, to_wire
from paysync_dagster.lib.warehouse.engine import default_database_url, make_engine, migrate, paysync_home

STAGES = tuple(REPLAY_ASSETS)
ACTION_WIDTH = 72

REPLAY_HELP = """Re-run what produced the exceptions, for their business dates, on the Dagster instance
(DAGSTER_HOME), so the runs show in the UI: oracle/sage exceptions re-run that ERP's posting;
normalize exceptions re-run normalization and the posting after it; reconciliation exceptions the
reconciliation report. An exception whose cause is gone becomes "cleared".

Replaying a whole date for one exception is safe: the posting ledger guarantees nothing is posted
twice, and payments already posted cost no ERP call."""


class UsageError(Exception):
    """Bad arguments: reported on one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def default_actor() -> str:
    try:
        return os.environ.get("PAYSYNC_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paysync exceptions", description="The exception queue: what could not go through, and why.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="the exceptions, with amount, age and the next step",
                        description="The exceptions, oldest business date first, with a total by currency.")
    when = ls.add_mutually_exclusive_group()
    when.add_argument("--date", type=_date, help="one business date (YYYY-MM-DD)")
    when.add_argument("--from", dest="start", type=_date, help="first business date")
    ls.add_argument("--to", dest="end", type=_date, help="last business date")
    ls.add_argument("--stage", choices=STAGES)
    ls.add_argument("--reason", help="a reason code, e.g. erp_unreachable")
    ls.add_argument("--status", choices=(*STATUSES, "all"), default="open")
    ls.add_argument("--format", choices=("table", "csv", "json"), default="table")
    ls.set_defaults(run=_list)

    res = sub.add_parser("resolve", help="close open exceptions with a note (all or none)",
                         description="Close open exceptions that need nothing more, with a note saying why.")
    res.add_argument("ids", nargs="+", type=int, metavar="ID", help="exception ids, as `list` shows them")
    res.add_argument("--note", default="", help="why nothing more is needed (required)")
    res.add_argument("--actor", default=None, help="who decides (default: $PAYSYNC_ACTOR, else the OS user)")
    res.set_defaults(run=_resolve)

    rep = sub.add_parser("replay", help="re-run the posting behind exceptions (nothing is posted twice)",
                         description=REPLAY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("ids", nargs="*", type=int, metavar="ID", help="exception ids, as `list` shows them")
    rep.add_argument("--date", type=_date, help="with --stage: every open exception of that stage on that date")
    rep.add_argument("--stage", choices=STAGES)
    rep.add_argument("--actor", default=None, help="who replays (default: $PAYSYNC_ACTOR, else the OS user)")
    rep.set_defaults(run=_replay)
    return parser


def main(argv: Sequence[str] | None = None, *, runner: Callable[[str], RunDates] | None = None) -> int:
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        engine = make_engine(default_database_url())
        try:
            migrate(engine)
            return args.run(engine, args, runner or dagster_runner)
        finally:
            engine.dispose()
    except (UsageError, QueueError) as exc:
        print(f"paysync exceptions: {exc}", file=sys.stderr)
        return 1
    except (OperationalError, ArgumentError) as exc:
        print(f"paysync exceptions: the warehouse cannot be read: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1


# -- list ---------------------------------------------------------------------------------------------


def _list(engine: Engine, args: argparse.Namespace, _runner: object) -> int:
    if args.date and args.end:
        raise UsageError("--to goes with --from, not with --date")
    start, end = (args.date, args.date) if args.date else (args.start, args.end)
    df = open_exceptions(engine, start=start, end=end, stage=args.stage, reason_code=args.reason, status=args.status)
    totals = {str(c): int(s) for c, s in df.groupby("currency")["amount_minor"].sum().items()} if len(df) else {}
    if args.format == "json":
        print(json.dumps({"exceptions": [_json_row(r) for r in df.to_dict("records")],
                          "total": {"count": len(df), "amount_minor_by_currency": totals}}, indent=2))
    elif args.format == "csv":
        out = df.drop(columns=["details"]).assign(amount=[to_wire(int(a), c) for a, c in zip(df["amount_minor"], df["currency"])])
        out.to_csv(sys.stdout, index=False)
    else:
        print(_table(df, show_status=args.status != "open"))
        what = "exception" if len(df) == 1 else "exceptions"
        status = "" if args.status == "all" else f"{args.status} "
        amounts = ", ".join(format_amount(s, c) for c, s in sorted(totals.items())) or "nothing"
        print(f"{len(df)} {status}{what}; total {amounts}")
    return 0


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
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


# -- resolve, replay ----------------------------------------------------------------------------------


def _resolve(engine: Engine, args: argparse.Namespace, _runner: object) -> int:
    actor = args.actor or default_actor()
    done = resolve(engine, args.ids, args.note, actor)
    print(f"resolved {len(done)} exception{'s' if len(done) != 1 else ''} by {actor}: {', '.join(map(str, done))}")
    return 0


def _replay(engine: Engine, args: argparse.Namespace, runner: Callable[[str], RunDates]) -> int:
    if args.ids and (args.date or args.stage):
        raise UsageError("name exception ids, or --date with --stage, not both")
    if not args.ids and not (args.date and args.stage):
        raise UsageError("name exception ids, or --date with --stage")
    actor = args.actor or default_actor()
    ids = args.ids or ids_for(engine, args.date, args.stage)
    result = replay(engine, ids, actor, runner(actor))
    for run in result.runs:
        days = ", ".join(str(d) for d in run["dates"])
        print(f"ran {', '.join(run['assets'])} for {days}: run{'s' if len(run['run_ids']) != 1 else ''} "
              f"{', '.join(run['run_ids'])} {'succeeded' if run['success'] else 'FAILED'}")
    for row in result.rows:
        print(f"  {row['id']}  {row['business_date']}  {row['stage']}  {row['reason_code']}: {row['before']} -> {row['after']}")
    if not result.success:
        failed = [i for run in result.runs if not run["success"] for i in run["run_ids"]]
        print(f"paysync exceptions: a replay run failed ({', '.join(failed) or 'none started'}); "
              "see it in the Dagster UI", file=sys.stderr)
        return 1
    return 0


def dagster_runner(actor: str) -> RunDates:
    """Runs the assets for each date in this process on the Dagster instance (``DAGSTER_HOME``, by
    default PaySync's local one), so the runs show in the UI with who asked for them."""

    def run_dates(days: list[date], assets: set[str]) -> dict[str, Any]:
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
