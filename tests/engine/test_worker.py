"""The worker claims due timers by compare-and-set, runs each once, and retries failures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tocsin.engine import handlers
from tocsin.engine.models import Timer
from tocsin.engine.services import LEASE, timer_claim, timer_schedule, timers_cancel
from tocsin.engine.worker import heartbeat, run_once, run_timer, worker_alive

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Register a test timer kind that records the payload it ran with."""
    seen: list[int] = []
    monkeypatch.setitem(handlers.HANDLERS, "test.record", lambda t: seen.append(t.payload["n"]))
    return seen


def test_it_runs_a_due_timer_once_and_marks_it_done(calls: list[int]) -> None:
    with time_machine.travel(T0, tick=False):
        timer = timer_schedule(kind="test.record", payload={"n": 1})
        assert run_once() == 1
        assert run_once() == 0
    assert calls == [1]
    assert timer is not None
    timer.refresh_from_db()
    assert timer.done_at == T0


def test_it_does_not_run_a_timer_before_it_is_due(calls: list[int]) -> None:
    with time_machine.travel(T0, tick=False):
        timer_schedule(kind="test.record", due_at=T0 + timedelta(minutes=15), payload={"n": 2})
        assert run_once() == 0
    with time_machine.travel(T0 + timedelta(minutes=15), tick=False):
        assert run_once() == 1
    assert calls == [2]


def test_a_second_claim_with_the_old_token_loses(calls: list[int]) -> None:
    with time_machine.travel(T0, tick=False):
        timer = timer_schedule(kind="test.record", payload={"n": 3})
        assert timer is not None
        first = timer_claim(timer_id=timer.id, token=timer.token, now=T0)
        second = timer_claim(timer_id=timer.id, token=timer.token, now=T0)
    assert first is not None
    assert second is None


def test_a_claimed_timer_becomes_due_again_when_the_lease_expires(calls: list[int]) -> None:
    """A worker that died after claiming leaves the timer to the next worker, not lost."""
    with time_machine.travel(T0, tick=False):
        timer = timer_schedule(kind="test.record", payload={"n": 4})
        assert timer is not None
        assert timer_claim(timer_id=timer.id, token=timer.token, now=T0) is not None
        assert run_once() == 0  # leased: nobody else takes it
    with time_machine.travel(T0 + LEASE + timedelta(seconds=1), tick=False):
        assert run_once() == 1
    assert calls == [4]


def test_a_stale_runner_rolls_back_its_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """If another worker re-claims the timer mid-run, the first one's writes are undone."""

    def steal_then_write(timer: Timer) -> None:
        Timer.objects.filter(id=timer.id).update(token=uuid.uuid4())
        timer_schedule(kind="test.side_effect", key="written-by-stale-run")

    monkeypatch.setitem(handlers.HANDLERS, "test.steal", steal_then_write)
    with time_machine.travel(T0, tick=False):
        timer = timer_schedule(kind="test.steal")
        assert timer is not None
        assert run_timer(timer) is False
    assert not Timer.objects.filter(key="written-by-stale-run").exists()
    timer.refresh_from_db()
    assert timer.done_at is None


def test_a_failing_handler_is_retried_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(timer: Timer) -> None:
        raise RuntimeError("smtp down")

    monkeypatch.setitem(handlers.HANDLERS, "test.boom", boom)
    with time_machine.travel(T0, tick=False):
        timer = timer_schedule(kind="test.boom")
        assert run_once() == 0
    assert timer is not None
    timer.refresh_from_db()
    assert timer.attempts == 1
    assert "smtp down" in timer.last_error
    assert timer.done_at is None
    assert timer.due_at == T0 + timedelta(seconds=2)


def test_an_unknown_timer_kind_is_kept_with_an_error_not_dropped() -> None:
    with time_machine.travel(T0, tick=False):
        timer = timer_schedule(kind="no.such.kind")
        run_once()
    assert timer is not None
    timer.refresh_from_db()
    assert timer.done_at is None
    assert "no handler" in timer.last_error


def test_scheduling_the_same_key_twice_makes_one_timer() -> None:
    assert timer_schedule(kind="test.record", key="incident-1-step-0") is not None
    assert timer_schedule(kind="test.record", key="incident-1-step-0") is None
    assert Timer.objects.filter(key="incident-1-step-0").count() == 1


def test_cancelled_timers_do_not_run(calls: list[int]) -> None:
    from tocsin.incidents.services import incident_create

    incident = incident_create(title="Checkout down")
    timer_schedule(kind="test.record", incident_id=incident.id, payload={"n": 5})
    assert timers_cancel(incident_id=incident.id) == 1
    assert run_once() == 0
    assert calls == []


def test_every_registered_timer_kind_has_a_callable_handler() -> None:
    assert handlers.HANDLERS
    assert all(callable(h) for h in handlers.HANDLERS.values())


def test_heartbeat_makes_the_worker_alive_for_30_seconds() -> None:
    with time_machine.travel(T0, tick=False):
        heartbeat(name="w1", started_at=T0)
        assert worker_alive() is not None
    with time_machine.travel(T0 + timedelta(seconds=31), tick=False):
        assert worker_alive() is None


@pytest.mark.django_db(transaction=True)
def test_the_worker_keeps_its_database_connection_between_iterations() -> None:
    """The web's CONN_MAX_AGE of 0 closes a connection at every ``close_old_connections``; the
    worker, one thread, keeps its own (a new PostgreSQL session per iteration was on the path
    of every page)."""
    from django.db import close_old_connections, connection

    from tocsin.engine import worker

    shared = connection.settings_dict
    try:
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            pytest.skip("Django never closes an in-memory SQLite database (the test database)")
        connection.ensure_connection()
        close_old_connections()
        assert connection.connection is None  # as configured: closed after each unit of work

        worker._keep_connection()
        connection.ensure_connection()
        kept = connection.connection
        close_old_connections()
        assert connection.connection is kept
        assert shared.get("CONN_MAX_AGE") == 0  # other threads' connections keep the setting
    finally:
        connection.close()
        connection.settings_dict = shared


def test_a_batch_claim_takes_only_pending_due_timers_and_reads_them_whole() -> None:
    from django.db import transaction

    from tocsin.engine.services import timers_claim_due

    with time_machine.travel(T0, tick=False):
        due = [
            timer_schedule(kind="test.record", due_at=T0 - timedelta(seconds=n), payload={"n": n})
            for n in (1, 2)
        ]
        later = timer_schedule(kind="test.record", due_at=T0 + timedelta(minutes=1))
        done = timer_schedule(kind="test.record", due_at=T0 - timedelta(minutes=1))
        assert all(due) and later is not None and done is not None
        Timer.objects.filter(pk=done.pk).update(done_at=T0)
        token = uuid.uuid4()
        with transaction.atomic():
            claimed = timers_claim_due(now=T0, limit=10, token=token)
    assert [t.pk for t in claimed] == [due[1].pk, due[0].pk]  # oldest due first
    first = claimed[0]
    assert first.token == token and first.payload == {"n": 2}  # converted: UUID, JSON
    assert first.due_at == T0 - timedelta(seconds=2) and first.kind == "test.record"
    assert first.done_at is None and first.attempts == 0
    stored = dict(Timer.objects.values_list("pk", "token"))
    assert stored[due[0].pk] == stored[due[1].pk] == token
    assert token not in {stored[later.pk], stored[done.pk]}  # not due, already done: untouched
