"""Running the incident process from the incident page: phases, severity, details, roles,
checklists and status updates; and the services page's "what happens if this breaks?"."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tocsin.accounts.models import User
from tocsin.comms.defaults import CHANNELS
from tocsin.comms.services import comms_send, drafts
from tocsin.incidents import services as incident_services
from tocsin.incidents.models import Incident
from tocsin.policy.config.loader import ConfigError
from tocsin.policy.models import WorkCalendar
from tocsin.policy.selectors import simulate_current
from tocsin.policy.simulate import Scenario, SimulationError
from tocsin.web.access import AuthedRequest, responder_view
from tocsin.web.htmx import is_htmx, render_page
from tocsin.web.incident_page import (
    after_change,
    change_incident,
    incident_or_404,
    incident_page,
    invalid,
)
from tocsin.web.process import (
    checklist_item_get,
    default_channels,
    incident_role_names,
    phase_name,
    role_label,
    simulation_rows,
)
from tocsin.web.process_forms import (
    CHANNEL_NAMES,
    CheckForm,
    ComposeForm,
    DetailsForm,
    PhaseForm,
    RoleForm,
    SendForm,
    SeverityForm,
    SimulateForm,
    WaiveForm,
    coming_saturday,
)
from tocsin.web.selectors import service_get, severity_choices

# ---- the phase bar ---------------------------------------------------------------------------


@responder_view
@require_POST
def incident_phase(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Move the incident to investigating, identified or monitoring."""
    form = PhaseForm(request.POST)
    status = form.cleaned_data["status"] if form.is_valid() else str(request.POST.get("status"))

    def change(incident: Incident, by: User) -> object:
        return incident_services.incident_set_phase(incident=incident, status=status, by=by)

    return change_incident(request, public_id, change, "move", f"is now {phase_name(status)}")


