"""Load the demo: apply a configuration and, the first time only, create an administrator."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from tocsin.accounts.models import User
from tocsin.accounts.services import user_create
from tocsin.policy.config.apply import ApplySummary, config_apply
from tocsin.policy.config.schema import Config

ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class DemoResult:
    summary: ApplySummary
    admin_email: str
    password: str | None  # None: an administrator existed already


@transaction.atomic
def demo_load(*, config: Config) -> DemoResult:
    """Apply ``config``; create the admin with a new password when there is no superuser yet."""
    summary = config_apply(config=config)
    existing = User.objects.filter(is_superuser=True).order_by("pk").first()
    if existing is not None:
        return DemoResult(summary, existing.email, None)
    password = secrets.token_urlsafe(12)
    user_create(email=ADMIN_EMAIL, password=password, name="Admin", admin=True)
    return DemoResult(summary, ADMIN_EMAIL, password)
