"""Who is on call, shifts, calendar feeds, readiness and "escalate now" through the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import Client
from icalendar import Calendar

from tests.conftest import SHARED
from tocsin.engine.worker import run_once
from tocsin.oncall.models import Schedule

pytestmark = pytest.mark.django_db
Api = Callable[..., tuple[int, Any]]
THANKSGIVING_NOON = "2026-11-26T12:00:00-05:00"


@pytest.fixture
def example(db: None) -> None:
    call_command("config_apply", str(SHARED / "examples" / "tocsin.yaml"))


def test_oncall_names_everyone_at_an_instant(api: Api, example: None) -> None:
    status, body = api("get", f"/oncall?at={THANKSGIVING_NOON.replace('+', '%2B')}")
    assert status == 200
    now = {s["name"]: [p["email"] for p in s["oncall"]] for s in body["schedules"]}
    assert now["Platform primary"] == ["carol@example.com"]  # the override
    assert now["Platform secondary"] == ["bob@example.com"]
    levels = body["escalation_policies"][0]["levels"]
    assert [p["email"] for p in levels[2]["people"]] == ["carol@example.com"]


def test_a_time_without_offset_is_a_clear_400(api: Api, example: None) -> None:
    status, body = api("get", "/oncall?at=2026-11-26T12:00")
    assert status == 400
    assert "offset" in body["detail"]


def test_shifts_over_a_range_show_the_override(api: Api, example: None) -> None:
    primary = Schedule.objects.get(name="Platform primary")
    status, shifts = api(
        "get",
        f"/schedules/{primary.public_id}/shifts?from=2026-11-23T09:00:00-05:00"
        "&to=2026-11-30T09:00:00-05:00",
    )
    assert status == 200
    assert [(s["person"]["email"], s["source"]) for s in shifts] == [
        ("alice@example.com", "layer 1"),
        ("carol@example.com", "override"),
        ("alice@example.com", "layer 1"),
    ]


def test_a_backwards_range_is_refused(api: Api, example: None) -> None:
    status, _ = api(
        "get",
        "/schedules/Platform primary/shifts?from=2026-11-30T00:00:00Z&to=2026-11-23T00:00:00Z",
    )
    assert status == 400


def test_the_schedule_calendar_feed_is_valid_icalendar(example: None) -> None:
    primary = Schedule.objects.get(name="Platform primary")
    with time_machine.travel(datetime(2026, 11, 23, 12, tzinfo=UTC), tick=False):
        response = Client().get(f"/ical/schedule/{primary.feed_token}.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content
    assert body.startswith(b"BEGIN:VCALENDAR\r\n")
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    events = Calendar.from_ical(body).walk("VEVENT")
    assert events
    assert all(e.get("UID") and e.get("DTSTAMP") for e in events)
    summaries = {str(e.get("SUMMARY")) for e in events}
    assert "On call: Platform primary (Carol Diaz)" in summaries


def test_a_wrong_feed_token_is_404(example: None) -> None:
    assert Client().get("/ical/schedule/nope.ics").status_code == 404


def test_readiness_is_clean_for_the_shared_example(api: Api, example: None) -> None:
    with time_machine.travel(datetime(2026, 11, 23, 12, tzinfo=UTC), tick=False):
        status, body = api("get", "/readiness")
    assert status == 200
    assert body == {"ready": True, "problems": []}


def test_readiness_lists_what_would_page_nobody(api: Api, example: None) -> None:
    from tocsin.accounts.models import Role, User
    from tocsin.alerts.models import Service

    Service.objects.create(name="Orphan")
    ghost = User.objects.create_user("ghost@example.com", name="Ghost")
    Role.objects.get(name="CTO").members.set([ghost])
    with time_machine.travel(datetime(2026, 11, 23, 12, tzinfo=UTC), tick=False):
        _, body = api("get", "/readiness")
    problems = {(p["kind"], p["subject"]) for p in body["problems"]}
    assert ("service_without_policy", "Orphan") in problems
    assert ("unreachable_person", "ghost@example.com") in problems
    assert body["ready"] is False


def test_readiness_names_a_person_an_escalation_level_pages_directly(
    api: Api, example: None
) -> None:
    from tocsin.accounts.models import User
    from tocsin.escalation.models import EscalationLevel

    User.objects.create_user("direct@example.com", name="Direct")
    level = EscalationLevel.objects.order_by("policy_id", "position").first()
    assert level is not None
    level.targets = [*level.targets, {"user": "direct@example.com"}]
    level.save(update_fields=["targets"])
    with time_machine.travel(datetime(2026, 11, 23, 12, tzinfo=UTC), tick=False):
        _, body = api("get", "/readiness")
    assert {
        "kind": "unreachable_person",
        "subject": "direct@example.com",
        "message": "Direct can be paged (schedule, role or escalation level) but has no working "
        "contact method",
    } in body["problems"]


def test_escalate_now_pages_a_chosen_person(api: Api, example: None) -> None:
    _, incident = api("post", "/incidents", {"title": "Checkout down"})
    status, _ = api(
        "post",
        f"/incidents/{incident['id']}/escalate",
        {"user": "dave@example.com", "message": "need a decision"},
    )
    assert status == 202
    run_once()
    assert [m.to[0] for m in mail.outbox] == ["dave@example.com"]
    status, timeline = api("get", f"/incidents/{incident['id']}/timeline")
    assert timeline[-1]["kind"] == "escalate_requested"


def test_escalating_to_an_unknown_role_is_a_400(api: Api, example: None) -> None:
    _, incident = api("post", "/incidents", {"title": "Checkout down"})
    status, body = api("post", f"/incidents/{incident['id']}/escalate", {"role": "Nobody"})
    assert status == 400
    assert "Nobody" in body["detail"]


def test_simulate_runs_the_current_policy_for_a_service(api: Api, example: None) -> None:
    status, events = api(
        "get",
        "/services/Checkout API/simulate?severity=P1&at=2026-11-28T03:00:00-05:00"
        "&ack_after=20m&resolve_after=2h",
    )
    assert status == 200
    assert events[0]["at"] == "2026-11-28T03:00:00-05:00"
    matrix = [
        (e["offset_seconds"] // 60, e["targets"])
        for e in events
        if "escalation_matrix" in e["rule"]
    ]
    assert matrix[1] == (30, ["carol@example.com"])
    assert any(e["kind"] == "postmortem_due" for e in events)


def test_simulate_with_a_bad_duration_is_a_400_naming_it(api: Api, example: None) -> None:
    status, body = api("get", "/services/Checkout API/simulate?severity=P1&ack_after=soon")
    assert status == 400
    assert "ack_after" in body["detail"]


def test_an_acknowledged_incident_escalates_only_to_a_chosen_person(
    api: Api, example: None
) -> None:
    _, incident = api("post", "/incidents", {"title": "Checkout down"})
    api("post", f"/incidents/{incident['id']}/acknowledge", {})
    status, body = api("post", f"/incidents/{incident['id']}/escalate", {})
    assert status == 409
    assert "chosen person" in body["detail"]
    status, _ = api(
        "post",
        f"/incidents/{incident['id']}/escalate",
        {"user": "dave@example.com", "message": "need the DB expert"},
    )
    assert status == 202
    run_once()
    assert [m.to[0] for m in mail.outbox] == ["dave@example.com"]


def test_a_deactivated_participant_is_nobody_on_call_and_counts_as_a_gap(api: Api) -> None:
    from datetime import date

    from tests.factories import person, weekly_schedule

    ben = person("ben@example.com")
    weekly_schedule("Primary", [ben], start=date(2026, 11, 2))
    ben.is_active = False
    ben.save(update_fields=["is_active"])

    status, body = api("get", "/oncall?at=2026-11-10T12:00:00Z")

    assert status == 200
    [row] = body["schedules"]
    assert (row["oncall"], row["gaps_next_14_days"]) == ([], 1)
    with time_machine.travel(datetime(2026, 11, 10, 12, tzinfo=UTC), tick=False):
        _, readiness = api("get", "/readiness")
    assert ("gap", "Primary") in {(p["kind"], p["subject"]) for p in readiness["problems"]}


def test_one_layer_with_a_value_no_rotation_can_use_does_not_break_oncall(api: Api) -> None:
    from datetime import date

    from tests.factories import person, weekly_schedule
    from tocsin.oncall.models import Layer

    weekly_schedule("Broken", [person("ann@example.com")], start=date(2026, 11, 2))
    weekly_schedule("Primary", [person("ben@example.com")], start=date(2026, 11, 2))
    Layer.objects.filter(schedule__name="Broken").update(rotation="every", every_seconds=0)

    status, body = api("get", "/oncall?at=2026-11-10T12:00:00Z")

    assert status == 200
    rows = {s["name"]: (s["oncall"], s["gaps_next_14_days"]) for s in body["schedules"]}
    assert rows == {
        "Broken": ([], 1),
        "Primary": ([{"email": "ben@example.com", "name": "Ben"}], 0),
    }


@pytest.mark.parametrize(
    "query",
    [
        "/oncall?at=9999-12-31T00:00:00Z",
        "/oncall?at=0001-01-01T00:00:00%2B05:00",
        "/oncall?at=1969-12-31T23:59:59Z",
        "/schedules/Primary/shifts?from=2026-11-10T00:00:00Z&to=9999-12-31T00:00:00Z",
        "/services/Checkout API/simulate?severity=P1&at=9999-12-31T00:00:00Z",
    ],
)
def test_a_time_out_of_range_is_a_400_naming_the_field(api: Api, query: str) -> None:
    from datetime import date

    from tests.factories import person, weekly_schedule

    weekly_schedule("Primary", [person("ben@example.com")], start=date(2026, 11, 2))

    status, body = api("get", query)

    assert status == 400
    field = query.split("&")[-1].split("?")[-1].split("=")[0]
    assert body["detail"].startswith(f"{field}: must be from 1970")


def test_times_in_the_range_are_answered(api: Api) -> None:
    from datetime import date

    from tests.factories import person, weekly_schedule

    weekly_schedule("Primary", [person("ben@example.com")], start=date(2026, 11, 2))

    assert api("get", "/oncall?at=2999-12-31T23:00:00Z")[0] == 200
    assert api("get", "/oncall?at=1970-01-01T00:00:00Z")[0] == 200
