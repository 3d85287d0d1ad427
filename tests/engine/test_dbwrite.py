"""Write transactions poll for SQLite's write lock instead of sleeping in its busy handler."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from tocsin import dbwrite
from tocsin.dbwrite import atomic_polling
from tocsin.engine.models import Timer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def locked_twice(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """BEGIN finds the write lock taken twice (another writer), then gets it."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write lock")
    attempts: list[int] = []
    real_atomic = transaction.atomic

    @contextlib.contextmanager
    def atomic() -> Iterator[None]:
        attempts.append(1)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == 0  # polled by us, not SQLite's busy handler
        if len(attempts) <= 2:
            raise OperationalError("database is locked")
        with real_atomic():
            yield

    monkeypatch.setattr(dbwrite.transaction, "atomic", atomic)
    return attempts


def _timer(key: str) -> Timer:
    return Timer.objects.create(kind="test.record", due_at=timezone.now(), key=key)


def _busy_timeout() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return int(cursor.fetchone()[0])


def test_it_retries_until_it_gets_the_lock(
    locked_twice: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbwrite.contention, "at", float("-inf"))
    configured = _busy_timeout()
    atomic_polling(lambda: _timer("after-the-lock"), wait=10)
    assert len(locked_twice) == 3
    assert Timer.objects.filter(key="after-the-lock").count() == 1
    assert _busy_timeout() == configured  # restored for everything else
    # ... and the worker knows another writer wants the lock (it shortens its batches).
    assert dbwrite.contention.seconds_since() < 60


def test_it_gives_up_after_the_wait(locked_twice: list[int]) -> None:
    with pytest.raises(OperationalError, match="locked"):
        atomic_polling(lambda: _timer("never"), wait=0.0)
    assert len(locked_twice) == 1
    assert not Timer.objects.exists()


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise OperationalError("no such table: nowhere")

    with pytest.raises(OperationalError, match="no such table"):
        atomic_polling(broken)
    assert calls == [1]
