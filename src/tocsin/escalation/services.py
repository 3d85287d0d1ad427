"""Escalation writes: start an incident's escalation and run its steps (worker)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.engine.memo import batch_now
from tocsin.engine.services import service_lane, timer_schedule
from tocsin.escalation.models import EscalationPolicy, EscalationRun
from tocsin.escalation.selectors import policy_snapshot, resolve_targets, target_label
from tocsin.incidents.models import Incident
from tocsin.incidents.services import (
    incident_rotate_token,
    incident_unacknowledge,
    timeline_add,
)
from tocsin.notifications.services import page_user
from tocsin.policy.workcal import next_business_moment
from tocsin.statuspage.selectors import maintenance_silencing

STEP = "escalation.step"
ACK_TIMEOUT = "escalation.ack_timeout"
REPEAT_PAUSE = timedelta(minutes=5)  # between passes when the last level has no wait


def _schedule_step(*, incident: Incident, level: int, iteration: int, due_at: datetime) -> None:
    token = incident.escalation_token
    timer_schedule(
        kind=STEP,
        due_at=due_at,
        incident_id=incident.pk,
        lane=service_lane(incident.service_id),
        payload={"token": token, "level": level, "iteration": iteration},
        key=f"esc:{incident.pk}:{token}:{iteration}:{level}",
    )


def escalation_start(*, incident: Incident, at: datetime | None = None) -> EscalationRun | None:
    """Snapshot the service's policy onto the incident and schedule its first level."""
    service = incident.service
    if service is None:
        return None
    silenced = maintenance_silencing(service=service, at=at or timezone.now())
    if silenced is not None:
        timeline_add(
            incident=incident,
            kind="paging_silenced",
            actor_label="maintenance",
            message=f"Paging silenced by maintenance {silenced.name!r}",
            data={"maintenance": silenced.public_id},
        )
        return None
    if not service.escalation_policy:
        return None
    policy = EscalationPolicy.objects.filter(name=service.escalation_policy).first()
    if policy is None:
        timeline_add(
            incident=incident,
            kind="escalation_missing",
            message=f"Escalation policy {service.escalation_policy!r} does not exist: nobody paged",
        )
        return None
    at = at or timezone.now()
    first_page = _first_page_time(incident, at)
    if first_page is None:
        return None
    run, created = EscalationRun.objects.get_or_create(
        incident=incident,
        defaults={
            "policy_name": policy.name,
            "snapshot": policy_snapshot(policy=policy),
            "started_at": at,
        },
    )
    if created:
        _schedule_step(incident=incident, level=0, iteration=0, due_at=first_page)
    return run


def _first_page_time(incident: Incident, at: datetime) -> datetime | None:
    """When paging may start under the severity's ``page`` rule (None: it pages nobody)."""
    from tocsin.incidents.policy import incident_calendar

    spec = (incident.policy_snapshot.get("severities") or {}).get(incident.severity) or {}
    rule = spec.get("page", "all")
    if rule == "none":
        timeline_add(
            incident=incident,
            kind="paging_skipped",
            actor_label="policy",
            message=f"{incident.severity} pages nobody (page: none)",
        )
        return None
    if rule != "business_hours":
        return at
    cal = incident_calendar(incident)
    start = next_business_moment(at, cal)
    if start > at:
        local = start.astimezone(cal.zone)
        timeline_add(
            incident=incident,
            kind="paging_queued",
            actor_label="policy",
            message=f"{incident.severity} pages during business hours only: paging starts "
            f"{local:%a %Y-%m-%d %H:%M %Z}",
        )
    return start


def escalation_step(*, incident_id: int, payload: dict[str, Any]) -> None:
    """Page one level, then schedule the next; a stale token (ack, resolve) ends the run."""
    incident = Incident.objects.select_related("service").filter(pk=incident_id).first()
    if incident is None or incident.status != Incident.Status.TRIGGERED:
        return
    if incident.escalation_token != payload["token"]:
        return  # fencing: acknowledged/re-routed since this step was planned
    run = EscalationRun.objects.filter(incident=incident).first()
    if run is None:
        return
    levels = run.snapshot.get("levels", [])
    level, iteration = int(payload["level"]), int(payload["iteration"])
    if level >= len(levels):
        return
    now = batch_now()
    _page_level(incident=incident, run=run, level=level, iteration=iteration, now=now)
    _plan_next(incident=incident, run=run, level=level, iteration=iteration, now=now)


