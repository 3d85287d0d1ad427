"""Escalation steps run set-based in a worker batch write the same rows as one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests.factories import person, policy, rerun_one_by_one, weekly_schedule
from tocsin.alerts.models import Service
from tocsin.engine import handlers
from tocsin.engine.models import Timer
from tocsin.engine.services import timer_schedule
from tocsin.engine.worker import run_timers
from tocsin.escalation import services as escalation
from tocsin.escalation.models import EscalationRun
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.incidents.services import incident_acknowledge, incident_create, incident_resolve
from tocsin.notifications.models import Delivery

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def checkout(db: None) -> Service:
    alice = person(
        "alice@example.com",
        rules=[(0, "email", "alice@example.com"), (120, "email", "a2@example.com")],
    )
    bob = person("bob@example.com")
    weekly_schedule("Primary", [alice, bob])
    weekly_schedule("Secondary", [bob, alice])
    policy(
        "Default",
        [
            ([{"schedule": "Primary"}], 10 * 60),
            ([{"schedule": "Secondary"}, {"user": "bob@example.com"}], 0),
        ],
        repeat=1,
    )
    return Service.objects.create(name="Checkout", escalation_policy="Default")


@pytest.fixture
def batch_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the set-based runs (the group sizes) so a test knows which path ran."""
    sizes: list[int] = []

    def spy(timers: list[Timer]) -> None:
        sizes.append(len(timers))
        escalation.escalation_steps(timers)

    monkeypatch.setitem(handlers.BATCH_HANDLERS, escalation.STEP, spy)
    return sizes


def without_id(key: str) -> str:
    """Keys carry the incident's id, which differs between two runs: drop it (the number,
    compared beside, is the same)."""
    kind, _incident_id, *rest = key.split(":")
    return ":".join([kind, *rest])


def story(service: Service) -> dict[str, list[Any]]:
    """Six incidents: two acknowledged or resolved before their first step; the rest run the
    policy twice (level 1, level 2 at 10 min, level 1 again 5 min later, level 2, finished)."""
    with time_machine.travel(T0, tick=False):
        incidents = [
            incident_create(title=f"Down {n}", severity="P1", service=service) for n in range(6)
        ]
        incident_acknowledge(incident=incidents[1])
        incident_resolve(incident=incidents[2])
    for minutes in (0, 10, 15, 30, 60):
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            run_timers(budget=10.0)  # a budget that never cuts a batch short
    return {
        "deliveries": sorted(
            (without_id(key), *rest)
            for key, *rest in Delivery.objects.values_list(
                "key", "incident__number", "user__email", "target", "due_at", "reason", "kind"
            )
        ),
        "events": sorted(
            TimelineEvent.objects.filter(incident__in=incidents).values_list(
                "incident__number", "kind", "at", "new", "message", "data"
            ),
            key=repr,
        ),
        "timers": sorted(
            (
                (without_id(key or ""), *rest)
                for key, *rest in Timer.objects.filter(kind=escalation.STEP).values_list(
                    "key", "incident__number", "due_at", "payload", "done_at"
                )
            ),
            key=repr,
        ),
        "runs": sorted(
            EscalationRun.objects.values_list(
                "incident__number", "level", "iteration", "finished_at"
            )
        ),
    }


