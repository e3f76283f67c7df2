"""``paysync studio``: the mapping studio in a browser, and ``paysync studio hash-password`` for its login.

The studio edits the mapping file PaySync loads (``PAYSYNC_MAPPING_FILE``, else the environment's
file; Dev without one gets ``deploy/mappings/dev.yaml``, started from the packaged sample, which is
never written), keeps its versions in the warehouse (``--database-url``, else ``PAYSYNC_DATABASE_URL``,
else the local SQLite file), and reads PayTrace's vault with the ``PAYTRACE_*`` settings.
"""

from __future__ import annotations

import logging
import sys

import click

from paysync_dagster.cli.errors import Failure, Group, Refused

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8730
USER_SETTING, HASH_SETTING = "PAYSYNC_STUDIO_USER", "PAYSYNC_STUDIO_PASSWORD_HASH"


def _editable_mapping_file():  # noqa: ANN202
    """The file the pipeline loads; for Dev on the packaged sample, Dev's own file started from it."""
    from paysync_dagster.lib.mapping import SAMPLE_MAPPING, mapping_path
    from paysync_dagster.lib.settings import environment, environment_mapping_file

    path = mapping_path()
    if path.resolve() == SAMPLE_MAPPING.resolve():
        path = environment_mapping_file(environment())
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(SAMPLE_MAPPING.read_bytes())
            click.echo(f"studio: {path} started from the packaged sample (the packaged file is never edited)", err=True)
    return path


@click.group(cls=Group, invoke_without_command=True, short_help="the mapping studio: edit, preview, versions, suggestions")
@click.option("--host", default=DEFAULT_HOST, help="address to listen on; beyond loopback only with a login "
                                                   f"({USER_SETTING} and {HASH_SETTING})")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, help="port to listen on")
@click.option("--database-url", default=None,
              help="SQLAlchemy URL of the warehouse (default: PAYSYNC_DATABASE_URL or the local SQLite file)")
@click.pass_context
def studio(ctx: click.Context, host: str, port: int, database_url: str | None) -> None:
    """Serve the mapping studio: every section of the mapping file in forms, validated as you type;
    a preview of the edited rules on the warehouse's payments beside the rules in force; saving as a
    new version (author, note, diff) of the file the pipeline loads; rolling back; and suggestions
    (customers, invoice reference, GL rules, status words) to accept or reject."""
    if ctx.invoked_subcommand is not None:
        return
    import os

    from paysync_dagster.lib.hosts import is_loopback
    from paysync_dagster.studio.security import PasswordHashError, check_hash

    user, stored = os.environ.get(USER_SETTING) or None, os.environ.get(HASH_SETTING) or None
    if (user is None) != (stored is None):
        raise Refused(f"{USER_SETTING} and {HASH_SETTING} go together; only one is set",
                      "set both for a login, or neither to serve on loopback only")
    if stored is not None:
        try:
            check_hash(stored)
        except PasswordHashError as exc:
            raise Refused(str(exc), "paysync studio hash-password") from None
    if user is None and not is_loopback(host):
        raise Refused(f"refusing to serve the studio on {host} without a login",
                      f"set {USER_SETTING} and {HASH_SETTING} (paysync studio hash-password), or serve on 127.0.0.1")
    import uvicorn

    from paysync_dagster.cli.exceptions import default_actor
    from paysync_dagster.defs.erp.connectors import ErpSettingError, erps_on
    from paysync_dagster.lib.mapping import MappingError
    from paysync_dagster.lib.studio.versions import VersionError, in_force
    from paysync_dagster.lib.warehouse.engine import default_database_url, make_engine, migrate, redact_url
    from paysync_dagster.studio.app import StudioConfig, create_app
    from paysync_dagster.studio.suggestions import PayTraceSettings

    try:
        erps = tuple(c.name for c in erps_on())
    except ErpSettingError as exc:
        raise Refused(str(exc), "set PAYSYNC_ERPS to oracle, sage or both") from None
    path = _editable_mapping_file()
    url = database_url or default_database_url()
    engine = make_engine(url)
    try:
        migrate(engine)
        now = in_force(engine, path, default_actor())
    except (VersionError, MappingError) as exc:
        raise Failure(str(exc)) from None
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = StudioConfig(mapping_file=path, engine=engine, erps=erps, login_user=user, password_hash=stored,
                          local_user=default_actor(), paytrace=PayTraceSettings.from_env())
    click.echo(f"studio: http://{host}:{port}/ editing {path} (version {now.number} in force), warehouse "
               f"{redact_url(url)}, ERPs {', '.join(erps)}, " + (f"login as {user}" if user else "loopback, no login"),
               err=True)
    try:
        server = uvicorn.Server(uvicorn.Config(create_app(config), host=host, port=port, log_level="warning",
                                               access_log=False, lifespan="off"))
        server.run()
    except SystemExit as exc:
        if exc.code:
            raise Failure(f"cannot listen on {host}:{port}", "stop what uses that port, or choose another --port") from None
        raise
    finally:
        engine.dispose()
    if not server.started:
        raise Failure(f"cannot listen on {host}:{port}", "stop what uses that port, or choose another --port")


@studio.command("hash-password", short_help=f"the value of {HASH_SETTING} for a password")
@click.password_option(prompt="Studio password", help="the password (asked for when not given)")
def hash_password(password: str) -> None:
    """Print the scrypt hash of a password, for PAYSYNC_STUDIO_PASSWORD_HASH (the password itself is
    stored nowhere)."""
    from paysync_dagster.studio.security import hash_password as make

    if len(password) < 12:
        raise Refused("the password is shorter than 12 characters", "choose a longer password")
    click.echo(make(password))
