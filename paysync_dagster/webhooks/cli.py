"""``paysync webhooks serve | send | schema``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from paysync_dagster.webhooks.signing import HEADER, SECRET_ENV, secrets_from_env, sign

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8720
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/webhooks/paytrace"
_NO_SECRET = (
    f"{SECRET_ENV} is not set. Set it to the secret shared with the sender (e.g. `export {SECRET_ENV}=$(openssl rand -hex 32)`); "
    f"during a rotation also set PAYSYNC_WEBHOOK_SECRET_PREVIOUS to the old one."
)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from paysync_dagster.lib.settings import merchant_timezone
    from paysync_dagster.lib.timeutil import TimeFormatError
    from paysync_dagster.lib.warehouse import default_database_url, redact_url
    from paysync_dagster.webhooks.app import JsonLogFormatter, create_app

    secrets = secrets_from_env()
    if not secrets:
        print(f"paysync webhooks serve: refusing to start: {_NO_SECRET}", file=sys.stderr)
        return 2
    try:
        tz_name = merchant_timezone()
    except TimeFormatError as exc:
        print(f"paysync webhooks serve: PAYSYNC_MERCHANT_TIMEZONE: {exc}", file=sys.stderr)
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    url = args.database_url or default_database_url()
    app = create_app(url, secrets, tz_name, max_body_bytes=args.max_body_bytes)
    logging.getLogger("paysync.webhooks").info(
        "starting", extra={"host": args.host, "port": args.port, "database": redact_url(url), "secrets": len(secrets), "tz": tz_name},
    )
    # One process: the SQLite warehouse takes one writer at a time anyway, and PostgreSQL deployments
    # scale by running more receivers behind a load balancer, each with its own pool.
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False, timeout_graceful_shutdown=10)
    return 0


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


def _send(args: argparse.Namespace) -> int:
    import httpx

    secrets = secrets_from_env()
    if not secrets:
        print(f"paysync webhooks send: {_NO_SECRET}", file=sys.stderr)
        return 1
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        envelopes = read_envelopes(text)
    except (OSError, ValueError) as exc:
        print(f"paysync webhooks send: {args.file}: {exc}", file=sys.stderr)
        return 1
    all_ok = True
    with httpx.Client(timeout=args.timeout) as client:
        for envelope in envelopes:
            body = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
            headers = {"Content-Type": "application/json", HEADER: sign(body, secrets[0])}
            label = envelope.get("event_id", "?")
            try:
                response = client.post(args.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                print(f"{label}: no answer from {args.url}: {type(exc).__name__}: {exc}")
                all_ok = False
                continue
            print(f"{label}: {response.status_code} {response.text.strip()}")
            all_ok = all_ok and response.is_success
    return 0 if all_ok else 1


def _schema(args: argparse.Namespace) -> int:
    from paysync_dagster.webhooks.envelope import envelope_json_schema

    print(json.dumps(envelope_json_schema(), indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paysync webhooks", description="The PaySync webhook receiver (push path into the landing table).")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve POST /webhooks/paytrace and GET /healthz (secrets from PAYSYNC_WEBHOOK_SECRET[_PREVIOUS])")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--database-url", default=None, help="SQLAlchemy URL of the warehouse (default: PAYSYNC_DATABASE_URL or the local SQLite file)")
    serve.add_argument("--max-body-bytes", type=int, default=256 * 1024, help="larger bodies get 413 (default: 262144)")
    serve.set_defaults(func=_serve)
    send = sub.add_parser("send", help="sign envelopes with PAYSYNC_WEBHOOK_SECRET and post them; exit 0 when every answer is 2xx")
    send.add_argument("file", help="a file with one envelope, a JSON array of envelopes, or JSON lines; - for stdin")
    send.add_argument("--url", default=DEFAULT_URL)
    send.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    send.set_defaults(func=_send)
    schema = sub.add_parser("schema", help="print the JSON Schema of the envelope")
    schema.set_defaults(func=_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
