"""Paging reads for the pages: who is on call, a schedule's weeks, a profile, an incident's pages.

They compose the domain selectors (``oncall.selectors``, ``escalation.selectors``) into what one
page shows; the rules (who is on call, who a level reaches) stay in those apps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from tocsin.accounts.models import ContactMethod, NotificationRule, Role, User
from tocsin.engine.models import Timer
from tocsin.engine.selectors import FAILING_ATTEMPTS, OVERDUE_AFTER, overdue_work
from tocsin.engine.worker import worker_alive
from tocsin.escalation.models import EscalationPolicy, EscalationRun
from tocsin.escalation.selectors import Recipient, resolve_targets, target_label
from tocsin.escalation.services import STEP
from tocsin.incidents.models import Incident
from tocsin.notifications.models import Delivery
from tocsin.oncall.models import Layer, Override, Schedule
from tocsin.oncall.rotation import Shift
from tocsin.oncall.selectors import GAP_HORIZON, schedule_shifts
from tocsin.oncall.views import person_feed_token

SCHEDULE_WEEKS = 4
RECENT_DELIVERIES = 25


@dataclass(frozen=True)
class ShiftRow:
    """One final shift as a page shows it; ``person`` is None in a gap."""

    shift: Shift
    person: User | None
    current: bool = False
    starts_earlier: bool = False  # began before the window the page computed
    ends_later: bool = False  # goes on past it

    @property
    def gap(self) -> bool:
        return self.person is None

    @property
    def duration(self) -> timedelta:
        return self.shift.end - self.shift.start


@dataclass(frozen=True)
class ScheduleNow:
    """A schedule's current shift and its empty stretches in the next 14 days."""

    schedule: Schedule
    now: ShiftRow | None
    gaps: list[Shift]


@dataclass(frozen=True)
class PolicyNow:
    """Who an escalation policy's first level reaches right now."""

    policy: EscalationPolicy
    targets: list[str]
    recipients: list[Recipient]


def _rows(schedule: Schedule, start: datetime, end: datetime, now: datetime) -> list[ShiftRow]:
    return [
        ShiftRow(
            shift=shift,
            person=person,
            current=shift.start <= now < shift.end,
            starts_earlier=shift.start <= start,
            ends_later=shift.end >= end,
        )
        for shift, person in schedule_shifts(schedule=schedule, start=start, end=end)
    ]


def schedule_now(*, schedule: Schedule, now: datetime) -> ScheduleNow:
    """The current shift (with its end) and the gaps ahead, from one pass over the schedule."""
    rows = _rows(schedule, now, now + GAP_HORIZON, now)
    gaps = [row.shift for row in rows if row.shift.who is None]
    return ScheduleNow(schedule=schedule, now=rows[0] if rows else None, gaps=gaps)


def schedules_now(*, now: datetime) -> list[ScheduleNow]:
    """Every schedule by name, each with who is on call now and its gaps."""
    return [schedule_now(schedule=s, now=now) for s in Schedule.objects.order_by("name")]


def policies_now(*, now: datetime) -> list[PolicyNow]:
    """Every escalation policy with the people its first level would page now."""
    result = []
    for policy in EscalationPolicy.objects.prefetch_related("levels").order_by("name"):
        levels = list(policy.levels.all())
        targets = levels[0].targets if levels else []
        result.append(
            PolicyNow(
                policy=policy,
                targets=[target_label(t) for t in targets],
                recipients=resolve_targets(targets, now),
            )
        )
    return result


def schedule_get(*, public_id: str) -> Schedule | None:
    """A schedule by public id."""
    return Schedule.objects.filter(public_id=public_id).first()


@dataclass(frozen=True)
class Week:
    monday: date
    rows: list[ShiftRow]


def _upcoming(schedule: Schedule, now: datetime) -> list[ShiftRow]:
    """Shifts on now or starting in the next four weeks."""
    horizon = now + timedelta(weeks=SCHEDULE_WEEKS)
    # A week either side, so the first and last shifts show where they really start and end.
    start, end = now - timedelta(weeks=1), horizon + timedelta(weeks=1)
    return [
        row
        for row in _rows(schedule, start, end, now)
        if row.shift.end > now and row.shift.start < horizon
    ]


def schedule_weeks(*, schedule: Schedule, now: datetime) -> list[Week]:
    """The current shift and the next four weeks of final shifts, grouped by local week."""
    zone = ZoneInfo(schedule.timezone)
    weeks: dict[date, list[ShiftRow]] = {}
    for row in _upcoming(schedule, now):
        day = row.shift.start.astimezone(zone).date()
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(row)
    return [Week(monday, rows) for monday, rows in weeks.items()]


def schedule_layers(*, schedule: Schedule) -> QuerySet[Layer]:
    """The schedule's layers in order, with their participants."""
    return schedule.layers.prefetch_related("members__user").order_by("position")


