"""Drafting messages for an incident: the configured template per channel and phase."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tocsin.comms.context import incident_context
from tocsin.comms.defaults import DEFAULTS
from tocsin.comms.sandbox import TemplateError, template_render
from tocsin.incidents.models import Incident
from tocsin.policy.models import ConfigSection, WorkCalendar


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
