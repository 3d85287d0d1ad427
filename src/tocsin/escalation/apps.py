from __future__ import annotations

from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "tocsin.escalation"
    label = "escalation"
    default_auto_field = "django.db.models.BigAutoField"
