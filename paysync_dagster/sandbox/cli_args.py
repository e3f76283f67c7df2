"""The generated-history options shared by ``paysync sandbox`` and ``paysync sandbox bank-files``, so
that both describe the same history by default."""

from __future__ import annotations

import argparse
from datetime import date

from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE


def add_history_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start-date", type=date.fromisoformat, default=None,
                   help="first day of generated history (YYYY-MM-DD); default: --days days before today")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--per-day", type=int, default=300)
    p.add_argument("--timezone", default=DEFAULT_MERCHANT_TIMEZONE, help="merchant time zone")
    return p
