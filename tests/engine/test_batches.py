"""The worker runs due timers in batches (one transaction each) and wakes on new work."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction

from tocsin.engine import handlers, worker
from tocsin.engine.models import Timer
from tocsin.engine.services import timer_schedule
from tocsin.engine.worker import Waiter, run_timers

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    monkeypatch.setitem(handlers.HANDLERS, "test.record", lambda t: seen.append(t.payload["n"]))
    return seen


def test_a_batch_runs_every_due_timer_oldest_first(calls: list[int]) -> None:
    with time_machine.travel(T0, tick=False):
        for n in (3, 1, 2):
            timer_schedule(kind="test.record", due_at=T0 - timedelta(seconds=n), payload={"n": n})
        timer_schedule(kind="test.record", due_at=T0 + timedelta(seconds=1), payload={"n": 9})
        assert run_timers(limit=2) == 3  # two batches of at most two
    assert calls == [3, 2, 1]
    assert Timer.objects.filter(done_at__isnull=True).count() == 1


def test_a_failing_timer_does_not_undo_the_rest_of_its_batch(
    calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(timer: Timer) -> None:
        timer_schedule(kind="test.side_effect", key="written-by-failing-step")
        raise RuntimeError("bad step")

    monkeypatch.setitem(handlers.HANDLERS, "test.boom", boom)
    with time_machine.travel(T0, tick=False):
        timer_schedule(kind="test.record", due_at=T0 - timedelta(seconds=3), payload={"n": 1})
        failing = timer_schedule(kind="test.boom", due_at=T0 - timedelta(seconds=2))
        timer_schedule(kind="test.record", due_at=T0 - timedelta(seconds=1), payload={"n": 2})
        assert run_timers() == 2
    assert calls == [1, 2]
    assert failing is not None
    failing.refresh_from_db()
    assert failing.done_at is None
    assert failing.attempts == 1
    assert failing.due_at == T0 + timedelta(seconds=2)
    assert not Timer.objects.filter(key="written-by-failing-step").exists()


def test_a_worker_dying_mid_batch_leaves_every_timer_due_at_once(
    calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No lease to wait for: the batch's transaction never committed, so nothing happened."""

    def die(timer: Timer) -> None:
        raise SystemExit("SIGKILL stand-in")

    monkeypatch.setitem(handlers.HANDLERS, "test.die", die)
    with time_machine.travel(T0, tick=False):
        timer_schedule(kind="test.record", due_at=T0 - timedelta(seconds=2), payload={"n": 1})
        timer_schedule(kind="test.die", due_at=T0 - timedelta(seconds=1))
        with pytest.raises(SystemExit):
            run_timers()
        assert sorted(
            Timer.objects.filter(done_at__isnull=True).values_list("kind", flat=True)
        ) == [
            "test.die",
            "test.record",
        ]
        assert all(t.due_at <= T0 for t in Timer.objects.all())
        monkeypatch.setitem(handlers.HANDLERS, "test.die", lambda t: None)
        assert run_timers() == 2
    assert calls == [1, 1]  # the first run's work was rolled back with its batch


def test_a_batch_stops_taking_timers_after_its_time_budget(calls: list[int]) -> None:
    with time_machine.travel(T0, tick=False):
        for n in range(5):
            timer_schedule(
                kind="test.record", due_at=T0 - timedelta(seconds=5 - n), payload={"n": n}
            )
    # A zero budget commits after every timer, and still gets through all of them.
    assert run_timers(budget=0.0) == 5
    assert calls == [0, 1, 2, 3, 4]


def test_an_iteration_is_bounded_so_deliveries_get_their_turn(calls: list[int]) -> None:
    with time_machine.travel(T0, tick=False):
        for n in range(7):
            timer_schedule(
                kind="test.record", due_at=T0 - timedelta(seconds=7 - n), payload={"n": n}
            )
        # No time left after the first batch: the iteration ends there.
        assert run_timers(limit=3, iteration=0.0) == 3
        assert run_timers(limit=3) == 4


def test_the_idle_wait_runs_until_the_next_due_work(monkeypatch: pytest.MonkeyPatch) -> None:
    with time_machine.travel(T0, tick=False):
        assert worker._idle_wait() == worker.POLL_SECONDS  # nothing pending
        timer_schedule(kind="test.record", due_at=T0 + timedelta(milliseconds=40))
        assert worker._idle_wait() == pytest.approx(0.04)
        timer_schedule(kind="test.record", due_at=T0 - timedelta(seconds=1))
        assert worker._idle_wait() == worker.MIN_WAIT_SECONDS  # due but held elsewhere


