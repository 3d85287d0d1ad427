"""The text of a page, for every channel, built from the incident(s)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from tocsin.incidents.models import Incident
from tocsin.notifications.links import action_url
from tocsin.notifications.models import Delivery
from tocsin.notifications.transports.base import Message

BUNDLE_LIST_MAX = 50


def _links(incident: Incident, user_id: int | None) -> dict[str, str]:
    links = {
        action: action_url(incident_public_id=incident.public_id, action=action, user_id=user_id)
        for action in ("acknowledge", "resolve")
    }
    links["incident"] = f"{settings.BASE_URL}/incidents/{incident.public_id}/"
    return links


def _incident_json(incident: Incident, links: dict[str, str]) -> dict[str, Any]:
    return {
        "id": incident.public_id,
        "number": incident.number,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "service": incident.service.name if incident.service else None,
        "triggered_at": incident.triggered_at.isoformat(),
        "links": links,
    }


def page_message(delivery: Delivery) -> Message:
    """The page for one delivery: subject, text, HTML, webhook JSON, one thread per incident."""
    incident = delivery.incident
    assert incident is not None
    links = _links(incident, delivery.user_id)
    severity = f"{incident.severity} " if incident.severity else ""
    if incident.is_drill:
        severity = f"DRILL {severity}"
    context = {"incident": incident, "delivery": delivery, "links": links}
    return Message(
        subject=f"[Tocsin] #{incident.number} {severity}{incident.title}"[:300],
        text=render_to_string("notifications/page.txt", context),
        html=render_to_string("notifications/page.html", context),
        thread_id=f"incident-{incident.public_id}",
        data={
            "event": "incident.page",
            "delivery": delivery.public_id,
            "reason": delivery.reason,
            "recipient": delivery.user.email if delivery.user else None,
            "incident": _incident_json(incident, links),
        },
    )


def bundle_message(deliveries: list[Delivery]) -> Message:
    """One message for many pages to the same person (an alert storm): list, then the count."""
    leader = deliveries[0]
    # One entry per incident: two levels or rules can page the same person for one incident.
    incidents = list({d.incident.pk: d.incident for d in deliveries if d.incident}.values())
    shown = [(i, _links(i, leader.user_id)) for i in incidents[:BUNDLE_LIST_MAX]]
    folded = len(incidents) - len(shown)
    context = {"items": shown, "folded": folded, "count": len(incidents), "delivery": leader}
    return Message(
        subject=f"[Tocsin] {len(incidents)} incidents need you: "
        + ", ".join(f"#{i.number} {i.title}" for i in incidents[:3])[:240],
        text=render_to_string("notifications/bundle.txt", context),
        html=render_to_string("notifications/bundle.html", context),
        data={
            "event": "incident.page.bundle",
            "delivery": leader.public_id,
            "recipient": leader.user.email if leader.user else None,
            "count": len(incidents),
            "incidents": [_incident_json(i, links) for i, links in shown],
            "folded": folded,
        },
    )
