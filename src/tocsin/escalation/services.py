"""Escalation writes: start an incident's escalation and run its steps (worker)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.dbwrite import insert_rows
from tocsin.engine.deferred import defer_insert
from tocsin.engine.memo import batch_now, memoized
from tocsin.engine.models import Timer
from tocsin.engine.services import BatchUnsuitable, service_lane, timer_schedule, timers_insert
from tocsin.escalation.models import EscalationPolicy, EscalationRun
from tocsin.escalation.selectors import policy_snapshot, resolve_targets, target_label
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.incidents.services import (
    incident_rotate_token,
    incident_unacknowledge,
    timeline_add,
    timeline_event,
)
from tocsin.notifications.models import Delivery
from tocsin.notifications.services import deliveries_insert, page_rows, page_user
from tocsin.policy.workcal import next_business_moment
from tocsin.statuspage.selectors import maintenance_silencing

STEP = "escalation.step"
ACK_TIMEOUT = "escalation.ack_timeout"
REPEAT_PAUSE = timedelta(minutes=5)  # between passes when the last level has no wait


def _step_timer(*, incident: Incident, level: int, iteration: int, due_at: datetime) -> Timer:
    token = incident.escalation_token
    return Timer(
        kind=STEP,
        due_at=due_at,
        incident_id=incident.pk,
        lane=service_lane(incident.service_id),
        payload={"token": token, "level": level, "iteration": iteration},
        key=f"esc:{incident.pk}:{token}:{iteration}:{level}",
    )


def _schedule_step(*, incident: Incident, level: int, iteration: int, due_at: datetime) -> None:
    timer = _step_timer(incident=incident, level=level, iteration=iteration, due_at=due_at)
    timer_schedule(
        kind=timer.kind,
        due_at=timer.due_at,
        incident_id=timer.incident_id,
        lane=timer.lane,
        payload=timer.payload,
        key=timer.key,
    )


def escalation_start(*, incident: Incident, at: datetime | None = None) -> EscalationRun | None:
    """Snapshot the service's policy onto a new incident and schedule its first level (the
    incident is new: its run is inserted, when ``deferred_inserts()`` ends inside one)."""
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
    name = service.escalation_policy
    policy, snapshot = memoized(("escalation_policy", name), lambda: _policy_and_snapshot(name))
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
    run = EscalationRun(
        incident=incident,
        policy_name=policy.name,
        snapshot=copy.deepcopy(snapshot),
        started_at=at,
    )
    if not defer_insert(run):
        run.save(force_insert=True)
    _schedule_step(incident=incident, level=0, iteration=0, due_at=first_page)
    return run


def _policy_and_snapshot(name: str) -> tuple[EscalationPolicy | None, dict[str, Any]]:
    """A policy and its snapshot, read once per worker batch."""
    policy = EscalationPolicy.objects.filter(name=name).first()
    return policy, policy_snapshot(policy=policy) if policy is not None else {}


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


@dataclass
class _Step:
    """What one escalation step writes: pages, a timeline event, the run's new position and
    the next step (None when the run is over)."""

    run: EscalationRun
    deliveries: list[Delivery]
    event: TimelineEvent
    next_timer: Timer | None


def _step_of(
    incident: Incident | None, run: EscalationRun | None, payload: dict[str, Any]
) -> _Step | None:
    """The step a timer asks for, or None when it is stale (acknowledged, resolved, re-routed
    since it was planned: the fencing token moved) or past the policy's last level."""
    if incident is None or incident.status != Incident.Status.TRIGGERED:
        return None
    if incident.escalation_token != payload["token"] or run is None:
        return None
    level, iteration = int(payload["level"]), int(payload["iteration"])
    levels = run.snapshot.get("levels", [])
    if level >= len(levels):
        return None
    now = batch_now()
    targets = levels[level]["targets"]
    recipients = resolve_targets(targets, now)
    step_key = f"{incident.escalation_token}:{iteration}:{level}"
    deliveries: list[Delivery] = []
    names: list[str] = []
    unreachable: list[str] = []
    for r in recipients:
        rows = page_rows(
            incident=incident,
            user=r.user,
            step_key=step_key,
            reason=f"escalation level {level + 1} ({r.via})",
            now=now,
        )
        deliveries.extend(rows)
        (names if rows else unreachable).append(str(r.user))
    if names:
        message = f"Paged {', '.join(names)}"
    elif unreachable:
        message = f"Level {level + 1} reached nobody: no working contact method"
    else:
        message = f"Level {level + 1} reached nobody ({', '.join(map(target_label, targets))})"
    if names and unreachable:
        message += f" ({', '.join(unreachable)}: no working contact method)"
    elif unreachable:
        message += f" for {', '.join(unreachable)}"
    event = timeline_event(
        incident=incident,
        kind="escalated" if level or iteration else "paged",
        actor_label="escalation",
        new=f"level {level + 1}",
        message=message,
        data={
            "level": level,
            "iteration": iteration,
            "users": [r.user.email for r in recipients],
            "targets": targets,
        },
        at=now,
    )
    run.level, run.iteration = level, iteration
    # The next step: the next level after this one's wait, or the first again (repeat).
    wait = timedelta(seconds=levels[level]["wait_seconds"])
    next_timer = None
    if level + 1 < len(levels):
        next_timer = _step_timer(
            incident=incident, level=level + 1, iteration=iteration, due_at=now + wait
        )
    elif iteration < run.snapshot.get("repeat", 0):
        next_timer = _step_timer(
            incident=incident, level=0, iteration=iteration + 1, due_at=now + (wait or REPEAT_PAUSE)
        )
    else:
        run.finished_at = now
    return _Step(run=run, deliveries=deliveries, event=event, next_timer=next_timer)


