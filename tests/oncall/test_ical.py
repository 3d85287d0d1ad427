"""Calendar feeds: one event per turn, named the same way at every refresh (RFC 5545)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.test import Client
from icalendar import Calendar

from tests.factories import person, weekly_schedule
from tocsin.oncall.ical import person_feed, schedule_feed

pytestmark = pytest.mark.django_db

# Tuesday; the weekly handoffs are Monday 09:00 New York (14:00 UTC in November).
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def events(body: bytes) -> list[Any]:
    return list(Calendar.from_ical(body).walk("VEVENT"))


def by_uid(body: bytes) -> dict[str, tuple[datetime, datetime]]:
    return {str(e["UID"]): (e["DTSTART"].dt, e["DTEND"].dt) for e in events(body)}


def test_every_refresh_names_each_turn_the_same_way() -> None:
    ann, ben = person("ann@example.com"), person("ben@example.com")
    schedule = weekly_schedule("Primary", [ann, ben], start=date(2026, 11, 2))

    feeds = [schedule_feed(schedule=schedule, now=NOW + timedelta(hours=h)) for h in (0, 1, 30)]

    first, *later = (by_uid(body) for body in feeds)
    for other in later:
        shared = first.keys() & other.keys()
        assert len(shared) >= 8
        assert all(first[uid] == other[uid] for uid in shared)
    # The turn on at the window's start (a week ago) keeps its real start and end.
    assert min(first.values()) == (
        datetime(2026, 11, 2, 14, 0, tzinfo=UTC),
        datetime(2026, 11, 9, 14, 0, tzinfo=UTC),
    )


def test_a_one_person_rotation_is_an_event_a_week_with_a_steady_uid() -> None:
    ann = person("ann@example.com")
    weekly_schedule("Solo", [ann], start=date(2026, 10, 5))

    first = by_uid(person_feed(user=ann, now=NOW))
    later = by_uid(person_feed(user=ann, now=NOW + timedelta(hours=5)))

    assert first == later
    starts = sorted(start for start, _end in first.values())
    assert starts[0] == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert all(b - a == timedelta(weeks=1) for a, b in pairwise(starts))
    assert all(end - start == timedelta(weeks=1) for start, end in first.values())


def calendar_name(body: bytes) -> bytes:
    return next(line for line in body.split(b"\r\n") if line.startswith(b"X-WR-CALNAME"))


def test_the_calendar_name_is_escaped_as_text() -> None:
    ann = person("ann@example.com", name="Ortiz, Ann")
    schedule = weekly_schedule("DB; EU, primary", [ann], start=date(2026, 11, 2))

    assert calendar_name(schedule_feed(schedule=schedule, now=NOW)) == (
        b"X-WR-CALNAME:On call: DB\\; EU\\, primary"
    )
    assert calendar_name(person_feed(user=ann, now=NOW)) == b"X-WR-CALNAME:On call: Ortiz\\, Ann"


def test_a_newline_in_the_schedule_name_is_escaped_not_a_500() -> None:
    schedule = weekly_schedule("Primary\nEU", [person("ann@example.com")])

    response = Client().get(f"/ical/schedule/{schedule.feed_token}.ics")

    assert response.status_code == 200
    assert calendar_name(response.content) == b"X-WR-CALNAME:On call: Primary\\nEU"


@pytest.mark.parametrize("token", ["%C3%A9", "0" * 32, "%E6%97%A5" * 11])
def test_any_wrong_person_token_is_the_same_404_as_an_unknown_person(token: str) -> None:
    ann = person("ann@example.com")
    client = Client(raise_request_exception=False)

    assert client.get(f"/ical/person/nosuchperson1/{token}.ics").status_code == 404
    assert client.get(f"/ical/person/{ann.public_id}/{token}.ics").status_code == 404
