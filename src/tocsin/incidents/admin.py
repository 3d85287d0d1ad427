from __future__ import annotations

from django.contrib import admin

from tocsin.incidents.models import Incident, TimelineEvent


class TimelineInline(admin.TabularInline[TimelineEvent, Incident]):
    model = TimelineEvent
    extra = 0
    fields = ["at", "kind", "actor", "actor_label", "old", "new", "message"]
    readonly_fields = ["at", "kind", "actor", "actor_label", "old", "new", "message"]
    can_delete = False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin[Incident]):
    list_display = ["number", "title", "severity", "status", "service", "triggered_at"]
    list_filter = ["status", "severity", "service"]
    search_fields = ["title", "public_id"]
    # State changes go through the services (timeline, fencing token), never a raw edit.
    readonly_fields = [
        "number",
        "status",
        "triggered_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "escalation_token",
        "group_key",
    ]
    inlines = [TimelineInline]
