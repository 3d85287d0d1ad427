"""Deliveries: one row per message per recipient per contact method."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from tocsin.ids import new_public_id


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"  # permanent error, or retries exhausted
        CANCELLED = "cancelled"  # acknowledged or resolved before it was due

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    # Idempotency (DESIGN rule 3): (incident, step, iteration, recipient, channel) -> one row.
    key = models.CharField(max_length=255, unique=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    contact_method = models.ForeignKey(
        "accounts.ContactMethod",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    transport = models.CharField(max_length=16)  # email | apprise | webhook
    target = models.CharField(max_length=2000)
    kind = models.CharField(max_length=32, default="page")  # page, fallback, ...
    # Pages only go out while the incident is still unacknowledged.
    only_if_triggered = models.BooleanField(default=True)
    subject = models.CharField(max_length=500, blank=True)
    # A message of its own (status updates); empty for pages, whose text is built when sent.
    body = models.TextField(blank=True)
    reason = models.CharField(max_length=500, blank=True)  # "escalation level 1 (Platform primary)"
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Storms: deliveries folded into one message point at the delivery that carried them.
    bundled_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="bundled"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="delivery_pending"),
            models.Index(fields=["user", "created_at"], name="delivery_user_time"),
            models.Index(fields=["target", "sent_at"], name="delivery_target_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.transport} to {self.target} ({self.status})"
