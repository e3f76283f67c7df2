"""``paysync demo``: PaySync end to end on the local sandboxes, on SQLite or a throw-away PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import click

from paysync_dagster.cli.errors import Command, Failure
from paysync_dagster.cli.options import DAYS, PORT, Seconds, per_day_option, seed_option
from paysync_dagster.cli.sandbox import DEFAULT_PORT as SANDBOX_PORT
from paysync_dagster.cli.studio import DEFAULT_PORT as STUDIO_PORT
from paysync_dagster.cli.webhooks import DEFAULT_PORT as RECEIVER_PORT


@click.command(cls=Command, short_help="run PaySync end to end on the sandboxes (SQLite, or --db postgres)")
@click.option("--headless", is_flag=True, help="run the main job over the demo week, print a summary, exit")
@click.option("--days", type=DAYS, default=7, help="business dates in the demo week (the days before today)")
@per_day_option
@seed_option
@click.option("--ui-port", type=PORT, default=3000, help="port of the Dagster UI")
@click.option("--sandbox-port", type=PORT, default=SANDBOX_PORT, help="port of the sandboxes (a free one if taken)")
@click.option("--receiver-port", type=PORT, default=RECEIVER_PORT,
              help="port of the webhook receiver (a free one if taken)")
@click.option("--studio-port", type=PORT, default=STUDIO_PORT,
              help="port of the mapping studio (interactive only; a free one if taken)")
@click.option("--event-interval", type=Seconds(), default=3.0, help="seconds between live demo payments")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where the demo keeps its state  [default: $PAYSYNC_HOME, else .paysync in the repository]")
@click.option("--db", type=click.Choice(["sqlite", "postgres"]), default="sqlite",
              help="sqlite: the embedded default; postgres: a throw-away PostgreSQL (initdb/pg_ctl) under --home "
                   "for the Dagster instance and the warehouse, stopped at the end")
def demo(**options: object) -> int:
    """PaySync end to end on the local sandboxes, on the embedded default (SQLite) or, with --db postgres,
    on a throw-away PostgreSQL holding the Dagster instance and the warehouse, as in production.

    Interactive: starts the sandboxes, `dagster dev` (UI on http://127.0.0.1:3000), the webhook
    receiver and the mapping studio (http://127.0.0.1:8730, editing the demo's own copy of the mapping
    file), backfills the demo week, prints the URLs, and stops every process it started on Ctrl-C.

    Headless (--headless): starts the sandboxes, runs the main job once per business date of the demo
    week, prints a summary a finance user can read, and exits 0 when every run succeeded.
    """
    from paysync_dagster.demo import DemoError, run_demo

    try:
        return run_demo(**options)  # type: ignore[arg-type]
    except DemoError as exc:
        raise Failure(str(exc), exc.fix, exit_code=exc.exit_code) from None
