"""Drafting messages for an incident: the configured template per channel and phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction

from tocsin.accounts.models import User
from tocsin.comms.context import incident_context
from tocsin.comms.defaults import DEFAULTS
from tocsin.comms.sandbox import TemplateError, template_render
from tocsin.incidents.models import Incident
from tocsin.incidents.services import incident_post_update, timeline_add
from tocsin.notifications.services import message_delivery_create
from tocsin.policy.models import ConfigSection, WorkCalendar

if TYPE_CHECKING:
    from tocsin.statuspage.models import Component, PublicIncident


@dataclass(frozen=True)
class Draft:
    channel: str
    phase: str
    template: str  # the template id, or "built-in"
    subject: str
    body: str
    error: str = ""  # a template that failed: the draft falls back to the built-in one


def _configured() -> dict[tuple[str, str], dict[str, Any]]:
    data = ConfigSection.objects.filter(name="templates").values_list("data", flat=True).first()
    return {(t["channel"], t["phase"]): t for t in data or []}


def _render(source: str, context: dict[str, Any]) -> str:
    return template_render(source, context).strip()


def draft(
    *, incident: Incident, channel: str, phase: str, message: str = "", zone: str | None = None
) -> Draft:
    """The draft for one channel and phase, rendered in the audience's time zone."""
    context = {
        "incident": incident_context(incident),
        "message": message,
        "zone": zone or WorkCalendar.current().timezone,
    }
    builtin = DEFAULTS.get((channel, phase)) or DEFAULTS.get((channel, "update")) or ("", "")
    custom = _configured().get((channel, phase))
    error = ""
    if custom is not None:
        try:
            subject = _render(custom.get("subject") or builtin[0], context)
            return Draft(channel, phase, custom["id"], subject, _render(custom["body"], context))
        except TemplateError as exc:
            # Never fail a 3 am update on a template: fall back to the built-in one and say so.
            error = f"template {custom['id']}: {exc}"
    return Draft(
        channel,
        phase,
        "built-in",
        _render(builtin[0], context),
        _render(builtin[1], context),
        error,
    )


def drafts(
    *,
    incident: Incident,
    phase: str,
    channels: tuple[str, ...],
    message: str = "",
    zone: str | None = None,
) -> list[Draft]:
    """Drafts for several channels at once (what the "post update" form shows)."""
    return [
        draft(incident=incident, channel=c, phase=phase, message=message, zone=zone)
        for c in channels
    ]


@dataclass(frozen=True)
class Outgoing:
    """A draft as the responder edited it, for one channel."""

    channel: str
    subject: str
    body: str


@dataclass
class SendResult:
    update_id: int
    deliveries: int = 0
    skipped: list[str] = field(default_factory=list)  # channels with nowhere to go
    withheld: list[str] = field(default_factory=list)  # why a public post was not made


def _for_severity(items: list[dict[str, Any]], severity: str) -> list[dict[str, Any]]:
    return [i for i in items if not i.get("severities") or severity in i["severities"]]


def _destinations(incident: Incident, channel: str) -> list[tuple[str, str, str]]:
    """(transport, target, label) for a channel under the incident's policy."""
    comms = incident.policy_snapshot.get("comms") or {}
    chat = [
        ("apprise", c["apprise"], f"chat {c['name']}")
        for c in _for_severity(comms.get("chat", []), incident.severity)
    ]
    email = [
        ("email", address, f"stakeholders {s['name']}")
        for s in _for_severity(comms.get("stakeholders", []), incident.severity)
        for address in s["emails"]
    ]
    return {"chat": chat, "bridge": chat, "email": email}.get(channel, [])


def public_post_refusal(incident: Incident, message: Outgoing) -> str:
    """Why this status-page post must not go out, or "" when it may.

    A drill is a rehearsal: it is never published (the guides share drill results with the
    team, not customers). A security incident is published only when a responder chose to (the
    status page is not ticked by default: "notify ... customers if needed") and wrote a public
    title: its internal title is never used as the public one.
    """
    if incident.is_drill:
        return "status page withheld: a drill is never published"
    if incident.is_security:
        subject = message.subject.strip()
        if not subject or subject == incident.title.strip():
            return (
                "status page withheld: a security incident is published only with a public"
                " title other than its internal one"
            )
    return ""


