"""Readiness: what would go wrong if something broke right now (or in the next 14 days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from tocsin.accounts.models import ContactMethod, Role, User
from tocsin.alerts.models import Service
from tocsin.escalation.models import EscalationLevel, EscalationPolicy
from tocsin.escalation.selectors import resolve_target, target_label
from tocsin.oncall import rotation
from tocsin.oncall.models import LayerMember, Schedule
from tocsin.oncall.selectors import GAP_HORIZON, schedule_gaps, schedule_spec


@dataclass(frozen=True)
class Problem:
    kind: str  # unreachable_person | service_without_policy | level_reaches_nobody | gap
    subject: str
    message: str


def _paged_people() -> set[int]:
    """Everyone a page can reach: schedule participants, role members, and the people an
    escalation level names directly."""
    ids = set(LayerMember.objects.values_list("user_id", flat=True))
    ids.update(Role.members.through.objects.values_list("user_id", flat=True))
    named = {
        target["user"].lower()
        for level in EscalationLevel.objects.all()
        for target in level.targets
        if "user" in target
    }
    ids.update(User.objects.filter(email__in=named).values_list("pk", flat=True))
    return ids


def _unreachable() -> list[Problem]:
    working = set(
        ContactMethod.objects.filter(status=ContactMethod.Status.OK).values_list(
            "user_id", flat=True
        )
    )
    people = User.objects.filter(pk__in=_paged_people() - working, is_active=True)
    return [
        Problem(
            "unreachable_person",
            p.email,
            f"{p} can be paged (schedule, role or escalation level) but has no working "
            "contact method",
        )
        for p in people
    ]


def _services_without_policy() -> list[Problem]:
    names = set(EscalationPolicy.objects.values_list("name", flat=True))
    return [
        Problem(
            "service_without_policy",
            s.name,
            f"service {s.name} has no escalation policy: its alerts page nobody"
            if not s.escalation_policy
            else f"service {s.name} names escalation policy {s.escalation_policy!r}, "
            "which does not exist",
        )
        for s in Service.objects.all()
        if s.escalation_policy not in names
    ]


def _instants(now: datetime) -> list[datetime]:
    """Now, then every 6 hours for 14 days: enough to hit every daily or weekly shift."""
    return [now + timedelta(hours=6 * i) for i in range(int(GAP_HORIZON / timedelta(hours=6)))]


def _reaches_nobody_at(target: dict[str, str], instants: list[datetime]) -> datetime | None:
    """The first instant the target reaches nobody (a schedule is built once, then computed)."""
    if "schedule" in target:
        schedule = Schedule.objects.filter(name=target["schedule"]).first()
        if schedule is None:
            return instants[0]
        spec = schedule_spec(schedule=schedule)
        active = set(User.objects.filter(is_active=True).values_list("email", flat=True))
        return next((t for t in instants if rotation.oncall_at(spec, t)[0] not in active), None)
    # Roles and people do not change with time: one look is enough.
    return instants[0] if not resolve_target(target, instants[0]) else None


def _empty_levels(now: datetime) -> list[Problem]:
    instants = _instants(now)
    problems = []
    for policy in EscalationPolicy.objects.prefetch_related("levels"):
        for level in policy.levels.all():
            for target in level.targets:
                empty = _reaches_nobody_at(target, instants)
                if empty is not None:
                    problems.append(
                        Problem(
                            "level_reaches_nobody",
                            policy.name,
                            f"{policy.name} level {level.position + 1}: {target_label(target)} "
                            f"reaches nobody at {empty:%Y-%m-%d %H:%M} UTC",
                        )
                    )
    return problems


def _gaps(now: datetime) -> list[Problem]:
    return [
        Problem(
            "gap",
            s.name,
            f"{s.name} has nobody on call from {g.start:%Y-%m-%d %H:%M} "
            f"to {g.end:%Y-%m-%d %H:%M} UTC",
        )
        for s in Schedule.objects.all()
        for g in schedule_gaps(schedule=s, start=now)
    ]


def readiness(*, now: datetime | None = None) -> list[Problem]:
    """Every readiness problem, most urgent kinds first."""
    now = now or timezone.now()
    return [*_services_without_policy(), *_empty_levels(now), *_unreachable(), *_gaps(now)]
