"""Schedules: the list with gap warnings, four weeks of shifts, overrides added and removed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.conftest import SHARED
from tests.factories import person, weekly_schedule
from tocsin.accounts.models import User
from tocsin.oncall.models import Override, Schedule
from tocsin.oncall.selectors import oncall_users_at

from .conftest import T0

pytestmark = pytest.mark.django_db


def detail(schedule: Schedule) -> str:
    return reverse("web:schedule-detail", args=[schedule.public_id])


def get(browser: Client, path: str, at: datetime = T0) -> str:
    with time_machine.travel(at, tick=False):
        response = browser.get(path)
    assert response.status_code == 200
    return response.content.decode()


def text(html: str) -> str:
    """The page's words, tags and runs of spaces removed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_list_shows_zone_who_is_on_call_and_a_gap_warning(
    browser: Client, rota: dict[str, User]
) -> None:
    # A schedule whose only layer starts in a week: nobody until then.
    weekly_schedule("Database", [rota["carol"]], start=date(2026, 11, 30), tz="Europe/Berlin")

    page = text(get(browser, reverse("web:schedule-list")))

    assert "Platform primary America/New_York Dana until 2026-11-30 14:00 UTC Covered" in page
    assert "Database Europe/Berlin Nobody Gap: nobody on call from 2026-11-24 08:00 UTC" in page
    assert "to 2026-11-30 08:00 UTC" in page  # Monday 09:00 in Berlin


def test_the_shifts_table_keeps_0900_local_across_the_dst_change(
    browser: Client, alice: User
) -> None:
    a, b = person("ann@example.com"), person("ben@example.com")
    schedule = weekly_schedule("Night desk", [a, b], start=date(2026, 10, 5))

    # 2026-10-20: four weeks ahead crosses Sunday 1 November, when New York leaves EDT.
    html = get(browser, detail(schedule), at=datetime(2026, 10, 20, 12, tzinfo=UTC))
    page = text(html)

    assert "2026-10-26 09:00 EDT" in page
    assert "2026-11-02 09:00 EST" in page
    assert "2026-11-09 09:00 EST" in page
    # The week that spans the change is an hour longer in absolute time.
    assert "Ben 2026-10-26 09:00 EDT 2026-11-02 09:00 EST 7 days 1 h layer 1" in page
    assert "Ann 2026-11-02 09:00 EST 2026-11-09 09:00 EST 7 days layer 1" in page
    # The last shift in the four weeks shows its real end, not the window's.
    assert "Ann 2026-11-16 09:00 EST 2026-11-23 09:00 EST 7 days layer 1" in page
    assert "Week of Mon 2 Nov 2026" in page
    assert "Times on this page are in America/New_York, the schedule's zone." in page


def test_a_gap_is_a_red_row(browser: Client, rota: dict[str, User]) -> None:
    schedule = weekly_schedule("Database", [rota["carol"]], start=date(2026, 11, 30))

    html = get(browser, detail(schedule))

    row = html[html.index('<tr class="shift gap current">') :]
    assert "Nobody on call" in row[:300]
    assert "Carol" in html


def test_the_page_shows_layers_overrides_and_the_calendar_url(
    browser: Client, rota: dict[str, User], settings: object
) -> None:
    schedule = Schedule.objects.get(name="Platform primary")

    page = text(get(browser, detail(schedule)))

    assert "Layer 1 Rotation Weekly, Monday 09:00 (America/New_York)" in page
    assert "Dana dana@example.com Erin erin@example.com Frank frank@example.com" in page
    assert f"http://127.0.0.1:8000/ical/schedule/{schedule.feed_token}.ics" in page
    assert "No current or upcoming overrides." in page


def override_post(
    browser: Client, schedule: Schedule, who: User, start: str, end: str, note: str = ""
) -> tuple[int, str]:
    with time_machine.travel(T0, tick=False):
        response = browser.post(
            reverse("web:override-create", args=[schedule.public_id]),
            {"user": who.public_id, "start": start, "end": end, "note": note},
            follow=True,
        )
    return response.status_code, response.content.decode()


