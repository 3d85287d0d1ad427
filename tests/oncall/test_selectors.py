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


@pytest.mark.parametrize(
    ("field", "value"),
    [("handoff_day", "Mon"), ("every_seconds", 0), ("rotation", "fortnightly")],
)
def test_a_layer_saved_with_a_value_no_rotation_can_use_puts_nobody_on_call(
    field: str, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Saved without validation (an old row, a raw write): the schedule shows the gap and
    the earlier layer still works, instead of every on-call read failing."""
    ann, ben = person("ann@example.com"), person("ben@example.com")
    schedule = weekly_schedule("Primary", [ann])
    broken = add_layer(schedule, [ben], position=1)
    changes: dict[str, object] = {field: value}
    if field == "every_seconds":
        changes["rotation"] = "every"
    Layer.objects.filter(pk=broken.pk).update(**changes)

    assert oncall_users_at(schedule=schedule, at=NOW) == [ann]
    assert schedule_gaps(schedule=schedule, start=NOW) == []
    assert "Primary layer 2" in caplog.text

    Layer.objects.filter(pk=broken.pk).update(position=0)
    Layer.objects.filter(schedule=schedule).exclude(pk=broken.pk).delete()
    assert oncall_users_at(schedule=schedule, at=NOW) == []
    assert len(schedule_gaps(schedule=schedule, start=NOW)) == 1
