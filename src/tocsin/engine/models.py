"""Durable timers and worker liveness (DESIGN rules 2-4)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class Timer(models.Model):
    """Work due at ``due_at``: claimed by compare-and-set on ``token``, finished with ``done_at``.

    A claim moves ``due_at`` forward by the lease, so a worker that dies mid-step leaves the row
    due again once the lease expires; handlers are idempotent so the rerun does no harm.
    """

    kind = models.CharField(max_length=64)
    due_at = models.DateTimeField()
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.CASCADE, related_name="timers"
    )
    payload = models.JSONField(default=dict, blank=True)
    # Fairness: the worker takes the oldest due timer of every lane (e.g. "service:12") into
    # each batch, so one service's storm cannot hold back another service's first page.
    lane = models.CharField(max_length=64, blank=True, default="")
    # Optional idempotency key: scheduling the same logical timer twice is a no-op.
    key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    token = models.UUIDField(default=uuid.uuid4)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # The worker's polling query: pending timers by due time.
            models.Index(
                fields=["due_at"], condition=Q(done_at__isnull=True), name="timer_pending"
            ),
            models.Index(
                fields=["lane", "due_at"],
                condition=Q(done_at__isnull=True),
                name="timer_pending_lane",
            ),
            # The auditor's failing timers (engine.selectors.FAILING_ATTEMPTS): a handful of rows.
            models.Index(
                fields=["created_at"],
                condition=Q(done_at__isnull=True, attempts__gte=5),
                name="timer_failing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} due {self.due_at:%Y-%m-%d %H:%M:%S}"


class WorkerHeartbeat(models.Model):
    """One row per running worker process, refreshed every loop; read by /healthz."""

    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