@responder_view
@require_POST
def incident_close(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Close a resolved incident once the policy's closing conditions hold."""

    def change(incident: Incident, by: User) -> object:
        return incident_services.incident_close(incident=incident, by=by)

    return change_incident(request, public_id, change, "close")


@responder_view
@require_POST
def incident_reopen(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Reopen a resolved or closed incident: back to investigating, the clocks run again."""

    def change(incident: Incident, by: User) -> object:
        return incident_services.incident_reopen(incident=incident, by=by)

    return change_incident(request, public_id, change, "reopen", "reopened")


@responder_view
@require_POST
def incident_severity(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Change the severity; the policy's clocks and checklists follow the new one."""
    incident = incident_or_404(request, public_id)
    form = SeverityForm(request.POST, names=severity_choices())
    if not form.is_valid():
        return invalid(request, incident, {"severity_form": form}, "details")
    severity = form.cleaned_data["severity"]
    incident_services.incident_set_severity(incident=incident, severity=severity, by=request.user)
    messages.success(request, f"Incident #{incident.number} is now {severity}.")
    return after_change(request, incident, "details", "checklists")


# ---- details and roles -----------------------------------------------------------------------


@responder_view
@require_POST
def incident_details(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Save impact, cause, fix, bridge, channel, and the security and drill flags."""
    incident = incident_or_404(request, public_id)
    form = DetailsForm(request.POST)
    if not form.is_valid():
        return invalid(request, incident, {"details_form": form}, "details")
    incident_services.incident_update_details(
        incident=incident, by=request.user, **form.cleaned_data
    )
    messages.success(request, "Details saved.")
    return after_change(request, incident, "details")


@responder_view
@require_POST
def incident_role(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Assign a role, or hand it over; both people are told."""
    incident = incident_or_404(request, public_id)
    roles = incident_role_names(incident=incident)
    form = RoleForm(request.POST, roles=roles)
    if not form.is_valid():
        role = request.POST.get("role", "")
        forms = {
            "role_forms": {
                r: form if r == role else RoleForm(roles=roles, initial={"role": r}) for r in roles
            }
        }
        return invalid(request, incident, forms, "roles")
    data = form.cleaned_data
    try:
        incident_services.incident_assign_role(
            incident=incident,
            role=data["role"],
            user=data["user"],
            by=request.user,
            backup=data["backup"],
        )
    except incident_services.IncidentError as exc:
        messages.error(request, f"Could not assign the role: {exc}.")
    else:
        label = role_label(data["role"]) + (" (backup)" if data["backup"] else "")
        messages.success(request, f"{label}: {data['user']}.")
    return after_change(request, incident, "roles")


# ---- checklists ------------------------------------------------------------------------------


def _item_or_404(incident: Incident, checklist: str, position: int) -> Any:
    item = checklist_item_get(incident=incident, checklist=checklist, position=position)
    if item is None:
        raise Http404("No such checklist item")
    return item


@responder_view
@require_POST
def checklist_check(
    request: AuthedRequest, public_id: str, checklist: str, position: int
) -> HttpResponse:
    """Check or uncheck one checklist item."""
    incident = incident_or_404(request, public_id)
    item = _item_or_404(incident, checklist, position)
    form = CheckForm(request.POST)
    if form.is_valid():
        checked = bool(form.cleaned_data["checked"])
        incident_services.checklist_check(item=item, by=request.user, checked=checked)
        messages.success(request, f"{'Checked' if checked else 'Unchecked'}: {item.text}.")
    return after_change(request, incident, "checklists")


@responder_view
@require_POST
def checklist_waive(
    request: AuthedRequest, public_id: str, checklist: str, position: int
) -> HttpResponse:
    """Waive one checklist item, with the reason why."""
    incident = incident_or_404(request, public_id)
    item = _item_or_404(incident, checklist, position)
    form = WaiveForm(request.POST)
    if not form.is_valid():
        return invalid(request, incident, {"waive_forms": {item.pk: form}}, "checklists")
    reason = form.cleaned_data["reason"]
    incident_services.checklist_waive(item=item, by=request.user, reason=reason)
    messages.success(request, f"Waived: {item.text}.")
    return after_change(request, incident, "checklists")


# ---- status updates --------------------------------------------------------------------------


def _compose(request: AuthedRequest, incident: Incident) -> HttpResponse:
    """Draft every channel's message for the chosen phase, ready to edit and send."""
    form = ComposeForm(request.GET)
    if not form.is_valid():
        return _compose_page(request, incident, {"compose_form": form}, status=400)
    phase, message = form.cleaned_data["phase"], form.cleaned_data["message"]
    found = drafts(incident=incident, phase=phase, channels=CHANNELS, message=message)
    context = {
        "compose_form": form,
        "send_form": SendForm.from_drafts(phase, found, default_channels(incident=incident)),
        "drafts": found,
    }
    return _compose_page(request, incident, context)


def _compose_page(
    request: AuthedRequest, incident: Incident, forms: dict[str, Any], status: int = 200
) -> HttpResponse:
    if is_htmx(request):  # the compose panel only: the rest of the page is untouched
        context = {"incident": incident, "send_form": None, "drafts": [], **forms, "oob": []}
        return render(request, "web/partials/update_compose.html", context, status=status)
    return incident_page(request, incident, forms=forms, status=status)


@responder_view
@require_http_methods(["GET", "POST"])
def incident_update(request: AuthedRequest, public_id: str) -> HttpResponse:
    """GET: the drafts for a phase. POST: send the edited drafts to the ticked channels."""
    incident = incident_or_404(request, public_id)
    if request.method != "POST":
        return _compose(request, incident)
    form = SendForm(request.POST)
    if not form.is_valid():
        phase = form.cleaned_data.get("phase", "update")
        forms = {"send_form": form, "compose_form": ComposeForm(initial={"phase": phase})}
        return invalid(request, incident, forms, "compose")
    phase = form.cleaned_data["phase"]
    try:
        result = comms_send(
            incident=incident, phase=phase, messages=form.outgoing(), by=request.user
        )
    except incident_services.IncidentError as exc:
        messages.error(request, f"Could not send the update: {exc}.")
        return after_change(request, incident, "compose")
    n = result.deliveries
    messages.success(request, f"Update sent to {n} destination{'s' if n != 1 else ''}.")
    if result.skipped:
        names = ", ".join(CHANNEL_NAMES[c].lower() for c in result.skipped)
        messages.warning(request, f"Nowhere configured for {names}: nothing sent there.")
    for reason in result.withheld:  # a drill, a security incident without a public title
        messages.warning(request, reason[:1].upper() + reason[1:] + ".")
    return after_change(request, incident, "compose")


# ---- what happens if this breaks -------------------------------------------------------------


@responder_view
@require_GET
def service_simulate(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Run the current policy on a virtual clock for this service. No database writes."""
    service = service_get(public_id=public_id)
    if service is None:
        raise Http404("No such service")
    zone = ZoneInfo(WorkCalendar.current().timezone)
    severities = severity_choices()
    initial = {
        "severity": severities[0] if severities else "",
        "at": f"{coming_saturday(zone):%Y-%m-%dT%H:%M}",
    }
    bound = "severity" in request.GET
    form = SimulateForm(
        request.GET if bound else None, zone=zone, severities=severities, initial=initial
    )
    rows: list[Any] | None = None
    if bound and form.is_valid():
        data = form.cleaned_data
        scenario = Scenario(
            severity=data["severity"],
            at=data["at"],
            service=service.name,
            ack_after=data["ack_after"],
            resolve_after=data["resolve_after"],
        )
        try:
            events = simulate_current(scenario=scenario)
        except (SimulationError, ConfigError) as exc:
            form.add_error(None, str(exc))
        else:
            rows = simulation_rows(events=events, start=data["at"], zone=zone)
    context = {"service": service, "form": form, "rows": rows, "zone": zone.key}
    status = 400 if form.errors and not is_htmx(request) else 200
    return render_page(
        request, "web/service_simulate.html", "web/partials/simulation.html", context, status
    )
