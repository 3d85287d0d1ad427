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
        INVESTIGATING = "investigating"
        IDENTIFIED = "identified"
        MONITORING = "monitoring"
        RESOLVED = "resolved"
        CLOSED = "closed"

    OPEN_STATUSES = (
        Status.TRIGGERED,
        Status.ACKNOWLEDGED,
        Status.INVESTIGATING,
        Status.IDENTIFIED,
        Status.MONITORING,
    )

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

    # ---- what the guides' templates and post-mortems use ---------------------------------
    started_at = models.DateTimeField(null=True, blank=True)  # impact began (may precede)
    detected_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    impact = models.TextField(blank=True)
    users_affected = models.CharField(max_length=200, blank=True)  # "all", "~12%", "4,000"
    error_rate = models.CharField(max_length=100, blank=True)
    affected_components = models.JSONField(default=list, blank=True)
    root_cause = models.TextField(blank=True)
    resolution = models.TextField(blank=True)
    bridge_url = models.URLField(max_length=500, blank=True)
    chat_channel = models.CharField(max_length=200, blank=True)
    links = models.JSONField(default=list, blank=True)  # [{"title": ..., "url": ...}]
    is_security = models.BooleanField(default=False)  # restricted visibility
    is_drill = models.BooleanField(default=False)  # excluded from metrics
    # The policy drill this incident rehearsed ("" for any other incident, and for an incident
    # flagged as a drill by hand): when it last ran decides when it is due again.
    drill = models.CharField(max_length=200, blank=True, default="")

    # ---- the policy, as it was when the incident started (DESIGN rule 5) ------------------
    policy_snapshot = models.JSONField(default=dict, blank=True)
    # Bumped by a severity change: timers planned under an older generation do nothing.
    policy_generation = models.PositiveIntegerField(default=0)
    last_update_at = models.DateTimeField(null=True, blank=True)
    next_update_due = models.DateTimeField(null=True, blank=True)
    breaches = models.JSONField(default=list, blank=True)  # ["respond_within", ...]
    postmortem_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-triggered_at"]
        constraints = [
            # Grouping: at most one open incident per (service, group key), so two workers
            # grouping alerts of the same Alertmanager group at once cannot open two incidents.
            models.UniqueConstraint(
                fields=["service", "group_key"],
                condition=Q(
                    status__in=[
                        "triggered",
                        "acknowledged",
                        "investigating",
                        "identified",
                        "monitoring",
                    ]
                )
                & ~Q(group_key=""),
                name="incident_one_open_per_group",
            )
        ]
        indexes = [
            models.Index(fields=["status", "triggered_at"], name="incident_status_time"),
            # Not partial: SQLite uses a partial index only for a query whose condition implies
            # the index's, and "drill = ?" does not imply "drill <> ''".
            models.Index(fields=["drill", "triggered_at"], name="incident_drill_runs"),
        ]

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


class IncidentRole(models.Model):
    """Who holds a role (commander, tech lead, comms lead, scribe ...) in one incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=64)
    backup = models.BooleanField(default=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    assigned_at = models.DateTimeField()
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["incident_id", "role", "backup"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "role", "backup"], name="incident_role_one_holder"
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}{' (backup)' if self.backup else ''}: {self.user}"


class StatusUpdate(models.Model):
    """A status update posted during the incident (resets the update-cadence clock)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    at = models.DateTimeField()
    status = models.CharField(max_length=16)  # the incident's status when posted
    body = models.TextField()
    public = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.status}"


class ChecklistItem(models.Model):
    """One item of a policy checklist attached to an incident; checked or waived by a person."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="checklist")
    checklist = models.CharField(max_length=100)  # the checklist id in the policy
    checklist_title = models.CharField(max_length=200, blank=True)
    phase = models.CharField(max_length=32, blank=True)
    required_to = models.CharField(max_length=16, blank=True)  # acknowledge|mitigate|resolve|close
    position = models.PositiveIntegerField(default=0)
    text = models.CharField(max_length=500)
    due_at = models.DateTimeField(null=True, blank=True)  # checklist `within`
    checked_at = models.DateTimeField(null=True, blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waived_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["incident_id", "checklist", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "checklist", "position"], name="checklist_item_once"
            )
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def done(self) -> bool:
        return self.checked_at is not None or bool(self.waived_reason)
