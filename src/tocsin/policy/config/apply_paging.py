"""Sync schedules and escalation policies from a configuration into the paging models.

The sections are also stored verbatim (``ConfigSection``) so ``tocsin export`` writes them back
as written; these rows are what the worker and the on-call views compute from. Overrides that
people add in the UI are kept: only overrides that came from the file are replaced.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.accounts.models import User
from tocsin.escalation.models import EscalationLevel, EscalationPolicy
from tocsin.oncall.models import Layer, LayerMember, Override, Schedule
from tocsin.oncall.rotation import WEEKDAYS
from tocsin.policy.config import schema
from tocsin.policy.config.durations import duration_seconds

FROM_FILE = "(from configuration)"


def _day(value: str | None) -> str:
    if not value:
        return "monday"
    return next(d for d in WEEKDAYS if d.startswith(value.lower()[:3]))


def _clock(value: str | None) -> time:
    return time.fromisoformat(value) if value else time(9, 0)


def _layer_rows(layer: schema.Layer) -> dict[str, Any]:
    rotation = layer.rotation
    handoff = layer.handoff or schema.Handoff()
    if isinstance(rotation, schema.Every):
        kind, every = "every", duration_seconds(rotation.every)
    else:
        kind, every = rotation, 86_400 if rotation == "daily" else 7 * 86_400
    return {
        "rotation": kind,
        "every_seconds": every,
        "handoff_day": _day(handoff.day),
        "handoff_time": _clock(handoff.time),
        "start": layer.start,
    }


def _aware(text: str, zone: ZoneInfo) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _current(schedule: Schedule) -> tuple[Any, ...]:
    layers = tuple(
        (
            ly.rotation,
            ly.every_seconds,
            ly.handoff_day,
            ly.handoff_time,
            ly.start,
            tuple(m.user.email for m in ly.members.all()),
        )
        for ly in schedule.layers.prefetch_related("members__user")
    )
    overrides = tuple(
        (o.user.email, o.start, o.end)
        for o in schedule.overrides.filter(note=FROM_FILE).select_related("user")
    )
    return schedule.timezone, layers, overrides


def _desired(spec: schema.Schedule, zone_name: str) -> tuple[Any, ...]:
    zone = ZoneInfo(zone_name)
    layers = tuple((*_layer_rows(ly).values(), tuple(ly.participants)) for ly in spec.layers)
    overrides = tuple((o.who, _aware(o.from_, zone), _aware(o.to, zone)) for o in spec.overrides)
    return zone_name, layers, overrides


def _write_schedule(schedule: Schedule, spec: schema.Schedule, people: dict[str, User]) -> None:
    zone = ZoneInfo(schedule.timezone)
    schedule.layers.all().delete()
    for position, layer in enumerate(spec.layers):
        row = Layer.objects.create(schedule=schedule, position=position, **_layer_rows(layer))
        LayerMember.objects.bulk_create(
            LayerMember(layer=row, user=people[email], position=i)
            for i, email in enumerate(layer.participants)
        )
    # Where overrides overlap the newest wins, so an override the file still has keeps its row
    # (and its created_at): only the ones gone from the file are deleted, only new ones created.
    # Recreating them all made a file override win again over one added by hand since.
    missing = [(people[o.who], _aware(o.from_, zone), _aware(o.to, zone)) for o in spec.overrides]
    gone = []
    for old in schedule.overrides.filter(note=FROM_FILE):
        same = next(
            (m for m in missing if (m[0].pk, m[1], m[2]) == (old.user_id, old.start, old.end)),
            None,
        )
        if same is None:
            gone.append(old.pk)
        else:
            missing.remove(same)
    Override.objects.filter(pk__in=gone).delete()
    Override.objects.bulk_create(
        Override(schedule=schedule, user=user, start=start, end=end, note=FROM_FILE)
        for user, start, end in missing
    )


def apply_schedules(
    specs: list[schema.Schedule], *, default_zone: str, prune: bool
) -> dict[str, int]:
    """Create or update schedule rows; return counts by outcome."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "pruned": 0}
    people = {u.email: u for u in User.objects.all()}
    for spec in specs:
        zone_name = spec.timezone or default_zone
        schedule, created = Schedule.objects.get_or_create(
            name=spec.name, defaults={"timezone": zone_name}
        )
        if not created and _current(schedule) == _desired(spec, zone_name):
            counts["unchanged"] += 1
            continue
        schedule.timezone = zone_name
        schedule.save(update_fields=["timezone"])
        _write_schedule(schedule, spec, people)
        counts["created" if created else "updated"] += 1
    if prune:
        counts["pruned"] = (
            Schedule.objects.exclude(name__in=[s.name for s in specs])
            .delete()[1]
            .get("oncall.Schedule", 0)
        )
    return counts


def _targets(level: schema.Level) -> list[dict[str, str]]:
    return [target.model_dump(exclude_none=True) for target in level.notify]


def apply_policies(specs: list[schema.EscalationPolicy], *, prune: bool) -> dict[str, int]:
    """Create or update escalation policies and their levels; return counts by outcome."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "pruned": 0}
    for spec in specs:
        desired = [
            (_targets(lv), duration_seconds(lv.wait) if lv.wait else 0) for lv in spec.levels
        ]
        policy, created = EscalationPolicy.objects.get_or_create(name=spec.name)
        current = [(lv.targets, lv.wait_seconds) for lv in policy.levels.all()]
        timeout = duration_seconds(spec.ack_timeout) if spec.ack_timeout else 0
        same = (policy.repeat, policy.description, policy.ack_timeout_seconds, current) == (
            spec.repeat,
            spec.description,
            timeout,
            desired,
        )
        if same and not created:
            counts["unchanged"] += 1
            continue
        policy.repeat, policy.description = spec.repeat, spec.description
        policy.ack_timeout_seconds = timeout
        policy.save(update_fields=["repeat", "description", "ack_timeout_seconds"])
        policy.levels.all().delete()
        EscalationLevel.objects.bulk_create(
            EscalationLevel(policy=policy, position=i, targets=t, wait_seconds=w)
            for i, (t, w) in enumerate(desired)
        )
        counts["created" if created else "updated"] += 1
    if prune:
        counts["pruned"] = (
            EscalationPolicy.objects.exclude(name__in=[p.name for p in specs])
            .delete()[1]
            .get("escalation.EscalationPolicy", 0)
        )
    return counts
