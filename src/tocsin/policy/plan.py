"""A severity's rules as steps on the incident's clock: shared by the worker and the simulator.

Each step is relative to a milestone (triggered, acknowledged, mitigated, resolved) and is
skipped once its ``until`` milestone has been reached: the stakeholder matrix keeps running
after acknowledgement (until resolved), a response-target breach does not (until acknowledged).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from tocsin.policy.config import schema
from tocsin.policy.config.durations import parse_duration
from tocsin.policy.workcal import (
    WorkCalendarRules,
    add_business_seconds,
    add_span,
    next_business_moment,
)

MILESTONES = ("triggered", "acknowledged", "mitigated", "resolved")
# A milestone implies the earlier ones: resolving also ends what waits for acknowledgement.
IMPLIES = {m: MILESTONES.index(m) for m in MILESTONES}


@dataclass(frozen=True)
class PolicyStep:
    kind: str  # page | escalate | breach | deadline | postmortem_due
    rule: str  # "severities[P1].escalation_matrix[1]"
    start: str  # the milestone it counts from
    seconds: int
    business_days: int
    until: str  # skipped once this milestone is reached
    targets: tuple[Any, ...]  # {"schedule"|"role"|"user": name} or incident role names
    detail: str
    business_hours_only: bool = False

    def due(self, start_at: datetime, cal: WorkCalendarRules) -> datetime:
        """When the step fires, given the time its milestone was reached.

        A business-hours severity ("< 4 hours (business hours)") starts its clocks at the next
        business moment and tells people only during business hours.
        """
        if not self.business_hours_only:
            return add_span(start_at, self.seconds, self.business_days, cal)
        if self.business_days:
            at = add_span(next_business_moment(start_at, cal), 0, self.business_days, cal)
            return next_business_moment(at, cal)
        # Hours of a business-hours severity are business hours: Friday 16:00 + 4 h is
        # Monday 12:00 with a 09:00-17:00 day, not Friday 20:00.
        return add_business_seconds(start_at, self.seconds, cal)


def reached(milestone: str, times: dict[str, datetime | None], at: datetime) -> bool:
    """Whether ``milestone`` (or a later one) was reached at or before ``at``."""
    if milestone not in IMPLIES:
        return False
    level = IMPLIES[milestone]
    return any((t := times.get(m)) is not None and t <= at for m in MILESTONES[level:])


def _span(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 0
    span = parse_duration(text, business_days=True)
    return span.seconds, span.business_days


def _targets(items: list[schema.Target]) -> tuple[dict[str, str], ...]:
    return tuple(t.model_dump(exclude_none=True) for t in items)


def severity_steps(sev: schema.Severity) -> list[PolicyStep]:
    """Every timed rule of a severity level, in the order the guide lists them."""
    prefix = f"severities[{sev.name}]"
    deferred = sev.page == "business_hours"
    steps: list[PolicyStep] = []
    if sev.response_team and sev.page != "none":
        steps.append(
            PolicyStep(
                kind="notify",
                rule=f"{prefix}.response_team",
                start="triggered",
                seconds=0,
                business_days=0,
                until="resolved",
                targets=_targets(sev.response_team),
                detail="response team notified at declaration",
                business_hours_only=deferred,
            )
        )
    for i, step in enumerate(sev.escalation_matrix):
        seconds, _ = _span(step.after)
        steps.append(
            PolicyStep(
                kind="page" if seconds == 0 else "escalate",
                rule=f"{prefix}.escalation_matrix[{i}]",
                start="triggered",
                seconds=seconds,
                business_days=0,
                until=step.until,
                targets=_targets(step.notify),
                detail=f"{step.after} after the start, until {step.until}",
                business_hours_only=deferred,
            )
        )
    for field, until, what in (
        ("respond_within", "acknowledged", "response"),
        ("resolve_within", "resolved", "resolution"),
    ):
        value = getattr(sev, field)
        if value:
            seconds, bdays = _span(value)
            steps.append(
                PolicyStep(
                    kind="breach",
                    rule=f"{prefix}.{field}",
                    start="triggered",
                    seconds=seconds,
                    business_days=bdays,
                    until=until,
                    targets=("commander",),
                    detail=f"{what} target of {value} missed ({sev.name}: not {until} in time)",
                    business_hours_only=deferred,
                )
            )
    for i, deadline in enumerate(sev.deadlines):
        seconds, bdays = _span(deadline.after)
        steps.append(
            PolicyStep(
                kind="deadline",
                rule=f"{prefix}.deadlines[{i}]",
                start=deadline.from_,
                seconds=seconds,
                business_days=bdays,
                until=deadline.until,
                targets=tuple(deadline.notify or ["commander"]),
                detail=f"{deadline.name}: due {deadline.after} after {deadline.from_}",
                business_hours_only=deferred,
            )
        )
    if sev.postmortem:
        seconds, bdays = _span(sev.postmortem.within)
        steps.append(
            PolicyStep(
                kind="postmortem_due",
                rule=f"{prefix}.postmortem",
                start=sev.postmortem.from_,
                seconds=seconds,
                business_days=bdays,
                until="__never__",
                targets=("commander",),
                detail=f"post-mortem due {sev.postmortem.within} after {sev.postmortem.from_}",
            )
        )
    return steps


def update_interval(sev: schema.Severity) -> int | None:
    """Seconds between status updates, if the severity sets a cadence."""
    seconds = _span(sev.update_every)[0]
    return seconds or None


def calendar_rules(cal: schema.Calendar | None) -> WorkCalendarRules:
    """The working calendar of a configuration (Monday-Friday 09:00-17:00 UTC by default)."""
    if cal is None:
        return WorkCalendarRules()
    hours = cal.business_hours or schema.BusinessHours()
    return WorkCalendarRules(
        timezone=cal.timezone,
        business_days=tuple(cal.business_days),
        holidays=frozenset(
            d if isinstance(d, date) else date.fromisoformat(str(d)) for d in cal.holidays
        ),
        day_start=time.fromisoformat(hours.start),
        day_end=time.fromisoformat(hours.end),
    )
