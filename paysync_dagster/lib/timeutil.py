"""Times in UTC, business dates in the merchant's time zone.

PayTrace exports timestamps as ``M/D/YYYY h:mm:ss AM|PM`` with no zone marker. The zone is not
documented; PaySync reads them in the merchant's time zone (the zone the PayTrace account is set up
in, ``PAYSYNC_MERCHANT_TIMEZONE``), which is also the zone its batches close in.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_MERCHANT_TIMEZONE = "America/Los_Angeles"

_PAYTRACE_TS = re.compile(
    r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})\s*([AaPp][Mm])\s*$", re.ASCII
)


class TimeFormatError(ValueError):
    """A timestamp or date is not in the format the API documents."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeFormatError(f"unknown time zone: {name!r}") from exc


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (the warehouse stores UTC without an offset)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_utc_naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise TimeFormatError("refusing a naive datetime where an aware one is needed")
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def parse_paytrace_timestamp(text: str, tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> datetime:
    """``"4/10/2015 4:06:30 PM"`` in the merchant's zone -> naive UTC datetime.

    In the repeated hour of a DST fall-back the earlier instant is taken (``fold=0``); a time in the
    skipped spring-forward hour is read as standard time, as ``zoneinfo`` does.
    """
    return local_to_utc(parse_paytrace_local(text), tz_name)


def parse_paytrace_local(text: str) -> datetime:
    """``"4/10/2015 4:06:30 PM"`` -> the naive wall-clock time it names (no zone applied)."""
    m = _PAYTRACE_TS.match(text or "")
    if not m:
        raise TimeFormatError(f"not a PayTrace timestamp (M/D/YYYY h:mm:ss AM|PM): {text!r}")
    month, day, year, hour, minute, second, ampm = m.groups()
    h = int(hour)
    if not 1 <= h <= 12:
        raise TimeFormatError(f"hour out of range in {text!r}")
    h = h % 12 + (12 if ampm.upper() == "PM" else 0)
    try:
        return datetime(int(year), int(month), int(day), h, int(minute), int(second))
    except ValueError as exc:
        raise TimeFormatError(f"not a real date and time: {text!r}") from exc


def local_to_utc(local: datetime, tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> datetime:
    """A naive wall-clock time in the merchant's zone -> naive UTC (``fold=0`` in a repeated hour)."""
    try:
        return to_utc_naive(local.replace(tzinfo=zone(tz_name)))
    except OverflowError as exc:
        raise TimeFormatError(f"out of range: {local.isoformat()}") from exc


def format_paytrace_timestamp(utc_naive: datetime, tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> str:
    local = utc_naive.replace(tzinfo=timezone.utc).astimezone(zone(tz_name))
    hour12 = local.hour % 12 or 12
    ampm = "PM" if local.hour >= 12 else "AM"
    return f"{local.month}/{local.day}/{local.year} {hour12}:{local.minute:02d}:{local.second:02d} {ampm}"


def parse_paytrace_date(text: str) -> date:
    """``MM/DD/YYYY`` (``M/D/YYYY`` accepted too) -> date."""
    try:
        return datetime.strptime((text or "").strip(), "%m/%d/%Y").date()
    except ValueError as exc:
        raise TimeFormatError(f"not a PayTrace date (MM/DD/YYYY): {text!r}") from exc


def format_paytrace_date(day: date) -> str:
    return day.strftime("%m/%d/%Y")


def business_date(utc_naive: datetime, tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> date:
    """The merchant's calendar date of a UTC instant."""
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(zone(tz_name)).date()


def local_day_bounds_utc(day: date, tz_name: str = DEFAULT_MERCHANT_TIMEZONE) -> tuple[datetime, datetime]:
    """[start, end) of a merchant business date, as naive UTC datetimes (23 or 25 hours on DST days)."""
    tz = zone(tz_name)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return to_utc_naive(start), to_utc_naive(end)


def expand_two_digit_year(yy: int, pivot_year: int | None = None) -> int:
    """Card expiration years arrive as two digits (``20``); cards expire within ~20 years of issue."""
    if yy >= 100:
        return yy
    base = (pivot_year or datetime.now(timezone.utc).year) // 100 * 100
    year = base + yy
    if year < (pivot_year or datetime.now(timezone.utc).year) - 50:
        year += 100
    return year


def date_range(start: date, end: date) -> list[date]:
    """Every date from start to end, both included."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
