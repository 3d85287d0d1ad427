from __future__ import annotations

from django.contrib import admin

from tocsin.escalation.models import EscalationLevel, EscalationPolicy, EscalationRun


class LevelInline(admin.TabularInline[EscalationLevel, EscalationPolicy]):
    model = EscalationLevel
    extra = 0


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin[EscalationPolicy]):
    list_display = ["name", "repeat"]
    inlines = [LevelInline]


@admin.register(EscalationRun)
class EscalationRunAdmin(admin.ModelAdmin[EscalationRun]):
    list_display = ["incident", "policy_name", "level", "iteration", "started_at", "finished_at"]
    readonly_fields = ["snapshot"]
