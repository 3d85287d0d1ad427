"""The policy running on an incident: snapshot, proposed commander, checklists, timers.

Rules come from ``policy.plan`` (shared with the simulator). Each rule becomes a durable timer
keyed by (incident, generation, rule), so a re-run plans nothing twice; when it fires, it checks
its ``until`` milestone and the generation (a severity change re-plans under a new generation).
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.engine.memo import memoized
from tocsin.engine.services import service_lane, timer_schedule
from tocsin.escalation.selectors import resolve_target
from tocsin.incidents.models import ChecklistItem, Incident, IncidentRole
from tocsin.incidents.services import timeline_add
from tocsin.notifications.services import page_user
from tocsin.oncall.models import Schedule
from tocsin.oncall.selectors import oncall_users_at
from tocsin.policy.config import schema
from tocsin.policy.config.durations import parse_duration
from tocsin.policy.models import ConfigSection, Severity, WorkCalendar
from tocsin.policy.plan import PolicyStep, reached, severity_steps, update_interval
from tocsin.policy.workcal import WorkCalendarRules

log = logging.getLogger("tocsin.policy")
STEP = "policy.step"
UPDATE_DUE = "policy.update_due"
PHASE_MILESTONE = {
    "investigating": "acknowledged",
    "identified": "acknowledged",
    "monitoring": "mitigated",
}


# ---- snapshot ------------------------------------------------------------------------------


def policy_snapshot_build() -> dict[str, Any]:
    """The policy as data: severities, calendar, incident roles, checklists (DESIGN rule 5).

    Read once per worker batch (a storm opens many incidents under one policy); each incident
    gets its own copy, free to change.
    """
    return copy.deepcopy(memoized(("policy_snapshot",), _policy_snapshot_read))


def _policy_snapshot_read() -> dict[str, Any]:
    sections = dict(ConfigSection.objects.values_list("name", "data"))
    cal = WorkCalendar.current()
    return {
        "severities": {s.name: s.spec or {"name": s.name} for s in Severity.objects.all()},
        "calendar": {
            "timezone": cal.timezone,
            "business_days": cal.business_days,
            "holidays": cal.holidays,
            "business_hours": cal.business_hours or None,
        },
        "commander_schedule": sections.get("commander_schedule"),
        "roles_in_incident": sections.get("roles_in_incident") or [],
        "checklists": {c["id"]: c for c in (sections.get("checklists") or [])},
        "comms": sections.get("comms") or {},
    }


def _severity(incident: Incident) -> schema.Severity | None:
    spec = incident.policy_snapshot.get("severities", {}).get(incident.severity)
    if not spec:
        return None
    try:
        return schema.Severity.model_validate(spec)
    except ValueError:
        log.exception(
            "incident %s: severity %s in the snapshot is not valid", incident.pk, incident.severity
        )
        return None


def incident_calendar(incident: Incident) -> WorkCalendarRules:
    """The working calendar as it was when the incident started."""
    from datetime import date, time

    data = incident.policy_snapshot.get("calendar") or {}
    hours = data.get("business_hours") or {}
    return WorkCalendarRules(
        timezone=data.get("timezone") or "UTC",
        business_days=tuple(data.get("business_days") or ("mon", "tue", "wed", "thu", "fri")),
        holidays=frozenset(date.fromisoformat(str(d)) for d in data.get("holidays") or []),
        day_start=time.fromisoformat(hours.get("start", "09:00")),
        day_end=time.fromisoformat(hours.get("end", "17:00")),
    )


# ---- milestones ------------------------------------------------------------------------------


def _milestones(incident: Incident) -> dict[str, datetime | None]:
    return {
        "triggered": incident.triggered_at,
        "acknowledged": incident.acknowledged_at,
        "mitigated": incident.mitigated_at,
        "resolved": incident.resolved_at,
    }


def _plan(incident: Incident, start: str) -> None:
    """Schedule the timers of every rule that counts from milestone ``start``."""
    sev = _severity(incident)
    at = _milestones(incident).get(start)
    if sev is None or at is None:
        return
    cal = incident_calendar(incident)
    for step in severity_steps(sev):
        if step.start != start:
            continue
        due = step.due(at, cal)
        if step.kind == "postmortem_due":
            Incident.objects.filter(pk=incident.pk).update(postmortem_due_at=due)
            timeline_add(
                incident=incident,
                kind="postmortem_scheduled",
                actor_label="policy",
                message=f"Post-mortem due {due:%Y-%m-%d %H:%M} UTC ({step.detail})",
            )
        timer_schedule(
            kind=STEP,
            due_at=due,
            incident_id=incident.pk,
            lane=service_lane(incident.service_id),
            payload={"rule": step.rule, "gen": incident.policy_generation},
            key=f"policy:{incident.pk}:{incident.policy_generation}:{step.rule}",
        )


def _plan_update(incident: Incident, base: datetime) -> None:
    sev = _severity(incident)
    every = update_interval(sev) if sev else None
    if every is None or not incident.is_open:
        return
    due = base + timedelta(seconds=every)
    Incident.objects.filter(pk=incident.pk).update(next_update_due=due)
    timer_schedule(
        kind=UPDATE_DUE,
        due_at=due,
        incident_id=incident.pk,
        lane=service_lane(incident.service_id),
        payload={"gen": incident.policy_generation, "base": base.isoformat()},
        key=f"update:{incident.pk}:{incident.policy_generation}:{base.isoformat()}",
    )


def incident_policy_start(*, incident: Incident) -> None:
    """Propose the commander, attach checklists, start the clocks of a new incident (its
    policy snapshot is written with the row: ``incidents.services._incident_row``)."""
    _propose_commander(incident)
    _fill_bridge_and_channel(incident)
    checklists_attach_due(incident=incident)
    _plan(incident, "triggered")
    _plan_update(incident, incident.triggered_at)


def incident_policy_milestone(*, incident: Incident, milestone: str) -> None:
    """Start the clocks that count from ``milestone`` (deadlines, the post-mortem)."""
    _plan(incident, milestone)
    checklists_attach_due(incident=incident)
    if milestone == "resolved":
        _date_resolution_checklists(incident)


def incident_policy_replan(*, incident: Incident) -> None:
    """After a severity change or a reopen: a new generation, every clock planned again from
    its milestone. A rule that already acted (a breach, a stakeholder notice, a deadline) does
    not act again (``policy_step_fire``); one whose time has passed acts at once."""
    Incident.objects.filter(pk=incident.pk).update(policy_generation=incident.policy_generation + 1)
    incident.refresh_from_db(fields=["policy_generation"])
    checklists_attach_due(incident=incident)
    for milestone, at in _milestones(incident).items():
        if at is not None:
            _plan(incident, milestone)
    _plan_update(incident, incident.last_update_at or incident.triggered_at)


def incident_policy_update_posted(*, incident: Incident, at: datetime) -> None:
    """A status update resets the update-cadence clock."""
    _plan_update(incident, at)


# ---- roles and checklists ------------------------------------------------------------------


def _propose_commander(incident: Incident) -> None:
    name = incident.policy_snapshot.get("commander_schedule")
    # Memoized per worker batch and instant: a storm opens many incidents at the same instant.
    at = incident.triggered_at
    people = [r.user for r in resolve_target({"schedule": name}, at)] if name else []
    if not people or incident.roles.filter(role="commander", backup=False).exists():
        return
    # Saved at once, never deferred: the bridge and channel templates rendered next may name
    # the commander.
    IncidentRole.objects.create(
        incident=incident, role="commander", user=people[0], assigned_at=timezone.now()
    )
    timeline_add(
        incident=incident,
        kind="role_assigned",
        actor_label="policy",
        new=people[0].email,
        message=f"Commander proposed from {name}: {people[0]}",
        data={"role": "commander"},
    )


# Checklists of these phases count their `within` from resolution ("within 24 h" of 004).
AFTER_RESOLUTION = ("resolution", "recovery", "closure", "post_incident")


def _within(spec: dict[str, Any], start: datetime | None) -> datetime | None:
    within = spec.get("within")
    if not within or start is None:
        return None
    return start + timedelta(seconds=parse_duration(within).seconds)


def _fill_bridge_and_channel(incident: Incident) -> None:
    """Render the severity's (or the default) bridge URL and chat channel templates."""
    from tocsin.comms.context import incident_context
    from tocsin.comms.sandbox import TemplateError, template_render

    sev = (incident.policy_snapshot.get("severities") or {}).get(incident.severity) or {}
    comms = incident.policy_snapshot.get("comms") or {}
    sources = {
        field: source
        for field in ("bridge_url", "chat_channel")
        if (source := sev.get(field) or comms.get(field)) and not getattr(incident, field)
    }
    if not sources:
        return
    context = {"incident": incident_context(incident)}
    changed = []
    for field, source in sources.items():
        try:
            value = template_render(source, context).strip()
        except TemplateError as exc:
            timeline_add(
                incident=incident,
                kind="template_failed",
                actor_label="policy",
                message=f"{field}: {exc}",
            )
            continue
        setattr(incident, field, value[:500])
        changed.append(field)
    if changed:
        incident.save(update_fields=changed)


