"""On-call reads from the database: who is on call, shifts and gaps agree with each other."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tests.factories import person, weekly_schedule
from tocsin.accounts.models import User
from tocsin.oncall.models import Layer, LayerMember, Override, Schedule
from tocsin.oncall.selectors import oncall_users_at, schedule_gaps, schedule_shifts

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # Tuesday; handoffs Monday 14:00 UTC


def deactivate(user: User) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def add_layer(schedule: Schedule, people: list[User], position: int) -> Layer:
    layer = Layer.objects.create(
        schedule=schedule,
        position=position,
        rotation="weekly",
        handoff_day="monday",
        handoff_time=time(9, 0),
        start=date(2026, 11, 2),
    )
    for i, user in enumerate(people):
        LayerMember.objects.create(layer=layer, user=user, position=i)
    return layer


def test_a_deactivated_person_in_a_later_layer_leaves_the_earlier_layer_on_call() -> None:
    ann, ben = person("ann@example.com"), person("ben@example.com")
    schedule = weekly_schedule("Primary", [ann])
    add_layer(schedule, [ben], position=1)
    assert oncall_users_at(schedule=schedule, at=NOW) == [ben]

    deactivate(ben)

    assert oncall_users_at(schedule=schedule, at=NOW) == [ann]
    assert schedule_gaps(schedule=schedule, start=NOW) == []
    [(shift, who)] = schedule_shifts(schedule=schedule, start=NOW, end=NOW + timedelta(days=3))
    assert (who, shift.source) == (ann, "layer 1")


def test_a_deactivated_participants_turns_are_gaps() -> None:
    ann, ben = person("ann@example.com"), person("ben@example.com")
    schedule = weekly_schedule("Primary", [ann, ben])
    deactivate(ben)

    assert oncall_users_at(schedule=schedule, at=NOW) == []
    assert [(g.start, g.end) for g in schedule_gaps(schedule=schedule, start=NOW)] == [
        (NOW, datetime(2026, 11, 16, 14, 0, tzinfo=UTC)),  # ben's turn
        (datetime(2026, 11, 23, 14, 0, tzinfo=UTC), NOW + timedelta(days=14)),
    ]


def test_a_deactivated_persons_override_gives_the_time_back_to_the_layers() -> None:
    ann, carol = person("ann@example.com"), person("carol@example.com")
    schedule = weekly_schedule("Primary", [ann])
    Override.objects.create(
        schedule=schedule, user=carol, start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1)
    )
    deactivate(carol)

    assert oncall_users_at(schedule=schedule, at=NOW) == [ann]
    assert schedule_gaps(schedule=schedule, start=NOW) == []
