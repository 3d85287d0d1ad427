"""Incident writes. Every state change writes its timeline event in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.dbwrite import insert_rows
from tocsin.engine.deferred import defer_insert, deferred_inserts
from tocsin.incidents.models import (
    ChecklistItem,
    Incident,
    IncidentRole,
    StatusUpdate,
    TimelineEvent,
)
from tocsin.incidents.selectors import open_incidents_for_groups


class IncidentError(Exception):
    """A requested change does not fit the incident's state (answered 409 by the API)."""


class EventFields(TypedDict, total=False):
    """The optional fields of a timeline event (``timeline_add``, ``timeline_event``)."""

    actor: User | None
    actor_label: str
    old: str
    new: str
    message: str
    data: dict[str, Any] | None
    at: datetime | None


def timeline_add(*, incident: Incident, kind: str, **fields: Unpack[EventFields]) -> TimelineEvent:
    """Append an event to an incident's timeline (when ``deferred_inserts()`` ends, inside one)."""
    event = timeline_event(incident=incident, kind=kind, **fields)
    if not defer_insert(event):
        event.save(force_insert=True)
    return event


def timeline_event(
    *,
    incident: Incident,
    kind: str,
    actor: User | None = None,
    actor_label: str = "",
    old: str = "",
    new: str = "",
    message: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TimelineEvent:
    """A timeline event, not saved yet (``timeline_add`` saves one; batches bulk-insert)."""
    return TimelineEvent(
        incident=incident,
        at=at or timezone.now(),
        kind=kind,
        actor=actor,
        actor_label=actor_label,
        old=old,
        new=new,
        message=message,
        data=data or {},
    )


def _next_number() -> int:
    return (Incident.objects.aggregate(n=Max("number"))["n"] or 0) + 1


@dataclass(frozen=True, slots=True)
class Opening:
    """What an incident is opened with (``incident_create``, ``incidents_open``)."""

    title: str
    at: datetime
    severity: str = ""
    service: Service | None = None
    group_key: str = ""
    summary: str = ""
    by: User | None = None
    actor_label: str = ""
    reason: str = ""
    is_drill: bool = False


def incident_create(
    *,
    title: str,
    severity: str = "",
    service: Service | None = None,
    group_key: str = "",
    summary: str = "",
    by: User | None = None,
    actor_label: str = "",
    at: datetime | None = None,
    reason: str = "",
    is_drill: bool = False,
) -> Incident:
    """Open an incident (declared by a person, or triggered by alerts): ``incident_open``."""
    return incident_open(
        Opening(
            title=title,
            severity=severity,
            service=service,
            group_key=group_key,
            summary=summary,
            by=by,
            actor_label=actor_label,
            at=at or timezone.now(),
            reason=reason,
            is_drill=is_drill,
        )
    )


@transaction.atomic
def incident_open(opening: Opening) -> Incident:
    """Open one incident and write its first event; its policy and escalation start.

    The number is the next free one; two writers racing for it on PostgreSQL collide on the
    unique constraint and the loser retries. A collision on the open-group constraint is
    re-raised: the caller attaches to the incident that won.
    """
    for _attempt in range(20):
        try:
            with transaction.atomic():
                incident = _incident_row(opening, _next_number())
                incident.save(force_insert=True)
            break
        except IntegrityError:
            if opening.group_key and incident_open_for_group(
                service=opening.service, group_key=opening.group_key
            ):
                raise
    else:  # pragma: no cover - 20 lost races in a row
        raise IncidentError("could not allocate an incident number")
    _incident_begin(incident, opening)
    return incident


def incidents_open(openings: list[Opening]) -> list[Incident]:
    """Open many incidents at once (a worker batch grouping new alerts): the same rows as
    ``incident_create`` for each, with one INSERT for the incidents and one per kind of row
    their start writes (timeline events, escalation runs, timers; see ``engine.deferred``).

    Numbers follow the highest one; a concurrent writer taking one (PostgreSQL), or opening one
    of the groups first, makes the INSERT fail: the caller's savepoint rolls back and the
    alerts are grouped one by one, which handles both races.
    """
    if not openings:
        return []
    first = _next_number()
    incidents = [_incident_row(o, first + i) for i, o in enumerate(openings)]
    insert_rows(incidents, returning=True)
    with deferred_inserts():
        for incident, opening in zip(incidents, openings, strict=True):
            _incident_begin(incident, opening)
    return incidents


def _incident_row(opening: Opening, number: int) -> Incident:
    from tocsin.incidents.policy import policy_snapshot_build

    return Incident(
        number=number,
        title=opening.title[:1024],
        severity=opening.severity,
        service=opening.service,
        group_key=opening.group_key,
        summary=opening.summary,
        created_by=opening.by,
        triggered_at=opening.at,
        is_drill=opening.is_drill,
        policy_snapshot=policy_snapshot_build(),
    )


def _incident_begin(incident: Incident, opening: Opening) -> None:
    """The first event, the incident policy and the escalation of a just-inserted incident."""
    by = opening.by
    timeline_add(
        incident=incident,
        kind="declared" if by is not None else "triggered",
        actor=by,
        actor_label=opening.actor_label,
        new=Incident.Status.TRIGGERED,
        message=opening.reason or ("Declared by hand" if by is not None else "Opened by an alert"),
        data={
            "severity": opening.severity,
            "service": opening.service.name if opening.service else None,
        },
        at=opening.at,
    )
    # Imported here: escalation and the policy build on incidents, and start with one.
    from tocsin.escalation.services import escalation_start
    from tocsin.incidents.policy import incident_policy_start

    incident_policy_start(incident=incident)
    escalation_start(incident=incident, at=opening.at)


def _milestone(incident: Incident, milestone: str) -> None:
    from tocsin.incidents.policy import incident_policy_milestone

    incident_policy_milestone(incident=incident, milestone=milestone)


def incident_open_for_group(*, service: Service | None, group_key: str) -> Incident | None:
    """Return the open incident grouping ``group_key`` on ``service``, if any."""
    if not group_key:
        return None
    found = open_incidents_for_groups([(service.id if service else None, group_key)])
    return found[-1] if found else None  # the newest


def incident_rotate_token(*, incident: Incident) -> None:
    """Invalidate every escalation step planned so far (DESIGN rule 4)."""
    _rotate_token(incident)


def _rotate_token(incident: Incident) -> None:
    Incident.objects.filter(pk=incident.pk).update(escalation_token=F("escalation_token") + 1)
    incident.refresh_from_db(fields=["escalation_token"])


def _resolve_alerts(incident: Incident, now: datetime) -> None:
    """Resolving an incident resolves its firing alerts (as PagerDuty does): a source that
    fires the same alert again opens a new incident and pages, instead of adding to a resolved
    one that nobody watches."""
    from tocsin.alerts.models import Alert

    Alert.objects.filter(incident=incident, status=Alert.Status.FIRING).update(
        status=Alert.Status.RESOLVED, resolved_at=now
    )


def _locked(incident: Incident) -> Incident:
    # select_for_update is a no-op on SQLite, where IMMEDIATE transactions already serialise
    # writers; on PostgreSQL it stops a concurrent acknowledge and resolve from interleaving.
    return Incident.objects.select_for_update().get(pk=incident.pk)


@transaction.atomic
def incident_acknowledge(
    *, incident: Incident, by: User | None = None, actor_label: str = "", message: str = ""
) -> Incident:
    """Acknowledge: someone is on it, paging stops. Acknowledging twice is a no-op."""
    current = _locked(incident)
    if not current.is_open:
        raise IncidentError(f"incident #{current.number} is {current.status}")
    if current.status != Incident.Status.TRIGGERED:
        return current  # already acknowledged (or further along)
    now = timezone.now()
    current.status = Incident.Status.ACKNOWLEDGED
    current.acknowledged_at = now
    current.acknowledged_by = by
    current.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "updated_at"])
    _rotate_token(current)
    timeline_add(
        incident=current,
        kind="acknowledged",
        actor=by,
        actor_label=actor_label,
        old=Incident.Status.TRIGGERED,
        new=Incident.Status.ACKNOWLEDGED,
        message=message,
        at=now,
    )
    _milestone(current, "acknowledged")
    from tocsin.escalation.services import escalation_on_acknowledge

    escalation_on_acknowledge(incident=current)
    return current


