"""Who may see an incident: security incidents are restricted to the people working them."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from tocsin.accounts.models import User
from tocsin.incidents.models import IncidentRole


def incident_visible_to(*, user: User) -> Q:
    """Filter incidents ``user`` may see: all for staff; a security one only for its people.

    "Its people" are whoever holds a role in it (primary or backup), declared it, or
    acknowledged it. A subquery, not a join on roles, so a list keeps one row per incident.
    """
    if user.is_staff or user.is_superuser:
        return Q()
    holds_role = Exists(IncidentRole.objects.filter(incident=OuterRef("pk"), user=user))
    return Q(is_security=False) | Q(holds_role) | Q(created_by=user) | Q(acknowledged_by=user)
