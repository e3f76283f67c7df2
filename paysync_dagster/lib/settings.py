"""Deployment settings read from the environment (non-secret ones; secrets are wired with dg.EnvVar)."""

from __future__ import annotations

import os
from datetime import date

from paysync_dagster.lib.timeutil import zone

DEFAULT_PARTITIONS_START = "2026-01-01"


def merchant_timezone() -> str:
    """The merchant's time zone: business dates, batch closes and PayTrace timestamps are read in it.

    ``PAYSYNC_MERCHANT_TIMEZONE`` when set, else ``merchant_time_zone`` of the mapping file.
    """
    name = os.environ.get("PAYSYNC_MERCHANT_TIMEZONE")
    if not name:
        from paysync_dagster.lib.mapping import load_mapping

        name = load_mapping().merchant_time_zone
    zone(name)  # fail at load with a clear message, not mid-run
    return name


def partitions_start() -> str:
    """First business date of the daily partitions (``YYYY-MM-DD``)."""
    raw = os.environ.get("PAYSYNC_PARTITIONS_START") or DEFAULT_PARTITIONS_START
    try:
        date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"PAYSYNC_PARTITIONS_START must be YYYY-MM-DD, got {raw!r}") from exc
    return raw


def reports_dir() -> str:
    """Where reconciliation reports are written (one folder per business date):
    ``PAYSYNC_REPORTS_DIR``, else ``.paysync/reports`` under the working directory."""
    return os.environ.get("PAYSYNC_REPORTS_DIR") or os.path.join(os.getcwd(), ".paysync", "reports")


def bank_files_dir() -> str | None:
    """The folder of bank statement files (CSV or BAI2) for the bank leg: ``PAYSYNC_BANK_FILES_DIR``;
    None (no bank leg) when unset."""
    return os.environ.get("PAYSYNC_BANK_FILES_DIR") or None
