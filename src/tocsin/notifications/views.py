"""One-click links from messages: GET shows a confirmation, only POST changes the incident.

Chat apps and mail scanners fetch links to build previews; a GET that acknowledged would
acknowledge every page the moment it arrived.
"""

from __future__ import annotations

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from tocsin.accounts.models import User
from tocsin.incidents.models import Incident
from tocsin.incidents.services import IncidentError, incident_acknowledge, incident_resolve
from tocsin.notifications.links import ActionClaim, action_claim

SERVICES = {"acknowledge": incident_acknowledge, "resolve": incident_resolve}


def _invalid(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "notifications/act.html", {"error": reason}, status=400)


@require_http_methods(["GET", "POST"])
def act(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm (GET) or perform (POST) the action a signed link names."""
    try:
        claim: ActionClaim = action_claim(token)
    except signing.SignatureExpired:
        return _invalid(request, "This link has expired. Open the incident in Tocsin instead.")
    except signing.BadSignature:
        return _invalid(request, "This link is not valid.")
    incident = Incident.objects.select_related("service").filter(public_id=claim.incident).first()
    if incident is None:
        return _invalid(request, "This incident no longer exists.")
    if (
        claim.issued is not None
        and incident.timeline.filter(kind="reopened", at__gte=claim.issued).exists()
    ):
        # Sent for an earlier outage of this incident: what it offered to end is over.
        return _invalid(
            request,
            "This link was sent before the incident was reopened. Open the incident in Tocsin "
            "to act on it now.",
        )
    by = User.objects.filter(pk=claim.user, is_active=True).first() if claim.user else None
    if claim.user and by is None:
        return _invalid(request, "This link was sent to someone who can no longer act in Tocsin.")
    context = {"incident": incident, "action": claim.action, "done": False, "error": ""}
    if request.method == "POST":
        try:
            SERVICES[claim.action](
                incident=incident,
                by=by,
                actor_label="link",
                message="through the link in a notification",
            )
            context["done"] = True
        except IncidentError as exc:
            context["error"] = str(exc)
        incident.refresh_from_db()
    return render(request, "notifications/act.html", context)
