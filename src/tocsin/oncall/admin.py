from __future__ import annotations

from django.contrib import admin

from tocsin.oncall.models import Layer, LayerMember, Override, Schedule


class LayerInline(admin.StackedInline[Layer, Schedule]):
    model = Layer
    extra = 0


class OverrideInline(admin.TabularInline[Override, Schedule]):
    model = Override
    extra = 0
    fields = ["user", "start", "end", "note"]


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin[Schedule]):
    list_display = ["name", "timezone"]
    inlines = [LayerInline, OverrideInline]
    readonly_fields = ["feed_token"]


class LayerMemberInline(admin.TabularInline[LayerMember, Layer]):
    model = LayerMember
    extra = 0


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin[Layer]):
    list_display = ["__str__", "rotation", "handoff_day", "handoff_time", "start"]
    inlines = [LayerMemberInline]
