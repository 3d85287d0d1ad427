"""Reads for the incident process on the incident page: phases, clocks, roles, checklists,
status updates, and the "what happens if this breaks?" simulation of the services page.

Like ``web/selectors.py`` these belong to the domain apps eventually; they shape rows for
templates and never write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from itertools import groupby

from django.db.models import QuerySet

from tocsin.accounts.models import User
from tocsin.comms.context import PHASE_NAMES
from tocsin.incidents.models import ChecklistItem, Incident, IncidentRole, StatusUpdate
from tocsin.policy.simulate import SimEvent

DEFAULT_ROLES = ("commander", "tech_lead", "comms_lead", "scribe")
STEPS = ("investigating", "identified", "monitoring", "resolved", "closed")
STEP_NAMES = {**PHASE_NAMES, "closed": "Closed"}  # the bar tells resolved and closed apart
BREACH_NAMES = {
    "respond_within": "response target missed",
    "resolve_within": "resolution target missed",
}


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: str  # done | current | todo


@dataclass(frozen=True)
class Action:
    """A button of the phase bar: a phase (posted as ``status``), resolve, close or reopen."""

    kind: str  # phase | resolve | close | reopen
    value: str
    label: str
    primary: bool = False


@dataclass(frozen=True)
class PhaseBar:
    steps: list[Step]
    actions: list[Action]


def _current_step(status: str) -> str:
    return status if status in STEPS else "investigating"  # triggered, acknowledged


def _actions(status: str) -> list[Action]:
    if status == Incident.Status.CLOSED:
        return [Action("reopen", "", "Reopen")]
    if status == Incident.Status.RESOLVED:
        return [Action("close", "", "Close", primary=True), Action("reopen", "", "Reopen")]
    following = {
        "investigating": "identified",
        "identified": "monitoring",
        "monitoring": "resolve",
    }.get(status, "investigating")
    phases = [
        Action("phase", p, PHASE_NAMES[p], primary=p == following)
        for p in ("investigating", "identified", "monitoring")
        if p != status
    ]
    return [*phases, Action("resolve", "", "Resolve", primary=following == "resolve")]


def phase_bar(*, incident: Incident) -> PhaseBar:
    """Where the incident is in the guides' phases, and the buttons that move it on."""
    current = STEPS.index(_current_step(incident.status))
    steps = [
        Step(key, STEP_NAMES[key], "done" if i < current else "current" if i == current else "todo")
        for i, key in enumerate(STEPS)
    ]
    return PhaseBar(steps, _actions(incident.status))


@dataclass(frozen=True)
class Clocks:
    next_update_due: datetime | None
    update_in: timedelta | None  # negative once overdue
    breaches: list[str]
    postmortem_due_at: datetime | None

    @property
    def overdue(self) -> bool:
        return self.update_in is not None and self.update_in < timedelta(0)

    @property
    def overdue_by(self) -> timedelta | None:
        return -self.update_in if self.update_in is not None else None


def incident_clocks(*, incident: Incident, now: datetime) -> Clocks:
    """The update cadence (while open), missed targets and the post-mortem due date."""
    due = incident.next_update_due if incident.is_open else None
    return Clocks(
        next_update_due=due,
        update_in=due - now if due else None,
        breaches=[BREACH_NAMES.get(str(b), str(b).replace("_", " ")) for b in incident.breaches],
        postmortem_due_at=incident.postmortem_due_at,
    )


@dataclass
class RoleRow:
    role: str
    label: str
    primary: IncidentRole | None = None
    backup: IncidentRole | None = None


def incident_role_names(*, incident: Incident) -> list[str]:
    """The roles of this incident's policy (commander, tech lead, comms lead, scribe)."""
    names = incident.policy_snapshot.get("roles_in_incident") or DEFAULT_ROLES
    return [str(n) for n in names]


def role_label(role: str) -> str:
    return role.replace("_", " ").capitalize()


def incident_roles(*, incident: Incident) -> list[RoleRow]:
    """Each role of the incident with its primary and backup holder."""
    rows = {r: RoleRow(r, role_label(r)) for r in incident_role_names(incident=incident)}
    for held in IncidentRole.objects.filter(incident=incident).select_related("user"):
        row = rows.setdefault(held.role, RoleRow(held.role, role_label(held.role)))
        if held.backup:
            row.backup = held
        else:
            row.primary = held
    return list(rows.values())


def active_people() -> QuerySet[User]:
    """People who can hold a role, by name."""
    return User.objects.filter(is_active=True).order_by("name", "email")


@dataclass
class ChecklistGroup:
    checklist: str
    title: str
    phase: str
    required_to: str
    due_at: datetime | None
    items: list[ChecklistItem] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(1 for i in self.items if i.done)


def incident_checklists(*, incident: Incident) -> list[ChecklistGroup]:
    """The incident's checklist items, grouped by checklist in policy order."""
    items = ChecklistItem.objects.filter(incident=incident).select_related("checked_by")
    groups = []
    for checklist, rows in groupby(items.order_by("checklist", "position"), lambda i: i.checklist):
        members = list(rows)
        first = members[0]
        groups.append(
            ChecklistGroup(
                checklist=checklist,
                title=first.checklist_title or checklist,
                phase=first.phase,
                required_to=first.required_to,
                due_at=first.due_at,
                items=members,
            )
        )
    return groups


def checklist_item_get(
    *, incident: Incident, checklist: str, position: int
) -> ChecklistItem | None:
    """One item of the incident's checklists, by checklist id and position."""
    return (
        ChecklistItem.objects.filter(incident=incident, checklist=checklist, position=position)
        .select_related("incident")
        .first()
    )


def incident_updates(*, incident: Incident) -> QuerySet[StatusUpdate]:
    """Status updates posted on the incident, newest first."""
    return StatusUpdate.objects.filter(incident=incident).select_related("author").order_by("-at")


def phase_name(status: str) -> str:
    return STEP_NAMES.get(status, status)


def suggested_comms_phase(*, incident: Incident) -> str:
    """The comms phase an update most likely is now: the first one, or the incident's phase."""
    if incident.status in ("identified", "monitoring", "resolved"):
        return incident.status
    if incident.status == Incident.Status.CLOSED:
        return "postmortem_scheduled"
    return "update" if incident.last_update_at else "declared"


def default_channels(*, incident: Incident) -> set[str]:
    """Channels ticked by default: chat and e-mail, and the status page if the severity's
    audiences include it. Never the status page for a drill (it is never published) or a
    security incident (published only when someone ticks it)."""
    severities = incident.policy_snapshot.get("severities") or {}
    audiences = (severities.get(incident.severity) or {}).get("audiences") or []
    public = "status_page" in audiences and not (incident.is_drill or incident.is_security)
    return {"chat", "email"} | ({"status_page"} if public else set())


# ---- what happens if this breaks ---------------------------------------------------------


@dataclass(frozen=True)
class SimRow:
    offset: str
    at: datetime
    kind: str
    who: list[str]
    detail: str
    rule: str


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    text = f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
    return f"+{days}d{text}" if days else f"+{text}"


def simulation_rows(*, events: list[SimEvent], start: datetime, zone: tzinfo) -> list[SimRow]:
    """Simulated events as table rows: offset from the start, local time, people by name."""
    emails = {t for e in events for t in e.targets if "@" in t}
    names = dict(User.objects.filter(email__in=emails).values_list("email", "name"))
    return [
        SimRow(
            offset=_offset(e.at - start),
            at=e.at.astimezone(zone),
            kind=e.kind,
            who=[names.get(t) or t for t in e.targets],
            detail=e.detail,
            rule=e.rule,
        )
        for e in events
    ]
