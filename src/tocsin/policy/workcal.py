"""Working-calendar arithmetic: business days and business hours in the calendar's zone.

"Post-mortem within 3 business days" counts calendar days that are business days and not
holidays, keeping the wall-clock time in the calendar's zone (so DST changes in between do not
move it). All results are UTC instants; see oncall/rotation.py for why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkCalendarRules:
    timezone: str = "UTC"
    business_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    holidays: frozenset[date] = field(default_factory=frozenset)
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def check(self) -> None:
        """Refuse a calendar with no business time at all (every count over it would run on
        for ever): hours that end before they start, or no business days."""
        if self.day_end <= self.day_start:
            raise ValueError(f"business hours end ({self.day_end}) before they start")
        if not self.business_days:
            raise ValueError("the calendar has no business days")

    def is_business_day(self, day: date) -> bool:
        """A listed weekday that is not a holiday."""
        return WEEKDAY_NAMES[day.weekday()] in self.business_days and day not in self.holidays


def add_business_days(start: datetime, days: int, cal: WorkCalendarRules) -> datetime:
    """``start`` plus ``days`` business days, at the same local time of day."""
    cal.check()
    local = start.astimezone(cal.zone)
    day, counted = local.date(), 0
    while counted < days:
        day += timedelta(days=1)
        if cal.is_business_day(day):
            counted += 1
    return datetime.combine(day, local.time(), tzinfo=cal.zone).astimezone(UTC)


def add_span(start: datetime, seconds: int, business_days: int, cal: WorkCalendarRules) -> datetime:
    """Add a policy duration: elapsed seconds, or business days through the calendar."""
    if business_days:
        return add_business_days(start, business_days, cal)
    return start.astimezone(UTC) + timedelta(seconds=seconds)


def in_business_hours(at: datetime, cal: WorkCalendarRules) -> bool:
    """Whether ``at`` falls inside business hours on a business day."""
    local = at.astimezone(cal.zone)
    return cal.is_business_day(local.date()) and cal.day_start <= local.time() < cal.day_end


def next_business_moment(at: datetime, cal: WorkCalendarRules) -> datetime:
    """``at`` itself during business hours, else the start of the next business hours."""
    cal.check()
    if in_business_hours(at, cal):
        return at.astimezone(UTC)
    local = at.astimezone(cal.zone)
    day = local.date()
    if cal.is_business_day(day) and local.time() < cal.day_start:
        return datetime.combine(day, cal.day_start, tzinfo=cal.zone).astimezone(UTC)
    day += timedelta(days=1)
    while not cal.is_business_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, cal.day_start, tzinfo=cal.zone).astimezone(UTC)


def add_business_seconds(start: datetime, seconds: int, cal: WorkCalendarRules) -> datetime:
    """``start`` plus ``seconds`` of business hours ("4 hours (business hours)")."""
    at = next_business_moment(start, cal)
    remaining = timedelta(seconds=seconds)
    while True:
        local = at.astimezone(cal.zone)
        closing = datetime.combine(local.date(), cal.day_end, tzinfo=cal.zone).astimezone(UTC)
        if remaining <= closing - at:
            return at + remaining
        remaining -= closing - at
        at = next_business_moment(closing, cal)
