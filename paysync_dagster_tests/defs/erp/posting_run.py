"""Posting to an ERP in a process of its own, for the test that kills it (``python -m`` this module).

    python -m paysync_dagster_tests.defs.erp.posting_run ERP URL WAREHOUSE_URL DAY [DAY ...] [--batch-size N]

Materializes the ERP's open invoices and cash receipts for each date in order; exit 0 when every
run succeeded with its checks passing.
"""

from __future__ import annotations

import argparse
import sys

from paysync_dagster_tests.defs.erp.support import ERPS, checks, materialize


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("erp", choices=sorted(ERPS))
    parser.add_argument("url")
    parser.add_argument("warehouse_url")
    parser.add_argument("days", nargs="+")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args(argv)
    erp = ERPS[args.erp]
    for day in args.days:
        result = materialize(args.url, args.warehouse_url, day, erp.posting, erp=erp.name, batch_size=args.batch_size)
        if not result.success or not all(checks(result).values()):
            print(f"posting {day} to {erp.name} failed: {checks(result)}", file=sys.stderr)
            return 1
        print(f"posted {day}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
