from __future__ import annotations

from django.apps import AppConfig


class StatuspageConfig(AppConfig):
    name = "tocsin.statuspage"
    label = "statuspage"
    default_auto_field = "django.db.models.BigAutoField"
