"""``paysync webhooks serve | send | schema``: the webhook receiver, and the tools integrators use with it."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from paysync_dagster.cli.errors import Failure, Group, Refused
from paysync_dagster.cli.options import PORT, Seconds, Whole, merchant_zone
from paysync_dagster.lib.hosts import is_loopback
from paysync_dagster.webhooks.signing import HEADER, PREVIOUS_SECRET_ENV, SECRET_ENV, secrets_from_env, sign

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8720
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/webhooks/paytrace"
METRICS_TOKEN_ENV = "PAYSYNC_METRICS_TOKEN"  # a secret: GET /metrics answers only a request bearing it
_NO_SECRET = f"{SECRET_ENV} is not set"
_SET_SECRET = (f"set it to the secret shared with the sender (e.g. `export {SECRET_ENV}=$(openssl rand -hex 32)`), "
               f"and during a rotation {PREVIOUS_SECRET_ENV} to the old one")


@click.group(cls=Group, short_help="the webhook receiver: serve, send, schema")
def webhooks() -> None:
    """The PaySync webhook receiver (push path into the landing table)."""


@webhooks.command(short_help="serve POST /webhooks/paytrace and GET /healthz")
@click.option("--host", default=DEFAULT_HOST, help="address to listen on")
@click.option("--port", type=PORT, default=DEFAULT_PORT, help="port to listen on")
@click.option("--database-url", default=None,
              help="SQLAlchemy URL of the warehouse (default: PAYSYNC_DATABASE_URL or the local SQLite file)")
@click.option("--max-body-bytes", type=Whole(1), default=256 * 1024, show_default=True, help="larger bodies get 413")
@click.option("--body-timeout", type=Seconds(), default=10.0, show_default=True,
              help="seconds a request's body may take to arrive in full; a slower sender gets 408")
@click.option("--max-headers", type=Whole(1), default=64, show_default=True, help="more request headers get 431")
@click.option("--max-header-bytes", type=Whole(1024), default=16 * 1024, show_default=True,
              help="request headers larger than this in all get 431")
def serve(host: str, port: int, database_url: str | None, max_body_bytes: int, body_timeout: float, max_headers: int,
          max_header_bytes: int) -> None:
    """Serve POST /webhooks/paytrace, GET /healthz and GET /metrics. The signing secrets come from the
    environment only: PAYSYNC_WEBHOOK_SECRET, and PAYSYNC_WEBHOOK_SECRET_PREVIOUS during a rotation;
    PAYSYNC_METRICS_TOKEN, when set, is the bearer token a metrics scrape must show."""
    secrets = secrets_from_env()
    if not secrets:
        raise Refused(f"refusing to start: {_NO_SECRET}", _SET_SECRET)
    tz_name = merchant_zone()
    import uvicorn

    from paysync_dagster.lib.warehouse import default_database_url, redact_url
    from paysync_dagster.webhooks.app import JsonLogFormatter, ReceiverLimits, create_app, server_config

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    url = database_url or default_database_url()
    limits = ReceiverLimits(max_body_bytes=max_body_bytes, body_timeout=body_timeout, max_headers=max_headers,
                            max_header_bytes=max_header_bytes)
    metrics_token = os.environ.get(METRICS_TOKEN_ENV) or None
    app = create_app(url, secrets, tz_name, limits, metrics_token=metrics_token)
    logger = logging.getLogger("paysync.webhooks")
    logger.info("starting", extra={"host": host, "port": port, "database": redact_url(url), "secrets": len(secrets),
                                   "tz": tz_name, "metrics": "token" if metrics_token else "open"})
    if metrics_token is None and not is_loopback(host):
        logger.warning(f"GET /metrics answers anyone who reaches {host}:{port} (the merchant's figures): "
                       f"set {METRICS_TOKEN_ENV} and scrape with it as a bearer token")
    # One process: the SQLite warehouse takes one writer at a time anyway, and PostgreSQL deployments
    # scale by running more receivers behind a load balancer, each with its own pool.
    try:
        server = uvicorn.Server(server_config(app, host, port))
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind; its own log line above says why
        if exc.code:
            raise Failure(f"cannot listen on {host}:{port}", "stop what uses that port, or choose another --port") from None
        raise
    if not server.started:
        raise Failure(f"cannot listen on {host}:{port}", "stop what uses that port, or choose another --port")


def read_envelopes(text: str) -> list[dict[str, Any]]:
    """One envelope, a JSON array of envelopes, or JSON lines."""
    if not text.strip():
        raise ValueError("no envelope in the input")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {number}: not JSON ({exc.msg})") from None
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"item {index}: an envelope is a JSON object, got {type(item).__name__}")
    return items


@webhooks.command(short_help="sign envelopes and post them; exit 0 when every answer is 2xx")
@click.argument("file")
@click.option("--url", default=DEFAULT_URL, help="the receiver's webhook URL")
@click.option("--timeout", type=Seconds(), default=30.0, help="seconds per request")
def send(file: str, url: str, timeout: float) -> None:
    """Sign envelopes with PAYSYNC_WEBHOOK_SECRET and post them, one answer printed per event; exit 0
    when every answer is 2xx.

    FILE: one envelope, a JSON array of envelopes, or JSON lines; - for stdin.
    """
    secrets = secrets_from_env()
    if not secrets:
        raise Failure(_NO_SECRET, _SET_SECRET)
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise Failure(f"{file}: {exc.strerror or exc}", "give a file you can read, or - for stdin") from None
    try:
        envelopes = read_envelopes(text)
    except ValueError as exc:
        raise Failure(f"{file}: {exc}", "give one envelope, a JSON array of envelopes, or JSON lines") from None
    import httpx

    refused = 0
    with httpx.Client(timeout=timeout) as client:
        for envelope in envelopes:
            body = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
            headers = {"Content-Type": "application/json", HEADER: sign(body, secrets[0])}
            label = envelope.get("event_id", "?")
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                click.echo(f"{label}: no answer from {url}: {type(exc).__name__}: {exc}")
                refused += 1
                continue
            click.echo(f"{label}: {response.status_code} {response.text.strip()}")
            refused += not response.is_success
    if refused:
        raise Failure(f"{refused} of {len(envelopes)} events got no 2xx answer", "see the answers above")


@webhooks.command(short_help="print the JSON Schema of the envelope")
def schema() -> None:
    """Print the JSON Schema of the envelope."""
    from paysync_dagster.webhooks.envelope import envelope_json_schema

    click.echo(json.dumps(envelope_json_schema(), indent=2))
