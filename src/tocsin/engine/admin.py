from __future__ import annotations

from django.contrib import admin

from tocsin.engine.models import Timer, WorkerHeartbeat


@admin.register(Timer)
class TimerAdmin(admin.ModelAdmin[Timer]):
    list_display = ["kind", "due_at", "incident", "attempts", "done_at"]
    list_filter = ["kind"]
    readonly_fields = ["token", "created_at"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ["name", "pid", "started_at", "beat_at"]
