from __future__ import annotations

from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "tocsin.oncall"
    label = "oncall"
    default_auto_field = "django.db.models.BigAutoField"