@transaction.atomic
def incident_unacknowledge(*, incident: Incident, message: str) -> Incident:
    """Back to triggered (an acknowledgement timed out): paging starts again."""
    current = _locked(incident)
    if current.status != Incident.Status.ACKNOWLEDGED:
        return current
    current.status = Incident.Status.TRIGGERED
    current.acknowledged_at = None
    current.acknowledged_by = None
    current.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "updated_at"])
    _rotate_token(current)
    timeline_add(
        incident=current,
        kind="unacknowledged",
        actor_label="escalation",
        old=Incident.Status.ACKNOWLEDGED,
        new=Incident.Status.TRIGGERED,
        message=message,
    )
    return current


@transaction.atomic
def incident_resolve(
    *, incident: Incident, by: User | None = None, actor_label: str = "", message: str = ""
) -> Incident:
    """Resolve: the impact is over and every timer stops. Resolving twice is a no-op."""
    current = _locked(incident)
    if current.status in (Incident.Status.RESOLVED, Incident.Status.CLOSED):
        return current
    _gate(current, "resolve")
    now = timezone.now()
    old = current.status
    current.status = Incident.Status.RESOLVED
    current.resolved_at = now
    current.resolved_by = by
    current.save(update_fields=["status", "resolved_at", "resolved_by", "updated_at"])
    _rotate_token(current)
    _resolve_alerts(current, now)
    timeline_add(
        incident=current,
        kind="resolved",
        actor=by,
        actor_label=actor_label,
        old=old,
        new=Incident.Status.RESOLVED,
        message=message,
        at=now,
    )
    _milestone(current, "resolved")
    return current


