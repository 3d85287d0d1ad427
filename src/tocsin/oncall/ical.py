"""iCalendar (RFC 5545) feeds of shifts, per schedule and per person.

The icalendar library does the CRLF line endings, 75-octet folding and text escaping.
An event is one whole turn (``rotation.turns``): its real start and end, even when it began
before the feed's window, and a new event at every handoff, even to the same person. Its UID is
a hash of (schedule, person, real start), so every refresh names the same turn the same way and
a calendar app updates it in place instead of duplicating it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from icalendar import Alarm, Calendar, Event, vText

from tocsin import __version__
from tocsin.accounts.models import User
from tocsin.oncall.models import Schedule
from tocsin.oncall.selectors import schedule_turns

HORIZON = timedelta(weeks=8)
HISTORY = timedelta(weeks=1)


def _uid(schedule: Schedule, email: str, start: datetime) -> str:
    raw = f"{schedule.public_id}|{email}|{start.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32] + "@tocsin"


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", f"-//Tocsin//{__version__}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # An X- property is not known to be TEXT, so the library would write it raw: escape it as
    # TEXT like SUMMARY (a ',' or ';' would be read as a separator, a newline breaks the feed).
    cal.add("x-wr-calname", vText(name))
    return cal


def _event(schedule: Schedule, who: User, start: datetime, end: datetime, now: datetime) -> Event:
    event = Event()
    event.add("uid", _uid(schedule, who.email, start))
    event.add("summary", f"On call: {schedule.name} ({who})")
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add(
        "description",
        f"{who} is on call for {schedule.name}.\n"
        f"{settings.BASE_URL}/schedules/{schedule.public_id}/",
    )
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"On call for {schedule.name} in 10 minutes")
    alarm.add("trigger", timedelta(minutes=-10))
    event.add_component(alarm)
    return event


def _shift_events(schedules: Iterable[Schedule], person: User | None, now: datetime) -> list[Event]:
    events = []
    for schedule in schedules:
        for shift, who in schedule_turns(schedule=schedule, start=now - HISTORY, end=now + HORIZON):
            if who is None or (person is not None and who.pk != person.pk):
                continue
            events.append(_event(schedule, who, shift.start, shift.end, now))
    return events


def schedule_feed(*, schedule: Schedule, now: datetime | None = None) -> bytes:
    """Every shift of one schedule, a week back and eight weeks ahead."""
    now = now or timezone.now()
    cal = _calendar(f"On call: {schedule.name}")
    for event in _shift_events([schedule], None, now):
        cal.add_component(event)
    return bytes(cal.to_ical())


def person_feed(*, user: User, now: datetime | None = None) -> bytes:
    """Every shift of one person, across all schedules."""
    now = now or timezone.now()
    cal = _calendar(f"On call: {user}")
    for event in _shift_events(Schedule.objects.all(), user, now):
        cal.add_component(event)
    return bytes(cal.to_ical())
