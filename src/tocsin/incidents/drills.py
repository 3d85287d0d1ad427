"""Drills: rehearse the process on a real incident, flagged so metrics leave it out."""

from __future__ import annotations

from django.db import transaction

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.incidents.models import Incident
from tocsin.incidents.policy import checklist_attach
from tocsin.incidents.services import IncidentError, incident_create
from tocsin.policy.models import ConfigSection


def drill_names() -> list[str]:
    """The drills the policy defines."""
    data = ConfigSection.objects.filter(name="drills").values_list("data", flat=True).first()
    return [d["name"] for d in data or []]


@transaction.atomic
def drill_start(*, name: str, service: Service | None = None, by: User | None = None) -> Incident:
    """Declare the drill's incident: its severity pages and runs its clocks, marked DRILL."""
    data = ConfigSection.objects.filter(name="drills").values_list("data", flat=True).first()
    drill = next((d for d in data or [] if d["name"] == name), None)
    if drill is None:
        known = ", ".join(drill_names()) or "none defined"
        raise IncidentError(f"no drill {name!r} (the policy has: {known})")
    incident = incident_create(
        title=f"[DRILL] {drill['name']}: {drill['scenario']}",
        severity=drill["severity"],
        service=service,
        by=by,
        actor_label="drill",
        is_drill=True,
        reason=f"Drill {drill['name']!r} (every {drill['every']})",
    )
    if drill.get("checklist"):
        checklist_attach(incident=incident, checklist_id=drill["checklist"])
    return incident