def escalation_step(*, incident_id: int, payload: dict[str, Any]) -> None:
    """Page one level, then schedule the next; a stale token (ack, resolve) ends the run."""
    incident = Incident.objects.filter(pk=incident_id).first()
    run = EscalationRun.objects.filter(incident_id=incident_id).first()
    step = _step_of(incident, run, payload)
    if step is None:
        return
    _write_steps([step])


def escalation_steps(timers: list[Timer]) -> None:
    """``escalation_step`` for a worker batch of step timers, set-based: one read of their
    incidents and runs, one insert each of deliveries, timeline events and next steps, one
    update of the runs. Same rows as running them one by one (tested), a fifth of the cost.

    Two timers of one incident (rare: a manual escalation racing a planned step) are run one
    by one instead, in order, as each reads what the other wrote."""
    ids = [t.incident_id for t in timers]
    if len(set(ids)) != len(ids):
        raise BatchUnsuitable("two steps of one incident")
    # A step reads the incident's state and token, not its policy snapshot (the largest column,
    # a JSON document decoded per row).
    incidents = Incident.objects.defer("policy_snapshot").in_bulk(ids)
    runs = {r.incident_id: r for r in EscalationRun.objects.filter(incident_id__in=ids)}
    steps = [
        step
        for t in timers
        if t.incident_id is not None
        and (step := _step_of(incidents.get(t.incident_id), runs.get(t.incident_id), t.payload))
    ]
    _write_steps(steps)


def _write_steps(steps: list[_Step]) -> None:
    if not steps:
        return
    deliveries_insert([d for s in steps for d in s.deliveries])
    insert_rows([s.event for s in steps])
    _runs_save_position([s.run for s in steps])
    timers_insert([s.next_timer for s in steps if s.next_timer is not None])


def _runs_save_position(runs: list[EscalationRun]) -> None:
    """Save each run's level, iteration and finished_at (one prepared statement)."""
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(EscalationRun._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET level = %s, iteration = %s, finished_at = %s WHERE id = %s",
            [(r.level, r.iteration, adapt(r.finished_at), r.pk) for r in runs],
        )


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
    level, iteration = run.level + 1, run.iteration
    if level >= len(levels):
        # Past the last level: the next pass if the policy repeats, else the last level again.
        if iteration < run.snapshot.get("repeat", 0):
            level, iteration = 0, iteration + 1
        else:
            level = len(levels) - 1
    timeline_add(
        incident=incident,
        kind="escalate_requested",
        actor=by,
        message=message,
        new=f"level {level + 1}",
    )
    # A new token retires the step that was waiting, so no level is paged twice.
    incident_rotate_token(incident=incident)
    _schedule_step(incident=incident, level=level, iteration=iteration, due_at=timezone.now())


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


