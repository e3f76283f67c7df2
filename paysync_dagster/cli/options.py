"""Option types and options shared by the ``paysync`` commands, and the one set of business-date rules.

Business dates, for every command that takes them:

- ``--date D`` is one date; ``--from D --to D`` an inclusive range; D is YYYY-MM-DD.
- ``--date`` goes alone: with ``--from`` or ``--to`` it is refused.
- ``--to`` needs ``--from``; ``--from`` alone runs through today in the merchant's time zone
  (``PAYSYNC_MERCHANT_TIMEZONE``; the sandbox's own ``--timezone`` for its generated history).
- ``--from`` after ``--to`` is refused (swap them).
- A command that works date by date (replaying, generating history) refuses a range longer than
  :data:`MAX_DAYS`; reading and listing take any range.

A refusal is one line that names the option and quotes the value as typed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import click

from paysync_dagster.cli.errors import Refused

MAX_DAYS = 366  # a leap year: a year of daily runs, never an accidental decade of them
MAX_ID = 2**63 - 1  # the warehouse's BIGINT; a larger id can only be a typo
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TZ_ENV = "PAYSYNC_MERCHANT_TIMEZONE"


def _name(param: click.Parameter | None, what: str | None) -> str:
    if what:
        return what
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name if param else "value"


def _help_of(ctx: click.Context | None) -> str:
    return f"see `{ctx.command_path if ctx else 'paysync'} --help`"


class _Ranged:
    """A number within bounds; a refusal names the option (or ``what``), quotes the value as typed and
    says what fits, in place of click's "Invalid value for ..." block."""

    min: Any
    max: Any
    min_open: bool
    max_open: bool
    kind = "number"

    def __init__(self, *bounds: Any, what: str | None = None, fix: str | None = None, **kwargs: Any) -> None:
        super().__init__(*bounds, **kwargs)  # type: ignore[call-arg]
        self.what, self.fix = what, fix

    def _parse(self, text: str) -> Any:
        raise NotImplementedError

    def bounds(self) -> str:
        low = None if self.min is None else (f"more than {self.min}" if self.min_open else f"{self.min}")
        if self.max is None:
            return low if self.min_open else f"{low} or more"
        if self.min is None:
            return f"{'less than ' if self.max_open else 'at most '}{self.max}"
        return f"{low} to {self.max}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        name = _name(param, self.what)
        fix = self.fix or f"give {name} {self.kind}, {self.bounds()}"
        text = value if isinstance(value, str) else str(value)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("-") and not re.fullmatch(r"-\d+(\.\d*)?", text):
                # Commands that take ids let unknown options through so that "-5" reaches here as a
                # value (see ``IDS``); anything else starting with "-" is a mistyped option.
                raise Refused(f"no such option: {text.split('=', 1)[0]}", _help_of(ctx), ctx)
            try:
                number = self._parse(text)
            except ValueError:
                raise Refused(f"{name} {text!r} is not {self.kind}", fix, ctx) from None
        else:
            number = value
        too_low = self.min is not None and (number <= self.min if self.min_open else number < self.min)
        too_high = self.max is not None and (number >= self.max if self.max_open else number > self.max)
        if too_low or too_high:
            raise Refused(f"{name} {text} is out of range ({self.bounds()})", fix, ctx)
        return number


class Whole(_Ranged, click.IntRange):
    name = "integer"
    kind = "a whole number"

    def _parse(self, text: str) -> int:
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(text)
        return int(text)


class Seconds(_Ranged, click.FloatRange):
    name = "seconds"
    kind = "a number of seconds"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(0, min_open=True, **kwargs)

    def _parse(self, text: str) -> float:
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(text)
        return number


class BusinessDate(click.ParamType):
    """YYYY-MM-DD, a real calendar date."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text, name = str(value).strip(), _name(param, None)
        if not ISO_DATE.fullmatch(text):
            raise Refused(f"{name} {text!r} is not a date", "write it as YYYY-MM-DD, e.g. 2026-03-05", ctx)
        try:
            return date.fromisoformat(text)
        except ValueError as exc:  # 2026-02-30, 0000-01-01
            raise Refused(f"{name} {text!r} is not a date ({exc})", "give a real calendar date as YYYY-MM-DD",
                          ctx) from None


class TimeZone(click.ParamType):
    """An IANA time zone name, checked against the zone database."""

    name = "zone"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from paysync_dagster.lib.timeutil import TimeFormatError, zone

        text = str(value).strip()
        try:
            zone(text)
        except TimeFormatError:
            raise Refused(f"{_name(param, None)} {text!r} is not a time zone",
                          "give an IANA name such as America/Los_Angeles", ctx) from None
        return text


class LazyChoice(click.Choice):
    """A choice whose values come from a library module, imported only when the option is used or its
    help shown: ``paysync --help`` stays fast, and the values are never copied here."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load, self._choices = load, None
        self.case_sensitive = True

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        if self._choices is None:
            self._choices = tuple(self._load())
        return self._choices


