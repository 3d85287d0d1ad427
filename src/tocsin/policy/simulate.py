"""Run a policy on a virtual clock: who is paged when, and by which rule. No database.

``tocsin simulate FILE --severity P1 --at 2026-11-28T03:00-05:00 --ack-after 20m`` answers
"what happens if this breaks at 3 am on a Saturday?" from the same rules the worker runs
(``policy.plan``) and the same schedule resolver (``oncall.rotation``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.oncall import rotation
from tocsin.policy.config import schema
from tocsin.policy.config.apply_paging import _layer_rows
from tocsin.policy.config.durations import duration_seconds
from tocsin.policy.plan import (
    PolicyStep,
    calendar_rules,
    reached,
    severity_steps,
    update_interval,
)
from tocsin.policy.workcal import in_business_hours, next_business_moment

REPEAT_PAUSE = timedelta(minutes=5)
KIND_ORDER = (
    "triggered",
    "queued",
    "page",
    "escalate",
    "notify",
    "acknowledged",
    "update",
    "reminder",
    "deadline",
    "breach",
    "mitigated",
    "resolved",
    "postmortem_due",
)


class SimulationError(ValueError):
    """The scenario does not fit the configuration (unknown severity or service)."""


@dataclass(frozen=True)
class Scenario:
    severity: str
    at: datetime
    service: str | None = None
    ack_after: timedelta | None = None
    mitigate_after: timedelta | None = None
    resolve_after: timedelta | None = None
    updates_every: timedelta | None = None
    horizon: timedelta | None = None


@dataclass(frozen=True)
class SimEvent:
    at: datetime
    kind: str
    rule: str
    targets: tuple[str, ...]
    detail: str

    def as_json(self, start: datetime, zone: tzinfo) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = list(self.targets)
        data["at"] = self.at.astimezone(zone).isoformat()
        return {"offset_seconds": int((self.at - start).total_seconds()), **data}


class Simulator:
    def __init__(self, config: schema.Config) -> None:
        self.config = config
        self.cal = calendar_rules(config.calendar)
        zone = config.calendar.timezone if config.calendar else "UTC"
        self.schedules = {s.name: self._schedule(s, zone) for s in config.schedules}

    # ---- who a target means at an instant ------------------------------------------------

    @staticmethod
    def _schedule(spec: schema.Schedule, default_zone: str) -> rotation.Schedule:
        zone_name = spec.timezone or default_zone
        zone = ZoneInfo(zone_name)
        layers = []
        for layer in spec.layers:
            row = _layer_rows(layer)
            layers.append(
                rotation.Layer(
                    participants=list(layer.participants),
                    start=row["start"],
                    rotation=row["rotation"],
                    every=timedelta(seconds=row["every_seconds"]),
                    handoff_day=row["handoff_day"],
                    handoff_time=row["handoff_time"],
                )
            )
        overrides = [
            rotation.Override(o.who, _aware(o.from_, zone), _aware(o.to, zone))
            for o in spec.overrides
        ]
        return rotation.Schedule(spec.name, zone_name, layers, overrides)

    def resolve(self, target: Any, at: datetime, commander: str | None) -> list[str]:
        """People (e-mails) a target reaches at ``at``; labels where nobody can be named."""
        if isinstance(target, str):  # an incident role
            if target == "commander" and commander:
                return [commander]
            return [target]
        kind, name = next(iter(target.items()))
        if kind == "user":
            return [name]
        if kind == "role":
            return list(self.config.roles.get(name, [])) or [f"role {name} (nobody)"]
        schedule = self.schedules.get(name)
        who = rotation.oncall_at(schedule, at)[0] if schedule else None
        return [who] if who else [f"schedule {name} (nobody on call)"]

    def _commander(self, at: datetime) -> str | None:
        name = self.config.commander_schedule
        schedule = self.schedules.get(name) if name else None
        return rotation.oncall_at(schedule, at)[0] if schedule else None

    # ---- the run -------------------------------------------------------------------------

    def run(self, scenario: Scenario) -> list[SimEvent]:
        """Every event of the scenario, ordered by time."""
        sev = next((s for s in self.config.severities if s.name == scenario.severity), None)
        if sev is None:
            names = ", ".join(s.name for s in self.config.severities) or "none defined"
            raise SimulationError(
                f"--severity: unknown severity {scenario.severity!r} (this file has: {names})"
            )
        t0 = scenario.at.astimezone(UTC)
        times = self._milestones(scenario, t0)
        end = times["resolved"] or t0 + (scenario.horizon or self._horizon(sev, t0))
        commander = self._commander(t0)
        events = [SimEvent(t0, "triggered", "scenario", (), f"{sev.name} {sev.title}".strip())]
        events += self._milestone_events(times, t0)
        events += self._paging(scenario, sev, t0, times, end, commander)
        steps = [e for step in severity_steps(sev) for e in self._step(step, times, end, commander)]
        events += _told_once(sorted(steps, key=lambda e: e.at))
        events += self._updates(scenario, sev, t0, times, end, commander)
        order = {k: i for i, k in enumerate(KIND_ORDER)}
        return sorted(events, key=lambda e: (e.at, order.get(e.kind, 99)))

    def _milestones(self, scenario: Scenario, t0: datetime) -> dict[str, datetime | None]:
        after = {
            "acknowledged": scenario.ack_after,
            "mitigated": scenario.mitigate_after,
            "resolved": scenario.resolve_after,
        }
        times: dict[str, datetime | None] = {"triggered": t0}
        times.update({k: t0 + v if v is not None else None for k, v in after.items()})
        return times

    def _horizon(self, sev: schema.Severity, t0: datetime) -> timedelta:
        """Long enough for every rule counted from the start, business days included."""
        dues = [s.due(t0, self.cal) - t0 for s in severity_steps(sev) if s.start == "triggered"]
        return max([timedelta(hours=24), *(d + timedelta(hours=1) for d in dues)])

    def _milestone_events(self, times: dict[str, datetime | None], t0: datetime) -> list[SimEvent]:
        return [
            SimEvent(at, name, "scenario", (), f"{name} after {_fmt(at - t0)}")
            for name, at in times.items()
            if name != "triggered" and at is not None
        ]

    def _step(
        self,
        step: PolicyStep,
        times: dict[str, datetime | None],
        end: datetime,
        commander: str | None,
    ) -> list[SimEvent]:
        start = times.get(step.start)
        if start is None:
            return []
        at = step.due(start, self.cal)
        if reached(step.until, times, at) or (step.kind != "postmortem_due" and at > end):
            return []
        targets = tuple(p for t in step.targets for p in self.resolve(t, at, commander))
        return [SimEvent(at, step.kind, step.rule, targets, step.detail)]

    def _paging(
        self,
        scenario: Scenario,
        sev: schema.Severity,
        t0: datetime,
        times: dict[str, datetime | None],
        end: datetime,
        commander: str | None,
    ) -> list[SimEvent]:
        if sev.page == "none":
            return [
                SimEvent(
                    t0,
                    "queued",
                    f"severities[{sev.name}].page",
                    (),
                    f"{sev.name} pages nobody (page: none)",
                )
            ]
        start, events = t0, []
        if sev.page == "business_hours" and not in_business_hours(t0, self.cal):
            start = next_business_moment(t0, self.cal)
            events.append(
                SimEvent(
                    t0,
                    "queued",
                    f"severities[{sev.name}].page",
                    (),
                    f"pages wait for business hours: {_local(start, self.cal)}",
                )
            )
        policy = self._policy(scenario)
        if policy is None:
            return events
        return events + self._levels(policy, start, times, end, commander)

    def _policy(self, scenario: Scenario) -> schema.EscalationPolicy | None:
        services = self.config.services
        if scenario.service:
            service = next((s for s in services if s.name == scenario.service), None)
            if service is None:
                raise SimulationError(f"--service: unknown service {scenario.service!r}")
        else:
            service = next((s for s in services if s.escalation_policy), None)
        if service is None or not service.escalation_policy:
            return None
        return next(
            p for p in self.config.escalation_policies if p.name == service.escalation_policy
        )

    def _levels(
        self,
        policy: schema.EscalationPolicy,
        start: datetime,
        times: dict[str, datetime | None],
        end: datetime,
        commander: str | None,
    ) -> list[SimEvent]:
        events: list[SimEvent] = []
        at = start
        for iteration in range(policy.repeat + 1):
            for i, level in enumerate(policy.levels):
                if reached("acknowledged", times, at) or at > end:
                    return events
                people = tuple(
                    p
                    for t in level.notify
                    for p in self.resolve(t.model_dump(exclude_none=True), at, commander)
                )
                first = i == 0 and iteration == 0
                events.append(
                    SimEvent(
                        at,
                        "page" if first else "escalate",
                        f"escalation_policies[{policy.name}].levels[{i}]",
                        people,
                        f"level {i + 1}"
                        + (f", pass {iteration + 1}" if iteration else "")
                        + (" (no acknowledgement yet)" if not first else ""),
                    )
                )
                wait = timedelta(seconds=duration_seconds(level.wait)) if level.wait else None
                last = i == len(policy.levels) - 1
                at = at + (wait or (REPEAT_PAUSE if last else timedelta(0)))
        return events

    def _updates(
        self,
        scenario: Scenario,
        sev: schema.Severity,
        t0: datetime,
        times: dict[str, datetime | None],
        end: datetime,
        commander: str | None,
    ) -> list[SimEvent]:
        every = update_interval(sev)
        if every is None:
            return []
        cadence = timedelta(seconds=every)
        posts = []
        if scenario.updates_every:
            at = t0 + scenario.updates_every
            while at < end:
                posts.append(at)
                at += scenario.updates_every
        events = [SimEvent(p, "update", "scenario", (), "status update posted") for p in posts]
        targets = self._reminder_targets(sev, commander)
        last, due = t0, t0 + cadence
        while due < end:
            posted = [p for p in posts if last < p <= due]
            if posted:
                last = posted[-1]
                due = last + cadence
                continue
            events.append(
                SimEvent(
                    due,
                    "reminder",
                    f"severities[{sev.name}].update_every",
                    targets,
                    f"status update due (every {sev.update_every})",
                )
            )
            due += cadence
        return events

    @staticmethod
    def _reminder_targets(sev: schema.Severity, commander: str | None) -> tuple[str, ...]:
        # Nobody holds an incident role in a simulation except the proposed commander.
        roles = sev.update_reminder_to
        if "commander" in roles and commander:
            return (commander,)
        return tuple(roles[:1])


def _aware(text: str, zone: ZoneInfo) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _fmt(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def _local(at: datetime, cal: Any) -> str:
    return at.astimezone(cal.zone).strftime("%a %Y-%m-%d %H:%M %Z")


def display_zone(at: datetime, config: schema.Config) -> tzinfo:
    """Show times in the calendar's zone when --at was given in it, else in --at's offset."""
    zone = ZoneInfo(config.calendar.timezone if config.calendar else "UTC")
    if at.tzinfo is not None and at.utcoffset() == at.astimezone(zone).utcoffset():
        return zone
    return at.tzinfo or zone


def _told_once(events: list[SimEvent]) -> list[SimEvent]:
    """As the engine does: a matrix step does not tell anyone an earlier one already told."""
    told: set[str] = set()
    kept = []
    for event in events:
        if event.kind in ("page", "escalate", "notify"):
            event = dataclasses.replace(
                event, targets=tuple(t for t in event.targets if t not in told)
            )
            told.update(event.targets)
        kept.append(event)
    return kept
