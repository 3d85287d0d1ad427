from __future__ import annotations

from django.contrib import admin

from tocsin.notifications.models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = ["created_at", "incident", "user", "transport", "target", "status", "attempts"]
    list_filter = ["status", "transport"]
    search_fields = ["target", "key"]
    readonly_fields = ["key", "error", "sent_at"]
