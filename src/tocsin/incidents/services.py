"""Incident writes. Every state change writes its timeline event in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.incidents.models import Incident, TimelineEvent


class IncidentError(Exception):
    """A requested change does not fit the incident's state (answered 409 by the API)."""


def timeline_add(
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
    """Append an event to an incident's timeline."""
    return TimelineEvent.objects.create(
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


@transaction.atomic
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
) -> Incident:
    """Open an incident (declared by a person, or triggered by alerts) and write its first event.

    The number is the next free one; two writers racing for it on PostgreSQL collide on the
    unique constraint and the loser retries. A collision on the open-group constraint is
    re-raised: the caller attaches to the incident that won.
    """
    at = at or timezone.now()
    for _attempt in range(20):
        try:
            with transaction.atomic():
                incident = Incident.objects.create(
                    number=_next_number(),
                    title=title[:1024],
                    severity=severity,
                    service=service,
                    group_key=group_key,
                    summary=summary,
                    created_by=by,
                    triggered_at=at,
                )
            break
        except IntegrityError:
            if group_key and incident_open_for_group(service=service, group_key=group_key):
                raise
    else:  # pragma: no cover - 20 lost races in a row
        raise IncidentError("could not allocate an incident number")
    timeline_add(
        incident=incident,
        kind="declared" if by is not None else "triggered",
        actor=by,
        actor_label=actor_label,
        new=Incident.Status.TRIGGERED,
        message=reason or ("Declared by hand" if by is not None else "Opened by an alert"),
        data={"severity": severity, "service": service.name if service else None},
        at=at,
    )
    # Imported here: escalation builds on incidents, and paging starts with the incident.
    from tocsin.escalation.services import escalation_start

    escalation_start(incident=incident, at=at)
    return incident


def incident_open_for_group(*, service: Service | None, group_key: str) -> Incident | None:
    """Return the open incident grouping ``group_key`` on ``service``, if any."""
    if not group_key:
        return None
    return (
        Incident.objects.filter(
            service=service, group_key=group_key, status__in=Incident.OPEN_STATUSES
        )
        .order_by("-id")
        .first()
    )


def incident_rotate_token(*, incident: Incident) -> None:
    """Invalidate every escalation step planned so far (DESIGN rule 4)."""
    _rotate_token(incident)


def _rotate_token(incident: Incident) -> None:
    Incident.objects.filter(pk=incident.pk).update(escalation_token=F("escalation_token") + 1)
    incident.refresh_from_db(fields=["escalation_token"])


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
    if current.status == Incident.Status.ACKNOWLEDGED:
        return current
    if current.status == Incident.Status.RESOLVED:
        raise IncidentError(f"incident #{current.number} is resolved")
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
    return current


@transaction.atomic
def incident_resolve(
    *, incident: Incident, by: User | None = None, actor_label: str = "", message: str = ""
) -> Incident:
    """Resolve: the impact is over and every timer stops. Resolving twice is a no-op."""
    current = _locked(incident)
    if current.status == Incident.Status.RESOLVED:
        return current
    now = timezone.now()
    old = current.status
    current.status = Incident.Status.RESOLVED
    current.resolved_at = now
    current.resolved_by = by
    current.save(update_fields=["status", "resolved_at", "resolved_by", "updated_at"])
    _rotate_token(current)
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
    """Change the severity; a timeline event, and the fencing token rotates (timers re-plan)."""
    current = _locked(incident)
    if current.severity == severity:
        return current
    old = current.severity
    current.severity = severity
    current.save(update_fields=["severity", "updated_at"])
    _rotate_token(current)
    timeline_add(
        incident=current,
        kind="severity_changed",
        actor=by,
        actor_label=actor_label,
        old=old,
        new=severity,
        message=message,
    )
    return current


@transaction.atomic
def incident_add_note(*, incident: Incident, text: str, by: User | None = None) -> TimelineEvent:
    """Add a free-text note to the timeline."""
    return timeline_add(incident=incident, kind="note", actor=by, message=text)
