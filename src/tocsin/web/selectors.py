"""Reads the web pages need that the domain apps do not offer yet.

Each of these belongs in ``alerts/selectors.py`` or ``incidents/selectors.py``; they live here
until the owners of those apps take them over, so views still call one read each.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from tocsin.accounts.models import User
from tocsin.alerts.models import Alert, ChangeEvent, Service
from tocsin.incidents.models import Incident
from tocsin.incidents.selectors import incident_list
from tocsin.incidents.visibility import incident_visible_to
from tocsin.policy.selectors import severity_names

RECENT_CHANGES = 5


def incident_rows(
    *,
    user: User,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
) -> QuerySet[Incident]:
    """The incidents ``user`` may see (open first) with each incident's alert count."""
    return (
        incident_list(status=status, severity=severity, service=service)
        .filter(incident_visible_to(user=user))
        .annotate(alert_count=Count("alerts"))
    )


def incident_alerts(*, incident: Incident) -> QuerySet[Alert]:
    """The alerts grouped into ``incident``, firing first, then the most recently seen."""
    return Alert.objects.filter(incident=incident).order_by("status", "-last_seen", "-id")


def service_list() -> QuerySet[Service]:
    """Services by name, for pickers."""
    return Service.objects.order_by("name")


def service_overview() -> QuerySet[Service]:
    """Services with team, integrations and their most recent change events."""
    recent = ChangeEvent.objects.order_by("-happened_at", "-id")[:RECENT_CHANGES]
    return (
        Service.objects.select_related("team")
        .prefetch_related(
            "integrations", Prefetch("changes", queryset=recent, to_attr="recent_changes")
        )
        .order_by("name")
    )


def severity_choices() -> list[str]:
    """Severity names, most severe first: the policy's scale, else the names services map to."""
    names = severity_names()
    if names:
        return names
    mapped: set[str] = set()
    for severity_map in Service.objects.values_list("severity_map", flat=True):
        if isinstance(severity_map, dict):
            mapped.update(str(v) for v in severity_map.values() if v)
    used = Incident.objects.exclude(severity="").values_list("severity", flat=True).distinct()
    return sorted(mapped.union(used))


def service_get(*, public_id: str) -> Service | None:
    """One service by its public id."""
    return Service.objects.filter(public_id=public_id).first()