@transaction.atomic
def incident_set_severity(
    *,
    incident: Incident,
    severity: str,
    by: User | None = None,
    actor_label: str = "",
    message: str = "",
) -> Incident:
    """Change the severity; a timeline event, the policy's clocks planned again for the new
    severity, and paging adjusted (a page that waits for business hours goes now if the new
    severity pages at any hour; one that pages nobody stops). A step already waiting keeps its
    time: the escalation token only moves when paging itself changes. (DESIGN rule 4 rotates
    it on every severity change; that retired the waiting step with nothing planned in its
    place, so paging stopped, and planning it again under a new token could page a level twice
    when another worker is running that step at the same moment.)"""
    current = _locked(incident)
    if current.severity == severity:
        return current
    old = current.severity
    current.severity = severity
    current.save(update_fields=["severity", "updated_at"])
    timeline_add(
        incident=current,
        kind="severity_changed",
        actor=by,
        actor_label=actor_label,
        old=old,
        new=severity,
        message=message,
    )
    from tocsin.escalation.services import escalation_on_severity_change
    from tocsin.incidents.policy import incident_policy_replan

    incident_policy_replan(incident=current)
    escalation_on_severity_change(incident=current)
    return current


@transaction.atomic
def incident_add_note(*, incident: Incident, text: str, by: User | None = None) -> TimelineEvent:
    """Add a free-text note to the timeline."""
    return timeline_add(incident=incident, kind="note", actor=by, message=text)


# ---- the incident process (phases, gates, updates, roles, checklists) -----------------------

PHASES = ("investigating", "identified", "monitoring")
DETAIL_FIELDS = (
    "title",
    "summary",
    "impact",
    "users_affected",
    "error_rate",
    "affected_components",
    "root_cause",
    "resolution",
    "bridge_url",
    "chat_channel",
    "links",
    "is_security",
    "is_drill",
    "started_at",
    "detected_at",
)


# What must be done before each action: cumulative. Acknowledging is never gated: it is what
# stops the pages, and a checklist must not keep someone's phone ringing.
GATES = {
    "mitigate": ("mitigate",),
    "resolve": ("acknowledge", "mitigate", "resolve"),
    "close": ("acknowledge", "mitigate", "resolve", "close"),
}


def _gate(incident: Incident, action: str) -> None:
    """Refuse an action while a checklist required for it has open items (checked or waived)."""
    open_items = [i for i in incident.checklist.filter(required_to__in=GATES[action]) if not i.done]
    if open_items:
        names = "; ".join(f"{i.checklist}: {i.text}" for i in open_items[:5])
        more = f" (+{len(open_items) - 5} more)" if len(open_items) > 5 else ""
        raise IncidentError(
            f"cannot {action} #{incident.number}: checklist items open: {names}{more} "
            "(check or waive them with a reason)"
        )


