from __future__ import annotations

from django.contrib import admin

from tocsin.policy.models import ConfigSection, Severity, WorkCalendar


@admin.register(Severity)
class SeverityAdmin(admin.ModelAdmin[Severity]):
    list_display = ["name", "rank", "title"]


admin.site.register(WorkCalendar)
admin.site.register(ConfigSection)