def test_a_batch_of_steps_writes_what_steps_one_by_one_write(
    checkout: Service, batch_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    together = story(checkout)
    assert batch_calls and max(batch_calls) == 6  # every first step ran in one set-based call
    assert len(together["deliveries"]) > 10
    # Four runs went through both passes (level 2 of the second pass) and finished.
    assert [(r[1], r[2], r[3] is not None) for r in together["runs"]].count((1, 1, True)) == 4

    # The same story again, every step on its own (no set-based handler).
    rerun_one_by_one(monkeypatch, (Delivery, TimelineEvent, Timer, EscalationRun, Incident))
    batch_calls.clear()
    one_by_one = story(checkout)
    assert batch_calls == []

    assert together == one_by_one


def test_two_steps_of_one_incident_in_a_batch_run_one_by_one_in_order(
    checkout: Service, batch_calls: list[int]
) -> None:
    with time_machine.travel(T0, tick=False):
        incident = incident_create(title="Down", severity="P1", service=checkout)
        other = incident_create(title="Also down", severity="P1", service=checkout)
        # A second step of the same incident due at once (as after a manual escalation).
        timer_schedule(
            kind=escalation.STEP,
            due_at=T0,
            incident_id=incident.pk,
            payload={"token": incident.escalation_token, "level": 1, "iteration": 0},
            key="extra",
        )
        assert run_timers(budget=10.0) == 3
    assert batch_calls == [3]  # tried together, refused, then one by one
    run = EscalationRun.objects.get(incident=incident)
    assert (run.level, run.iteration) == (1, 0)  # the later step read the first one's write
    kinds = list(incident.timeline.order_by("id").values_list("kind", flat=True))
    assert kinds == ["triggered", "paged", "escalated"]
    assert other.timeline.filter(kind="paged").count() == 1


def test_a_failing_batch_leaves_nothing_and_its_timers_run_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []

    def together(timers: list[Timer]) -> None:
        timer_schedule(kind="test.side_effect", key="written-by-the-failed-batch")
        raise RuntimeError("set-based bug")

    def alone(timer: Timer) -> None:
        if timer.payload["n"] == 2:
            raise RuntimeError("bad timer")
        seen.append(timer.payload["n"])

    monkeypatch.setitem(handlers.HANDLERS, "test.kind", alone)
    monkeypatch.setitem(handlers.BATCH_HANDLERS, "test.kind", together)
    with time_machine.travel(T0, tick=False):
        for n in range(4):
            timer_schedule(kind="test.kind", due_at=T0 - timedelta(seconds=4 - n), payload={"n": n})
        assert run_timers(budget=10.0) == 3
    assert seen == [0, 1, 3]
    assert not Timer.objects.filter(key="written-by-the-failed-batch").exists()
    failed = Timer.objects.get(kind="test.kind", done_at__isnull=True)
    assert failed.payload == {"n": 2} and failed.attempts == 1


def test_steps_claimed_between_other_timers_still_run_together(
    checkout: Service, batch_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a storm the claim order interleaves alert processing and steps (round robin)."""
    seen: list[int] = []
    monkeypatch.setitem(handlers.HANDLERS, "test.record", lambda t: seen.append(t.payload["n"]))
    with time_machine.travel(T0, tick=False):
        for n in range(3):
            incident_create(title=f"Down {n}", severity="P1", service=checkout)
            timer_schedule(kind="test.record", due_at=T0, payload={"n": n})
        assert run_timers(budget=10.0) == 6
    assert batch_calls == [3] and seen == [0, 1, 2]
    assert TimelineEvent.objects.filter(kind="paged").count() == 3


def test_a_batch_reads_the_policy_once_and_every_incident_gets_its_own_copy(
    django_assert_num_queries: Any,
) -> None:
    from tocsin.engine.memo import batch_memo
    from tocsin.incidents.policy import policy_snapshot_build

    with batch_memo():
        first = policy_snapshot_build()
        with django_assert_num_queries(0):
            second = policy_snapshot_build()
    assert first == second and first is not second
    first["severities"]["P9"] = {"name": "P9"}
    assert "P9" not in second["severities"]


def test_a_batch_claims_enough_to_run_set_based_even_when_timers_looked_slow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One slow timer must not shrink batches to one timer: a batch of one would run even the
    set-based kinds one by one, at their one-by-one cost, and keep the estimate high."""
    from tocsin.engine import worker

    sizes: list[int] = []
    monkeypatch.setitem(handlers.BATCH_HANDLERS, "test.kind", lambda ts: sizes.append(len(ts)))
    monkeypatch.setitem(handlers.HANDLERS, "test.kind", lambda t: sizes.append(1))
    monkeypatch.setattr(worker._cost, "seconds", 1.0)  # a second a timer, says the estimate
    with time_machine.travel(T0, tick=False):
        for n in range(worker.MIN_CLAIM):
            timer_schedule(kind="test.kind", due_at=T0, payload={"n": n})
        assert run_timers(budget=0.01, iteration=0.0) == worker.MIN_CLAIM
    assert sizes == [worker.MIN_CLAIM]


@pytest.mark.skipif(
    "not __import__('django.db').db.connection.vendor == 'sqlite'",
    reason="the write lock is shared with ingestion on SQLite only",
)
def test_while_ingestion_waits_for_the_lock_the_worker_pauses_between_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from tocsin.dbwrite import contention
    from tocsin.engine import worker

    def busy(timer: Timer) -> None:  # 2 ms of work
        until = time.perf_counter() + 0.002
        while time.perf_counter() < until:
            pass

    slept: list[float] = []
    monkeypatch.setitem(handlers.HANDLERS, "test.kind", busy)
    monkeypatch.setattr(worker.time, "sleep", slept.append)
    monkeypatch.setattr(contention, "at", time.monotonic())  # the last BEGIN had to wait
    with time_machine.travel(T0, tick=False):
        for n in range(3 * worker.MIN_CLAIM - 4):
            timer_schedule(kind="test.kind", due_at=T0, payload={"n": n})
        assert run_timers(limit=worker.MIN_CLAIM, budget=10.0, iteration=10.0) == 44
    # Three batches (16, 16, 12): a pause after each of the first two, long enough that the
    # batch's hold (>= 16 x 2 ms) is CONTENDED_SHARE of the time; none after the last (nothing
    # left to take).
    share = worker.CONTENDED_SHARE
    assert len(slept) == 2
    assert all(0.032 * (1 - share) / share <= s < 1.0 for s in slept), slept


def test_while_ingestion_waits_for_the_lock_batches_claim_fewer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Contended, a batch that looks slow claims CONTENDED_MIN_CLAIM timers, not MIN_CLAIM:
    it holds the write lock that ingestion waits for."""
    import time

    from tocsin.dbwrite import contention
    from tocsin.engine import worker

    sizes: list[int] = []
    monkeypatch.setitem(handlers.BATCH_HANDLERS, "test.kind", lambda ts: sizes.append(len(ts)))
    monkeypatch.setattr(worker._cost, "seconds", 1.0)
    monkeypatch.setattr(worker, "contended", lambda: True)
    monkeypatch.setattr(contention, "at", time.monotonic())
    monkeypatch.setattr(worker.time, "sleep", lambda seconds: None)
    with time_machine.travel(T0, tick=False):
        for n in range(worker.MIN_CLAIM):
            timer_schedule(kind="test.kind", due_at=T0, payload={"n": n})
        assert run_timers(budget=0.01, iteration=0.0) == worker.CONTENDED_MIN_CLAIM
    assert worker.CONTENDED_MIN_CLAIM < worker.MIN_CLAIM
    assert sizes == [worker.CONTENDED_MIN_CLAIM]
