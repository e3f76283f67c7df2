"""The generated-history options shared by ``paysync sandbox`` and ``paysync sandbox bank-files``, so
that both describe the same history by default."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta

from paysync_dagster.lib.timeutil import DEFAULT_MERCHANT_TIMEZONE, zone


def add_history_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start-date", type=date.fromisoformat, default=None,
                   help="first day of generated history (YYYY-MM-DD); default: --days days before today")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--per-day", type=int, default=300)
    p.add_argument("--timezone", default=DEFAULT_MERCHANT_TIMEZONE, help="merchant time zone")
    return p


def history_window(args: argparse.Namespace, prog: str) -> tuple[date, date] | None:
    """The history's first and last day from validated options (default: the ``--days`` days up to
    yesterday in the merchant's zone, so that today's live calls land after it); None once the reason
    it cannot be has been printed."""
    try:
        today = datetime.now(zone(args.timezone)).date()
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None
    if args.days < 1 or args.per_day < 0:
        print(f"{prog}: --days must be >= 1 and --per-day >= 0", file=sys.stderr)
        return None
    start = args.start_date or today - timedelta(days=args.days)
    return start, start + timedelta(days=args.days - 1)
