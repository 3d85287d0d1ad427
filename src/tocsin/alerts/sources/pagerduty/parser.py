"""PagerDuty Events API v2 bodies: alert events (``/v2/enqueue``) and change events.

Alert events: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
Change events: https://developer.pagerduty.com/docs/events-api-v2/send-change-events/
Validation messages copy PagerDuty's wording so existing clients log familiar errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tocsin.alerts.sources.base import NormalizedAlert, ParseError
from tocsin.alerts.sources.fields import Fields, decode_object, web_link

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "warning", "error", "info")
ROUTING_KEY_LENGTH = 32
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


class UnrecognizedEvent(ParseError):
    """The body is not a JSON object at all (PagerDuty: "Event object format is unrecognized")."""


@dataclass
class Event:
    """One alert event, validated."""

    routing_key: str
    action: str
    dedup_key: str
    alert: NormalizedAlert


@dataclass
class ChangeEvent:
    """One change event, validated."""

    routing_key: str
    summary: str
    source: str = ""
    timestamp: datetime | None = None
    links: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _decode(body: bytes) -> Fields:
    try:
        return Fields(decode_object(body))
    except ParseError as exc:
        raise UnrecognizedEvent("JSON parse error", errors=["JSON parse error"]) from exc


def _routing_key(fields: Fields) -> str:
    value = fields.value("routing_key", (str,), "a string")
    if not isinstance(value, str) or len(value) != ROUTING_KEY_LENGTH:
        fields.errors.append(
            f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)"
        )
        return ""
    return value


def _links(fields: Fields) -> list[dict[str, str]]:
    """Read ``links`` and ``images``; keep the http(s) ones as links."""
    links = []
    for item in fields.objects("links"):
        href, text = item.text("href"), item.text("text")
        link = web_link(href, text or href)
        if link:
            links.append(link)
    for item in fields.objects("images"):
        src, href, alt = item.text("src"), item.text("href"), item.text("alt")
        link = web_link(href or src, alt or "Image")
        if link:
            links.append(link)
    return links


def _trigger_alert(fields: Fields, *, dedup_key: str) -> NormalizedAlert:
    payload = fields.child("payload", required=True)
    summary = payload.text("summary", required=True, max_length=MAX_SUMMARY)
    source = payload.text("source", required=True)
    severity = payload.text("severity", required=True, choices=SEVERITIES)
    details: dict[str, Any] = {key: payload.text(key) for key in ("component", "group", "class")}
    details["custom_details"] = payload.mapping("custom_details")
    details["client"] = fields.text("client")
    links = _links(fields)
    client_link = web_link(fields.text("client_url"), details["client"] or "Client")
    return NormalizedAlert(
        fingerprint=dedup_key,
        status="firing",
        title=summary,
        source=source,
        source_severity=severity,
        details=details,
        links=[*links, client_link] if client_link else links,
        # PagerDuty accepts timestamps it cannot parse (and uses the receive time): so do we.
        starts_at=payload.time("timestamp", strict=False),
    )


def parse_event(body: bytes) -> Event:
    """Validate an Events API v2 alert event (trigger, acknowledge or resolve)."""
    fields = _decode(body)
    routing_key = _routing_key(fields)
    action = fields.text("event_action", required=True, choices=ACTIONS)
    dedup_key = fields.text(
        "dedup_key", required=action in {"acknowledge", "resolve"}, max_length=MAX_DEDUP_KEY
    )
    if action == "trigger":
        # PagerDuty makes up a dedup_key for a trigger without one and returns it.
        dedup_key = dedup_key or uuid.uuid4().hex
        alert = _trigger_alert(fields, dedup_key=dedup_key)
    else:
        _links(fields)
        alert = NormalizedAlert(
            fingerprint=dedup_key,
            status="resolved" if action == "resolve" else "firing",
            title="",
            acknowledge=action == "acknowledge",
        )
    fields.raise_if_errors("Event object is invalid")
    return Event(routing_key=routing_key, action=action, dedup_key=dedup_key, alert=alert)


def parse_change(body: bytes) -> ChangeEvent:
    """Validate a change event (a deploy, a config change): it opens no incident."""
    fields = _decode(body)
    routing_key = _routing_key(fields)
    payload = fields.child("payload", required=True)
    event = ChangeEvent(
        routing_key=routing_key,
        summary=payload.text("summary", required=True, max_length=MAX_SUMMARY),
        source=payload.text("source"),
        timestamp=payload.time("timestamp", strict=False),
        details=payload.mapping("custom_details"),
    )
    event.links = _links(fields)
    fields.raise_if_errors("Event object is invalid")
    return event


def parse(body: bytes, *, config: Mapping[str, Any] | None = None) -> list[NormalizedAlert]:
    """Parse an alert event into its one alert (an acknowledge sets ``acknowledge``)."""
    return [parse_event(body).alert]
