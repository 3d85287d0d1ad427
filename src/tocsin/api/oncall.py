"""On-call, schedules, manual escalation and readiness endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from tocsin.accounts.models import ContactMethod, Role, User
from tocsin.escalation.models import EscalationPolicy
from tocsin.escalation.readiness import readiness
from tocsin.escalation.selectors import resolve_targets
from tocsin.escalation.services import escalation_escalate_now, escalation_page_directly
from tocsin.incidents.selectors import incident_get
from tocsin.notifications.models import Delivery
from tocsin.notifications.services import (
    TestTooSoon,
    contact_method_last_test,
    contact_method_test,
)
from tocsin.oncall.models import Schedule
from tocsin.oncall.selectors import oncall_users_at, schedule_gaps, schedule_shifts

router = Router(tags=["on-call"])
MAX_RANGE = timedelta(days=92)


class PersonOut(Schema):
    email: str
    name: str


class ScheduleOnCall(Schema):
    id: str
    name: str
    timezone: str
    oncall: list[PersonOut]
    gaps_next_14_days: int
    ical_url: str


class LevelOnCall(Schema):
    level: int
    targets: list[dict[str, str]]
    people: list[PersonOut]


class PolicyOnCall(Schema):
    name: str
    levels: list[LevelOnCall]


class OnCallOut(Schema):
    at: datetime
    schedules: list[ScheduleOnCall]
    escalation_policies: list[PolicyOnCall]


class ShiftOut(Schema):
    start: datetime
    end: datetime
    person: PersonOut | None
    source: str


class ProblemOut(Schema):
    kind: str
    subject: str
    message: str


class ReadinessOut(Schema):
    ready: bool
    problems: list[ProblemOut]


class EscalateIn(Schema):
    message: str = Field(default="", max_length=2000)
    user: str | None = Field(default=None, description="e-mail of a person to page now")
    role: str | None = Field(default=None, description="role whose members to page now")


def _person(user: User) -> PersonOut:
    return PersonOut(email=user.email, name=str(user))


# Times outside these are refused: rotations and windows are computed from them, and near
# datetime's limits that arithmetic overflows (9999-12-31 was a 500).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _aware(value: datetime | None, field: str) -> datetime:
    if value is None:
        return timezone.now()
    if value.tzinfo is None:
        raise HttpError(400, f"{field}: give a time zone offset, e.g. 2026-11-28T03:00-05:00")
    if not EARLIEST <= value < LATEST:
        raise HttpError(400, f"{field}: must be from 1970 to the end of 2999")
    return value


@router.get("/oncall", response=OnCallOut)
def oncall(request: HttpRequest, at: datetime | None = None) -> OnCallOut:
    """Who is on call at ``at`` (default now) for every schedule and every policy level."""
    when = _aware(at, "at")
    schedules = [
        ScheduleOnCall(
            id=s.public_id,
            name=s.name,
            timezone=s.timezone,
            oncall=[_person(u) for u in oncall_users_at(schedule=s, at=when)],
            gaps_next_14_days=len(schedule_gaps(schedule=s, start=when)),
            ical_url=f"{settings.BASE_URL}/ical/schedule/{s.feed_token}.ics",
        )
        for s in Schedule.objects.all()
    ]
    policies = [
        PolicyOnCall(
            name=p.name,
            levels=[
                LevelOnCall(
                    level=lv.position + 1,
                    targets=lv.targets,
                    people=[_person(r.user) for r in resolve_targets(lv.targets, when)],
                )
                for lv in p.levels.all()
            ],
        )
        for p in EscalationPolicy.objects.prefetch_related("levels")
    ]
    return OnCallOut(at=when, schedules=schedules, escalation_policies=policies)


class ShiftRange(Schema):
    start: datetime | None = Field(None, alias="from")
    end: datetime | None = Field(None, alias="to")


@router.get("/schedules/{ref}/shifts", response=list[ShiftOut])
def shifts(request: HttpRequest, ref: str, window: Query[ShiftRange]) -> list[ShiftOut]:
    """The final shifts of a schedule between ``from`` and ``to`` (default: the next 14 days)."""
    schedule = (
        Schedule.objects.filter(public_id=ref).first() or Schedule.objects.filter(name=ref).first()
    )
    if schedule is None:
        raise HttpError(404, f"no schedule {ref!r}")
    begin = _aware(window.start, "from")
    finish = _aware(window.end, "to") if window.end else begin + timedelta(days=14)
    if finish <= begin or finish - begin > MAX_RANGE:
        raise HttpError(400, "to: must be after from, and at most 92 days later")
    return [
        ShiftOut(start=s.start, end=s.end, person=_person(u) if u else None, source=s.source)
        for s, u in schedule_shifts(schedule=schedule, start=begin, end=finish)
    ]


@router.get("/readiness", response=ReadinessOut)
def readiness_view(request: HttpRequest) -> ReadinessOut:
    """Problems that would stop a page reaching someone, now or in the next 14 days."""
    problems = [ProblemOut(kind=p.kind, subject=p.subject, message=p.message) for p in readiness()]
    return ReadinessOut(ready=not problems, problems=problems)


@router.post("/incidents/{ref}/escalate", response={202: dict[str, str]}, tags=["incidents"])
def escalate(request: HttpRequest, ref: str, body: EscalateIn) -> Status[dict[str, str]]:
    """Escalate now: to the next level, or page a chosen person or role at once."""
    viewer = request.user if isinstance(request.user, User) else None
    incident = incident_get(ref=ref, user=viewer)
    if incident is None:
        raise HttpError(404, f"no incident {ref!r}")
    if not incident.is_open:
        raise HttpError(409, f"incident #{incident.number} is resolved")
    by = request.user if isinstance(request.user, User) else None
    if body.user or body.role:
        people = _chosen(body)
        escalation_page_directly(incident=incident, people=people, by=by, message=body.message)
        return Status(202, {"detail": f"paging {', '.join(p.email for p in people)}"})
    if incident.status != "triggered":
        raise HttpError(
            409,
            f"incident #{incident.number} is {incident.status}: the policy no longer pages; "
            "escalate to a chosen person or role instead",
        )
    escalation_escalate_now(incident=incident, by=by, message=body.message)
    return Status(202, {"detail": "escalating to the next level"})


def _chosen(body: EscalateIn) -> list[User]:
    if body.user:
        user = User.objects.filter(email=body.user.lower(), is_active=True).first()
        if user is None:
            raise HttpError(400, f"user: no person {body.user!r}")
        return [user]
    role = Role.objects.filter(name=body.role).first()
    if role is None:
        raise HttpError(400, f"role: no role {body.role!r}")
    people = list(role.members.filter(is_active=True))
    if not people:
        raise HttpError(400, f"role: {body.role!r} has nobody in it")
    return people


class SimulateQuery(Schema):
    severity: str
    at: datetime | None = None
    ack_after: str | None = None
    mitigate_after: str | None = None
    resolve_after: str | None = None
    updates_every: str | None = None


class SimEventOut(Schema):
    offset_seconds: int
    at: str
    kind: str
    rule: str
    targets: list[str]
    detail: str


def _sim_duration(name: str, value: str | None) -> timedelta | None:
    from tocsin.policy.config.durations import parse_duration

    if value is None:
        return None
    try:
        return timedelta(seconds=parse_duration(value).seconds)
    except ValueError as exc:
        raise HttpError(400, f"{name}: {exc}") from exc


@router.get("/services/{name}/simulate", response=list[SimEventOut], tags=["services"])
def simulate(request: HttpRequest, name: str, query: Query[SimulateQuery]) -> list[SimEventOut]:
    """What the running policy would do if this service broke at ``at`` (no writes)."""
    from tocsin.policy.selectors import simulate_current
    from tocsin.policy.simulate import Scenario, SimulationError

    at = _aware(query.at, "at")
    scenario = Scenario(
        severity=query.severity,
        at=at,
        service=name,
        ack_after=_sim_duration("ack_after", query.ack_after),
        mitigate_after=_sim_duration("mitigate_after", query.mitigate_after),
        resolve_after=_sim_duration("resolve_after", query.resolve_after),
        updates_every=_sim_duration("updates_every", query.updates_every),
    )
    try:
        events = simulate_current(scenario=scenario)
    except SimulationError as exc:
        raise HttpError(400, str(exc)) from exc
    zone = at.tzinfo or UTC
    return [SimEventOut(**e.as_json(at, zone)) for e in events]


# ---- a person's contact methods, and test messages to them ----------------------------------


class TestOut(Schema):
    id: str
    status: str = Field(description="pending, sent or failed")
    queued_at: datetime
    sent_at: datetime | None
    attempts: int
    error: str


class ContactMethodOut(Schema):
    name: str
    kind: str
    target: str
    status: str = Field(description="ok, or failing after a permanent error")
    last_error: str
    failing_since: datetime | None
    last_test: TestOut | None


def _test_out(delivery: Delivery) -> TestOut:
    return TestOut(
        id=delivery.public_id,
        status=delivery.status,
        queued_at=delivery.created_at,
        sent_at=delivery.sent_at,
        attempts=delivery.attempts,
        error=delivery.error,
    )


def _method_out(method: ContactMethod) -> ContactMethodOut:
    test = contact_method_last_test(method=method)
    return ContactMethodOut(
        name=method.name,
        kind=method.kind,
        target=method.target,
        status=method.status,
        last_error=method.last_error,
        failing_since=method.failing_since,
        last_test=_test_out(test) if test is not None else None,
    )


def _own_or_staff(request: HttpRequest, email: str) -> User:
    """The person named by ``email``, if the caller is that person or an administrator (a
    contact method's target can hold a webhook secret or a chat token)."""
    caller = request.user if isinstance(request.user, User) else None
    person = User.objects.filter(email=email.lower(), is_active=True).first()
    if person is None:
        raise HttpError(404, f"no person {email!r}")
    if caller is None or (caller.pk != person.pk and not caller.is_staff):
        raise HttpError(403, "only the person themselves or an administrator can do this")
    return person


@router.get("/people/{email}/contact-methods", response=list[ContactMethodOut], tags=["people"])
def contact_methods(request: HttpRequest, email: str) -> list[ContactMethodOut]:
    """A person's contact methods in order: working or failing, and their last test message."""
    person = _own_or_staff(request, email)
    methods = ContactMethod.objects.filter(user=person).order_by("position", "id")
    return [_method_out(method) for method in methods]


@router.post(
    "/people/{email}/contact-methods/{name}/test",
    response={202: TestOut, 429: dict[str, str]},
    tags=["people"],
)
def contact_method_test_api(
    request: HttpRequest, response: HttpResponse, email: str, name: str
) -> Status[TestOut] | Status[dict[str, str]]:
    """Send a test message through one contact method (at most one a minute). The worker
    sends it like a page; ``GET .../contact-methods`` shows its outcome (``last_test``)."""
    person = _own_or_staff(request, email)
    method = ContactMethod.objects.filter(user=person, name=name).first()
    if method is None:
        raise HttpError(404, f"{person.email} has no contact method named {name!r}")
    by = request.user if isinstance(request.user, User) else None
    try:
        delivery = contact_method_test(method=method, by=by)
    except TestTooSoon as exc:
        response["Retry-After"] = str(max(1, int(exc.wait.total_seconds() + 0.999)))
        return Status(429, {"detail": str(exc)})
    return Status(202, _test_out(delivery))