def _page_level(
    *, incident: Incident, run: EscalationRun, level: int, iteration: int, now: datetime
) -> None:
    targets = run.snapshot["levels"][level]["targets"]
    recipients = resolve_targets(targets, now)
    step_key = f"{incident.escalation_token}:{iteration}:{level}"
    for r in recipients:
        page_user(
            incident=incident,
            user=r.user,
            step_key=step_key,
            reason=f"escalation level {level + 1} ({r.via})",
            now=now,
        )
    names = [str(r.user) for r in recipients]
    timeline_add(
        incident=incident,
        kind="escalated" if level or iteration else "paged",
        actor_label="escalation",
        new=f"level {level + 1}",
        message=(
            f"Paged {', '.join(names)}"
            if names
            else f"Level {level + 1} reached nobody ({', '.join(map(target_label, targets))})"
        ),
        data={
            "level": level,
            "iteration": iteration,
            "users": [r.user.email for r in recipients],
            "targets": targets,
        },
        at=now,
    )
    run.level, run.iteration = level, iteration
    run.save(update_fields=["level", "iteration"])


def _plan_next(
    *, incident: Incident, run: EscalationRun, level: int, iteration: int, now: datetime
) -> None:
    levels = run.snapshot["levels"]
    wait = timedelta(seconds=levels[level]["wait_seconds"])
    if level + 1 < len(levels):
        _schedule_step(incident=incident, level=level + 1, iteration=iteration, due_at=now + wait)
    elif iteration < run.snapshot.get("repeat", 0):
        _schedule_step(
            incident=incident, level=0, iteration=iteration + 1, due_at=now + (wait or REPEAT_PAUSE)
        )
    else:
        run.finished_at = now
        run.save(update_fields=["finished_at"])


def escalation_escalate_now(
    *, incident: Incident, by: User | None = None, message: str = ""
) -> None:
    """Page the next level at once (manual "escalate now")."""
    run = EscalationRun.objects.filter(incident=incident).first()
    if run is None:
        timeline_add(
            incident=incident,
            kind="escalate_requested",
            actor=by,
            message=message,
            new="no escalation policy",
        )
        return
    levels = run.snapshot.get("levels", [])
    level = min(run.level + 1, len(levels) - 1)
    timeline_add(
        incident=incident,
        kind="escalate_requested",
        actor=by,
        message=message,
        new=f"level {level + 1}",
    )
    # A new token retires the step that was waiting, so no level is paged twice.
    incident_rotate_token(incident=incident)
    _schedule_step(incident=incident, level=level, iteration=run.iteration, due_at=timezone.now())


def escalation_page_directly(
    *, incident: Incident, people: list[User], by: User | None = None, message: str = ""
) -> None:
    """Page chosen people now, outside the policy (they get the usual one-click links).

    Unlike policy pages these go out even when the incident is acknowledged: calling in an
    expert is exactly what a responder does after acknowledging.
    """
    event = timeline_add(
        incident=incident,
        kind="escalate_requested",
        actor=by,
        message=message,
        new=", ".join(p.email for p in people),
        data={"users": [p.email for p in people]},
    )
    for person in people:
        page_user(
            incident=incident,
            kind="escalate",
            user=person,
            step_key=f"manual:{event.pk}",
            reason=f"paged by {by or 'a responder'}" + (f": {message}" if message else ""),
        )


def escalation_on_acknowledge(*, incident: Incident) -> None:
    """Start the policy's acknowledgement timeout, if it has one."""
    run = EscalationRun.objects.filter(incident=incident).first()
    timeout = int(run.snapshot.get("ack_timeout_seconds") or 0) if run else 0
    if not timeout or incident.acknowledged_at is None:
        return
    token = incident.escalation_token
    timer_schedule(
        kind=ACK_TIMEOUT,
        due_at=incident.acknowledged_at + timedelta(seconds=timeout),
        incident_id=incident.pk,
        lane=service_lane(incident.service_id),
        payload={"token": token},
        key=f"acktimeout:{incident.pk}:{token}",
    )


def escalation_ack_timeout(*, incident_id: int, payload: dict[str, Any]) -> None:
    """Acknowledged, then nothing: un-acknowledge and page from the first level again.

    Only a bare acknowledgement times out; moving the incident on (investigating, identified,
    monitoring) or resolving it shows someone is working, and rotates the token anyway.
    """
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None or incident.status != Incident.Status.ACKNOWLEDGED:
        return
    if incident.escalation_token != payload["token"]:
        return
    run = EscalationRun.objects.filter(incident=incident).first()
    if run is None:
        return
    minutes = int(run.snapshot.get("ack_timeout_seconds", 0)) // 60
    incident = incident_unacknowledge(
        incident=incident, message=f"Acknowledged {minutes} min ago and still open: paging again"
    )
    run.iteration += 1
    run.finished_at = None
    run.save(update_fields=["iteration", "finished_at"])
    _schedule_step(incident=incident, level=0, iteration=run.iteration, due_at=timezone.now())
