from __future__ import annotations

from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "tocsin.engine"
    label = "engine"
    default_auto_field = "django.db.models.BigAutoField"
