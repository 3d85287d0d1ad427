"""Schedules: rotation layers with ordered participants, and overrides."""

from __future__ import annotations

import secrets
from datetime import time

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from tocsin.ids import new_public_id
from tocsin.oncall.rotation import WEEKDAYS

# The shortest `every` rotation: anything shorter is a typo, and 0 would divide by zero.
MIN_EVERY_SECONDS = 60


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


class Schedule(models.Model):
    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    description = models.TextField(blank=True)
    # Secret in the iCalendar feed URL, so calendar apps can subscribe without logging in.
    feed_token = models.CharField(max_length=64, unique=True, default=new_feed_token)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Layer(models.Model):
    class Rotation(models.TextChoices):
        DAILY = "daily"
        WEEKLY = "weekly"
        EVERY = "every"

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    position = models.PositiveIntegerField(default=0)
    rotation = models.CharField(max_length=16, choices=Rotation.choices, default=Rotation.WEEKLY)
    every_seconds = models.PositiveIntegerField(
        default=7 * 86_400,
        validators=[MinValueValidator(MIN_EVERY_SECONDS)],
        help_text="For an 'every' rotation: seconds between handoffs (at least 60).",
    )
    handoff_day = models.CharField(
        max_length=10,
        choices=[(day, day.title()) for day in WEEKDAYS],
        default="monday",
        help_text="For a weekly rotation.",
    )
    handoff_time = models.TimeField(default=time(9, 0))
    start = models.DateField()

    class Meta:
        ordering = ["schedule_id", "position"]

    def __str__(self) -> str:
        return f"{self.schedule.name} layer {self.position + 1}"


class LayerMember(models.Model):
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["layer_id", "position"]

    def __str__(self) -> str:
        return f"{self.layer} #{self.position + 1}"


class Override(models.Model):
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="override_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.schedule} {self.start:%Y-%m-%d %H:%M}"
