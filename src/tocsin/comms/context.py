"""What a message template can see: the incident as plain data, no model objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from tocsin.incidents.models import Incident

PHASE_NAMES = {
    "triggered": "Investigating",
    "acknowledged": "Investigating",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "closed": "Resolved",
}


HELD_ROLES = ("commander", "tech_lead", "comms_lead", "scribe")


def _holders(incident: Incident) -> dict[str, str]:
    """Who holds each role (the primary, not the backup), in one query."""
    held = {role: "" for role in HELD_ROLES}
    for assignment in incident.roles.filter(role__in=HELD_ROLES, backup=False).select_related(
        "user"
    ):
        held[assignment.role] = str(assignment.user) if assignment.user else ""
    return held


def incident_context(incident: Incident, *, now: datetime | None = None) -> dict[str, Any]:
    """The incident as a template sees it (``incident.title``, ``incident.commander`` ...)."""
    now = now or timezone.now()
    end = incident.resolved_at or now
    holders = _holders(incident)
    started = incident.started_at or incident.triggered_at
    return {
        "number": incident.number,
        "title": incident.title,
        "summary": incident.summary,
        "severity": incident.severity,
        "status": incident.status,
        "phase": PHASE_NAMES.get(incident.status, incident.status),
        "service": incident.service.name if incident.service else "",
        "impact": incident.impact,
        "users_affected": incident.users_affected,
        "error_rate": incident.error_rate,
        "affected_components": list(incident.affected_components),
        "root_cause": incident.root_cause,
        "resolution": incident.resolution,
        "bridge_url": incident.bridge_url,
        "chat_channel": incident.chat_channel,
        "started_at": started,
        "triggered_at": incident.triggered_at,
        "acknowledged_at": incident.acknowledged_at,
        "mitigated_at": incident.mitigated_at,
        "resolved_at": incident.resolved_at,
        "duration": end - started,
        "next_update_due": incident.next_update_due,
        "postmortem_due_at": incident.postmortem_due_at,
        **holders,
        "url": f"{settings.BASE_URL}/incidents/{incident.public_id}/",
    }
