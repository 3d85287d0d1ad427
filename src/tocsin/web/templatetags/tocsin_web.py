"""Template helpers: times in the viewer's zone, durations, badges, safe links, the auditor."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from tocsin.web.paging import auditor_warnings
from tocsin.web.process import STEP_NAMES
from tocsin.web.process_forms import COMMS_PHASE_NAMES

register = template.Library()

# Severity names are the organisation's own; when the policy has no scale, guess the level
# from common spellings so "P1", "SEV1", "critical" still read as the most severe.
_WORD_LEVELS = {"critical": 0, "high": 1, "error": 1, "warning": 2, "medium": 2, "low": 3}
_LEVELS = 4
PHASE_LABELS = {**COMMS_PHASE_NAMES, **STEP_NAMES}


@register.simple_tag
def viewer_zone() -> str:
    """The IANA name of the zone pages are rendered in (the viewer's)."""
    return timezone.get_current_timezone_name()


@register.filter
def when(value: datetime | None, precision: str = "") -> SafeString | str:
    """A ``<time>`` in the viewer's zone with the zone's abbreviation; ``"s"`` adds seconds."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    fmt = "%Y-%m-%d %H:%M:%S" if precision == "s" else "%Y-%m-%d %H:%M"
    return format_html(
        '<time datetime="{}" title="{}">{} {}</time>',
        value.isoformat(),
        timezone.get_current_timezone_name(),
        local.strftime(fmt),
        local.tzname() or "",
    )


@register.filter
def ago(value: datetime | None) -> SafeString | str:
    """A ``<time>`` reading "5 minutes ago", with the exact local time as its tooltip."""
    if value is None:
        return ""
    now = timezone.now()
    text = "just now" if (now - value).total_seconds() < 60 else f"{timesince(value, now)} ago"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{} {}">{}</time>',
        value.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S"),
        local.tzname() or "",
        text.replace("\xa0", " "),
    )


def severity_level(name: str, order: list[str]) -> int | None:
    """0 (most severe) to 3 for ``name``: its place in ``order``, else guessed from its spelling."""
    if name in order:
        return min(order.index(name), _LEVELS - 1)
    lowered = name.lower()
    if lowered in _WORD_LEVELS:
        return _WORD_LEVELS[lowered]
    digits = re.search(r"(\d+)$", lowered)
    if digits:
        # "P1"/"SEV1" are the most severe in most scales; "SEV0" exists too.
        number = int(digits.group(1))
        return min(max(number - 1, 0), _LEVELS - 1)
    return None


@register.simple_tag(takes_context=True)
def severity_badge(context: dict[str, Any], name: str) -> SafeString:
    """A coloured badge for a severity name (``severity_order`` in the context ranks them)."""
    if not name:
        return format_html('<span class="badge sev sev-none">{}</span>', "no severity")
    level = severity_level(name, list(context.get("severity_order") or []))
    css = f"sev-{level}" if level is not None else "sev-other"
    return format_html('<span class="badge sev {}">{}</span>', css, name)


@register.filter
def safe_href(value: Any) -> str:
    """The URL if it is http(s), else "" (links come from monitoring payloads)."""
    url = str(value or "")
    return url if urlsplit(url).scheme in {"http", "https"} else ""


@register.filter
def sorted_items(value: Any) -> list[tuple[str, Any]]:
    """A dict's items sorted by key, for label and severity-map lists."""
    if not isinstance(value, dict):
        return []
    return sorted((str(k), v) for k, v in value.items())


@register.filter
def sorted_by_value(value: Any) -> list[tuple[str, Any]]:
    """A dict's items sorted by value, then key: a severity map reads most severe first."""
    if not isinstance(value, dict):
        return []
    return sorted(((str(k), v) for k, v in value.items()), key=lambda kv: (str(kv[1]), kv[0]))


@register.filter
def duration(value: timedelta | None) -> str:
    """A length of time as people say it: "7 days 1 h", "12 h 30 min", "45 min"."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)


@register.inclusion_tag("web/partials/auditor_banner.html")
def auditor_banner() -> dict[str, Any]:
    """A red banner on every page while pages cannot go out (no worker, overdue work)."""
    return {"warnings": auditor_warnings()}


@register.filter
def seconds_duration(value: int | None) -> str:
    """A number of seconds as a duration: 43200 -> "12 h"."""
    return "" if value is None else duration(timedelta(seconds=int(value)))


@register.filter
def lookup(value: Any, key: Any) -> Any:
    """``mapping|lookup:key``: the value for a key held in a variable, or None."""
    return value.get(key) if isinstance(value, dict) else None


@register.filter
def local_time(value: datetime | None, fmt: str = "%a %Y-%m-%d %H:%M %Z") -> str:
    """An aware time in its own zone (not the viewer's), e.g. the calendar's: "Sat 03:00 EST"."""
    return value.strftime(fmt) if value is not None else ""


@register.filter
def phase_label(value: str) -> str:
    """An incident status or an update's phase as the guides name it: "Identified"."""
    return PHASE_LABELS.get(value, value.replace("_", " ").capitalize())


@register.filter
def words(value: str) -> str:
    """An identifier as words: "postmortem_due" -> "Postmortem due"."""
    return str(value).replace("_", " ").replace("-", " ").capitalize()
