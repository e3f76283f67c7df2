from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paysync_dagster.lib.timeutil import (
    TimeFormatError,
    business_date,
    expand_two_digit_year,
    format_paytrace_timestamp,
    local_day_bounds_utc,
    parse_paytrace_date,
    parse_paytrace_timestamp,
)

LA = "America/Los_Angeles"


def test_paytrace_timestamp_without_zone_is_read_in_the_merchant_zone() -> None:
    # 4:06:30 PM Pacific Daylight Time is 23:06:30 UTC.
    assert parse_paytrace_timestamp("4/10/2015 4:06:30 PM", LA) == datetime(2015, 4, 10, 23, 6, 30)
    assert parse_paytrace_timestamp("12/1/2015 12:00:00 AM", LA) == datetime(2015, 12, 1, 8, 0, 0)
    assert parse_paytrace_timestamp("12/1/2015 12:00:00 PM", LA) == datetime(2015, 12, 1, 20, 0, 0)


@pytest.mark.parametrize("bad", ["2015-04-10 16:06:30", "4/10/2015 16:06:30", "13/10/2015 4:06:30 PM", "4/31/2015 1:00:00 AM", "", "4/10/2015 0:06:30 PM"])
def test_bad_timestamps_are_refused(bad: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_paytrace_timestamp(bad, LA)


def test_evening_sales_belong_to_the_local_business_date() -> None:
    # 9:30 pm Pacific on Nov 2 is already Nov 3 in UTC.
    utc = parse_paytrace_timestamp("11/2/2026 9:30:00 PM", LA)
    assert utc.date() == date(2026, 11, 3)
    assert business_date(utc, LA) == date(2026, 11, 2)


def test_dst_changes() -> None:
    # Fall back, 2026-11-01: 1:30 am happens twice; the first (PDT) is taken.
    assert parse_paytrace_timestamp("11/1/2026 1:30:00 AM", LA) == datetime(2026, 11, 1, 8, 30)
    start, end = local_day_bounds_utc(date(2026, 11, 1), LA)
    assert end - start == timedelta(hours=25)
    start, end = local_day_bounds_utc(date(2026, 3, 8), LA)
    assert end - start == timedelta(hours=23)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_format_and_parse_round_trip_to_the_second(utc: datetime) -> None:
    utc = utc.replace(microsecond=0)
    back = parse_paytrace_timestamp(format_paytrace_timestamp(utc, LA), LA)
    # Only the repeated fall-back hour is ambiguous without a zone marker; there the earlier instant wins.
    assert back == utc or back == utc - timedelta(hours=1)
    assert business_date(back, LA) == business_date(utc, LA)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_business_date_is_inside_its_local_day(utc: datetime) -> None:
    day = business_date(utc, LA)
    start, end = local_day_bounds_utc(day, LA)
    assert start <= utc < end


def test_dates_and_two_digit_years() -> None:
    assert parse_paytrace_date("04/10/2015") == date(2015, 4, 10)
    assert parse_paytrace_date("4/1/2015") == date(2015, 4, 1)
    assert expand_two_digit_year(20, 2015) == 2020
    assert expand_two_digit_year(99, 2026) == 2099
    assert expand_two_digit_year(5, 2098) == 2105
    assert datetime.now(timezone.utc).year <= expand_two_digit_year(datetime.now(timezone.utc).year % 100 + 1)
