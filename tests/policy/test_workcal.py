"""Business days and hours in the calendar's zone, across weekends, holidays and DST."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from tocsin.policy.workcal import (
    WorkCalendarRules,
    add_business_days,
    in_business_hours,
    next_business_moment,
)

NY = ZoneInfo("America/New_York")
CAL = WorkCalendarRules(
    timezone="America/New_York", holidays=frozenset({date(2026, 12, 25), date(2027, 1, 1)})
)


def test_three_business_days_from_a_friday_is_the_next_wednesday() -> None:
    friday = datetime(2026, 11, 20, 15, 0, tzinfo=NY)
    assert add_business_days(friday, 3, CAL) == datetime(2026, 11, 25, 15, 0, tzinfo=NY)


def test_business_days_skip_holidays() -> None:
    wednesday = datetime(2026, 12, 23, 10, 0, tzinfo=NY)
    # Thu 24 (1), Fri 25 is Christmas, Mon 28 (2), Tue 29 (3)
    assert add_business_days(wednesday, 3, CAL) == datetime(2026, 12, 29, 10, 0, tzinfo=NY)


def test_business_days_keep_local_time_across_dst() -> None:
    friday = datetime(2026, 10, 30, 9, 0, tzinfo=NY)  # DST ends Sunday 2026-11-01
    due = add_business_days(friday, 1, CAL)
    assert due.astimezone(NY).time() == time(9, 0)


def test_saturday_3am_waits_for_monday_9am() -> None:
    saturday = datetime(2026, 11, 28, 3, 0, tzinfo=NY)
    assert not in_business_hours(saturday, CAL)
    assert next_business_moment(saturday, CAL) == datetime(2026, 11, 30, 9, 0, tzinfo=NY)


def test_early_on_a_weekday_waits_until_nine_the_same_day() -> None:
    early = datetime(2026, 11, 24, 7, 30, tzinfo=NY)
    assert next_business_moment(early, CAL) == datetime(2026, 11, 24, 9, 0, tzinfo=NY)


def test_inside_business_hours_is_now() -> None:
    noon = datetime(2026, 11, 24, 12, 0, tzinfo=NY)
    assert next_business_moment(noon, CAL) == noon


def test_business_hours_carry_over_the_weekend() -> None:
    from tocsin.policy.workcal import add_business_seconds

    friday_4pm = datetime(2026, 11, 20, 16, 0, tzinfo=NY)
    assert add_business_seconds(friday_4pm, 4 * 3600, CAL) == datetime(
        2026, 11, 23, 12, 0, tzinfo=NY
    )
    saturday = datetime(2026, 11, 21, 3, 0, tzinfo=NY)
    assert add_business_seconds(saturday, 3600, CAL) == datetime(2026, 11, 23, 10, 0, tzinfo=NY)
