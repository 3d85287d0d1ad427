"""HTML pages. Each view parses input, calls one service or selector, and renders."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from tocsin.accounts.models import User
from tocsin.escalation import services as escalation_services
from tocsin.escalation.readiness import readiness
from tocsin.incidents import services as incident_services
from tocsin.incidents.drills import drill_names, drill_start, drills_status
from tocsin.incidents.models import Incident
from tocsin.web.access import AuthedRequest, responder_view
from tocsin.web.forms import (
    DrillStartForm,
    EscalateForm,
    IncidentDeclareForm,
    IncidentFilterForm,
    LoginForm,
    NoteForm,
)
from tocsin.web.htmx import is_htmx, render_page
from tocsin.web.incident_page import (
    after_change,
    change_incident,
    incident_or_404,
    incident_page,
    invalid,
)
from tocsin.web.integrations import integration_guide
from tocsin.web.paging import incident_policy_name, policies_now, schedules_now
from tocsin.web.selectors import incident_rows, service_overview, severity_choices

PER_PAGE = 50

login = auth_views.LoginView.as_view(
    template_name="web/login.html",
    authentication_form=LoginForm,
    redirect_authenticated_user=True,
)
logout = auth_views.LogoutView.as_view()


def _list_page(
    request: AuthedRequest, declare_form: IncidentDeclareForm | None = None, status: int = 200
) -> HttpResponse:
    filter_form = IncidentFilterForm(request.GET)
    rows = incident_rows(**filter_form.filters(), user=request.user)
    context: dict[str, Any] = {
        "filter_form": filter_form,
        "page": Paginator(rows, PER_PAGE).get_page(request.GET.get("page")),
        "declare_form": declare_form or IncidentDeclareForm(),
        "severity_order": severity_choices(),
    }
    if not is_htmx(request):  # the 10 s poll only wants the table
        now = timezone.now()
        context["schedules"] = schedules_now(now=now)
        context["policies"] = policies_now(now=now)
        context["overdue_drills"] = [d for d in drills_status(now=now) if d.overdue]
    return render_page(
        request, "web/incident_list.html", "web/partials/incident_table.html", context, status
    )


@responder_view
def incident_list(request: AuthedRequest) -> HttpResponse:
    """List incidents, open first, filtered by the query string; htmx polls get the table."""
    return _list_page(request)


@responder_view
@require_POST
def incident_declare(request: AuthedRequest) -> HttpResponse:
    """Declare an incident from the list page's form, then open it."""
    form = IncidentDeclareForm(request.POST)
    if not form.is_valid():
        return _list_page(request, declare_form=form, status=400)
    incident = incident_services.incident_create(
        title=form.cleaned_data["title"],
        severity=form.cleaned_data["severity"],
        service=form.cleaned_data["service"],
        summary=form.cleaned_data["summary"],
        by=request.user,
    )
    messages.success(request, f"Incident #{incident.number} declared.")
    return redirect("web:incident-detail", public_id=incident.public_id)


@responder_view
def incident_detail(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Show one incident: header, alerts, timeline and the forms that change it."""
    incident = incident_or_404(request, public_id)
    if incident.public_id != public_id:  # found by number: send to the canonical URL
        return redirect("web:incident-detail", public_id=incident.public_id)
    return incident_page(request, incident)


@responder_view
@require_POST
def incident_ack(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Acknowledge the incident: someone is on it."""

    def change(incident: Incident, by: User) -> object:
        return incident_services.incident_acknowledge(incident=incident, by=by)

    return change_incident(request, public_id, change, "acknowledge")


@responder_view
@require_POST
def incident_resolve(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Resolve the incident: the impact is over."""

    def change(incident: Incident, by: User) -> object:
        return incident_services.incident_resolve(incident=incident, by=by)

    return change_incident(request, public_id, change, "resolve")


@responder_view
@require_POST
def incident_note(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Add a note to the incident's timeline."""
    incident = incident_or_404(request, public_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return invalid(request, incident, {"note_form": form}, "note")
    incident_services.incident_add_note(
        incident=incident, text=form.cleaned_data["text"], by=request.user
    )
    messages.success(request, "Note added.")
    return after_change(request, incident, "note")


@responder_view
@require_POST
def incident_escalate(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Escalate now: page the policy's next level, or a chosen person or role at once."""
    incident = incident_or_404(request, public_id)
    if incident.status != Incident.Status.TRIGGERED:
        # Pages go out only while nobody has acknowledged; the sender would cancel these.
        messages.error(request, f"Incident #{incident.number} is {incident.status}: not escalated.")
        return after_change(request, incident)
    form = EscalateForm(request.POST, policy=incident_policy_name(incident=incident))
    if not form.is_valid():
        return invalid(request, incident, {"escalate_form": form}, "escalate")
    people, note = form.people(), form.cleaned_data["message"]
    if people is None:
        escalation_services.escalation_escalate_now(
            incident=incident, by=request.user, message=note
        )
        messages.success(request, "Escalating to the next level now.")
    else:
        escalation_services.escalation_page_directly(
            incident=incident, people=people, by=request.user, message=note
        )
        messages.success(request, f"Paging {', '.join(str(p) for p in people)} now.")
    return after_change(request, incident, "escalate")


@responder_view
def readiness_panel(request: AuthedRequest) -> HttpResponse:
    """What would page nobody, now or in the next 14 days; the home page loads it after itself.

    ``readiness()`` resolves every policy target every 6 hours for 14 days (hundreds of small
    queries), so it is fetched by htmx once the page is up instead of delaying the page.
    """
    context = {"problems": readiness(now=timezone.now())}
    return render_page(request, "web/readiness.html", "web/partials/readiness_panel.html", context)


@responder_view
def drill_list(request: AuthedRequest, form: DrillStartForm | None = None) -> HttpResponse:
    """The policy's drills: cadence, last run, next due or overdue, and a start form."""
    names = drill_names()
    context = {
        "drills": drills_status(),
        "form": form or DrillStartForm(names=names),
    }
    return render(request, "web/drill_list.html", context, status=400 if form else 200)


@responder_view
@require_POST
def drill_run(request: AuthedRequest) -> HttpResponse:
    """Start a drill: a real incident of the drill's severity, flagged DRILL, then open it."""
    form = DrillStartForm(request.POST, names=drill_names())
    if not form.is_valid():
        return drill_list(request, form=form)
    incident = drill_start(
        name=form.cleaned_data["name"], service=form.cleaned_data["service"], by=request.user
    )
    messages.success(request, f"Drill started: incident #{incident.number}.")
    return redirect("web:incident-detail", public_id=incident.public_id)


@responder_view
def service_list(request: AuthedRequest) -> HttpResponse:
    """List services with their integrations' ingestion URLs and recent changes."""
    cards = [
        (service, [integration_guide(i) for i in service.integrations.all()])
        for service in service_overview()
    ]
    return render(request, "web/service_list.html", {"cards": cards})