@pytest.mark.django_db(transaction=True)
def test_a_sqlite_worker_wakes_when_new_work_commits() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL workers wake on NOTIFY (test_audit_and_wakeup)")
    waiter = Waiter(threading.Event())
    try:
        assert waiter.socket is not None
        with transaction.atomic():
            timer_schedule(kind="test.record", payload={"n": 1})
            timer_schedule(kind="test.record", payload={"n": 2})
            # Not yet committed: nothing to wake up for.
            assert waiter.socket.wait(0) is False
        started = time.monotonic()
        waiter.wait(30)  # would sleep 30 s without the wake-up
        assert time.monotonic() - started < 5
        assert waiter.socket.wait(0) is False  # one transaction, one wake-up (drained)
    finally:
        waiter.close()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_wakes_nobody() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite wake socket")
    waiter = Waiter(threading.Event())
    try:
        assert waiter.socket is not None
        with pytest.raises(RuntimeError), transaction.atomic():
            timer_schedule(kind="test.record", payload={"n": 1})
            raise RuntimeError("rolled back")
        assert waiter.socket.wait(0.2) is False
    finally:
        waiter.close()


def test_every_lane_with_due_work_gets_a_turn_in_each_batch(
    calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storm on one service must not hold back another service's first page."""
    monkeypatch.setattr(worker, "_lanes", worker._Lanes())
    with time_machine.travel(T0, tick=False):
        for n in range(10):
            due = T0 - timedelta(seconds=20 - n)
            timer_schedule(kind="test.record", due_at=due, payload={"n": n}, lane="service:1")
        timer_schedule(kind="test.record", due_at=T0, payload={"n": 99}, lane="service:2")
        # A batch cut short by its time budget after one timer ran the quiet lane's.
        assert run_timers(limit=3, budget=0.0, iteration=0.0) == 1
        assert calls == [99]
        assert run_timers(limit=3, iteration=0.0) == 3
    assert calls == [99, 0, 1, 2]


def test_due_lanes_names_each_lane_with_a_due_timer_once() -> None:
    from tocsin.engine.selectors import due_lanes

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for n in range(3):  # many due timers in one lane: named once
        Timer.objects.create(kind="test.kind", due_at=now - timedelta(minutes=n), lane="service:1")
    Timer.objects.create(kind="test.kind", due_at=now, lane="service:3")
    Timer.objects.create(kind="test.kind", due_at=now, lane="")
    # Not due yet, or done: not named.
    Timer.objects.create(kind="test.kind", due_at=now + timedelta(seconds=1), lane="service:2")
    Timer.objects.create(kind="test.kind", due_at=now, lane="service:4", done_at=now)

    assert sorted(due_lanes(now=now)) == ["", "service:1", "service:3"]
    assert len(due_lanes(now=now, limit=2)) == 2
    assert due_lanes(now=now - timedelta(hours=1)) == []


def test_a_timer_without_a_service_lane_gets_its_turn_during_a_storm(
    calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Incidents declared without a service and status page work have the lane "".
    monkeypatch.setattr(worker, "_lanes", worker._Lanes())
    with time_machine.travel(T0, tick=False):
        for n in range(10):
            due = T0 - timedelta(seconds=20 - n)
            timer_schedule(kind="test.record", due_at=due, payload={"n": n}, lane="service:1")
        timer_schedule(kind="test.record", due_at=T0, payload={"n": 99}, lane="service:2")
        timer_schedule(kind="test.record", due_at=T0, payload={"n": 77}, lane="")
        run_timers(limit=3, iteration=0.0)
    # One batch: every lane's oldest timer has its turn, not only the storm's backlog.
    assert {77, 99} <= set(calls)
    assert len(calls) < 11


def test_lanes_are_read_round_the_alphabet_so_every_lane_gets_a_turn(db: None) -> None:
    with time_machine.travel(T0, tick=False):
        for lane in ("service:a", "service:b", "service:c", "service:d", "service:e"):
            timer_schedule(kind="test.record", due_at=T0, payload={"n": 0}, lane=lane)
        lanes = worker._Lanes(limit=2)
        seen = []
        for _ in range(4):
            lanes.read_at = -float("inf")  # as if LANES_SECONDS had passed
            seen.append(lanes.current())
    # Each read goes on where the last stopped, then wraps: no lane waits behind the first 100.
    assert seen == [
        ["service:a", "service:b"],
        ["service:c", "service:d"],
        ["service:e", "service:a"],
        ["service:b", "service:c"],
    ]