@transaction.atomic
def incident_set_phase(
    *, incident: Incident, status: str, by: User | None = None, message: str = ""
) -> Incident:
    """Move an open incident to investigating, identified or monitoring (implies acknowledged)."""
    if status not in PHASES:
        raise IncidentError(f"status: {status!r} is not a phase ({', '.join(PHASES)})")
    current = _locked(incident)
    if not current.is_open:
        raise IncidentError(f"incident #{current.number} is {current.status}; reopen it first")
    if current.status == Incident.Status.TRIGGERED:
        current = incident_acknowledge(incident=current, by=by, message="by moving it on")
    if status == "monitoring":
        _gate(current, "mitigate")
    now, old = timezone.now(), current.status
    fields = ["status", "updated_at"]
    current.status = status
    if status == "monitoring" and current.mitigated_at is None:
        current.mitigated_at = now
        fields.append("mitigated_at")
    current.save(update_fields=fields)
    timeline_add(
        incident=current,
        kind="status_changed",
        actor=by,
        old=old,
        new=status,
        message=message,
        at=now,
    )
    from tocsin.incidents.policy import checklists_attach_due

    checklists_attach_due(incident=current)
    if "mitigated_at" in fields:
        _milestone(current, "mitigated")
    return current


def _close_blockers(incident: Incident, now: datetime) -> list[str]:
    sev = (incident.policy_snapshot.get("severities") or {}).get(incident.severity) or {}
    rule = sev.get("close_requires") or {}
    blockers = []
    if rule.get("checklists_complete", True):
        open_items = [i for i in incident.checklist.all() if not i.done]
        if open_items:
            blockers.append(
                f"{len(open_items)} checklist item(s) still open, e.g. "
                f"{open_items[0].checklist}: {open_items[0].text}"
            )
    monitoring_for = rule.get("monitoring_for")
    if monitoring_for:
        from tocsin.policy.config.durations import parse_duration

        need = timedelta(seconds=parse_duration(monitoring_for).seconds)
        since = incident.mitigated_at or incident.resolved_at or now
        if now - since < need:
            blockers.append(
                f"stable for {monitoring_for} required (monitoring since "
                f"{since:%Y-%m-%d %H:%M} UTC, can close after {since + need:%Y-%m-%d %H:%M} UTC)"
            )
    return blockers


@transaction.atomic
def incident_close(*, incident: Incident, by: User | None = None, message: str = "") -> Incident:
    """Close a resolved incident once the policy's closing conditions hold."""
    current = _locked(incident)
    if current.status == Incident.Status.CLOSED:
        return current
    if current.status != Incident.Status.RESOLVED:
        raise IncidentError(f"incident #{current.number} must be resolved before it is closed")
    now = timezone.now()
    blockers = _close_blockers(current, now)
    if blockers:
        raise IncidentError(f"cannot close #{current.number}: " + "; ".join(blockers))
    _gate(current, "close")
    current.status, current.closed_at = Incident.Status.CLOSED, now
    current.save(update_fields=["status", "closed_at", "updated_at"])
    timeline_add(
        incident=current,
        kind="closed",
        actor=by,
        old="resolved",
        new="closed",
        message=message,
        at=now,
    )
    return current


@transaction.atomic
def incident_reopen(*, incident: Incident, by: User | None = None, message: str = "") -> Incident:
    """Reopen a resolved incident (back to investigating); the clocks run again: update
    reminders, targets not met yet, and a fresh monitoring period before it may close (the
    first fix did not hold). What already acted (breaches, notices) does not act again."""
    current = _locked(incident)
    if current.is_open:
        return current
    old = current.status
    current.status, current.resolved_at, current.closed_at = "investigating", None, None
    current.mitigated_at = None
    current.save(update_fields=["status", "resolved_at", "closed_at", "mitigated_at", "updated_at"])
    timeline_add(
        incident=current, kind="reopened", actor=by, old=old, new="investigating", message=message
    )
    from tocsin.incidents.policy import incident_policy_replan

    incident_policy_replan(incident=current)
    return current


