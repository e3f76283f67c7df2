"""``paysync sandbox sagepro --out DIR`` (write a local stand-in of a Sage Pro company: Visual FoxPro
tables seeded from the same generated history as ``paysync sandbox``) and ``paysync sandbox sagepro key``
(key a PaySync keying worksheet into it, as a clerk would). The stand-in is never a merchant's Sage Pro."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from paysync_dagster.cli.errors import Failure, Group, Refused
from paysync_dagster.cli.sandbox import History, history_options, refuse_options_before

DEFAULT_COMPANY = "01"


class _Company(click.ParamType):
    """A Sage Pro company id: two digits, 01 to 99 (the ``01`` of ``arcust01``)."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if not re.fullmatch(r"\d\d", text) or text == "00":
            raise Refused(f"--company {text!r} is not a Sage Pro company id", "give two digits, 01 to 99", ctx)
        return text


_company_option = click.option("--company", type=_Company(), default=DEFAULT_COMPANY, metavar="NN",
                               help="Sage Pro company id (the 01 of arcust01.dbf)")

_HELP = """Write a local stand-in of a Sage Pro company to --out: Visual FoxPro tables (ardata/arcust01,
armast01, artran01, arcash01, arymst01, sodata/somast01, sysdata) holding the customers and open invoices
of the same generated history as `paysync sandbox` (same options, same defaults). No CDX indexes.

`paysync sandbox sagepro key --worksheet FILE --data-dir DIR` keys a keying worksheet into it."""


@click.group("sagepro", cls=Group, invoke_without_command=True, help=_HELP,
             short_help="write a local Sage Pro stand-in (VFP tables); key worksheets into it")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder to write the company's tables to (created if needed)")
@history_options
@_company_option
@click.pass_context
def sagepro(ctx: click.Context, out: Path | None, history: History, company: str) -> None:
    if ctx.invoked_subcommand is not None:
        refuse_options_before(ctx)
        return
    if out is None:
        raise Refused("--out is missing", "give --out DIR, the folder to write the stand-in's tables to")
    from paysync_dagster.cli.progress import run_with_progress
    from paysync_dagster.sandbox.sagepro import StandInError, StandInSpec, write_company

    spec = StandInSpec(history.seed, history.start, history.end, history.per_day, history.tz_name)
    days = (history.end - history.start).days + 1
    try:
        written = run_with_progress(
            f"writing Sage Pro company {company}: {days} days of history, {history.per_day} transactions a day",
            lambda: write_company(out, spec, company))
    except StandInError as exc:
        raise Failure(exc.what, exc.fix) from None
    except OSError as exc:
        raise Failure(f"cannot write to {out}: {exc.strerror or exc}", "give --out a folder you can write to") from None
    width = max(len(name) for name in written)
    for name, rows in written.items():
        click.echo(f"{out / name}".ljust(len(str(out)) + 1 + width) + f"  {rows} rows")
    click.echo(f"Sage Pro stand-in company {company} in {out}: history {history.start}..{history.end}, seed "
               f"{history.seed}, {history.per_day} transactions a day; no CDX indexes.", err=True)


@sagepro.command("key", short_help="key a keying worksheet into the stand-in, as a clerk would")
@click.option("--worksheet", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the keying worksheet, CSV or XLSX (batch,customer_number,invoice_number,amount,date,reference)")
@click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="the stand-in's folder (what `paysync sandbox sagepro --out` wrote)")
@_company_option
def key(worksheet: Path, data_dir: Path, company: str) -> None:
    """Key a PaySync keying worksheet into the Sage Pro stand-in, as a clerk would: one ARCASH row a
    line, the invoice's ARMAST paidamt/balance and the customer's ARCUST balance updated. Keying the same
    worksheet again adds nothing. A bad worksheet is refused before anything is written."""
    from paysync_dagster.sandbox.sagepro import StandInError, key_worksheet

    try:
        counts = key_worksheet(data_dir, worksheet, company)
    except StandInError as exc:
        raise Refused(exc.what, exc.fix) from None
    unknown = counts["unknown_invoices"]
    click.echo(f"keyed {counts['keyed']}")
    click.echo(f"skipped_already_keyed {counts['skipped_already_keyed']}")
    click.echo(f"unknown_invoices {len(unknown)}{': ' + ', '.join(unknown) if unknown else ''}")