@transaction.atomic
def comms_send(
    *, incident: Incident, phase: str, messages: list[Outgoing], by: User | None = None
) -> SendResult:
    """Send the edited drafts: a delivery row per destination, a status update that resets
    the update cadence, and one timeline event saying what went where.

    A status-page message the incident may not publish (a drill; a security incident without
    its own public title) is withheld and the timeline says why."""
    refusals = {
        id(m): public_post_refusal(incident, m) for m in messages if m.channel == "status_page"
    }
    withheld = [reason for reason in refusals.values() if reason]
    sent = [m for m in messages if not refusals.get(id(m))]
    internal = next(
        (m.body for m in messages if m.channel == "chat"), messages[0].body if messages else ""
    )
    public = any(m.channel == "status_page" for m in sent)
    update = incident_post_update(
        incident=incident, body=internal or f"{phase} update", by=by, public=public
    )
    result = SendResult(update_id=update.pk, withheld=withheld)
    for message in sent:
        if message.channel == "status_page":
            result.deliveries += _publish(incident, phase, message)
            continue
        targets = _destinations(incident, message.channel)
        if not targets:
            result.skipped.append(message.channel)
        for transport, target, label in targets:
            created = message_delivery_create(
                key=f"update:{update.pk}:{message.channel}:{target}",
                incident=incident,
                transport=transport,
                target=target,
                subject=message.subject or incident.title,
                body=message.body,
                reason=f"{phase} update to {label}",
            )
            result.deliveries += created is not None
    notes = [f"nowhere configured for {', '.join(result.skipped)}"] if result.skipped else []
    notes += withheld
    timeline_add(
        incident=incident,
        kind="comms_sent",
        actor=by,
        new=phase,
        message=f"{phase} update sent to "
        + (", ".join(m.channel for m in sent) or "nothing")
        + (f" ({'; '.join(notes)})" if notes else ""),
        data={
            "update": update.pk,
            "channels": [m.channel for m in sent],
            **({"withheld": withheld} if withheld else {}),
        },
    )
    return result


PUBLIC_STATUS = {
    "declared": "investigating",
    "identified": "identified",
    "monitoring": "monitoring",
    "resolved": "resolved",
    "postmortem_scheduled": "postmortem",
}


# A reopened incident's public status, from its own status, when the phase does not say one.
REOPENED_STATUS = {
    "identified": "identified",
    "monitoring": "monitoring",
}

# The component status a public incident's impact means (as the status page marks it).
IMPACT_COMPONENT_STATUS = {
    "critical": "major_outage",
    "major": "partial_outage",
    "minor": "degraded_performance",
}


def _publish(incident: Incident, phase: str, message: Outgoing) -> int:
    """Post to the public status page: open its public incident, or add an update to it.

    An update (a phase with no public status of its own) keeps the public status, except after
    a reopen: a resolved public incident whose internal incident is open again goes back to an
    open status and its components back to the outage they were in."""
    from tocsin.statuspage.models import PublicIncident
    from tocsin.statuspage.services import public_incident_from_incident, public_incident_update

    public = PublicIncident.objects.filter(incident=incident).order_by("-id").first()
    if public is None or (public.status == PublicIncident.Status.RESOLVED and phase == "declared"):
        public_incident_from_incident(
            incident=incident, body=message.body, name=message.subject or incident.title
        )
        return 1
    status = PUBLIC_STATUS.get(phase)
    components = None
    reopened = (
        public.status not in PublicIncident.UNRESOLVED and incident.status in Incident.OPEN_STATUSES
    )
    if status is None:
        status = REOPENED_STATUS.get(incident.status, "investigating") if reopened else None
        status = status or public.status
    if reopened and status in PublicIncident.UNRESOLVED:
        components = _reopened_components(public)
    public_incident_update(
        public_incident=public, status=status, body=message.body, components=components
    )
    return 1


def _reopened_components(public: PublicIncident) -> dict[Component, str]:
    """Each of the public incident's components at the last status an open update gave it
    (the impact's status when none did, or it was operational)."""
    last: dict[str, str] = {}
    for update in public.updates.order_by("at", "id"):
        if update.status in ("resolved", "postmortem"):
            continue
        for change in update.affected_components or []:
            last[change.get("code", "")] = change.get("new_status", "")
    fallback = IMPACT_COMPONENT_STATUS.get(public.impact, "")
    changes: dict[Component, str] = {}
    for component in public.components.all():
        status = last.get(component.public_id, "")
        if status in ("", "operational"):
            status = fallback
        if status:
            changes[component] = status
    return changes
