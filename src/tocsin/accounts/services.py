"""People and access writes."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from tocsin.accounts.models import ApiToken, User


@transaction.atomic
def user_create(
    *, email: str, password: str | None = None, name: str = "", admin: bool = False
) -> User:
    """Create a person (or update the password and admin flag of an existing one)."""
    user = User.objects.filter(email=email.lower()).first()
    if user is None:
        user = User.objects.create_user(email, password, name=name)
    elif password:
        user.set_password(password)
    if admin:
        user.is_staff = user.is_superuser = True
    user.save()
    return user


def token_create(*, user: User, name: str = "") -> str:
    """Create an API token for ``user``; return the raw token (it is not stored)."""
    raw = "tocsin_" + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=raw[:12], digest=ApiToken.digest_of(raw))
    return raw


def token_user(*, raw: str) -> User | None:
    """Return the active user a raw bearer token belongs to, or None; the token's last use is
    recorded to the minute (the admin shows it: an unused token is one to revoke)."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=ApiToken.digest_of(raw), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
