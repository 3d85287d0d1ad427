"""Status page reads: the overall indicator, uptime history, maintenance silencing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tocsin.alerts.models import Service
from tocsin.engine.memo import _current, memoized
from tocsin.statuspage.models import (
    Component,
    ComponentStatus,
    ComponentStatusChange,
    PublicIncident,
    ScheduledMaintenance,
)

# Statuspage's status.json: indicator and its description.
DESCRIPTIONS = {
    "none": "All Systems Operational",
    "maintenance": "Service Under Maintenance",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
_RANK = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}
# Uptime counts a major outage as down and, like Statuspage, a partial outage as 30 % down.
DOWNTIME_WEIGHT = {ComponentStatus.MAJOR_OUTAGE: 1.0, ComponentStatus.PARTIAL_OUTAGE: 0.3}
SEVERITY = {  # worst status of a day, for the colour of its bar
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}


def maintenance_silencing(*, service: Service, at: datetime) -> ScheduledMaintenance | None:
    """The maintenance that silences ``service``'s paging at ``at``, if any.

    In progress, or scheduled with ``at`` inside its window (the worker may start it a moment
    late; the window is what the operator announced).
    """
    for maintenance in memoized(("maintenances", service.pk), lambda: _open_maintenances(service)):
        if maintenance.status == ScheduledMaintenance.Status.IN_PROGRESS or (
            maintenance.scheduled_for <= at < maintenance.scheduled_until
        ):
            return maintenance
    return None


def maintenance_forget(maintenance: ScheduledMaintenance) -> None:
    """Drop the worker batch's reads of the window's services' maintenances (it started or
    ended: a later timer of the same batch must see it as it is now)."""
    memo = _current.get()
    if memo is not None:
        for service_id in maintenance.services.values_list("pk", flat=True):
            memo.pop(("maintenances", service_id), None)


def _open_maintenances(service: Service) -> list[ScheduledMaintenance]:
    """The service's maintenances in progress or still to come, in window order (read once
    per worker batch: a storm of one service's alerts asks for each of them)."""
    return list(
        ScheduledMaintenance.objects.filter(
            services=service,
            status__in=[
                ScheduledMaintenance.Status.IN_PROGRESS,
                ScheduledMaintenance.Status.SCHEDULED,
            ],
        ).order_by("scheduled_for", "id")
    )


def _component_indicator(statuses: list[str]) -> str:
    if not statuses:
        return "none"
    if all(s == ComponentStatus.MAJOR_OUTAGE for s in statuses):
        return "critical"
    if ComponentStatus.MAJOR_OUTAGE in statuses:
        return "major"
    if ComponentStatus.PARTIAL_OUTAGE in statuses or (
        ComponentStatus.DEGRADED_PERFORMANCE in statuses
    ):
        return "minor"
    if ComponentStatus.UNDER_MAINTENANCE in statuses:
        return "maintenance"
    return "none"


def page_indicator(
    *, component_statuses: list[str], incident_impacts: list[str], maintenance_active: bool
) -> tuple[str, str]:
    """(indicator, description) as Statuspage's status.json: the worst of all sources."""
    candidates = [_component_indicator(component_statuses)]
    candidates += [impact for impact in incident_impacts if impact in _RANK]
    if maintenance_active:
        candidates.append("maintenance")
    indicator = max(candidates, key=_RANK.__getitem__)
    return indicator, DESCRIPTIONS[indicator]


def group_status(statuses: list[str]) -> str:
    """A group shows its worst child's status."""
    if not statuses:
        return ComponentStatus.OPERATIONAL
    return max(statuses, key=lambda s: SEVERITY[ComponentStatus(s)])


@dataclass(frozen=True)
class Day:
    day: date
    status: str  # worst status that day; "" before the component existed
    uptime: float | None  # fraction, None without data
    down_minutes: int


def _days(today: date, n: int) -> list[date]:
    return [today - timedelta(days=i) for i in range(n - 1, -1, -1)]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def uptime_days(
    *, component: Component, changes: list[ComponentStatusChange], now: datetime, days: int = 90
) -> list[Day]:
    """One entry per UTC day (oldest first): worst status, uptime fraction, minutes down."""
    # One second past now: a status set this very moment still colours today.
    until = now + timedelta(seconds=1)
    spans = _spans(component, changes, until)
    result = []
    for day in _days(now.date(), days):
        start, end = _day_bounds(day)
        end = min(end, until)
        worst, weighted, covered = -1, 0.0, 0.0
        worst_status = ""
        for status, s_from, s_to in spans:
            lo, hi = max(start, s_from), min(end, s_to)
            if hi <= lo:
                continue
            seconds = (hi - lo).total_seconds()
            covered += seconds
            weighted += seconds * DOWNTIME_WEIGHT.get(ComponentStatus(status), 0.0)
            if SEVERITY[ComponentStatus(status)] > worst:
                worst, worst_status = SEVERITY[ComponentStatus(status)], status
        uptime = None if covered == 0 else 1 - weighted / covered
        result.append(Day(day, worst_status, uptime, round(weighted / 60)))
    return result


def _spans(
    component: Component, changes: list[ComponentStatusChange], now: datetime
) -> list[tuple[str, datetime, datetime]]:
    """(status, from, to) intervals from the component's creation until now."""
    points = [(component.created_at, ComponentStatus.OPERATIONAL.value)]
    points += [(c.at, c.status) for c in changes if c.at >= component.created_at]
    spans = []
    for i, (at, status) in enumerate(points):
        until = points[i + 1][0] if i + 1 < len(points) else now
        if until > at:
            spans.append((status, at, until))
    return spans


def uptime_percent(days: list[Day]) -> float | None:
    """Mean uptime over the days with data, as a percentage."""
    known = [d.uptime for d in days if d.uptime is not None]
    return round(100 * sum(known) / len(known), 2) if known else None


def changes_by_component(*, since: datetime) -> dict[int, list[ComponentStatusChange]]:
    """Status changes since ``since`` plus the last one before it, per component (one query)."""
    grouped: dict[int, list[ComponentStatusChange]] = defaultdict(list)
    for change in ComponentStatusChange.objects.order_by("component_id", "at", "id"):
        grouped[change.component_id].append(change)
    for component_id, items in grouped.items():
        before = [c for c in items if c.at < since]
        grouped[component_id] = before[-1:] + [c for c in items if c.at >= since]
    return grouped


def incidents_unresolved() -> list[PublicIncident]:
    """Open public incidents, newest first, with their updates and components."""
    return list(
        PublicIncident.objects.filter(status__in=PublicIncident.UNRESOLVED).prefetch_related(
            "updates", "components"
        )
    )
