"""Who is on call when: rotation layers and overrides, computed in the schedule's own zone.

Handoffs are wall-clock times in the schedule's IANA zone, so a Monday 09:00 handoff stays at
09:00 local across daylight-saving changes (the shift that spans the change is an hour longer or
shorter in absolute time). Rotations of whole days step by calendar days for the same reason;
``{every: 12h}`` style rotations step by elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Layer:
    """One rotation: participants take turns, handing off at ``handoff_time`` local."""

    participants: Sequence[str]
    start: date
    rotation: Literal["daily", "weekly", "every"] = "weekly"
    every: timedelta = timedelta(days=7)  # for rotation "every"
    handoff_day: str = "monday"  # weekly only
    handoff_time: time = time(9, 0)


@dataclass(frozen=True)
class Override:
    """``who`` is on call instead of the layers from ``start`` to ``end``."""

    who: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Schedule:
    """Layers (a later one wins where it has someone) and overrides (a later one wins).

    ``absent`` people cannot be paged (deactivated): a turn or override of theirs puts nobody on
    call from it, so an earlier layer decides there, or it is a gap.
    """

    name: str
    timezone: str
    layers: Sequence[Layer] = ()
    overrides: Sequence[Override] = ()
    absent: frozenset[str] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Shift:
    """A final stretch of the schedule: ``who`` (None for a gap) from ``start`` to ``end``."""

    who: str | None
    start: datetime
    end: datetime
    source: str = field(default="", compare=False)  # "layer 1", "override", ""


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``zone``.

    fold=0: an ambiguous wall time (autumn) means its first occurrence; a wall time inside the
    spring gap maps one hour forward. Everything after this is in UTC, because Python compares
    and subtracts two datetimes that share a tzinfo by wall clock, ignoring the DST change.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def layer_problem(layer: Layer) -> str | None:
    """Why the resolver cannot compute ``layer`` (a value the database let through), or None."""
    if layer.rotation not in ("daily", "weekly", "every"):
        return f"unknown rotation {layer.rotation!r}"
    if layer.rotation == "weekly" and layer.handoff_day.lower() not in WEEKDAYS:
        return f"handoff day {layer.handoff_day!r} is not a weekday name"
    if layer.rotation == "every" and layer.every <= timedelta(0):
        return f"'every' must be longer than 0, not {layer.every}"
    return None


def _first_handoff_day(layer: Layer) -> date:
    if layer.rotation != "weekly":
        return layer.start
    target = WEEKDAYS.index(layer.handoff_day.lower())
    return layer.start + timedelta(days=(target - layer.start.weekday()) % 7)


def _step_days(layer: Layer) -> int | None:
    """Calendar days between handoffs, or None for an elapsed-time rotation."""
    if layer.rotation == "daily":
        return 1
    if layer.rotation == "weekly":
        return 7
    whole_days, rest = divmod(layer.every, timedelta(days=1))
    return whole_days if rest == timedelta(0) and whole_days > 0 else None


def handoff(layer: Layer, zone: ZoneInfo, k: int) -> datetime:
    """The instant of the layer's k-th handoff (k=0 is the start of the first shift)."""
    first_day = _first_handoff_day(layer)
    days = _step_days(layer)
    if days is not None:
        return _local(first_day + timedelta(days=days * k), layer.handoff_time, zone)
    return _local(first_day, layer.handoff_time, zone) + layer.every * k


def _period_estimate(layer: Layer) -> timedelta:
    days = _step_days(layer)
    return timedelta(days=days) if days is not None else layer.every


def shift_index(layer: Layer, zone: ZoneInfo, at: datetime) -> int | None:
    """The k with handoff(k) <= at < handoff(k+1), or None before the layer starts."""
    at = at.astimezone(UTC)
    first = handoff(layer, zone, 0)
    if at < first:
        return None
    k = int((at - first) / _period_estimate(layer))
    # The estimate can be off by one around DST changes: walk to the exact boundary.
    while handoff(layer, zone, k) > at:
        k -= 1
    while handoff(layer, zone, k + 1) <= at:
        k += 1
    return k


def layer_user_at(layer: Layer, zone: ZoneInfo, at: datetime) -> str | None:
    """Who this layer puts on call at ``at``."""
    if not layer.participants:
        return None
    k = shift_index(layer, zone, at)
    return None if k is None else layer.participants[k % len(layer.participants)]


