"""The auditor flags work overdue by more than a minute; PostgreSQL workers wake on NOTIFY."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client

from tocsin.engine.selectors import overdue_work
from tocsin.engine.services import timer_schedule
from tocsin.engine.worker import Waiter

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_nothing_is_overdue_within_the_first_minute() -> None:
    with time_machine.travel(T0, tick=False):
        timer_schedule(kind="alert.process", payload={"alert": 0})
    with time_machine.travel(T0 + timedelta(seconds=59), tick=False):
        assert not overdue_work().alert


@pytest.mark.django_db
def test_a_step_overdue_by_a_minute_raises_the_internal_alert_on_healthz() -> None:
    with time_machine.travel(T0, tick=False):
        timer_schedule(kind="alert.process", payload={"alert": 0})
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        overdue = overdue_work()
        body = Client().get("/healthz").json()
    assert overdue.timers == 1
    assert body["status"] == "degraded"
    assert body["audit"]["ok"] is False
    assert "overdue" in body["audit"]["error"]


@pytest.mark.django_db(transaction=True)
def test_a_postgres_worker_wakes_on_notify_instead_of_sleeping() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only; SQLite workers poll every 250 ms")
    waiter = Waiter(threading.Event())
    assert waiter.listener is not None
    timer_schedule(kind="alert.process", payload={"alert": 0})  # commits, so NOTIFY is sent
    started = time.monotonic()
    waiter.wait(30)  # would sleep 30 s without the notification
    waiter.close()
    assert time.monotonic() - started < 10


@pytest.mark.django_db
def test_a_step_failing_on_every_run_raises_the_internal_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tocsin.engine import handlers
    from tocsin.engine.worker import run_timers

    def broken(timer: object) -> None:
        raise RuntimeError("the policy snapshot cannot be read")

    monkeypatch.setitem(handlers.HANDLERS, "test.broken", broken)
    with time_machine.travel(T0, tick=False):
        timer_schedule(kind="test.broken", payload={})
    # Its due time moves on with the backoff, so it is never "overdue"; it is failing.
    for seconds in (0, 3, 8, 17, 34, 67):
        with time_machine.travel(T0 + timedelta(seconds=seconds), tick=False):
            run_timers()
    with time_machine.travel(T0 + timedelta(seconds=70), tick=False):
        overdue = overdue_work()
        body = Client().get("/healthz").json()
    assert (overdue.timers, overdue.failing) == (0, 1)
    assert body["status"] == "degraded"
    assert body["audit"]["failing_timers"] == 1
    assert "failing on every run" in body["audit"]["error"]
    assert "the policy snapshot cannot be read" in body["audit"]["error"]
