"""Posting to Oracle in a process of its own, for the test that kills it (``python -m`` this module).

    python -m paysync_dagster_tests.defs.oracle.posting_run URL WAREHOUSE_URL DAY [DAY ...] [--batch-size N]

Materializes oracle_open_invoices and oracle_cash_receipts for each date in order; exit 0 when every
run succeeded with its checks passing.
"""

from __future__ import annotations

import argparse
import sys

from paysync_dagster_tests.defs.oracle.support import ORACLE, checks, materialize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("warehouse_url")
    parser.add_argument("days", nargs="+")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args(argv)
    for day in args.days:
        result = materialize(args.url, args.warehouse_url, day, ORACLE, batch_size=args.batch_size)
        if not result.success or not all(checks(result).values()):
            print(f"posting {day} failed: {checks(result)}", file=sys.stderr)
            return 1
        print(f"posted {day}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