def _pending_step(incident: Incident) -> Timer | None:
    """The escalation step waiting under the incident's current token, if any."""
    return (
        Timer.objects.filter(
            incident=incident,
            kind=STEP,
            done_at__isnull=True,
            payload__token=incident.escalation_token,
        )
        .order_by("due_at", "id")
        .first()
    )


def escalation_on_severity_change(*, incident: Incident) -> None:
    """Paging under the incident's new severity (``incident_set_severity``).

    A severity whose ``page`` rule is ``none`` stops paging (the waiting step is retired); one
    that pages at any hour brings a first page that waited for business hours forward to now;
    an incident that paged nobody (its old severity's rule) starts its escalation. Anything
    else keeps running as planned: the next level still comes after its wait.
    """
    if incident.status != Incident.Status.TRIGGERED:
        return  # acknowledged or later: nothing is paging; the acknowledgement timeout stands
    spec = (incident.policy_snapshot.get("severities") or {}).get(incident.severity) or {}
    rule = spec.get("page", "all")
    run = EscalationRun.objects.filter(incident=incident).first()
    step = _pending_step(incident)
    if rule == "none":
        if step is not None:
            incident_rotate_token(incident=incident)
            timeline_add(
                incident=incident,
                kind="paging_skipped",
                actor_label="policy",
                message=f"{incident.severity} pages nobody (page: none): paging stopped",
            )
        return
    if run is None:
        escalation_start(incident=incident)
        return
    now = timezone.now()
    payload = step.payload if step is not None else {}
    first = step is not None and not int(payload["level"]) and not int(payload["iteration"])
    if step is None or not first or step.due_at <= now:
        return
    starts = _first_page_time(incident, now)
    if starts is not None and starts < step.due_at:
        incident_rotate_token(incident=incident)
        _schedule_step(incident=incident, level=0, iteration=0, due_at=starts)


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
    # The policy from the start, repeats included (the new token keeps its step and delivery
    # keys apart from the first run's).
    run.level, run.iteration, run.finished_at = 0, 0, None
    run.save(update_fields=["level", "iteration", "finished_at"])
    _schedule_step(incident=incident, level=0, iteration=0, due_at=timezone.now())


def escalation_after_maintenance(
    *, maintenance_id: int, at: datetime | None = None
) -> list[EscalationRun]:
    """A maintenance window ended: start the escalation of the incidents it silenced that are
    still triggered and were never escalated (once each: an incident already told that paging
    resumed after this window, or with a run, is left alone)."""
    from tocsin.statuspage.models import ScheduledMaintenance

    m = ScheduledMaintenance.objects.filter(pk=maintenance_id).first()
    if m is None:
        return []
    at = at or timezone.now()
    silenced = TimelineEvent.objects.filter(kind="paging_silenced", data__maintenance=m.public_id)
    resumed = TimelineEvent.objects.filter(kind="paging_resumed", data__maintenance=m.public_id)
    incidents = (
        Incident.objects.filter(
            service__in=m.services.all(),
            status=Incident.Status.TRIGGERED,
            pk__in=silenced.values("incident_id"),
        )
        .exclude(pk__in=resumed.values("incident_id"))
        .exclude(pk__in=EscalationRun.objects.values("incident_id"))
        .select_related("service")
        .order_by("id")
    )
    runs = []
    for incident in incidents:
        timeline_add(
            incident=incident,
            kind="paging_resumed",
            actor_label="maintenance",
            message=f"Maintenance {m.name!r} ended with the incident still triggered: paging",
            data={"maintenance": m.public_id},
            at=at,
        )
        run = escalation_start(incident=incident, at=at)
        if run is not None:
            runs.append(run)
    return runs
