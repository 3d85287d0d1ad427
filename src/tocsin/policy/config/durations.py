"""Durations as written in the configuration file: ``90s, 15m, 1h, 1h30m, 3d, 1w`` and ``3bd``."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

UNITS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_BUSINESS_DAYS = re.compile(r"(\d+)bd")
HINT = "write a number and a unit: 90s, 15m, 1h, 1h30m, 3d, 1w"


@dataclass(frozen=True)
class Span:
    """A parsed duration: wall-clock seconds or a number of business days."""

    seconds: int = 0
    business_days: int = 0


def parse_duration(text: object, *, business_days: bool = False) -> Span:
    """Parse a written duration; raise ValueError with a message for the user."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: {_hint(business_days)}")
    return _parse(text, business_days)


@functools.lru_cache(maxsize=1024)
def _parse(text: str, business_days: bool) -> Span:
    # Cached: a policy's few durations are parsed again for every incident the worker opens
    # (3 % of its time in a storm). A Span is immutable; an error is raised anew each time.
    if match := _BUSINESS_DAYS.fullmatch(text):
        if not business_days:
            raise ValueError(f"business days ({text}) are not allowed here: {HINT}")
        return Span(business_days=int(match.group(1)))
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"invalid duration {text!r}: {_hint(business_days)}")
    amounts = (int(group or 0) for group in match.groups())
    return Span(seconds=sum(n * unit for n, (_, unit) in zip(amounts, UNITS, strict=True)))


def duration_seconds(text: str) -> int:
    """Return the number of seconds in a wall-clock duration such as ``1h30m``."""
    return parse_duration(text).seconds


def format_duration(seconds: int) -> str:
    """Write seconds in the shortest written form: 0 -> ``0m``, 5400 -> ``1h30m``."""
    parts = []
    for suffix, unit in UNITS:
        amount, seconds = divmod(seconds, unit)
        if amount:
            parts.append(f"{amount}{suffix}")
    return "".join(parts) or "0m"


def _hint(business_days: bool) -> str:
    return HINT + (" (or 3bd for business days)" if business_days else "")
