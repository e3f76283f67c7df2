"""The ``paysync`` command (click): one module per command group, shared option types and the
business-date rules in :mod:`.options`, one-line errors in :mod:`.errors`.

Importing this package imports click and the standard library only; each command imports what it
works with (pandas, SQLAlchemy, Dagster, uvicorn, httpx) when it runs, so ``paysync --help`` is quick.
"""

from __future__ import annotations

import click

from paysync_dagster.cli.db import db
from paysync_dagster.cli.demo import demo
from paysync_dagster.cli.doctor import doctor
from paysync_dagster.cli.erp import erp
from paysync_dagster.cli.errors import Root
from paysync_dagster.cli.exceptions import exceptions
from paysync_dagster.cli.kpis import kpis
from paysync_dagster.cli.mapping import load_environment_or_fail, mapping
from paysync_dagster.cli.sandbox import sandbox
from paysync_dagster.cli.studio import studio
from paysync_dagster.cli.webhooks import webhooks

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


@click.group(cls=Root, name="paysync", context_settings=CONTEXT)
def main() -> None:
    """PayTrace payments into your ERP, reconciled to the cent.

    Errors are one line on stderr; exit code 2 means the command line needs fixing, 1 that the work
    failed. Set PAYSYNC_DEBUG=1 to see the traceback of an unexpected error. PAYSYNC_ENV (dev, qa,
    prod) picks the env file read before any command, without overriding what is already set.
    """
    load_environment_or_fail()


for command in (exceptions, kpis, webhooks, sandbox, demo, db, mapping, doctor, erp, studio):
    main.add_command(command)

__all__ = ["main"]
