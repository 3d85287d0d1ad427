"""Durations as written in policy files: ``90s``, ``15m``, ``1h30m``, ``3d``, ``1w``, ``3bd``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_PART = re.compile(r"(\d+)(bd|w|d|h|m|s)")
_WHOLE = re.compile(r"^(?:\d+(?:bd|w|d|h|m|s))+$")
_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


@dataclass(frozen=True)
class Duration:
    """Elapsed time, or a number of business days (counted with the working calendar)."""

    seconds: int = 0
    business_days: int = 0

    @property
    def timedelta(self) -> timedelta:
        if self.business_days:
            raise ValueError("a business-day duration needs a calendar")
        return timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return format_duration(self)


def parse_duration(text: str) -> Duration:
    """Parse ``1h30m`` or ``3bd``; raise ValueError with a readable message otherwise."""
    value = str(text).strip().lower()
    if not _WHOLE.match(value):
        raise ValueError(
            f"invalid duration {text!r}: write e.g. 90s, 15m, 1h30m, 3d, 1w or 3bd (business days)"
        )
    parts = _PART.findall(value)
    if any(unit == "bd" for _, unit in parts):
        if len(parts) != 1:
            raise ValueError(f"invalid duration {text!r}: business days stand alone, e.g. 3bd")
        return Duration(business_days=int(parts[0][0]))
    return Duration(seconds=sum(int(n) * _SECONDS[unit] for n, unit in parts))


def format_duration(duration: Duration) -> str:
    """Write a duration the way a person would (``1h30m``, ``3bd``, ``0m``)."""
    if duration.business_days:
        return f"{duration.business_days}bd"
    rest, out = duration.seconds, ""
    for unit in ("w", "d", "h", "m", "s"):
        count, rest = divmod(rest, _SECONDS[unit])
        if count:
            out += f"{count}{unit}"
    return out or "0m"