PORT = Whole(1, 65535)
SEED = Whole(0, MAX_ID)
PER_DAY = Whole(0)
DAYS = Whole(1, MAX_DAYS)
EXCEPTION_ID = Whole(1, MAX_ID, what="exception id", fix="use an id from `paysync exceptions list`")

# For commands that take exception ids: "-5" must reach EXCEPTION_ID, which refuses it as an id
# (click would call it an unknown option); a real unknown option is still refused there by name.
IDS = {"ignore_unknown_options": True}


def seed_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--seed", type=SEED, default=7, help="seed of the synthetic activity")(f)


def per_day_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--per-day", type=PER_DAY, default=300, help="PayTrace transactions per day")(f)


# -- business dates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def merchant_zone() -> str:
    """The merchant's time zone (``PAYSYNC_MERCHANT_TIMEZONE``, else the mapping file's), refused in
    one line when it is not a zone."""
    from paysync_dagster.lib.settings import merchant_timezone
    from paysync_dagster.lib.timeutil import TimeFormatError

    try:
        return merchant_timezone()
    except TimeFormatError as exc:
        raise Refused(f"{TZ_ENV}: {exc}", f"set {TZ_ENV} to an IANA name such as America/Los_Angeles") from None


def today_in(zone_name: str) -> date:
    from paysync_dagster.lib.timeutil import zone

    return datetime.now(zone(zone_name)).date()


def merchant_today() -> date:
    return today_in(merchant_zone())


def resolve_dates(day: date | None, start: date | None, end: date | None, *, today: Callable[[], date],
                  max_days: int | None) -> DateRange | None:
    """The rules in this module's docstring; None when no date option was given."""
    if day is not None and (start is not None or end is not None):
        other = f"--from {start}" if start is not None else f"--to {end}"
        raise Refused(f"--date {day} cannot go with {other}",
                      "give --date D for one date, or --from D --to D for a range")
    if day is not None:
        return DateRange(day, day)
    if start is None:
        if end is not None:
            raise Refused(f"--to {end} needs --from", "give --from D as well, or --date D for one date")
        return None
    if end is None:
        end = today()
        if start > end:
            raise Refused(f"--from {start} is after today ({end}) in the merchant's time zone",
                          "give an earlier --from, or a --to after it")
    elif start > end:
        raise Refused(f"--from {start} is after --to {end}", "swap them")
    span = (end - start).days + 1
    if max_days is not None and span > max_days:
        raise Refused(f"--from {start} through {end} is {span} days, more than {max_days}",
                      f"split it into ranges of at most {max_days} days")
    return DateRange(start, end)


def date_options(*, today_is: str, max_days: int | None) -> list[Callable[[Any], Any]]:
    """``--date``, ``--from``, ``--to`` (parameters ``day``, ``start``, ``end``), in help order."""
    bound = f"; a range spans at most {max_days} days" if max_days else ""
    return [
        click.option("--date", "day", type=BusinessDate(), metavar="YYYY-MM-DD",
                     help="one business date (not with --from/--to)"),
        click.option("--from", "start", type=BusinessDate(), metavar="YYYY-MM-DD",
                     help=f"first business date of a range; without --to, the range runs through today in "
                          f"{today_is}{bound}"),
        click.option("--to", "end", type=BusinessDate(), metavar="YYYY-MM-DD",
                     help="last business date of the range (needs --from, not before it)"),
    ]


def business_dates(*, required: bool, max_days: int | None = None,
                   needs: str = "give --date D for one date, or --from D [--to D] for a range",
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Adds the date options and passes the command ``dates``: a :class:`DateRange`, or None when they
    are optional and none was given. ``needs`` is the fix when they are required and missing."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def run(*args: Any, day: date | None, start: date | None, end: date | None, **kwargs: Any) -> Any:
            dates = resolve_dates(day, start, end, today=merchant_today, max_days=max_days)
            if dates is None and required:
                raise Refused("no business date given", needs)
            return f(*args, dates=dates, **kwargs)

        for option in reversed(date_options(today_is=f"the merchant's time zone ({TZ_ENV})", max_days=max_days)):
            run = option(run)
        return run

    return decorate
