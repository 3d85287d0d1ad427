"""Escalation policies and each incident's escalation run (its policy snapshot)."""

from __future__ import annotations

from typing import Any

from django.db import models


class EscalationPolicy(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    repeat = models.PositiveIntegerField(default=0)  # extra passes over the levels
    # Un-acknowledge after this long without resolution (0: never); paging restarts.
    ack_timeout_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationLevel(models.Model):
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="levels")
    position = models.PositiveIntegerField(default=0)
    # [{"schedule": "Platform primary"} | {"role": "Engineering Manager"} | {"user": "a@b.c"}]
    targets: models.JSONField[list[dict[str, str]], list[dict[str, str]]] = models.JSONField(
        default=list
    )
    wait_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["policy_id", "position"]

    def __str__(self) -> str:
        return f"{self.policy.name} level {self.position + 1}"


class EscalationRun(models.Model):
    """The escalation of one incident, with the policy as it was when the incident started."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="escalation"
    )
    policy_name = models.CharField(max_length=200)
    snapshot: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField(default=dict)
    started_at = models.DateTimeField()
    level = models.IntegerField(default=-1)  # last level paged
    iteration = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"escalation of incident {self.incident_id}"