def _decide(schedule: Schedule, at: datetime) -> tuple[str | None, str, object]:
    """Who is on call at ``at``, why, and which turn it is: the override's window, or the
    layer's handoff number. Two instants are in the same turn when all three are equal."""
    at = at.astimezone(UTC)
    absent = schedule.absent
    for override in reversed(schedule.overrides):
        if override.start <= at < override.end and override.who not in absent:
            return override.who, "override", (override.start, override.end)
    zone = schedule.zone
    # A later layer wins where it has someone who can be paged.
    for number in range(len(schedule.layers), 0, -1):
        layer = schedule.layers[number - 1]
        if not layer.participants:
            continue
        k = shift_index(layer, zone, at)
        if k is not None:
            who = layer.participants[k % len(layer.participants)]
            if who not in absent:
                return who, f"layer {number}", k
    return None, "", None


def oncall_at(schedule: Schedule, at: datetime) -> tuple[str | None, str]:
    """Who is on call at ``at`` and why ("override", "layer N", or "" for nobody)."""
    who, source, _turn = _decide(schedule, at)
    return who, source


def _layer_boundaries(
    layer: Layer, zone: ZoneInfo, start: datetime, end: datetime
) -> Iterator[datetime]:
    if not layer.participants:  # it never decides anything
        return
    k = shift_index(layer, zone, start)
    if k is None:
        k = 0
    while (instant := handoff(layer, zone, k)) < end:
        if instant > start:
            yield instant
        k += 1


def _cuts(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """``start``, ``end`` and every instant between them where the decision can change."""
    zone = schedule.zone
    cuts = {start, end}
    for layer in schedule.layers:
        cuts.update(_layer_boundaries(layer, zone, start, end))
    for override in schedule.overrides:
        edges = (override.start.astimezone(UTC), override.end.astimezone(UTC))
        cuts.update(t for t in edges if start < t < end)
    return sorted(cuts)


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts between ``start`` and ``end`` (gaps included, with ``who`` None)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    result: list[Shift] = []
    for left, right in pairwise(_cuts(schedule, start, end)):
        who, source = oncall_at(schedule, left)
        if result and result[-1].who == who and result[-1].source == source:
            result[-1] = Shift(who, result[-1].start, right, source)
        else:
            result.append(Shift(who, left, right, source))
    return result


def _previous_cut(schedule: Schedule, before: datetime) -> datetime | None:
    """The latest instant before ``before`` where the decision can change."""
    zone = schedule.zone
    found: list[datetime] = []
    for layer in schedule.layers:
        k = shift_index(layer, zone, before) if layer.participants else None
        if k is not None:
            instant = handoff(layer, zone, k)
            if instant < before:
                found.append(instant)
            elif k > 0:
                found.append(handoff(layer, zone, k - 1))
    for override in schedule.overrides:
        found.extend(t.astimezone(UTC) for t in (override.start, override.end) if t < before)
    return max(found, default=None)


def _next_cut(schedule: Schedule, after: datetime) -> datetime | None:
    """The earliest instant after ``after`` where the decision can change."""
    zone = schedule.zone
    found: list[datetime] = []
    for layer in schedule.layers:
        if layer.participants:
            k = shift_index(layer, zone, after)
            found.append(handoff(layer, zone, 0 if k is None else k + 1))
    for override in schedule.overrides:
        found.extend(t.astimezone(UTC) for t in (override.start, override.end) if t > after)
    return min(found, default=None)


def turns(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The turns on call that overlap ``start`` to ``end``, whole, and the gaps between them.

    Unlike ``shifts``, a handoff of the layer on call starts a new turn even when it hands to
    the same person (a one-person rotation is one turn a week, not one endless shift), and the
    first and last turns keep their real start and end instead of the window's: the same turn
    comes out the same whatever window it is asked for. Gaps are cut at the window.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    found: list[tuple[Shift, object]] = []
    for left, right in pairwise(_cuts(schedule, start, end)):
        who, source, turn = _decide(schedule, left)
        if found and (found[-1][0].who, found[-1][0].source, found[-1][1]) == (who, source, turn):
            found[-1] = (Shift(who, found[-1][0].start, right, source), turn)
        else:
            found.append((Shift(who, left, right, source), turn))
    result = [shift for shift, _turn in found]
    if result and result[0].who is not None:
        first = result[0]
        decided = _decide(schedule, first.start)
        begin = first.start
        while (cut := _previous_cut(schedule, begin)) is not None and (
            _decide(schedule, cut) == decided
        ):
            begin = cut
        result[0] = Shift(first.who, begin, first.end, first.source)
    if result and result[-1].who is not None:
        last = result[-1]
        decided = _decide(schedule, last.start)
        finish: datetime | None = last.end
        while finish is not None and _decide(schedule, finish) == decided:
            finish = _next_cut(schedule, finish)
        result[-1] = Shift(last.who, last.start, finish or last.end, last.source)
    return result


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Stretches between ``start`` and ``end`` with nobody on call."""
    return [s for s in shifts(schedule, start, end) if s.who is None]