def checklist_attach(*, incident: Incident, checklist_id: str) -> bool:
    """Attach one checklist of the policy snapshot to the incident (once); True if attached."""
    spec = incident.policy_snapshot.get("checklists", {}).get(checklist_id)
    if not spec or incident.checklist.filter(checklist=checklist_id).exists():
        return False
    later = spec.get("phase") in AFTER_RESOLUTION
    due = _within(spec, incident.resolved_at if later else incident.triggered_at)
    ChecklistItem.objects.bulk_create(
        ChecklistItem(
            incident=incident,
            checklist=checklist_id,
            checklist_title=spec.get("title", ""),
            phase=spec.get("phase") or "",
            required_to=spec.get("required_to") or "",
            position=i,
            text=text,
            due_at=due,
        )
        for i, text in enumerate(spec.get("items", []))
    )
    return True


# When each checklist phase begins, by the incident's status (a checklist without a phase is
# attached when the incident starts).
PHASE_STARTS = {
    "detection": "triggered",
    "triage": "triggered",
    "response": "triggered",
    "investigation": "acknowledged",
    "mitigation": "identified",
    "resolution": "monitoring",
    "recovery": "monitoring",
    "closure": "resolved",
    "post_incident": "resolved",
}
STATUS_ORDER = (
    "triggered",
    "acknowledged",
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "closed",
)


