"""On-call writes: overrides that people add and remove by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.oncall.models import Override, Schedule
from tocsin.policy.config.apply_paging import FROM_FILE

MAX_OVERRIDE = timedelta(days=90)


class OverrideError(ValueError):
    """An override that cannot be created; the message says why, in words for a person."""


def _check(*, user: User, start: datetime, end: datetime, note: str) -> None:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("override times must be timezone-aware")
    if end <= start:
        raise OverrideError("The end must be after the start.")
    if end - start > MAX_OVERRIDE:
        raise OverrideError(f"An override can last at most {MAX_OVERRIDE.days} days.")
    if not user.is_active:
        raise OverrideError(f"{user} is deactivated and cannot be paged.")
    # `tocsin apply` replaces the overrides carrying this note with the file's: a hand-made
    # override with it would silently disappear on the next apply.
    if note.strip() == FROM_FILE:
        raise OverrideError(f"The note {FROM_FILE!r} is reserved for the configuration file.")


def override_create(
    *,
    schedule: Schedule,
    user: User,
    start: datetime,
    end: datetime,
    note: str = "",
    by: User | None = None,
) -> Override:
    """Put ``user`` on call for ``schedule`` from ``start`` to ``end``, ahead of its layers."""
    _check(user=user, start=start, end=end, note=note)
    return Override.objects.create(
        schedule=schedule, user=user, start=start, end=end, note=note.strip(), created_by=by
    )


def override_delete(*, override: Override, by: User | None = None) -> None:
    """Remove an override: the layers decide again for its time."""
    override.delete()
