"""The public status page: components, public incidents, maintenance, subscribers, snapshot."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from tocsin.ids import new_public_id


class ComponentStatus(models.TextChoices):
    """Statuspage's component statuses, in order of increasing severity (maintenance apart)."""

    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"


class Component(models.Model):
    """One line on the page; ``is_group`` rows hold other components (Statuspage groups)."""

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    group = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        limit_choices_to={"is_group": True},
    )
    is_group = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=32, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL
    )
    showcase = models.BooleanField(default=True)
    only_show_if_degraded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class ComponentStatusChange(models.Model):
    """A component entered ``status`` at ``at``: the uptime history and the audit trail."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="changes")
    status = models.CharField(max_length=32, choices=ComponentStatus.choices)
    at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)  # "incident x", "maintenance y", "admin"

    class Meta:
        ordering = ["component_id", "at", "id"]
        indexes = [models.Index(fields=["component", "at"], name="sp_change_component_at")]

    def __str__(self) -> str:
        return f"{self.component_id} {self.status} at {self.at:%Y-%m-%d %H:%M}"


class PublicIncident(models.Model):
    class Status(models.TextChoices):
        INVESTIGATING = "investigating"
        IDENTIFIED = "identified"
        MONITORING = "monitoring"
        RESOLVED = "resolved"
        POSTMORTEM = "postmortem"

    class Impact(models.TextChoices):
        NONE = "none"
        MINOR = "minor"
        MAJOR = "major"
        CRITICAL = "critical"

    UNRESOLVED = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="public_incidents",
    )
    name = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INVESTIGATING)
    impact = models.CharField(max_length=16, choices=Impact.choices, default=Impact.MINOR)
    components = models.ManyToManyField(Component, blank=True, related_name="incidents")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    started_at = models.DateTimeField()
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="sp_incident_status_time")]

    def __str__(self) -> str:
        return self.name

    @property
    def unresolved(self) -> bool:
        return self.status in self.UNRESOLVED


class PublicIncidentUpdate(models.Model):
    """One message on a public incident, with the component changes it made."""

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    incident = models.ForeignKey(PublicIncident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=16, choices=PublicIncident.Status.choices)
    body = models.TextField()
    at = models.DateTimeField()
    # [{"code": public id, "name": ..., "old_status": ..., "new_status": ...}] (Statuspage shape)
    affected_components = models.JSONField(default=list, blank=True)
    deliver_notifications = models.BooleanField(default=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.status}"


class ScheduledMaintenance(models.Model):
    """A planned window: shown on the page, components under maintenance, services silenced."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        IN_PROGRESS = "in_progress"
        VERIFYING = "verifying"
        COMPLETED = "completed"

    ACTIVE = (Status.IN_PROGRESS, Status.VERIFYING)  # the window is on

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    impact = models.CharField(max_length=16, default="maintenance")
    scheduled_for = models.DateTimeField()
    scheduled_until = models.DateTimeField()
    components = models.ManyToManyField(Component, blank=True, related_name="maintenances")
    # Alerts of these services are recorded but page nobody while the window is in progress.
    services = models.ManyToManyField("alerts.Service", blank=True, related_name="maintenances")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        indexes = [
            models.Index(fields=["status", "scheduled_for"], name="sp_maintenance_status_time")
        ]

    def __str__(self) -> str:
        return self.name


class MaintenanceUpdate(models.Model):
    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    maintenance = models.ForeignKey(
        ScheduledMaintenance, on_delete=models.CASCADE, related_name="updates"
    )
    status = models.CharField(max_length=16, choices=ScheduledMaintenance.Status.choices)
    body = models.TextField()
    at = models.DateTimeField()
    affected_components = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.status}"


class Subscriber(models.Model):
    """An e-mail address that asked for updates; it receives them only once confirmed."""

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Rotated on every (re)subscription and unsubscription: old links stop working.
    token = models.CharField(max_length=32, default=new_public_id)

    class Meta:
        ordering = ["email"]
        indexes = [
            models.Index(
                fields=["id"],
                condition=Q(confirmed_at__isnull=False, unsubscribed_at__isnull=True),
                name="sp_subscriber_active",
            )
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


class Notice(models.Model):
    """One e-mail to one subscriber (confirmation, incident update, maintenance start/end)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    # Idempotency: one notice per (subscriber, event); a rerun of the same step sends nothing.
    key = models.CharField(max_length=255, unique=True)
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=32)  # confirm | incident | maintenance
    subject = models.CharField(max_length=300)
    text = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], condition=Q(status="pending"), name="sp_notice_due")
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.subscriber_id} ({self.status})"


class Snapshot(models.Model):
    """The whole public site, rendered: one row, rebuilt after every change.

    ``files`` maps an export path (``index.html``, ``api/v2/summary.json`` ...) to
    ``[content type, ETag, body]``. Web processes compare ``build`` (cheap, at most once a
    second) and serve the bytes from memory, so a request never renders anything and the page
    stays up when the database is down.
    """

    page_id = models.CharField(max_length=16, default=new_public_id)
    build = models.CharField(max_length=32)
    version = models.PositiveBigIntegerField(default=0)
    built_at = models.DateTimeField()
    files = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"snapshot v{self.version} ({self.built_at:%Y-%m-%d %H:%M:%S})"