def _reached(incident: Incident, status: str) -> bool:
    return STATUS_ORDER.index(incident.status) >= STATUS_ORDER.index(status)


def checklists_attach_due(*, incident: Incident) -> None:
    """Attach the severity's checklists whose phase has begun.

    A checklist that gates an action (``required_to``) is attached from the start, whatever
    its phase: it must be visible, and checkable, before it can block anyone.
    """
    sev = _severity(incident)
    specs = incident.policy_snapshot.get("checklists", {})
    for checklist_id in sev.checklists if sev else []:
        spec = specs.get(checklist_id) or {}
        starts = PHASE_STARTS.get(spec.get("phase") or "", "triggered")
        if spec.get("required_to") or _reached(incident, starts):
            checklist_attach(incident=incident, checklist_id=checklist_id)


def _date_resolution_checklists(incident: Incident) -> None:
    specs = incident.policy_snapshot.get("checklists", {})
    for checklist_id, spec in specs.items():
        if spec.get("phase") in AFTER_RESOLUTION:
            incident.checklist.filter(checklist=checklist_id).update(
                due_at=_within(spec, incident.resolved_at)
            )


def role_holders(incident: Incident, role: str) -> list[User]:
    """Who holds an incident role (primary first); the commander falls back to the schedule."""
    holders = [r.user for r in incident.roles.filter(role=role).select_related("user")]
    if holders or role != "commander":
        return holders
    name = incident.policy_snapshot.get("commander_schedule")
    schedule = Schedule.objects.filter(name=name).first() if name else None
    return oncall_users_at(schedule=schedule) if schedule else []


def _people(incident: Incident, targets: tuple[Any, ...], now: datetime) -> list[User]:
    people: dict[int, User] = {}
    for target in targets:
        found = (
            role_holders(incident, target)
            if isinstance(target, str)
            else [r.user for r in resolve_target(target, now)]
        )
        for person in found:
            people.setdefault(person.pk, person)
    return list(people.values())


# ---- the worker's handlers -------------------------------------------------------------------


