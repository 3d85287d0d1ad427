"""Paging pages: schedules with their shifts and overrides, and the signed-in person's profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from tocsin.accounts.models import ContactMethod
from tocsin.notifications.services import (
    TestTooSoon,
    contact_method_last_test,
    contact_method_test,
)
from tocsin.oncall import services as oncall_services
from tocsin.oncall.models import Schedule
from tocsin.web.access import AuthedRequest, responder_view
from tocsin.web.forms import OverrideDeleteForm, OverrideForm
from tocsin.web.paging import (
    person_contact_methods,
    person_deliveries,
    person_feed_url,
    person_rules,
    person_shifts,
    schedule_feed_url,
    schedule_get,
    schedule_layers,
    schedule_overrides,
    schedule_weeks,
    schedules_now,
)


def _schedule_or_404(public_id: str) -> Schedule:
    schedule = schedule_get(public_id=public_id)
    if schedule is None:
        raise Http404("No such schedule")
    return schedule


@responder_view
def schedule_list(request: AuthedRequest) -> HttpResponse:
    """List schedules: zone, who is on call now, and a warning when one has a gap ahead."""
    return render(request, "web/schedule_list.html", {"rows": schedules_now(now=timezone.now())})


def _occurs_once(instant: datetime, zone: ZoneInfo) -> bool:
    """Whether the wall time of ``instant`` in ``zone`` happens exactly once there: not skipped
    when the clocks go forward, not repeated when they go back."""
    wall = instant.astimezone(zone).replace(tzinfo=None)
    return (
        wall.replace(tzinfo=zone, fold=0).utcoffset()
        == wall.replace(tzinfo=zone, fold=1).utcoffset()
    )


def _first_once(instant: datetime, zone: ZoneInfo) -> datetime:
    """``instant``, or the first hour after it whose wall time in ``zone`` occurs once."""
    while not _occurs_once(instant, zone):
        instant += timedelta(hours=1)
    return instant.astimezone(zone)


def _suggested_times(zone: ZoneInfo) -> dict[str, str]:
    """From the next full hour, for a day: a starting point, in the schedule's wall time.

    The hour is stepped in UTC, and a wall time that a clock change skips or repeats is passed
    over, so the form accepts what it suggests (02:00 does not exist on a spring-forward day in
    New York; 01:00 happens twice on a fall-back day).
    """
    hour = timezone.localtime(timezone=zone).replace(minute=0, second=0, microsecond=0)
    start = _first_once(hour.astimezone(UTC) + timedelta(hours=1), zone)
    next_day = datetime.combine(start.date() + timedelta(days=1), start.time(), tzinfo=zone)
    end = _first_once(next_day.astimezone(UTC), zone)
    return {"start": f"{start:%Y-%m-%dT%H:%M}", "end": f"{end:%Y-%m-%dT%H:%M}"}


def _schedule_page(
    request: AuthedRequest,
    schedule: Schedule,
    form: OverrideForm | None = None,
    status: int = 200,
) -> HttpResponse:
    zone = ZoneInfo(schedule.timezone)
    now = timezone.now()
    context: dict[str, Any] = {
        "schedule": schedule,
        "weeks": schedule_weeks(schedule=schedule, now=now),
        "layers": schedule_layers(schedule=schedule),
        "overrides": schedule_overrides(schedule=schedule, now=now),
        "form": form or OverrideForm(zone=zone, initial=_suggested_times(zone)),
        "feed_url": schedule_feed_url(schedule=schedule),
        "now": now,
    }
    return render(request, "web/schedule_detail.html", context, status=status)


@responder_view
def schedule_detail(request: AuthedRequest, public_id: str) -> HttpResponse:
    """One schedule: four weeks of shifts, its layers, its overrides, its calendar feed."""
    return _schedule_page(request, _schedule_or_404(public_id))


@responder_view
@require_POST
def override_create(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Add an override from the schedule page's form."""
    schedule = _schedule_or_404(public_id)
    form = OverrideForm(request.POST, zone=ZoneInfo(schedule.timezone))
    if form.is_valid():
        try:
            override = oncall_services.override_create(
                schedule=schedule,
                user=form.cleaned_data["user"],
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                note=form.cleaned_data["note"],
                by=request.user,
            )
        except oncall_services.OverrideError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{override.user} is on call for {schedule.name} instead.")
            return redirect("web:schedule-detail", public_id=schedule.public_id)
    return _schedule_page(request, schedule, form=form, status=400)


@responder_view
@require_POST
def override_delete(request: AuthedRequest, public_id: str) -> HttpResponse:
    """Remove one of the schedule's overrides."""
    schedule = _schedule_or_404(public_id)
    form = OverrideDeleteForm(request.POST, schedule=schedule)
    if not form.is_valid():
        messages.error(request, "That override is already gone.")
    else:
        override = form.cleaned_data["override"]
        oncall_services.override_delete(override=override, by=request.user)
        messages.success(request, f"Override for {override.user} removed.")
    return redirect("web:schedule-detail", public_id=schedule.public_id)


@responder_view
def me(request: AuthedRequest) -> HttpResponse:
    """The signed-in person: how they are reached, their shifts, what was sent to them."""
    user = request.user
    methods = list(person_contact_methods(user=user))
    context = {
        "person": user,
        "methods": [(method, contact_method_last_test(method=method)) for method in methods],
        "rules": person_rules(user=user),
        "shifts": person_shifts(user=user, now=timezone.now()),
        "feed_url": person_feed_url(user=user),
        "deliveries": person_deliveries(user=user),
    }
    return render(request, "web/me.html", context)


@responder_view
@require_POST
def contact_method_test_view(request: AuthedRequest, method_id: int) -> HttpResponse:
    """Send a test message to one of the signed-in person's own contact methods."""
    method = ContactMethod.objects.filter(pk=method_id, user=request.user).first()
    if method is None:
        raise Http404("No such contact method of yours")
    try:
        contact_method_test(method=method, by=request.user)
    except TestTooSoon as exc:
        messages.error(request, f"Not sent: {exc}.")
    else:
        messages.success(
            request,
            f"A test message to {method.name} is on its way: this page shows when it was sent, "
            "or why it was not.",
        )
    return redirect("web:me")
