from __future__ import annotations

from django.contrib import admin

from tocsin.alerts.models import Alert, ChangeEvent, Integration, Service


class IntegrationInline(admin.TabularInline[Integration, Service]):
    model = Integration
    extra = 0
    fields = ["kind", "key", "name", "config"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin[Service]):
    list_display = ["name", "team", "escalation_policy"]
    search_fields = ["name"]
    inlines = [IntegrationInline]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin[Alert]):
    list_display = ["title", "service", "status", "severity", "count", "last_seen", "incident"]
    list_filter = ["status", "service"]
    search_fields = ["title", "fingerprint"]
    raw_id_fields = ["incident"]


@admin.register(ChangeEvent)
class ChangeEventAdmin(admin.ModelAdmin[ChangeEvent]):
    list_display = ["summary", "service", "source", "happened_at"]