@transaction.atomic
def incident_post_update(
    *, incident: Incident, body: str, by: User | None = None, public: bool = False
) -> StatusUpdate:
    """Post a status update: a timeline event, and the update-cadence clock starts again."""
    if not body.strip():
        raise IncidentError("body: a status update needs text")
    now = timezone.now()
    update = StatusUpdate.objects.create(
        incident=incident, at=now, status=incident.status, body=body, public=public, author=by
    )
    Incident.objects.filter(pk=incident.pk).update(last_update_at=now)
    incident.last_update_at = now
    timeline_add(
        incident=incident,
        kind="status_update",
        actor=by,
        new=incident.status,
        message=body,
        data={"public": public},
        at=now,
    )
    from tocsin.incidents.policy import incident_policy_update_posted

    incident_policy_update_posted(incident=incident, at=now)
    return update


@transaction.atomic
def incident_assign_role(
    *, incident: Incident, role: str, user: User, by: User | None = None, backup: bool = False
) -> IncidentRole:
    """Give a role to a person; a hand-over is a timeline event and both people are told."""
    allowed = incident.policy_snapshot.get("roles_in_incident") or [
        "commander",
        "tech_lead",
        "comms_lead",
        "scribe",
    ]
    if role not in allowed:
        raise IncidentError(f"role: {role!r} is not a role in this incident ({', '.join(allowed)})")
    now = timezone.now()
    current = incident.roles.filter(role=role, backup=backup).select_related("user").first()
    if current is not None and current.user_id == user.pk:
        return current
    previous = current.user if current else None
    if current is None:
        current = IncidentRole(incident=incident, role=role, backup=backup)
    current.user, current.assigned_at, current.assigned_by = user, now, by
    current.save()
    label = f"{role}{' (backup)' if backup else ''}"
    timeline_add(
        incident=incident,
        kind="role_handover" if previous else "role_assigned",
        actor=by,
        old=previous.email if previous else "",
        new=user.email,
        message=f"{label}: {previous} -> {user}" if previous else f"{label}: {user}",
        data={"role": role, "backup": backup},
        at=now,
    )
    from tocsin.notifications.services import page_user

    for person in {user, previous} - {None}:
        assert person is not None
        page_user(
            incident=incident,
            user=person,
            kind="notify",
            step_key=f"role:{role}:{backup}:{now.isoformat()}",
            reason=f"{label} handed over: {previous or 'nobody'} -> {user}",
            now=now,
        )
    return current


@transaction.atomic
def checklist_check(*, item: ChecklistItem, by: User | None, checked: bool = True) -> ChecklistItem:
    """Check (or uncheck) a checklist item: who and when go on the timeline."""
    item.checked_at, item.checked_by = (timezone.now(), by) if checked else (None, None)
    item.save(update_fields=["checked_at", "checked_by"])
    timeline_add(
        incident=item.incident,
        kind="checklist_checked" if checked else "checklist_unchecked",
        actor=by,
        new=item.checklist,
        message=item.text,
    )
    return item


@transaction.atomic
def checklist_waive(*, item: ChecklistItem, by: User | None, reason: str) -> ChecklistItem:
    """Waive a checklist item; a reason is required and recorded."""
    if not reason.strip():
        raise IncidentError("reason: waiving a checklist item needs a reason")
    item.waived_reason = reason.strip()
    item.save(update_fields=["waived_reason"])
    timeline_add(
        incident=item.incident,
        kind="checklist_waived",
        actor=by,
        new=item.checklist,
        message=f"{item.text}: {item.waived_reason}",
    )
    return item


@transaction.atomic
def incident_update_details(
    *, incident: Incident, by: User | None = None, **values: object
) -> Incident:
    """Change descriptive fields (impact, root cause, bridge ...); one event lists what changed."""
    unknown = set(values) - set(DETAIL_FIELDS)
    if unknown:
        raise IncidentError(f"{sorted(unknown)[0]}: not an incident field")
    changed = [k for k, v in values.items() if getattr(incident, k) != v]
    for key in changed:
        setattr(incident, key, values[key])
    if changed:
        incident.save(update_fields=[*changed, "updated_at"])
        timeline_add(
            incident=incident,
            kind="details_changed",
            actor=by,
            message=", ".join(changed),
            data={"fields": changed},
        )
    return incident
