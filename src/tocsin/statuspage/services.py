"""Status page writes. Each one records its history and rebuilds the public snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core import signing
from django.db import transaction
from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.engine.models import Timer
from tocsin.engine.services import timer_schedule
from tocsin.escalation.services import escalation_after_maintenance
from tocsin.ids import new_public_id
from tocsin.incidents.models import Incident
from tocsin.incidents.services import timeline_add
from tocsin.statuspage import mail
from tocsin.statuspage.models import (
    Component,
    ComponentStatus,
    ComponentStatusChange,
    MaintenanceUpdate,
    PublicIncident,
    PublicIncidentUpdate,
    ScheduledMaintenance,
    Subscriber,
)
from tocsin.statuspage.selectors import group_status, maintenance_forget
from tocsin.statuspage.snapshot import page_changed
from tocsin.statuspage.tokens import (
    CONFIRM_MAX_AGE,
    CONFIRM_SALT,
    UNSUBSCRIBE_SALT,
    confirm_token,
    subscriber_by_token,
)

MAINTENANCE_START = "statuspage.maintenance_start"
MAINTENANCE_END = "statuspage.maintenance_end"

ComponentChanges = Mapping[Component, str]


# ---- components ----------------------------------------------------------------------------


def _set_status(component: Component, status: str, *, reason: str, at: datetime) -> dict[str, str]:
    """Change one component's status with a history row; return Statuspage's change record."""
    old = component.status
    if old != status:
        component.status = status
        component.save(update_fields=["status", "updated_at"])
        ComponentStatusChange.objects.create(
            component=component, status=status, at=at, reason=reason[:300]
        )
    return {
        "code": component.public_id,
        "name": component.name,
        "old_status": old,
        "new_status": status,
    }


def _declared(public: PublicIncident, component: Component) -> str | None:
    """The status ``public`` last declared for ``component`` (its updates' Statuspage records)."""
    for update in public.updates.all():  # newest first
        for change in update.affected_components or []:
            if change.get("code") == component.public_id:
                return str(change.get("new_status") or "") or None
    return None


def component_status_now(component: Component) -> str:
    """What the component's status is now: the worst status an open public incident declares
    for it, else under maintenance while a window covering it is in progress, else operational.
    """
    statuses = [ComponentStatus.OPERATIONAL.value]
    open_incidents = component.incidents.filter(status__in=PublicIncident.UNRESOLVED)
    for public in open_incidents.prefetch_related("updates"):
        declared = _declared(public, component)
        if declared in ComponentStatus.values:
            statuses.append(declared)
    if component.maintenances.filter(status__in=ScheduledMaintenance.ACTIVE).exists():
        statuses.append(ComponentStatus.UNDER_MAINTENANCE)
    return group_status(statuses)


def _refresh(components: Iterable[Component], *, reason: str, at: datetime) -> list[dict[str, str]]:
    """Bring each component to its status now (``component_status_now``); return the changes."""
    return [_set_status(c, component_status_now(c), reason=reason, at=at) for c in components]


def _declare(changes: ComponentChanges | None) -> list[dict[str, str]]:
    """An incident update's Statuspage records: each component's status before and the status
    the update declares for it (what the component shows is ``component_status_now``)."""
    return [
        {
            "code": c.public_id,
            "name": c.name,
            "old_status": c.status,
            "new_status": ComponentStatus(status).value,
        }
        for c, status in (changes or {}).items()
    ]


@transaction.atomic
def component_set_status(
    *, component: Component, status: str, reason: str = "", at: datetime | None = None
) -> bool:
    """Set a component's status (recorded for the uptime history); tell whether it changed."""
    changed = component.status != status
    _set_status(
        component, ComponentStatus(status), reason=reason or "set by hand", at=at or timezone.now()
    )
    if changed:
        page_changed()
    return changed


# ---- public incidents ----------------------------------------------------------------------


@transaction.atomic
def public_incident_create(
    *,
    name: str,
    body: str,
    status: str = PublicIncident.Status.INVESTIGATING,
    impact: str = PublicIncident.Impact.MINOR,
    components: ComponentChanges | None = None,
    incident: Incident | None = None,
    by: User | None = None,
    notify: bool = True,
    at: datetime | None = None,
) -> PublicIncident:
    """Publish an incident on the status page with its first update."""
    at = at or timezone.now()
    public = PublicIncident.objects.create(
        name=name,
        status=PublicIncident.Status(status),
        impact=PublicIncident.Impact(impact),
        incident=incident,
        created_at=at,
        updated_at=at,
        started_at=at,
    )
    public.components.set(list(components or {}))
    _post(public, status=status, body=body, components=components, notify=notify, at=at)
    if incident is not None:
        timeline_add(
            incident=incident,
            kind="status_page_published",
            actor=by,
            new=status,
            message=f"Published on the status page: {name}",
            data={"public_incident": public.public_id, "impact": impact},
            at=at,
        )
    return public


def _post(
    public: PublicIncident,
    *,
    status: str,
    body: str,
    components: ComponentChanges | None,
    notify: bool,
    at: datetime,
) -> PublicIncidentUpdate:
    update = PublicIncidentUpdate.objects.create(
        incident=public,
        status=status,
        body=body,
        at=at,
        affected_components=_declare(components),
        deliver_notifications=notify,
    )
    # After the update: what it declares counts, and a resolved incident no longer does.
    _refresh(components or {}, reason=f"incident {public.public_id}", at=at)
    if notify:
        mail.notify_incident(public=public, update=update)
    page_changed()
    return update


def _default_components(incident: Incident, impact: str) -> dict[Component, str]:
    """The component named by the incident's service, at a status matching the impact."""
    name = incident.service.status_component if incident.service else ""
    component = Component.objects.filter(name=name).first() if name else None
    status = {
        "critical": ComponentStatus.MAJOR_OUTAGE,
        "major": ComponentStatus.PARTIAL_OUTAGE,
        "minor": ComponentStatus.DEGRADED_PERFORMANCE,
    }.get(impact, ComponentStatus.OPERATIONAL)
    return {component: status} if component else {}


def public_incident_from_incident(
    *,
    incident: Incident,
    body: str,
    name: str = "",
    impact: str = PublicIncident.Impact.MAJOR,
    components: ComponentChanges | None = None,
    by: User | None = None,
) -> PublicIncident:
    """Publish an internal incident; its service's status component is marked by default."""
    if components is None:
        components = _default_components(incident, impact)
    return public_incident_create(
        name=name or incident.title,
        body=body,
        impact=impact,
        components=components,
        incident=incident,
        by=by,
    )


@transaction.atomic
def public_incident_update(
    *,
    public_incident: PublicIncident,
    status: str,
    body: str,
    components: ComponentChanges | None = None,
    impact: str | None = None,
    by: User | None = None,
    notify: bool = True,
    at: datetime | None = None,
) -> PublicIncidentUpdate:
    """Post an update; resolving puts the incident's components back to operational."""
    at = at or timezone.now()
    public = public_incident
    old = public.status
    public.status = PublicIncident.Status(status)
    if impact:
        public.impact = PublicIncident.Impact(impact)
    if status == PublicIncident.Status.MONITORING and public.monitoring_at is None:
        public.monitoring_at = at
    if status == PublicIncident.Status.RESOLVED:
        public.resolved_at = public.resolved_at or at
        if components is None:
            components = {c: ComponentStatus.OPERATIONAL for c in public.components.all()}
    public.updated_at = at
    public.save(update_fields=["status", "impact", "monitoring_at", "resolved_at", "updated_at"])
    if components:
        public.components.add(*components)
    update = _post(public, status=status, body=body, components=components, notify=notify, at=at)
    if public.incident is not None:
        timeline_add(
            incident=public.incident,
            kind="status_page_updated",
            actor=by,
            old=old,
            new=status,
            message=body,
            data={"public_incident": public.public_id, "update": update.public_id},
            at=at,
        )
    return update


# ---- maintenance ---------------------------------------------------------------------------


@transaction.atomic
def maintenance_schedule(
    *,
    name: str,
    scheduled_for: datetime,
    scheduled_until: datetime,
    body: str = "",
    components: Iterable[Component] = (),
    services: Iterable[Service] = (),
    at: datetime | None = None,
) -> ScheduledMaintenance:
    """Announce a maintenance window; the worker starts and ends it on time."""
    if scheduled_until <= scheduled_for:
        raise ValueError("a maintenance must end after it starts")
    at = at or timezone.now()
    m = ScheduledMaintenance.objects.create(
        name=name,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        created_at=at,
        updated_at=at,
    )
    m.components.set(list(components))
    m.services.set(list(services))
    MaintenanceUpdate.objects.create(
        maintenance=m,
        status=m.status,
        body=body
        or f"Maintenance scheduled from {scheduled_for.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
        f"until {scheduled_until.astimezone(UTC):%Y-%m-%d %H:%M} UTC.",
        at=at,
    )
    maintenance_plan_timers(m)
    mail.notify_maintenance(maintenance=m, event="scheduled")
    page_changed()
    return m


def _timer_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def maintenance_plan_timers(maintenance: ScheduledMaintenance) -> None:
    """Plan the timers that start and end the window at its times (again after an edit).

    Keyed by the planned time: rescheduling plans new timers and cancels the pending ones
    planned for other times (which would see the times moved and do nothing anyway).
    """
    m = maintenance
    planned = {
        MAINTENANCE_START: _timer_time(m.scheduled_for),
        MAINTENANCE_END: _timer_time(m.scheduled_until),
    }
    prefix = {MAINTENANCE_START: "sp-mstart", MAINTENANCE_END: "sp-mend"}
    keys = {kind: f"{prefix[kind]}:{m.pk}:{when}" for kind, when in planned.items()}
    Timer.objects.filter(
        kind__in=list(planned), payload__maintenance=m.pk, done_at__isnull=True
    ).exclude(key__in=list(keys.values())).delete()
    for kind, when in planned.items():
        timer_schedule(
            kind=kind,
            due_at=datetime.fromisoformat(when),
            payload={"maintenance": m.pk, "at": when},
            key=keys[kind],
        )


@transaction.atomic
def maintenance_start(
    *, maintenance: ScheduledMaintenance, body: str = "", at: datetime | None = None
) -> bool:
    """Put the window's components under maintenance and silence its services' paging."""
    m = maintenance
    if m.status != ScheduledMaintenance.Status.SCHEDULED:
        return False
    at = at or timezone.now()
    m.status, m.started_at, m.updated_at = ScheduledMaintenance.Status.IN_PROGRESS, at, at
    m.save(update_fields=["status", "started_at", "updated_at"])
    maintenance_forget(m)
    affected = _refresh(m.components.all(), reason=f"maintenance {m.public_id}", at=at)
    MaintenanceUpdate.objects.create(
        maintenance=m,
        status=m.status,
        body=body or "Scheduled maintenance is currently in progress.",
        at=at,
        affected_components=affected,
    )
    mail.notify_maintenance(maintenance=m, event="started")
    page_changed()
    return True


@transaction.atomic
def maintenance_complete(
    *, maintenance: ScheduledMaintenance, body: str = "", at: datetime | None = None
) -> bool:
    """End the window: components back to operational, paging resumes, subscribers told."""
    m = maintenance
    if m.status == ScheduledMaintenance.Status.COMPLETED:
        return False
    at = at or timezone.now()
    m.status, m.completed_at, m.updated_at = ScheduledMaintenance.Status.COMPLETED, at, at
    m.started_at = m.started_at or at
    m.save(update_fields=["status", "completed_at", "started_at", "updated_at"])
    maintenance_forget(m)
    # Each component back to what is true now: an open incident's outage, another window still
    # in progress, else operational.
    affected = _refresh(m.components.all(), reason=f"maintenance {m.public_id} completed", at=at)
    MaintenanceUpdate.objects.create(
        maintenance=m,
        status=m.status,
        body=body or "The scheduled maintenance has been completed.",
        at=at,
        affected_components=affected,
    )
    mail.notify_maintenance(maintenance=m, event="completed")
    # Paging resumes: incidents it silenced that are still waiting for someone are escalated.
    escalation_after_maintenance(maintenance_id=m.pk, at=at)
    page_changed()
    return True


def maintenance_timer_fire(*, kind: str, payload: dict[str, Any]) -> None:
    """Worker step: start or end a maintenance if it is still planned for this moment."""
    m = ScheduledMaintenance.objects.filter(pk=payload["maintenance"]).first()
    if m is None:
        return
    planned = m.scheduled_for if kind == MAINTENANCE_START else m.scheduled_until
    if planned != datetime.fromisoformat(payload["at"]):
        return  # rescheduled since this timer was planned
    if kind == MAINTENANCE_START:
        maintenance_start(maintenance=m)
    else:
        maintenance_complete(maintenance=m)


# ---- subscribers ---------------------------------------------------------------------------


CONFIRM_EVERY = timedelta(minutes=10)


@transaction.atomic
def subscriber_subscribe(*, email: str) -> Subscriber:
    """Record the address unconfirmed and mail it a confirmation link (double opt-in).

    Subscribing an address that is already confirmed sends nothing and reveals nothing.
    """
    email = email.strip().lower()
    subscriber, _ = Subscriber.objects.get_or_create(email=email)
    if subscriber.active:
        return subscriber
    # One confirmation mail per address per CONFIRM_EVERY: the form is public, and it must
    # not become a way to flood someone's inbox (the link already sent keeps working).
    recent = timezone.now() - CONFIRM_EVERY
    waiting = subscriber.unsubscribed_at is None  # (after an unsubscribe the old link is void)
    if waiting and subscriber.notices.filter(kind="confirm", created_at__gte=recent).exists():
        return subscriber
    subscriber.token = new_public_id()
    subscriber.confirmed_at = subscriber.unsubscribed_at = None
    subscriber.save(update_fields=["token", "confirmed_at", "unsubscribed_at"])
    mail.notify_confirm(subscriber=subscriber, token=confirm_token(subscriber))
    return subscriber


@transaction.atomic
def subscriber_confirm(*, token: str) -> Subscriber | None:
    """Confirm the address behind a confirmation link (None: bad or expired link)."""
    try:
        value = signing.TimestampSigner(salt=CONFIRM_SALT).unsign(token, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:
        return None
    subscriber = subscriber_by_token(value)
    if subscriber is None or subscriber.unsubscribed_at is not None:
        return None
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = timezone.now()
        subscriber.save(update_fields=["confirmed_at"])
    return subscriber


def subscriber_from_unsubscribe_token(*, token: str) -> Subscriber | None:
    """The subscriber an unsubscribe link names (None: bad or already used link)."""
    try:
        value = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return subscriber_by_token(value)


@transaction.atomic
def subscriber_unsubscribe(*, token: str) -> Subscriber | None:
    """Stop mailing the subscriber behind an unsubscribe link; the link then stops working."""
    subscriber = subscriber_from_unsubscribe_token(token=token)
    if subscriber is None:
        return None
    subscriber.unsubscribed_at = timezone.now()
    subscriber.token = new_public_id()
    subscriber.save(update_fields=["unsubscribed_at", "token"])
    return subscriber
