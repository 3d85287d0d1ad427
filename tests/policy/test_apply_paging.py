"""Applying a file makes its schedules and escalation policies live for paging."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from tests.conftest import SHARED
from tocsin.escalation.models import EscalationPolicy
from tocsin.oncall.models import Override, Schedule
from tocsin.oncall.selectors import oncall_users_at

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")
EXAMPLE = str(SHARED / "examples" / "tocsin.yaml")


def emails(schedule: str, at: datetime) -> list[str]:
    return [u.email for u in oncall_users_at(schedule=Schedule.objects.get(name=schedule), at=at)]


def test_the_shared_example_schedules_resolve_to_the_right_people() -> None:
    call_command("config_apply", EXAMPLE)
    assert emails("Platform primary", datetime(2026, 11, 2, 9, 0, tzinfo=NY)) == [
        "alice@example.com"
    ]
    assert emails("Platform primary", datetime(2026, 11, 9, 8, 59, tzinfo=NY)) == [
        "alice@example.com"
    ]
    assert emails("Platform primary", datetime(2026, 11, 9, 9, 0, tzinfo=NY)) == ["bob@example.com"]
    # The override: carol on Thanksgiving, New York time.
    assert emails("Platform primary", datetime(2026, 11, 26, 12, 0, tzinfo=NY)) == [
        "carol@example.com"
    ]
    # Week 4 of the rotation (index 3): secondary (bob, erin, alice) is back to bob.
    assert emails("Platform secondary", datetime(2026, 11, 26, 12, 0, tzinfo=NY)) == [
        "bob@example.com"
    ]
    # "Incident commanders" has no zone of its own: the calendar's (America/New_York) applies.
    assert Schedule.objects.get(name="Incident commanders").timezone == "America/New_York"


def test_the_escalation_policy_levels_are_stored_in_order() -> None:
    call_command("config_apply", EXAMPLE)
    policy = EscalationPolicy.objects.get(name="Platform default")
    assert policy.repeat == 1
    assert [(lv.targets, lv.wait_seconds) for lv in policy.levels.all()] == [
        ([{"schedule": "Platform primary"}], 900),
        ([{"schedule": "Platform secondary"}], 900),
        ([{"role": "Engineering Manager"}], 0),
    ]


def test_applying_twice_changes_nothing_and_keeps_ui_overrides(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("config_apply", EXAMPLE)
    schedule = Schedule.objects.get(name="Platform primary")
    feed_token = schedule.feed_token
    from tocsin.accounts.models import User

    Override.objects.create(
        schedule=schedule,
        user=User.objects.get(email="erin@example.com"),
        start=datetime(2026, 12, 1, tzinfo=NY),
        end=datetime(2026, 12, 2, tzinfo=NY),
        note="swap with erin",
    )
    capsys.readouterr()
    call_command("config_apply", EXAMPLE)
    out = capsys.readouterr().out
    assert "schedules:" in out
    assert "0 created, 0 updated, 3 unchanged" in out
    schedule.refresh_from_db()
    assert schedule.feed_token == feed_token
    assert schedule.overrides.count() == 2