def schedule_overrides(*, schedule: Schedule, now: datetime) -> QuerySet[Override]:
    """Overrides that are on now or still to come, soonest first."""
    return (
        schedule.overrides.filter(end__gt=now)
        .select_related("user", "created_by")
        .order_by("start", "id")
    )


def schedule_feed_url(*, schedule: Schedule) -> str:
    """The schedule's calendar subscription URL (the token in it is the credential)."""
    return settings.BASE_URL + reverse("ical-schedule", args=[schedule.feed_token])


def person_feed_url(*, user: User) -> str:
    """The person's own calendar subscription URL, across every schedule."""
    return settings.BASE_URL + reverse(
        "ical-person", args=[user.public_id, person_feed_token(user)]
    )


def person_shifts(*, user: User, now: datetime) -> list[tuple[Schedule, ShiftRow]]:
    """The person's shifts on now or in the next four weeks, across every schedule."""
    found = [
        (schedule, row)
        for schedule in Schedule.objects.order_by("name")
        for row in _upcoming(schedule, now)
        if row.person is not None and row.person.pk == user.pk
    ]
    return sorted(found, key=lambda pair: pair[1].shift.start)


def person_contact_methods(*, user: User) -> QuerySet[ContactMethod]:
    """The person's contact methods in their order."""
    return ContactMethod.objects.filter(user=user).order_by("position", "id")


def person_rules(*, user: User) -> QuerySet[NotificationRule]:
    """The person's notification rules: which method, how long after being paged."""
    return (
        NotificationRule.objects.filter(user=user)
        .select_related("contact_method")
        .order_by("after_seconds", "position", "id")
    )


def person_deliveries(*, user: User) -> QuerySet[Delivery]:
    """The latest messages sent (or meant) for the person, newest first (index user, time)."""
    return (
        Delivery.objects.filter(user=user)
        .select_related("incident", "contact_method")
        .order_by("-created_at", "-id")[:RECENT_DELIVERIES]
    )


@dataclass(frozen=True)
class Escalation:
    """An incident's escalation run and the step it waits for, if any."""

    run: EscalationRun
    levels: int
    next_step_at: datetime | None
    next_level: int | None  # 1-based, as people count levels


def incident_escalation(*, incident: Incident) -> Escalation | None:
    """The incident's escalation run with its next pending step (stale tokens skipped)."""
    run = EscalationRun.objects.filter(incident=incident).first()
    if run is None:
        return None
    # Steps planned before an acknowledgement or an "escalate now" carry an older token and will
    # exit when the worker reaches them: they are not the next step.
    step = (
        Timer.objects.filter(
            incident=incident,
            kind=STEP,
            done_at__isnull=True,
            payload__token=incident.escalation_token,
        )
        .order_by("due_at", "id")
        .first()
    )
    level = int(step.payload.get("level", 0)) + 1 if step else None
    return Escalation(
        run=run,
        levels=len(run.snapshot.get("levels", [])),
        next_step_at=step.due_at if step else None,
        next_level=level,
    )


def incident_policy_name(*, incident: Incident) -> str:
    """The escalation policy running for the incident, or "" when none is."""
    run = EscalationRun.objects.filter(incident=incident).values_list("policy_name", flat=True)
    return run.first() or ""


def incident_deliveries(*, incident: Incident) -> QuerySet[Delivery]:
    """Every message sent or planned for the incident, oldest first."""
    return (
        Delivery.objects.filter(incident=incident)
        .select_related("user", "contact_method", "bundled_into")
        .order_by("created_at", "id")
    )


def escalation_choices() -> tuple[QuerySet[User], QuerySet[Role]]:
    """The people and roles a responder can page directly."""
    return (
        User.objects.filter(is_active=True).order_by("name", "email"),
        Role.objects.order_by("name"),
    )


NO_WORKER = "No worker is running: nobody will be paged."


def auditor_warnings() -> list[str]:
    """What stops pages going out right now: no live worker, or work overdue (base template)."""
    warnings = [] if worker_alive() else [NO_WORKER]
    # Every page shows this, so first ask the three partial indexes (timer_pending,
    # delivery_pending, timer_failing) "is anything late or failing at all?" in one query,
    # their conditions written as literals so that SQLite uses them; the counts and dates
    # behind the message only run when something is. Same conditions as overdue_work().
    limit = connection.ops.adapt_datetimefield_value(timezone.now() - OVERDUE_AFTER)
    timers = connection.ops.quote_name(Timer._meta.db_table)
    deliveries = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {timers} WHERE done_at IS NULL AND due_at < %s) "
            f"OR EXISTS (SELECT 1 FROM {deliveries} WHERE status = 'pending' AND due_at < %s) "
            f"OR EXISTS (SELECT 1 FROM {timers} WHERE done_at IS NULL "
            f"AND attempts >= {FAILING_ATTEMPTS})",
            [limit, limit],
        )
        late = bool(cursor.fetchone()[0])
    if late and (overdue := overdue_work()).alert:
        warnings.append(overdue.describe())
    return warnings
