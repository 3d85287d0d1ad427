"""Write transactions that take SQLite's write lock promptly under contention.

SQLite has one writer at a time. When the lock is taken, its busy handler sleeps 1, 2, 5 ...
up to 100 ms between tries, so a writer that just missed the lock often waits tens of
milliseconds for nothing, and one that keeps missing it (the worker while alert ingestion
commits back to back) can starve. ``atomic_polling`` sets ``busy_timeout=0`` for its BEGIN and
retries every ``poll`` seconds itself, for up to ``wait`` seconds (the configured timeout),
re-running the whole unit of work: everything of a failed attempt was rolled back. On
PostgreSQL it is a plain ``transaction.atomic()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connection, transaction

T = TypeVar("T")

WAIT_SECONDS = 20.0  # as the busy timeout in settings
POLL_SECONDS = 0.0005


class _Contention:
    """When this process last found the write lock taken (monotonic seconds)."""

    at = float("-inf")

    def seconds_since(self) -> float:
        return time.monotonic() - self.at


contention = _Contention()


def atomic_polling(
    work: Callable[[], T], *, wait: float = WAIT_SECONDS, poll: float = POLL_SECONDS
) -> T:
    """Run ``work`` in one transaction; on SQLite, poll for the write lock (see above)."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            return work()
    deadline = time.monotonic() + wait
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        configured = int(cursor.fetchone()[0])
    while True:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 0")
        try:
            with transaction.atomic():
                return work()
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            contention.at = time.monotonic()
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {configured}")
        time.sleep(poll)