def test_alice_adds_an_override_in_the_schedules_zone(
    browser: Client, alice: User, rota: dict[str, User]
) -> None:
    schedule = Schedule.objects.get(name="Platform primary")

    status, html = override_post(
        browser, schedule, rota["carol"], "2026-11-26T00:00", "2026-11-27T00:00", "Thanksgiving"
    )

    assert status == 200
    override = Override.objects.get(schedule=schedule)
    # Midnight in New York (EST, UTC-5), whatever zone alice reads in.
    assert override.start == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    assert override.end == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    assert (override.user, override.note, override.created_by) == (
        rota["carol"],
        "Thanksgiving",
        alice,
    )
    page = text(html)
    assert "Carol is on call for Platform primary instead." in page
    assert "Carol 2026-11-26 00:00 EST → 2026-11-27 00:00 EST" in page
    assert "Carol 2026-11-26 00:00 EST 2026-11-27 00:00 EST 1 day override" in page


def test_an_override_that_ends_before_it_starts_is_refused(
    browser: Client, rota: dict[str, User]
) -> None:
    schedule = Schedule.objects.get(name="Platform primary")

    status, html = override_post(
        browser, schedule, rota["carol"], "2026-11-27T00:00", "2026-11-26T00:00"
    )

    assert status == 400
    assert "The end must be after the start." in html
    assert 'value="2026-11-27T00:00"' in html  # what was typed is kept
    assert not Override.objects.exists()


@pytest.mark.parametrize(
    ("start", "end", "error"),
    [
        ("2026-12-01T09:00", "2027-03-15T09:00", "An override can last at most 90 days."),
        ("2027-03-14T02:30", "2027-03-14T12:00", "be interpreted in time zone America/New_York"),
        ("", "2026-11-26T00:00", "This field is required."),
    ],
)
def test_other_bad_overrides_are_refused_with_a_reason(
    browser: Client, rota: dict[str, User], start: str, end: str, error: str
) -> None:
    schedule = Schedule.objects.get(name="Platform primary")

    status, html = override_post(browser, schedule, rota["carol"], start, end)

    assert status == 400
    assert error in html.replace("&#x27;", "'")
    assert not Override.objects.exists()


def test_the_configuration_files_note_is_reserved(browser: Client, rota: dict[str, User]) -> None:
    schedule = Schedule.objects.get(name="Platform primary")

    status, html = override_post(
        browser,
        schedule,
        rota["carol"],
        "2026-11-26T00:00",
        "2026-11-27T00:00",
        "(from configuration)",
    )

    assert status == 400
    assert "is reserved for the configuration file" in html
    assert not Override.objects.exists()


def test_an_override_is_removed_by_post_only(browser: Client, rota: dict[str, User]) -> None:
    schedule = Schedule.objects.get(name="Platform primary")
    override = Override.objects.create(
        schedule=schedule, user=rota["carol"], start=T0, end=T0 + timedelta(days=1)
    )
    url = reverse("web:override-delete", args=[schedule.public_id])

    assert browser.get(url, {"override": override.pk}).status_code == 405
    assert Override.objects.filter(pk=override.pk).exists()

    with time_machine.travel(T0, tick=False):
        response = browser.post(url, {"override": override.pk}, follow=True)

    assert not Override.objects.filter(pk=override.pk).exists()
    assert "Override for Carol removed." in response.content.decode()


def test_an_override_of_another_schedule_is_not_removed(
    browser: Client, rota: dict[str, User]
) -> None:
    primary = Schedule.objects.get(name="Platform primary")
    secondary = Schedule.objects.get(name="Platform secondary")
    override = Override.objects.create(
        schedule=secondary, user=rota["carol"], start=T0, end=T0 + timedelta(days=1)
    )

    response = browser.post(
        reverse("web:override-delete", args=[primary.public_id]),
        {"override": override.pk},
        follow=True,
    )

    assert Override.objects.filter(pk=override.pk).exists()
    assert "That override is already gone." in response.content.decode()


