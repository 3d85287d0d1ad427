"""People, teams, roles, how to reach them, and API tokens."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models

from tocsin.ids import new_public_id


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        """Create a person identified by e-mail address."""
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        """Create an administrator."""
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person: responder, stakeholder or administrator. Identified by e-mail."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.name or self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)
    members = models.ManyToManyField(User, related_name="teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """An organisational title that policies escalate to, e.g. "Engineering Manager"."""

    name = models.CharField(max_length=200, unique=True)
    members = models.ManyToManyField(User, related_name="org_roles", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ContactMethod(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email"
        APPRISE = "apprise"
        WEBHOOK = "webhook"

    class Status(models.TextChoices):
        OK = "ok"
        FAILING = "failing"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="contact_methods")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OK)
    last_error = models.TextField(blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["user_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="contact_method_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.user.email}/{self.name} ({self.kind})"


class NotificationRule(models.Model):
    """A personal rule: when paged, use ``contact_method`` after ``after_seconds``."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notification_rules")
    contact_method = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="+")
    after_seconds = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["user_id", "position"]

    def __str__(self) -> str:
        return f"after {self.after_seconds}s via {self.contact_method_id}"


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored.

    Tokens are 256-bit random strings, so a fast hash is enough (no dictionary to attack) and keeps
    the per-request check to one indexed lookup; argon2 is for the low-entropy passwords.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.email})"

    @staticmethod
    def digest_of(raw: str) -> str:
        """Return the stored form of a raw token."""
        return hashlib.sha256(raw.encode()).hexdigest()
