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


def _holder(incident: Incident, role: str) -> str:
    holder = incident.roles.filter(role=role, backup=False).select_related("user").first()
    return str(holder.user) if holder else ""


def incident_context(incident: Incident, *, now: datetime | None = None) -> dict[str, Any]:
    """The incident as a template sees it (``incident.title``, ``incident.commander`` ...)."""
    now = now or timezone.now()
    end = incident.resolved_at or now
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
        "commander": _holder(incident, "commander"),
        "tech_lead": _holder(incident, "tech_lead"),
        "comms_lead": _holder(incident, "comms_lead"),
        "scribe": _holder(incident, "scribe"),
        "url": f"{settings.BASE_URL}/incidents/{incident.public_id}/",
    }
