"""On-call reads: who is on call at an instant, final shifts, gaps."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.oncall import rotation
from tocsin.oncall.models import Layer, Schedule

GAP_HORIZON = timedelta(days=14)
log = logging.getLogger("tocsin.oncall")


def _layer_spec(row: Layer) -> rotation.Layer:
    """One layer for the resolver. A layer it cannot compute (a value saved without
    validation) puts nobody on call, so its schedule shows gaps instead of every on-call read
    failing, for this schedule and every other."""
    layer = rotation.Layer(
        participants=[m.user.email for m in row.members.all()],
        start=row.start,
        rotation=row.rotation,  # type: ignore[arg-type]
        every=timedelta(seconds=row.every_seconds),
        handoff_day=row.handoff_day,
        handoff_time=row.handoff_time,
    )
    problem = rotation.layer_problem(layer)
    if problem is None:
        return layer
    log.error("%s: %s; it puts nobody on call until it is fixed", row, problem)
    return rotation.Layer(participants=(), start=row.start)


def schedule_spec(*, schedule: Schedule) -> rotation.Schedule:
    """The schedule as the resolver sees it (people identified by e-mail; deactivated people
    are ``absent``, so every read treats their turns and overrides as nobody's)."""
    absent: set[str] = set()
    layers = []
    for row in schedule.layers.prefetch_related("members__user"):
        absent.update(m.user.email for m in row.members.all() if not m.user.is_active)
        layers.append(_layer_spec(row))
    overrides = []
    for o in schedule.overrides.select_related("user").order_by("created_at", "id"):
        if not o.user.is_active:
            absent.add(o.user.email)
        overrides.append(rotation.Override(o.user.email, o.start, o.end))
    return rotation.Schedule(
        schedule.name, schedule.timezone, layers, overrides, absent=frozenset(absent)
    )


def _users_by_email(emails: list[str]) -> dict[str, User]:
    return {u.email: u for u in User.objects.filter(email__in=emails, is_active=True)}


def oncall_users_at(*, schedule: Schedule, at: datetime | None = None) -> list[User]:
    """The people on call for ``schedule`` at ``at`` (now by default); empty in a gap."""
    who, _source = rotation.oncall_at(schedule_spec(schedule=schedule), at or timezone.now())
    if who is None:
        return []
    user = _users_by_email([who]).get(who)
    return [user] if user else []


def schedule_shifts(
    *, schedule: Schedule, start: datetime, end: datetime
) -> list[tuple[rotation.Shift, User | None]]:
    """Final shifts between ``start`` and ``end``, each with its person (None in a gap)."""
    result = rotation.shifts(schedule_spec(schedule=schedule), start, end)
    people = _users_by_email([s.who for s in result if s.who])
    return [(s, people.get(s.who) if s.who else None) for s in result]


def schedule_turns(
    *, schedule: Schedule, start: datetime, end: datetime
) -> list[tuple[rotation.Shift, User | None]]:
    """Whole turns overlapping ``start`` to ``end`` (see ``rotation.turns``), with their person."""
    result = rotation.turns(schedule_spec(schedule=schedule), start, end)
    people = _users_by_email([s.who for s in result if s.who])
    return [(s, people.get(s.who) if s.who else None) for s in result]


def schedule_gaps(*, schedule: Schedule, start: datetime | None = None) -> list[rotation.Shift]:
    """Stretches in the next 14 days with nobody on call."""
    start = start or timezone.now()
    return rotation.gaps(schedule_spec(schedule=schedule), start, start + GAP_HORIZON)
