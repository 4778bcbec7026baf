"""Report periods (hour, day, ISO week) in `TIME_ZONE`, and their text keys used in URLs and commands."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


class Granularity(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"

    @property
    def adjective(self) -> str:
        """ "hourly", "daily", "weekly": how often a report of this granularity runs."""
        return {"hour": "hourly", "day": "daily", "week": "weekly"}[self.value]


FORMATS = {
    Granularity.HOUR: ("YYYY-MM-DDTHH", re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})$")),
    Granularity.DAY: ("YYYY-MM-DD", re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")),
    Granularity.WEEK: ("YYYY-Www", re.compile(r"^(\d{4})-W(\d{2})$")),
}


class PeriodError(ValueError):
    """A period key that does not parse for the report's granularity."""


@dataclass(frozen=True)
class Period:
    granularity: Granularity
    key: str
    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _local(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=_zone())


def period_for(granularity: Granularity, day: date, hour: int = 0) -> Period:
    """The period of `granularity` that contains local `day` (and `hour`)."""
    if granularity is Granularity.HOUR:
        start = _local(day, hour)
        # Wall-clock arithmetic in UTC so that an hour is 60 minutes across a DST change.
        end = (start.astimezone(ZoneInfo("UTC")) + timedelta(hours=1)).astimezone(_zone())
        return Period(granularity, f"{day.isoformat()}T{hour:02d}", start, end)
    if granularity is Granularity.DAY:
        return Period(granularity, day.isoformat(), _local(day), _local(day + timedelta(days=1)))
    monday = day - timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return Period(granularity, f"{year}-W{week:02d}", _local(monday), _local(monday + timedelta(days=7)))


def parse_period(granularity: Granularity, key: str) -> Period:
    """Parse a period key; raises `PeriodError` naming the expected format."""
    expected, pattern = FORMATS[granularity]
    match = pattern.match(key.strip())
    if not match:
        raise PeriodError(f"'{key}' is not a {granularity} period; expected {expected}")
    numbers = [int(part) for part in match.groups()]
    try:
        if granularity is Granularity.WEEK:
            day = date.fromisocalendar(numbers[0], numbers[1], 1)
            return period_for(granularity, day)
        day = date(numbers[0], numbers[1], numbers[2])
    except ValueError as exc:
        raise PeriodError(f"'{key}' is not a valid {granularity} period: {exc}") from None
    if granularity is Granularity.HOUR:
        if numbers[3] > 23:
            raise PeriodError(f"'{key}' is not a valid hour period: hour must be 00-23")
        return period_for(granularity, day, numbers[3])
    return period_for(granularity, day)


def current_period(
    granularity: Granularity, *, previous: bool = False, now: datetime | None = None
) -> Period:
    """The period containing `now` (local time), or the one before it when `previous`."""
    local = timezone.localtime(now or timezone.now(), _zone())
    period = period_for(granularity, local.date(), local.hour)
    if previous:
        before = timezone.localtime(period.start - timedelta(microseconds=1), _zone())
        period = period_for(granularity, before.date(), before.hour)
    return period
