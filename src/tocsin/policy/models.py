"""The organisation's policy: working calendar, severity scale, and stored config sections."""

from __future__ import annotations

from typing import Any

from django.db import models


class WorkCalendar(models.Model):
    """The single working calendar: default zone, business days and holidays."""

    timezone = models.CharField(max_length=64, default="UTC")
    business_days = models.JSONField(default=list)  # ["mon", "tue", ...]
    holidays = models.JSONField(default=list)  # ["2026-12-25", ...]
    business_hours = models.JSONField(default=dict, blank=True)  # {"start": "09:00", "end": ...}

    def __str__(self) -> str:
        return f"{self.timezone} {','.join(self.business_days)}"

    @classmethod
    def current(cls) -> WorkCalendar:
        """Return the calendar, or an unsaved Monday-Friday UTC default."""
        return cls.objects.order_by("id").first() or cls(
            timezone="UTC", business_days=["mon", "tue", "wed", "thu", "fri"], holidays=[]
        )


class Severity(models.Model):
    """One level of the severity scale. ``rank`` 0 is the most severe."""

    name = models.CharField(max_length=32, unique=True)
    rank = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    spec: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField(default=dict)

    class Meta:
        ordering = ["rank", "name"]
        verbose_name_plural = "severities"

    def __str__(self) -> str:
        return f"{self.name} {self.title}".strip()


class ConfigSection(models.Model):
    """A configuration section stored as applied, for sections whose behaviour comes later.

    ``tocsin export`` writes these back verbatim, so nothing a user wrote is lost.
    """

    name = models.CharField(max_length=64, unique=True)
    data = models.JSONField(default=None, null=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