def test_tocsin_apply_keeps_overrides_added_here(
    browser: Client, alice: User, tmp_path: Path
) -> None:
    example = SHARED / "examples" / "tocsin.yaml"
    call_command("config_apply", str(example))
    primary = Schedule.objects.get(name="Platform primary")
    carol = User.objects.get(email="carol@example.com")
    override_post(browser, primary, carol, "2026-12-24T00:00", "2026-12-26T00:00", "Holidays")
    # The file's own override changes, so apply rewrites the schedule's overrides.
    changed = tmp_path / "tocsin.yaml"
    changed.write_text(
        example.read_text().replace('to: "2026-11-27T00:00"', 'to: "2026-11-28T00:00"')
    )

    call_command("config_apply", str(changed))

    notes = sorted(Override.objects.filter(schedule=primary).values_list("note", "end"))
    assert notes == [
        ("(from configuration)", datetime(2026, 11, 28, 5, 0, tzinfo=UTC)),
        ("Holidays", datetime(2026, 12, 26, 5, 0, tzinfo=UTC)),
    ]


def test_an_unknown_schedule_is_404(browser: Client) -> None:
    assert browser.get("/schedules/nope/").status_code == 404


def field_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found is not None, name
    return found.group(1)


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        # 01:30 EST on the spring-forward day: 02:00 does not exist, 03:00 EDT is next.
        (datetime(2026, 3, 8, 6, 30, tzinfo=UTC), "2026-03-08T03:00", "2026-03-09T03:00"),
        # 00:30 EDT on the fall-back day: 01:00 happens twice, 02:00 EST is the next once.
        (datetime(2026, 11, 1, 4, 30, tzinfo=UTC), "2026-11-01T02:00", "2026-11-02T02:00"),
        # 01:30 EST the day before spring forward: a day later, 02:00 does not exist.
        (datetime(2026, 3, 7, 6, 30, tzinfo=UTC), "2026-03-07T02:00", "2026-03-08T03:00"),
        (T0, "2026-11-24T04:00", "2026-11-25T04:00"),
    ],
)
def test_the_suggested_override_times_exist_once_and_the_form_takes_them(
    browser: Client, rota: dict[str, User], now: datetime, start: str, end: str
) -> None:
    schedule = Schedule.objects.get(name="Platform primary")

    html = get(browser, detail(schedule), at=now)

    assert (field_value(html, "start"), field_value(html, "end")) == (start, end)
    with time_machine.travel(now, tick=False):
        response = browser.post(
            reverse("web:override-create", args=[schedule.public_id]),
            {"user": rota["carol"].public_id, "start": start, "end": end, "note": ""},
        )
    assert response.status_code == 302
    assert Override.objects.get(schedule=schedule).user == rota["carol"]


def test_a_time_in_the_repeated_hour_is_its_first_occurrence(
    browser: Client, rota: dict[str, User]
) -> None:
    schedule = Schedule.objects.get(name="Platform primary")

    status, html = override_post(
        browser, schedule, rota["carol"], "2026-11-01T01:30", "2026-11-01T09:00"
    )

    assert status == 200
    override = Override.objects.get(schedule=schedule)
    assert override.start == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not EST
    assert override.end == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert "in the hour repeated when the clocks go back, the first one" in html


def test_an_override_added_here_keeps_winning_after_an_unrelated_apply(
    browser: Client, tmp_path: Path
) -> None:
    """Carol's override from the file covers Thanksgiving; Dave is put on call here for part
    of it, later, so he wins. Changing only a layer in the file and applying again keeps it so."""
    example = SHARED / "examples" / "tocsin.yaml"
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        call_command("config_apply", str(example))
    primary = Schedule.objects.get(name="Platform primary")
    from_file = Override.objects.get(schedule=primary)
    dave = User.objects.get(email="dave@example.com")
    override_post(browser, primary, dave, "2026-11-26T06:00", "2026-11-26T12:00", "swap")
    eight_am = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    assert oncall_users_at(schedule=primary, at=eight_am) == [dave]
    changed = tmp_path / "tocsin.yaml"
    changed.write_text(
        example.read_text().replace(
            "start: 2026-11-02\n        participants: [alice@example.com, bob",
            "start: 2026-10-26\n        participants: [alice@example.com, bob",
        )
    )
    assert changed.read_text() != example.read_text()

    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        call_command("config_apply", str(changed))

    assert oncall_users_at(schedule=primary, at=eight_am) == [dave]
    kept = Override.objects.get(schedule=primary, note="(from configuration)")
    assert (kept.pk, kept.created_at) == (from_file.pk, from_file.created_at)
    assert primary.layers.get(position=0).start == date(2026, 10, 26)
