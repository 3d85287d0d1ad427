"""An alert storm must not become a paging storm: bundle per person, rate-limit, drop nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail

from tests.factories import person, policy
from tocsin.alerts.models import Service
from tocsin.engine import worker
from tocsin.engine.worker import run_once
from tocsin.incidents.services import incident_create
from tocsin.notifications.models import Delivery
from tocsin.notifications.sender import RATE_PER_MINUTE

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # Saturday 03:00 in New York


@pytest.fixture(autouse=True)
def _steps_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every due step runs before the deliveries go out, however slow the machine is today.

    (The worker sends what its steps made at least every ``ITERATION_SECONDS``; these tests are
    about bundling what is due together, not about that bound.)
    """
    monkeypatch.setattr(worker, "ITERATION_SECONDS", 60.0)


@pytest.fixture
def noisy(db: None) -> Service:
    person("bob@example.com")
    policy("Bob", [([{"user": "bob@example.com"}], 0)])
    return Service.objects.create(name="Noisy", escalation_policy="Bob")


def test_thirty_incidents_at_once_reach_bob_as_one_message(noisy: Service) -> None:
    with time_machine.travel(T0, tick=False):
        for n in range(30):
            incident_create(title=f"disk {n} full", service=noisy)
        run_once()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("[Tocsin] 30 incidents need you")
    assert "#30" in mail.outbox[0].body
    deliveries = Delivery.objects.all()
    assert deliveries.count() == 30
    assert {d.status for d in deliveries} == {"sent"}
    assert deliveries.filter(bundled_into__isnull=False).count() == 29


def test_after_the_rate_limit_the_rest_wait_and_come_as_one_message(noisy: Service) -> None:
    for second in range(RATE_PER_MINUTE + 3):
        with time_machine.travel(T0 + timedelta(seconds=second), tick=False):
            incident_create(title=f"blip {second}", service=noisy)
            run_once()
    assert len(mail.outbox) == RATE_PER_MINUTE
    waiting = Delivery.objects.filter(status="pending")
    assert waiting.count() == 3
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        run_once()
    assert len(mail.outbox) == RATE_PER_MINUTE + 1
    assert mail.outbox[-1].subject.startswith("[Tocsin] 3 incidents need you")
    assert not Delivery.objects.filter(status="pending").exists()


def test_one_pass_postpones_everything_due_for_a_rate_limited_person(
    noisy: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.notifications import sender

    monkeypatch.setattr(sender, "PER_DESTINATION", 5)  # more are due than one message carries
    for second in range(RATE_PER_MINUTE):
        with time_machine.travel(T0 + timedelta(seconds=second), tick=False):
            incident_create(title=f"blip {second}", service=noisy)
            run_once()
    assert len(mail.outbox) == RATE_PER_MINUTE  # Bob had his fill this minute
    later = T0 + timedelta(seconds=RATE_PER_MINUTE + 1)
    with time_machine.travel(later, tick=False):
        for n in range(8):
            incident_create(title=f"disk {n} full", service=noisy)
        worker.run_timers()
        assert sender.deliveries_send_due() == 0
        waiting = Delivery.objects.filter(status="pending")
        assert waiting.count() == 8
        assert not waiting.filter(due_at__lte=later).exists()  # all wait, none left due
        assert {d.due_at for d in waiting} == {T0 + sender.WINDOW}  # the first message + 1 min
    # At most POSTPONE_PER_PASS a pass: the rest are still due, and the next pass takes them.
    Delivery.objects.update(due_at=later)
    monkeypatch.setattr(sender, "POSTPONE_PER_PASS", 6)
    with time_machine.travel(later, tick=False):
        sender.deliveries_send_due()
        assert Delivery.objects.filter(status="pending", due_at__lte=later).count() == 2
        sender.deliveries_send_due()
        assert not Delivery.objects.filter(status="pending", due_at__lte=later).exists()
    with time_machine.travel(T0 + sender.WINDOW + timedelta(seconds=1), tick=False):
        run_once()  # room for one message again: a bundle of five; the other three wait
    assert len(mail.outbox) == RATE_PER_MINUTE + 1
    assert mail.outbox[-1].subject.startswith("[Tocsin] 5 incidents need you")
    assert Delivery.objects.filter(status="pending").count() == 3


def test_a_bundle_leaves_out_incidents_acknowledged_meanwhile(db: None) -> None:
    from tocsin.incidents.services import incident_acknowledge

    person("dave@example.com", rules=[(120, "email", "dave@example.com")])  # mail after 2 min
    policy("Dave", [([{"user": "dave@example.com"}], 0)])
    service = Service.objects.create(name="Slow", escalation_policy="Dave")
    with time_machine.travel(T0, tick=False):
        first = incident_create(title="a", service=service)
        incident_create(title="b", service=service)
        incident_create(title="c", service=service)
        run_once()  # plans the three pages for T0 + 2 min
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        incident_acknowledge(incident=first)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        run_once()
    assert len(mail.outbox) == 1
    assert "2 incidents" in mail.outbox[0].subject
    assert Delivery.objects.filter(status="cancelled").count() == 1


def test_a_storm_to_some_people_does_not_hold_back_a_page_to_another(noisy: Service) -> None:
    from tocsin.notifications.sender import deliveries_send_due

    person("carol@example.com")
    policy("Carol", [([{"user": "carol@example.com"}], 0)])
    quiet = Service.objects.create(name="Quiet", escalation_policy="Carol")
    with time_machine.travel(T0, tick=False):
        for n in range(5):
            incident_create(title=f"disk {n} full", service=noisy)
        incident_create(title="checkout down", service=quiet)
        worker.run_timers()
        # Room for two deliveries only: still one message each, Carol's included.
        assert deliveries_send_due(limit=2) == 6
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.com", "carol@example.com"]


def test_a_bundle_is_claimed_at_once_and_skips_what_another_worker_took(
    noisy: Service, django_assert_max_num_queries: Any
) -> None:
    from tocsin.notifications import sender

    with time_machine.travel(T0, tick=False):
        for n in range(20):
            incident_create(title=f"disk {n} full", service=noisy)
        worker.run_timers()
        loaded = list(Delivery.objects.select_related("incident").order_by("id"))
        # Another worker claimed one of them in between (its lease moved it out of reach).
        taken = loaded[5]
        Delivery.objects.filter(pk=taken.pk).update(attempts=1, due_at=T0 + sender.LEASE)
        # One claim for the whole bundle, and one read of its incidents' status as of now.
        with django_assert_max_num_queries(2):
            wanted = sender._claim_group(loaded, T0)
    assert [d.pk for d in wanted] == [d.pk for d in loaded if d.pk != taken.pk]
    assert all(d.attempts == 1 for d in wanted)
    rows = Delivery.objects.exclude(pk=taken.pk)
    assert set(rows.values_list("attempts", "due_at")) == {(1, T0 + sender.LEASE)}
    # The outcome is recorded on ours only, fenced by the attempt each claim counted.
    Delivery.objects.filter(pk=taken.pk).update(attempts=2)
    with time_machine.travel(T0, tick=False):
        assert sender._record(wanted, T0) == 19
    assert Delivery.objects.filter(status="sent").count() == 19
    assert Delivery.objects.get(pk=taken.pk).status == "pending"
