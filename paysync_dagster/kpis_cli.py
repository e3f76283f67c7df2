"""``paysync kpis``: the reconciliation KPIs of a business date or a range, as the README defines them.

A range's rates are sums of the dates' numerators over sums of their denominators. Reads the
warehouse (``PAYSYNC_DATABASE_URL``, default the local SQLite file); the dates must have a
``reconciliation_report`` materialization.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="paysync kpis", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--date", type=date.fromisoformat, help="one business date (YYYY-MM-DD)")
    p.add_argument("--from", dest="start", type=date.fromisoformat, help="first business date of a range")
    p.add_argument("--to", dest="end", type=date.fromisoformat, help="last business date of a range")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and 1
    start, end = (args.date, args.date) if args.date else (args.start, args.end)
    if start is None or end is None or start > end:
        print("paysync kpis: give --date D, or --from D --to D with D in order", file=sys.stderr)
        return 1
    from paysync_dagster.lib.reconciliation.summary import range_summary
    from paysync_dagster.lib.settings import reports_dir
    from paysync_dagster.lib.warehouse.engine import default_database_url

    print(range_summary(default_database_url(), start, end, reports_dir()))
    return 0
