"""Incident reads."""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from tocsin.accounts.models import User
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.incidents.visibility import incident_visible_to


def incident_list(
    *,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    user: User | None = None,
) -> QuerySet[Incident]:
    """Incidents, open ones first, newest first; filters by status, severity and service name.

    With ``user``, security incidents they are not involved in are left out.
    """
    qs = Incident.objects.select_related("service")
    if user is not None:
        qs = qs.filter(incident_visible_to(user=user))
    if status == "open":
        qs = qs.filter(status__in=Incident.OPEN_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if severity:
        qs = qs.filter(severity=severity)
    if service:
        qs = qs.filter(service__name=service)
    closed_last = Case(
        When(status=Incident.Status.RESOLVED, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return qs.annotate(closed_last=closed_last).order_by("closed_last", "-triggered_at", "-id")


def incident_get(*, ref: str, user: User | None = None) -> Incident | None:
    """Find an incident by public id or number (``42`` or ``#42``), as ``user`` may see it."""
    ref = ref.strip()
    qs = Incident.objects.select_related("service", "acknowledged_by", "resolved_by")
    if user is not None:
        qs = qs.filter(incident_visible_to(user=user))
    # Public ids can be all digits (rarely): an exact public id wins over a number.
    found = qs.filter(public_id=ref).first()
    number = ref.lstrip("#")
    if found is None and number.isdigit():
        found = qs.filter(number=int(number)).first()
    return found


def incident_timeline(*, incident: Incident) -> QuerySet[TimelineEvent]:
    """The incident's timeline, oldest first."""
    return TimelineEvent.objects.filter(incident=incident).select_related("actor")
