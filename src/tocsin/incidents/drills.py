"""Drills: rehearse the process on a real incident, flagged so metrics leave it out.

Each drill of the policy repeats ``every`` so long: it is due that long after its last run
(the incident ``drill_start`` opened for it), and overdue past that; one never run is due now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.incidents.models import Incident
from tocsin.incidents.policy import checklist_attach
from tocsin.incidents.services import IncidentError, incident_create
from tocsin.policy.config.durations import parse_duration
from tocsin.policy.models import ConfigSection


def _drills() -> list[dict[str, Any]]:
    data = ConfigSection.objects.filter(name="drills").values_list("data", flat=True).first()
    return list(data or [])


def drill_names() -> list[str]:
    """The drills the policy defines."""
    return [d["name"] for d in _drills()]


@dataclass(frozen=True)
class DrillStatus:
    """A policy drill, when it last ran and when it is due again."""

    name: str
    every: str
    severity: str
    scenario: str
    last_run: Incident | None
    due_at: datetime | None  # None: never run, due now
    overdue: bool


def drills_status(*, now: datetime | None = None) -> list[DrillStatus]:
    """Every drill of the policy, in the policy's order, with its last run and next due time."""
    now = now or timezone.now()
    statuses = []
    for drill in _drills():  # a handful: one indexed query each
        last = Incident.objects.filter(drill=drill["name"]).order_by("-triggered_at", "-id").first()
        due = (
            last.triggered_at + timedelta(seconds=parse_duration(drill["every"]).seconds)
            if last
            else None
        )
        statuses.append(
            DrillStatus(
                name=drill["name"],
                every=drill["every"],
                severity=drill["severity"],
                scenario=drill["scenario"],
                last_run=last,
                due_at=due,
                overdue=due is None or due <= now,
            )
        )
    return statuses


@transaction.atomic
def drill_start(*, name: str, service: Service | None = None, by: User | None = None) -> Incident:
    """Declare the drill's incident: its severity pages and runs its clocks, marked DRILL."""
    drill = next((d for d in _drills() if d["name"] == name), None)
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
    incident.drill = drill["name"]
    incident.save(update_fields=["drill"])
    if drill.get("checklist"):
        checklist_attach(incident=incident, checklist_id=drill["checklist"])
    return incident
