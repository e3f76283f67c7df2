"""``paysync sandbox`` (serve the local PayTrace, Oracle Fusion and Sage 300 simulators) and ``paysync sandbox
bank-files`` (the same history's bank statement).

Both take the same history options, so that by default they describe the same history: the
``--days`` days up to yesterday in the merchant's zone (today's live calls land after it). The history
is given either as ``--start-date D --days N`` or with the business-date options every command takes
(``--date``, ``--from``, ``--to``; see :mod:`.options`), never both ways at once.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, NamedTuple

import click

from paysync_dagster.cli.errors import Failure, Group, Refused
from paysync_dagster.cli.options import (DAYS, MAX_DAYS, BusinessDate, DateRange, TimeZone, Whole, date_options,
                                         per_day_option, resolve_dates, seed_option, today_in)
from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8710


class History(NamedTuple):
    seed: int
    start: date
    end: date
    per_day: int
    tz_name: str


def history_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The generated-history options; the command gets them as one ``history``."""

    @functools.wraps(f)
    def run(*args: Any, seed: int, start_date: date | None, days: int, per_day: int, timezone: str,
            day: date | None, start: date | None, end: date | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        old = [f"--start-date {start_date}"] if start_date else []
        old += [f"--days {days}"] if ctx.get_parameter_source("days") is not click.ParameterSource.DEFAULT else []
        new = [f"{name} {value}" for name, value in (("--date", day), ("--from", start), ("--to", end)) if value]
        if old and new:
            raise Refused(f"{' '.join(old)} cannot go with {' '.join(new)}",
                          "give the history as --start-date D --days N, or as --from D --to D")
        dates = resolve_dates(day, start, end, today=lambda: today_in(timezone), max_days=MAX_DAYS)
        if dates is None:
            first = start_date or today_in(timezone) - timedelta(days=days)
            dates = DateRange(first, first + timedelta(days=days - 1))
        return f(*args, history=History(seed, dates.start, dates.end, per_day, timezone), **kwargs)

    options = [
        seed_option,
        click.option("--start-date", type=BusinessDate(), default=None, metavar="YYYY-MM-DD",
                     help="first day of generated history; default: --days days before today"),
        click.option("--days", type=DAYS, default=7, help="days of generated history"),
        per_day_option,
        click.option("--timezone", type=TimeZone(), default=DEFAULT_MERCHANT_TIMEZONE, help="merchant time zone"),
        *date_options(today_is="--timezone", max_days=MAX_DAYS),
    ]
    for option in reversed(options):
        run = option(run)
    return run


class _Faults(click.ParamType):
    """The fault config as JSON, refused in one line that names the first bad key."""

    name = "json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from paysync_dagster.sandbox.faults import FaultConfig, fault_config

        if isinstance(value, FaultConfig):
            return value
        try:
            return fault_config(value)
        except ValueError as exc:
            errors = getattr(exc, "errors", lambda: [])()
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the config'}: {e['msg']}" for e in errors[:2]) \
                or str(exc).splitlines()[0]
            raise Refused(f"--faults {value!r} is not a fault config ({reason})",
                          'give a JSON object such as \'{"error_rate": 0.05}\'', ctx) from None


_HELP = """Serve the local PayTrace, Oracle Fusion and Sage 300 sandboxes on one port, with generated history and
optional faults. The bare URL goes to stdout (for scripts), a summary to stderr; Ctrl-C stops it.

`paysync sandbox bank-files --out DIR` writes the same history's bank statement."""



def refuse_options_before(ctx: click.Context) -> None:
    """A group's own options given before its subcommand would be ignored: refused, saying where they go."""
    given = [max(p.opts, key=len) for p in ctx.command.params
             if ctx.get_parameter_source(p.name) is click.ParameterSource.COMMANDLINE]
    if given:
        raise Refused(f"{', '.join(given)} before {ctx.invoked_subcommand} would be ignored",
                      f"put {'it' if len(given) == 1 else 'them'} after `{ctx.invoked_subcommand}`")

@click.group(cls=Group, invoke_without_command=True, help=_HELP,
             short_help="serve the local PayTrace (and ERP) simulators")
@click.option("--host", default=DEFAULT_HOST, help="address to listen on")
@click.option("--port", type=Whole(0, 65535), default=DEFAULT_PORT,
              help="port to listen on; 0 takes a free one (the URL on stdout says which)")
@history_options
@click.option("--faults", type=_Faults(), default=None, help="fault config as JSON, e.g. '{\"error_rate\": 0.05}'")
@click.option("--card-on-file", is_flag=True,
              help="also seed card-on-file invoices (Oracle ReceiptMethod 'Card on File', Sage PaymentCode CARDFILE) "
                   "of customers with a PayTrace vault profile, one of them with an expired card")
@click.pass_context
def sandbox(ctx: click.Context, host: str, port: int, history: History, faults: Any, card_on_file: bool) -> None:
    if ctx.invoked_subcommand is not None:
        refuse_options_before(ctx)
        return
    from paysync_dagster.sandbox.faults import fault_config
    from paysync_dagster.sandbox.paytrace.state import HistorySpec
    from paysync_dagster.sandbox.server import ServerThread, build_app, run_until_stopped

    from paysync_dagster.cli.progress import run_with_progress

    faults = fault_config(faults)
    spec = HistorySpec(history.seed, history.start, history.end, history.per_day, card_on_file=card_on_file)
    began = time.perf_counter()
    # A long history (many days, thousands a day) takes minutes to generate and seed the ERPs with.
    days = (history.end - history.start).days + 1
    app = run_with_progress(f"generating {days} days of history, {history.per_day} transactions a day, and the "
                            "ERPs' customers and invoices",
                            lambda: build_app(history=spec, faults=faults, tz_name=history.tz_name))
    counts = app.paytrace.counts()
    try:
        server = ServerThread(app, host, port, log_level="warning").start()
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                      "stop what uses that port, or choose another --port (0 takes a free one)") from None
    def ready() -> None:
        # The bare URL on stdout (for scripts to read), the human summary on stderr.
        click.echo(server.url)
        sys.stdout.flush()
        oracle = app.oracle.state.counts()
        sage = app.sage.state.counts()
        sage_users = ", ".join(u for u in sorted(app.sage.state.users) if u != "ADMIN" or app.sage.state.allow_admin)
        click.echo(f"PayTrace and Oracle Fusion sandboxes on {server.url}: history {spec.start_date}..{spec.end_date}, "
                   f"{counts['transactions']} transactions, {counts['batches']} batches; Oracle {oracle['customers']} "
                   f"customers, {oracle['invoices']} open invoices; generated in {time.perf_counter() - began:.1f}s; "
                   f"faults {json.dumps(faults.model_dump(mode='json'))}. Ctrl-C to stop.", err=True)
        click.echo(f"Sage 300 Web API on {server.url}/Sage300WebApi/v1.0/-/{app.sage.state.company} (SAGE300_BASE_URL "
                   f"{server.url}/Sage300WebApi/v1.0/-, user {sage_users}): {sage['customers']} "
                   f"customers, {sage['open_documents']} open invoices.", err=True)

    if not run_until_stopped(server, ready):
        raise Failure("the server stopped unexpectedly", "see the messages above, then start it again")


@sandbox.command("bank-files", short_help="write the history's bank statement (CSV and BAI2)")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder to write the two files to (created if needed)")
@history_options
def bank_files(out: Path, history: History) -> None:
    """Write the bank statement (CSV and BAI2) of the sandbox's generated PayTrace history: one deposit
    and one fee line per settlement batch. The same options give the same history as `paysync sandbox`."""
    from paysync_dagster.sandbox.paytrace.bank import write_bank_files

    try:
        paths = write_bank_files(out, history.seed, history.start, history.end, history.per_day, history.tz_name)
    except OSError as exc:
        raise Failure(f"cannot write to {out}: {exc.strerror or exc}", "give --out a folder you can write to") from None
    for path in paths:
        click.echo(path)


# `paysync sandbox sagepro ...` (imported here, at the end: it takes its options from this module).
from paysync_dagster.cli.sandbox_sagepro import sagepro  # noqa: E402

sandbox.add_command(sagepro)
