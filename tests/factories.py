"""Small builders for schedules, policies and people with contact methods."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.db.models import Model

from tocsin.accounts.models import ContactMethod, NotificationRule, Role, User
from tocsin.accounts.services import user_create
from tocsin.escalation.models import EscalationLevel, EscalationPolicy
from tocsin.oncall.models import Layer, LayerMember, Schedule


def person(email: str, *, name: str = "", rules: list[tuple[int, str, str]] | None = None) -> User:
    """A person with contact methods; rules are (after seconds, kind, target)."""
    user = user_create(email=email, name=name or email.split("@")[0].title())
    for position, (after, kind, target) in enumerate(rules or [(0, "email", email)]):
        method = ContactMethod.objects.create(
            user=user, name=f"{kind}-{position}", kind=kind, target=target, position=position
        )
        NotificationRule.objects.create(
            user=user, contact_method=method, after_seconds=after, position=position
        )
    return user


def weekly_schedule(
    name: str, people: list[User], *, start: date = date(2026, 11, 2), tz: str = "America/New_York"
) -> Schedule:
    schedule = Schedule.objects.create(name=name, timezone=tz)
    layer = Layer.objects.create(
        schedule=schedule,
        rotation="weekly",
        handoff_day="monday",
        handoff_time=time(9, 0),
        start=start,
    )
    for position, user in enumerate(people):
        LayerMember.objects.create(layer=layer, user=user, position=position)
    return schedule


def role(name: str, people: list[User]) -> Role:
    r = Role.objects.create(name=name)
    r.members.set(people)
    return r


def policy(
    name: str, levels: list[tuple[list[dict[str, str]], int]], repeat: int = 0
) -> EscalationPolicy:
    p = EscalationPolicy.objects.create(name=name, repeat=repeat)
    for position, (targets, wait) in enumerate(levels):
        EscalationLevel.objects.create(
            policy=p, position=position, targets=targets, wait_seconds=wait
        )
    return p


def rerun_one_by_one(monkeypatch: pytest.MonkeyPatch, models: tuple[type[Model], ...]) -> None:
    """Before a story runs again to compare: delete what the first run wrote and turn the
    set-based handlers off, so every timer runs one by one."""
    from tocsin.engine import handlers

    for model in models:
        model._default_manager.all().delete()
    monkeypatch.setattr(handlers, "BATCH_HANDLERS", {})
    monkeypatch.setattr("tocsin.engine.worker.BATCH_HANDLERS", {})
