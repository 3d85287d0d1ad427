"""Escalation reads: who a policy level reaches at an instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin.accounts.models import Role, User
from tocsin.engine.memo import memoized
from tocsin.escalation.models import EscalationPolicy
from tocsin.oncall.models import Schedule
from tocsin.oncall.selectors import oncall_users_at


@dataclass(frozen=True)
class Recipient:
    user: User
    via: str  # "schedule Platform primary", "role Engineering Manager", "user"


def target_label(target: dict[str, str]) -> str:
    """``{"schedule": "X"}`` -> ``schedule X``."""
    kind, name = next(iter(target.items()))
    return f"{kind} {name}"


def resolve_target(target: dict[str, str], at: datetime) -> list[Recipient]:
    """The people one target means at ``at``: a schedule's on-call person, a role, a user."""
    key = ("resolve_target", tuple(sorted(target.items())), at)
    return memoized(key, lambda: _resolve_target(target, at))


def _resolve_target(target: dict[str, str], at: datetime) -> list[Recipient]:
    label = target_label(target)
    if "schedule" in target:
        schedule = Schedule.objects.filter(name=target["schedule"]).first()
        users = oncall_users_at(schedule=schedule, at=at) if schedule else []
    elif "role" in target:
        role = Role.objects.filter(name=target["role"]).first()
        users = list(role.members.filter(is_active=True)) if role else []
    else:
        users = list(User.objects.filter(email=target.get("user", ""), is_active=True))
    return [Recipient(u, label) for u in users]


def resolve_targets(targets: list[dict[str, str]], at: datetime) -> list[Recipient]:
    """Everyone a level reaches, each person once (first target wins)."""
    seen: set[int] = set()
    result = []
    for target in targets:
        for recipient in resolve_target(target, at):
            if recipient.user.pk not in seen:
                seen.add(recipient.user.pk)
                result.append(recipient)
    return result


def policy_snapshot(*, policy: EscalationPolicy) -> dict[str, Any]:
    """The policy as data, frozen onto an incident when its escalation starts (DESIGN rule 5)."""
    return {
        "name": policy.name,
        "repeat": policy.repeat,
        "ack_timeout_seconds": policy.ack_timeout_seconds,
        "levels": [
            {"targets": level.targets, "wait_seconds": level.wait_seconds}
            for level in policy.levels.all()
        ],
    }
