"""``paysync kpis``: the reconciliation KPIs of a business date or a range, as the README defines them."""

from __future__ import annotations

import click

from paysync_dagster.cli.errors import Command
from paysync_dagster.cli.options import DateRange, business_dates


@click.command(cls=Command, short_help="the reconciliation KPIs of a date or a range")
@business_dates(required=True)
def kpis(dates: DateRange) -> None:
    """The reconciliation KPIs of a business date or a range, as the README defines them.

    A range's rates are sums of the dates' numerators over sums of their denominators. Reads the
    warehouse (PAYSYNC_DATABASE_URL, default the local SQLite file); the dates must have a
    reconciliation_report materialization.
    """
    from paysync_dagster.lib.reconciliation.summary import range_summary
    from paysync_dagster.lib.settings import reports_dir
    from paysync_dagster.lib.warehouse.engine import default_database_url

    click.echo(range_summary(default_database_url(), dates.start, dates.end, reports_dir()))
