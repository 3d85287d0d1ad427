"""Template filters of the public pages."""

from __future__ import annotations

from django import template

from tocsin.statuspage.models import ComponentStatus

register = template.Library()


@register.filter
def status_label(value: str) -> str:
    """``major_outage`` -> ``Major outage``."""
    try:
        return str(ComponentStatus(value).label).capitalize()
    except ValueError:
        return value.replace("_", " ").capitalize()
