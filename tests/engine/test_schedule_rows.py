"""Timers written many at a time (alert ingestion's outbox rows) are ordinary timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tocsin.engine import handlers
from tocsin.engine.models import Timer
from tocsin.engine.services import RAW_FROM, timers_schedule_rows
from tocsin.engine.worker import run_timers

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("count", [RAW_FROM - 1, RAW_FROM, 3 * RAW_FROM])
def test_rows_written_in_one_statement_read_and_run_like_any_timer(
    count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below RAW_FROM the ORM writes them; from it on one multi-row INSERT does, with the
    values prepared by hand: both must read back the same and run once each."""
    seen: list[int] = []
    monkeypatch.setitem(handlers.HANDLERS, "test.rows", lambda t: seen.append(t.payload["n"]))
    rows = [
        (T0 - timedelta(seconds=n % 3), {"n": n, "name": f"é{n}"}, f"lane-{n % 2}")
        for n in range(count)
    ]
    with time_machine.travel(T0, tick=False):
        timers_schedule_rows(kind="test.rows", rows=rows)
        stored = list(Timer.objects.filter(kind="test.rows").order_by("id"))
        assert [(t.due_at, t.payload, t.lane) for t in stored] == rows
        assert len({t.token for t in stored}) == count  # each its own fencing token
        assert all(t.done_at is None and t.attempts == 0 and t.key is None for t in stored)
        assert run_timers(budget=10.0) == count
    assert sorted(seen) == list(range(count))
