"""The ``paysync`` command."""

from __future__ import annotations

import argparse
import sys


def _sandbox(argv: list[str]) -> int:
    from paysync_dagster.sandbox.server import main

    return main(argv)


def _demo(argv: list[str]) -> int:
    from paysync_dagster.demo import main

    return main(argv)


def _webhooks(argv: list[str]) -> int:
    from paysync_dagster.webhooks.cli import main

    return main(argv)


def _exceptions(argv: list[str]) -> int:
    from paysync_dagster.exceptions_cli import main

    return main(argv)


def _kpis(argv: list[str]) -> int:
    from paysync_dagster.kpis_cli import main

    return main(argv)


COMMANDS = {
    "exceptions": (_exceptions, "the exception queue: list, resolve, replay"),
    "kpis": (_kpis, "the reconciliation KPIs of a date or a range"),
    "webhooks": (_webhooks, "the webhook receiver: serve, send, schema"),
    "sandbox": (_sandbox, "serve the local PayTrace (and ERP) simulators"),
    "demo": (_demo, "run PaySync end to end on the embedded default (SQLite + sandboxes)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="paysync", description="PayTrace payments into your ERP, reconciled to the cent.")
    parser.add_argument("command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v[1]}" for k, v in sorted(COMMANDS.items())))
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    ns, rest = parser.parse_known_args(argv[:1])
    return COMMANDS[ns.command][0](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
