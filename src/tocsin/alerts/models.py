"""Services, their integrations (alert sources), alerts and change events."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from tocsin.ids import new_ordered_public_id, new_public_id


class Service(models.Model):
    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="services"
    )
    # Names, resolved by the paging and status-page apps (their objects come in later issues).
    escalation_policy = models.CharField(max_length=200, blank=True)
    status_component = models.CharField(max_length=200, blank=True)
    severity_map = models.JSONField(default=dict, blank=True)  # source value -> severity name
    runbooks = models.JSONField(default=list, blank=True)  # runbook ids

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Integration(models.Model):
    """An alert source attached to a service; ``key`` is the secret part of its ingestion URL."""

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager"
        PAGERDUTY = "pagerduty"
        GRAFANA = "grafana"
        WEBHOOK = "webhook"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="integrations")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=128, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # Per-kind options: grafana {"secret": ...}; webhook {"title": "$.path", ...}.
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service_id", "id"]

    def __str__(self) -> str:
        return f"{self.service.name}/{self.kind}"


class Alert(models.Model):
    """One alert from a source, deduplicated by (integration, fingerprint) while firing."""

    class Status(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

    public_id = models.CharField(
        max_length=16, unique=True, default=new_ordered_public_id, editable=False
    )
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="alerts")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="alerts")
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
        # alert_incident_status (incident, status) serves lookups by incident: one index less
        # to write for every alert ingested and linked.
        db_index=False,
    )
    fingerprint = models.CharField(max_length=255)
    group_key = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FIRING)
    acknowledged = models.BooleanField(default=False)  # the source said so (PagerDuty events)
    title = models.CharField(max_length=1024)
    source = models.CharField(max_length=255, blank=True)
    severity = models.CharField(max_length=32, blank=True)  # mapped through severity_map
    # The severity before the latest repeat (ingestion's upsert sets it): a repeat that changed
    # the severity is processed again, so a more severe repeat raises its incident.
    previous_severity = models.CharField(max_length=32, blank=True, default="")
    source_severity = models.CharField(max_length=64, blank=True)  # as the source sent it
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)  # the source's own fields, last seen
    links = models.JSONField(default=list, blank=True)
    count = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    starts_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen"]
        constraints = [
            # Dedup: a repeat of a firing alert updates this row (INSERT ... ON CONFLICT).
            models.UniqueConstraint(
                fields=["integration", "fingerprint"],
                condition=Q(status="firing"),
                name="alert_one_firing_per_fingerprint",
            )
        ]
        indexes = [models.Index(fields=["incident", "status"], name="alert_incident_status")]

    def __str__(self) -> str:
        return self.title


class ChangeEvent(models.Model):
    """A deploy or config change reported by a source; shown on the service's timeline."""

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="changes")
    integration = models.ForeignKey(
        Integration, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.CharField(max_length=1024)
    source = models.CharField(max_length=255, blank=True)
    happened_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    links = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-happened_at"]

    def __str__(self) -> str:
        return self.summary