def _step(incident: Incident, rule: str) -> PolicyStep | None:
    sev = _severity(incident)
    return next((s for s in severity_steps(sev) if s.rule == rule), None) if sev else None


_ADDED = ("page", "escalate", "notify")  # rule kinds that add stakeholders
# The timeline kinds a rule's firing records (``policy_step_fire``).
_ACTED = ("stakeholders_added", "breach", "deadline", "postmortem_due")


def _silencing(incident: Incident, now: datetime) -> Any:
    """The maintenance silencing the incident's service now, if any."""
    from tocsin.statuspage.selectors import maintenance_silencing

    if incident.service is None:
        return None
    return maintenance_silencing(service=incident.service, at=now)


def policy_step_fire(*, incident_id: int, payload: dict[str, Any]) -> None:
    """A policy rule's time has come: act unless its milestone or a re-plan made it moot."""
    incident = Incident.objects.filter(pk=incident_id).select_related("service").first()
    if incident is None or payload.get("gen") != incident.policy_generation:
        return
    step = _step(incident, payload["rule"])
    now = timezone.now()
    if step is None or reached(step.until, _milestones(incident), now):
        return
    earlier = incident.timeline.filter(actor_label="policy", kind__in=_ACTED)
    if earlier.filter(new=step.rule).exists():
        return  # it acted under an earlier generation (the severity bounced back, a reopen)
    people = _people(incident, step.targets, now)
    kind = "stakeholders_added" if step.kind in _ADDED else step.kind
    if step.kind in _ADDED:
        # The matrix adds people: someone another step already added is not told again.
        told = {e for data in earlier.values_list("data", flat=True) for e in data.get("users", [])}
        people = [p for p in people if p.email not in told]
    if step.kind == "breach":
        Incident.objects.filter(pk=incident.pk).update(
            breaches=[*incident.breaches, step.rule.rsplit(".", 1)[-1]]
        )
    silenced = _silencing(incident, now)
    message = f"{step.detail}: " + (", ".join(map(str, people)) or "nobody to notify")
    if silenced is not None and people:
        message += f" (not notified: paging silenced by maintenance {silenced.name!r})"
    timeline_add(
        incident=incident,
        kind=kind,
        actor_label="policy",
        new=step.rule,
        message=message,
        data={"rule": step.rule, "users": [p.email for p in people] if silenced is None else []},
    )
    if silenced is not None:
        return
    for person in people:
        page_user(
            incident=incident,
            user=person,
            kind="notify",
            step_key=f"{incident.policy_generation}:{step.rule}",
            reason=f"{step.detail} [{step.rule}]",
            now=now,
        )


def policy_update_due(*, incident_id: int, payload: dict[str, Any]) -> None:
    """The update cadence ran out: remind the comms lead (or commander), plan the next one."""
    incident = Incident.objects.filter(pk=incident_id).first()
    if (
        incident is None
        or not incident.is_open
        or payload.get("gen") != (incident.policy_generation)
    ):
        return
    base = datetime.fromisoformat(payload["base"])
    if incident.last_update_at and incident.last_update_at > base:
        return  # an update was posted since: its own reminder is planned
    sev = _severity(incident)
    roles = sev.update_reminder_to if sev else ["commander"]
    people = next((found for role in roles if (found := role_holders(incident, role))), [])
    now = timezone.now()
    timeline_add(
        incident=incident,
        kind="update_due",
        actor_label="policy",
        message=f"Status update due (every {sev.update_every if sev else '?'}): "
        + (", ".join(map(str, people)) or "nobody holds " + " or ".join(roles)),
    )
    for person in people:
        page_user(
            incident=incident,
            user=person,
            kind="notify",
            step_key=f"{incident.policy_generation}:update:{payload['base']}",
            reason="a status update is due",
            now=now,
        )
    # Keep reminding at the cadence until someone posts an update, counted from the due time
    # (not from now: a late worker must not make the cadence drift).
    every = update_interval(sev) if sev else None
    if every:
        # The next slot of the cadence still ahead: a reminder that was late (a worker down,
        # a re-plan from an old update) is one reminder, not one per missed slot.
        step = timedelta(seconds=every)
        missed = max(0, int((now - base) / step))
        _plan_update(incident, base + step * max(1, missed))
