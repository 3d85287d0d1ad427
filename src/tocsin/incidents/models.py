"""Incidents and their timeline."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from tocsin.ids import new_public_id


class Incident(models.Model):
    class Status(models.TextChoices):
        TRIGGERED = "triggered"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    OPEN_STATUSES = (Status.TRIGGERED, Status.ACKNOWLEDGED)

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    number = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=1024)
    summary = models.TextField(blank=True)
    severity = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIGGERED)
    service = models.ForeignKey(
        "alerts.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    group_key = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    triggered_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Fencing token (DESIGN rule 4): rotated by acknowledge, resolve, re-route, severity change.
    escalation_token = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-triggered_at"]
        constraints = [
            # Grouping: at most one open incident per (service, group key), so two workers
            # grouping alerts of the same Alertmanager group at once cannot open two incidents.
            models.UniqueConstraint(
                fields=["service", "group_key"],
                condition=Q(status__in=["triggered", "acknowledged"]) & ~Q(group_key=""),
                name="incident_one_open_per_group",
            )
        ]
        indexes = [models.Index(fields=["status", "triggered_at"], name="incident_status_time")]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class TimelineEvent(models.Model):
    """Something that happened to an incident, written in the same transaction as the change."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    kind = models.CharField(max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)  # "alertmanager", "worker", ...
    old = models.CharField(max_length=200, blank=True)
    new = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"], name="timeline_incident_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"

    @property
    def actor_name(self) -> str:
        if self.actor is not None:
            return str(self.actor)
        return self.actor_label or "system"
