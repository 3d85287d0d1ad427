"""The text of a page, for every channel, built from the incident."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from tocsin.incidents.models import Incident
from tocsin.notifications.links import action_url
from tocsin.notifications.models import Delivery
from tocsin.notifications.transports.base import Message


def page_message(delivery: Delivery) -> Message:
    """The page for one delivery: subject, text, HTML, webhook JSON, one thread per incident."""
    incident = delivery.incident
    assert incident is not None
    links = {
        action: action_url(
            incident_public_id=incident.public_id, action=action, user_id=delivery.user_id
        )
        for action in ("acknowledge", "resolve")
    }
    links["incident"] = f"{settings.BASE_URL}/incidents/{incident.public_id}/"
    severity = f"{incident.severity} " if incident.severity else ""
    subject = f"[Tocsin] #{incident.number} {severity}{incident.title}"
    context = {"incident": incident, "delivery": delivery, "links": links}
    return Message(
        subject=subject[:300],
        text=render_to_string("notifications/page.txt", context),
        html=render_to_string("notifications/page.html", context),
        thread_id=f"incident-{incident.public_id}",
        data=_webhook_body(incident, delivery, links),
    )


def _webhook_body(
    incident: Incident, delivery: Delivery, links: dict[str, str]
) -> dict[str, object]:
    """The documented webhook schema (README "Webhook notifications")."""
    return {
        "event": "incident.page",
        "delivery": delivery.public_id,
        "reason": delivery.reason,
        "recipient": delivery.user.email if delivery.user else None,
        "incident": {
            "id": incident.public_id,
            "number": incident.number,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "service": incident.service.name if incident.service else None,
            "triggered_at": incident.triggered_at.isoformat(),
        },
        "links": links,
    }
