"""``paysync mapping promote | history``: moving a mapping version from QA to Prod, audited.

Each environment has its mapping file (``deploy/mappings/<env>.yaml``, under ``PAYSYNC_DEPLOY_DIR``
when set). Finance edits QA's; ``promote`` validates it, copies it over Prod's and writes who, when,
the version and the file's sha256 to the warehouse's append-only ``mapping_promotions`` table.
``history`` lists those rows. The warehouse is ``--database-url``, else ``PAYSYNC_DATABASE_URL``, else
the local SQLite file. Also here: reading the env file of ``PAYSYNC_ENV`` when the command starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from paysync_dagster.cli.errors import Failure, Group, Refused

if TYPE_CHECKING:
    from sqlalchemy import Engine

ENVIRONMENT_CHOICE = click.Choice(["dev", "qa", "prod"], case_sensitive=False)


def load_environment_or_fail() -> None:
    """Read the env file of ``PAYSYNC_ENV`` (variables already set win); a bad environment is one line."""
    from paysync_dagster.lib.settings import SettingsError, load_environment

    try:
        load_environment()
    except SettingsError as exc:
        raise Failure(str(exc)) from None
    except OSError as exc:
        raise Failure(f"{exc.filename}: {exc.strerror}", "check the env file's path and permissions") from None


def _url_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--database-url", default=None,
                        help="SQLAlchemy URL of the warehouse holding the audit (default: PAYSYNC_DATABASE_URL or the local SQLite file)")(f)


@contextmanager
def _warehouse(database_url: str | None) -> Iterator[Engine]:
    from paysync_dagster.lib.warehouse.engine import default_database_url, ensure_schema, make_engine

    engine = make_engine(database_url or default_database_url())
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()


@click.group(cls=Group, short_help="mapping files per environment: promote QA to Prod, the audit")
def mapping() -> None:
    """The mapping file of each environment (deploy/mappings/<env>.yaml): promote one to the next
    environment, and the audit of promotions."""


@mapping.command(short_help="validate QA's mapping file and copy it to Prod, with an audit row")
@click.option("--from", "from_env", type=ENVIRONMENT_CHOICE, default="qa", help="the environment whose file is promoted")
@click.option("--to", "to_env", type=ENVIRONMENT_CHOICE, default="prod", help="the environment that receives it")
@click.option("--note", default=None, help="why: what the new version changes")
@click.option("--by", default=None, help="who promotes (default: PAYSYNC_ACTOR, else the OS user)")
@_url_option
def promote(from_env: str, to_env: str, note: str | None, by: str | None, database_url: str | None) -> None:
    """Validate the --from environment's mapping file with the model every run uses, copy it byte for
    byte over the --to environment's file and record who, when (UTC), the version and the sha256.
    Refused, with nothing changed, when the target file was edited since its last promotion (the
    change belongs in the source file) or when the source does not validate. Restart the code
    location of the target environment afterwards: the mapping is read when the definitions load."""
    from paysync_dagster.cli.exceptions import default_actor
    from paysync_dagster.lib.mapping_promotion import SHORT, PromotionError
    from paysync_dagster.lib.mapping_promotion import promote as run

    from_env, to_env = from_env.lower(), to_env.lower()
    if from_env == to_env:
        raise Refused(f"--from and --to are both {from_env}", "promote from one environment to another (e.g. --from qa --to prod)")
    who = by or default_actor()
    with _warehouse(database_url) as engine:
        try:
            done = run(engine, from_env, to_env, who, note)
        except PromotionError as exc:
            raise Failure(str(exc)) from None
    if done.id is None:
        click.echo(f"{to_env} already has {from_env}'s mapping file: version {done.version} "
                   f"(sha256 {done.sha256[:SHORT]}); nothing promoted")
        return
    replaced = ("" if not done.replaced_sha256 else " (already that file: first promotion recorded)"
                if done.replaced_sha256 == done.sha256 else f", replacing sha256 {done.replaced_sha256[:SHORT]}")
    click.echo(f"promoted {from_env} -> {to_env}: version {done.version} (sha256 {done.sha256[:SHORT]}) "
               f"by {done.promoted_by} at {done.promoted_at:%Y-%m-%d %H:%M:%S} UTC into {done.target}{replaced}; "
               f"audit row {done.id}")


@mapping.command(short_help="the audit of mapping promotions, newest first")
@click.option("--to", "to_env", type=ENVIRONMENT_CHOICE, default=None, help="only promotions into this environment")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="at most this many rows")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="output format")
@_url_option
def history(to_env: str | None, limit: int | None, fmt: str, database_url: str | None) -> None:
    """Every promotion recorded: when (UTC), who, from and to, the version, the file's sha256 (first
    12 hex digits in the table) and the note."""
    from paysync_dagster.lib.mapping_promotion import SHORT
    from paysync_dagster.lib.mapping_promotion import history as rows_of

    with _warehouse(database_url) as engine:
        rows = rows_of(engine, to_env.lower() if to_env else None, limit)
    if fmt == "json":
        click.echo(json.dumps({"promotions": [{**r, "promoted_at": f"{r['promoted_at']:%Y-%m-%dT%H:%M:%S}Z"} for r in rows]},
                   indent=2))
        return
    if not rows:
        click.echo("no mapping promotion recorded" + (f" into {to_env}" if to_env else ""))
        return
    header = ("id", "promoted at (UTC)", "by", "from -> to", "version", "sha256", "note")
    lines = [(str(r["id"]), f"{r['promoted_at']:%Y-%m-%d %H:%M:%S}", r["promoted_by"], f"{r['from_env']} -> {r['to_env']}",
              r["version"], r["sha256"][:SHORT], r["note"] or "") for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    for line in (header, *lines):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def _add_suggestions() -> None:
    """``suggest`` and ``evaluate`` (cli/suggest.py) under ``mapping``."""
    from paysync_dagster.cli.suggest import evaluate, suggest

    mapping.add_command(suggest)
    mapping.add_command(evaluate)


_add_suggestions()
