"""Incident reads."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
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


# The partial unique index ``incident_one_open_per_group`` holds the open incidents by (service,
# group key). A planner uses a partial index only for a query whose WHERE states the index's own
# condition, with its constants written out (SQLite does not look into bound parameters).
_OPEN_GROUP_CONDITION = (
    f"i.status IN ({', '.join(repr(str(status)) for status in Incident.OPEN_STATUSES)}) "
    "AND NOT (i.group_key = '')"
)
OPEN_GROUPS_QUERY = (
    "SELECT i.id FROM k JOIN incidents_incident i "
    "ON i.service_id = k.service_id AND i.group_key = k.group_key "
    f"WHERE {_OPEN_GROUP_CONDITION}"
)
_GROUPS_PER_QUERY = 400


def open_incidents_for_groups(groups: Iterable[tuple[int | None, str]]) -> list[Incident]:
    """The open incidents grouping these (service id, group key) pairs, oldest first.

    One search of the grouping index per pair. Filtering by group key and status alone read
    every open incident (the status index): in a storm of distinct alerts, each batch of the
    worker was slower than the one before.
    """
    groups = set(groups)
    with_service = sorted((s, g) for s, g in groups if s is not None and g)
    ids: list[int] = []
    for start in range(0, len(with_service), _GROUPS_PER_QUERY):
        chunk = with_service[start : start + _GROUPS_PER_QUERY]
        sql = (
            f"WITH k(service_id, group_key) AS (VALUES {', '.join(['(%s, %s)'] * len(chunk))}) "
            f"{OPEN_GROUPS_QUERY}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for pair in chunk for value in pair])
            ids.extend(row[0] for row in cursor.fetchall())
    found = list(Incident.objects.filter(id__in=ids).order_by("id")) if ids else []
    without_service = {g for s, g in groups if s is None and g}
    if without_service:  # not in the index (NULL): rare, read as before
        found += Incident.objects.filter(
            service__isnull=True, group_key__in=without_service, status__in=Incident.OPEN_STATUSES
        ).order_by("id")
    return found
