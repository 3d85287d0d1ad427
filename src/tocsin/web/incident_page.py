"""The incident page, shared by the views that change an incident.

The page has one live part (``#incident-live``: the header with the phase bar and clocks)
polled every 10 s; the poll's answer also carries the activity (alerts, paging, updates,
timeline) out of band. The panels with forms (roles, checklists, details, the update being
written, the note) sit outside both, so the poll never wipes what someone is typing; a form
comes back, out of band, only with the answer to its own post (cleared, or with its errors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.incidents.models import Incident
from tocsin.incidents.selectors import incident_get, incident_timeline
from tocsin.incidents.services import IncidentError
from tocsin.incidents.visibility import incident_visible_to
from tocsin.web.access import AuthedRequest
from tocsin.web.forms import EscalateForm, NoteForm
from tocsin.web.htmx import is_htmx, render_page
from tocsin.web.paging import incident_deliveries, incident_escalation
from tocsin.web.process import (
    incident_checklists,
    incident_clocks,
    incident_role_names,
    incident_roles,
    incident_updates,
    phase_bar,
    suggested_comms_phase,
)
from tocsin.web.process_forms import ComposeForm, DetailsForm, RoleForm, SeverityForm
from tocsin.web.selectors import incident_alerts, severity_choices

# Out-of-band panels: each is re-rendered only in the answer to a form it holds.
PANELS = ("note", "escalate", "roles", "checklists", "details", "compose")


def incident_or_404(request: AuthedRequest, ref: str) -> Incident:
    """The incident by public id or number, if this person may see it; else 404."""
    incident = incident_get(ref=ref)
    if incident is None or not _visible(incident, request.user):
        raise Http404("No such incident")
    return incident


def _visible(incident: Incident, user: User) -> bool:
    if not incident.is_security:
        return True
    visible = incident_visible_to(user=user)
    return Incident.objects.filter(visible, pk=incident.pk).exists()


def _forms(incident: Incident, severities: list[str], escalation: Any) -> dict[str, Any]:
    roles = incident_role_names(incident=incident)
    return {
        "note_form": NoteForm(),
        "escalate_form": EscalateForm(policy=escalation.run.policy_name if escalation else ""),
        "severity_form": SeverityForm(names=severities, initial={"severity": incident.severity}),
        "details_form": DetailsForm.for_incident(incident),
        "role_forms": {r: RoleForm(roles=roles, initial={"role": r}) for r in roles},
        "waive_forms": {},
        "compose_form": ComposeForm(initial={"phase": suggested_comms_phase(incident=incident)}),
        "send_form": None,
        "drafts": [],
    }


def incident_page(
    request: AuthedRequest,
    incident: Incident,
    *,
    forms: dict[str, Any] | None = None,
    oob: Iterable[str] = (),
    status: int = 200,
) -> HttpResponse:
    """The page, or for htmx its live part plus the activity and the posted panels (OOB)."""
    severities = severity_choices()
    escalation = incident_escalation(incident=incident)
    context: dict[str, Any] = {
        "incident": incident,
        "alerts": incident_alerts(incident=incident),
        "timeline": incident_timeline(incident=incident),
        "deliveries": incident_deliveries(incident=incident),
        "escalation": escalation,
        "severity_order": severities,
        "bar": phase_bar(incident=incident),
        "clocks": incident_clocks(incident=incident, now=timezone.now()),
        "roles": incident_roles(incident=incident),
        "checklists": incident_checklists(incident=incident),
        "updates": incident_updates(incident=incident),
        **_forms(incident, severities, escalation),
        **(forms or {}),
        "oob": [p for p in oob if p in PANELS],
    }
    return render_page(
        request, "web/incident_detail.html", "web/partials/incident_live.html", context, status
    )


def after_change(request: AuthedRequest, incident: Incident, *oob: str) -> HttpResponse:
    """htmx swaps the fresh incident in place; a plain form post goes back to the page."""
    if is_htmx(request):
        return incident_page(request, _fresh(incident), oob=oob)
    return redirect("web:incident-detail", public_id=incident.public_id)


def invalid(
    request: AuthedRequest, incident: Incident, forms: dict[str, Any], *oob: str
) -> HttpResponse:
    """A form with errors: htmx only swaps 2xx answers; a plain post gets a 400 page."""
    status = 200 if is_htmx(request) else 400
    return incident_page(request, _fresh(incident), forms=forms, oob=oob, status=status)


def _fresh(incident: Incident) -> Incident:
    # Services move some fields (the update clock, breaches) with queryset updates.
    return incident_get(ref=incident.public_id) or incident


Change = Callable[[Incident, User], object]


def change_incident(
    request: AuthedRequest, public_id: str, change: Change, verb: str, done: str = ""
) -> HttpResponse:
    """Run one service on the incident; its refusal (a gate, a wrong state) becomes a message."""
    incident = incident_or_404(request, public_id)
    try:
        change(incident, request.user)
    except IncidentError as exc:
        reason = str(exc).removeprefix(f"cannot {verb} #{incident.number}: ")
        messages.error(request, f"Could not {verb} incident #{incident.number}: {reason}.")
    else:
        messages.success(request, f"Incident #{incident.number} {done or verb + 'd'}.")
    return after_change(request, incident)
