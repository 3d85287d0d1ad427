"""Admin screens for operators; every save rebuilds the public snapshot."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from tocsin.statuspage import services
from tocsin.statuspage.models import (
    Component,
    ComponentStatusChange,
    MaintenanceUpdate,
    PublicIncident,
    PublicIncidentUpdate,
    ScheduledMaintenance,
    Subscriber,
)
from tocsin.statuspage.snapshot import page_changed


class RebuildOnSave(admin.ModelAdmin):  # type: ignore[type-arg]
    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        super().save_model(request, obj, form, change)
        page_changed()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        page_changed()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        super().delete_queryset(request, queryset)
        page_changed()


@admin.register(Component)
class ComponentAdmin(RebuildOnSave):
    list_display = ("name", "group", "status", "position", "is_group", "public_id")
    list_filter = ("status", "is_group")
    search_fields = ("name",)
    ordering = ("position",)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        if change and "status" in form.changed_data:
            # Through the service: the change is recorded for the uptime history.
            status = obj.status
            obj.status = form.initial["status"]
            super().save_model(request, obj, form, change)
            services.component_set_status(
                component=obj, status=status, reason=f"admin ({request.user})"
            )
            return
        super().save_model(request, obj, form, change)


@admin.register(ComponentStatusChange)
class ComponentStatusChangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("component", "status", "at", "reason")
    list_filter = ("status",)


class PublicIncidentUpdateInline(admin.StackedInline):  # type: ignore[type-arg]
    model = PublicIncidentUpdate
    extra = 1
    fields = ("status", "body", "at", "deliver_notifications")


@admin.register(PublicIncident)
class PublicIncidentAdmin(RebuildOnSave):
    list_display = ("name", "status", "impact", "created_at", "resolved_at", "incident")
    list_filter = ("status", "impact")
    search_fields = ("name",)
    raw_id_fields = ("incident",)
    filter_horizontal = ("components",)
    inlines = (PublicIncidentUpdateInline,)


class MaintenanceUpdateInline(admin.StackedInline):  # type: ignore[type-arg]
    model = MaintenanceUpdate
    extra = 0
    fields = ("status", "body", "at")


@admin.register(ScheduledMaintenance)
class ScheduledMaintenanceAdmin(RebuildOnSave):
    list_display = ("name", "status", "scheduled_for", "scheduled_until")
    list_filter = ("status",)
    filter_horizontal = ("components", "services")
    inlines = (MaintenanceUpdateInline,)
    actions = ("start_now", "complete_now")

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        super().save_model(request, obj, form, change)
        # The worker starts and ends the window on time, as for one scheduled by the service;
        # after an edit, the timers planned for the old times are cancelled.
        services.maintenance_plan_timers(obj)

    # Starting silences paging for the window's services: change permission, not just view.
    @admin.action(description="Start the selected maintenance now", permissions=["change"])
    def start_now(self, request: HttpRequest, queryset: QuerySet[ScheduledMaintenance]) -> None:
        for m in queryset:
            services.maintenance_start(maintenance=m)

    @admin.action(description="Complete the selected maintenance now", permissions=["change"])
    def complete_now(self, request: HttpRequest, queryset: QuerySet[ScheduledMaintenance]) -> None:
        for m in queryset:
            services.maintenance_complete(maintenance=m)


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("email", "created_at", "confirmed_at", "unsubscribed_at")
    list_filter = (("confirmed_at", admin.EmptyFieldListFilter),)
    search_fields = ("email",)
    readonly_fields = ("token", "public_id")
