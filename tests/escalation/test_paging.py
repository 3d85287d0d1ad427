"""Paging stories: primary first, secondary after the wait, nobody after an acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from tests.factories import person, policy, role, weekly_schedule
from tocsin.accounts.models import ContactMethod, User
from tocsin.alerts.models import Service
from tocsin.engine.models import Timer
from tocsin.engine.worker import run_once
from tocsin.escalation.services import escalation_step
from tocsin.incidents.models import Incident
from tocsin.incidents.services import incident_acknowledge, incident_create, incident_resolve
from tocsin.notifications.models import Delivery
from tocsin.notifications.transports import TRANSPORTS, TransportError

pytestmark = pytest.mark.django_db

# Tuesday 2026-11-24 03:00 New York: the fourth week of the rotations that started Monday
# 2026-11-02: primary (alice, bob, erin) is back to alice, secondary (bob, erin, alice) is bob.
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def team(db: None) -> dict[str, User]:
    people = {n: person(f"{n}@example.com") for n in ("alice", "bob", "erin", "carol")}
    weekly_schedule("Platform primary", [people["alice"], people["bob"], people["erin"]])
    weekly_schedule("Platform secondary", [people["bob"], people["erin"], people["alice"]])
    role("Engineering Manager", [people["carol"]])
    policy(
        "Platform default",
        [
            ([{"schedule": "Platform primary"}], 15 * 60),
            ([{"schedule": "Platform secondary"}], 15 * 60),
            ([{"role": "Engineering Manager"}], 0),
        ],
    )
    return people


@pytest.fixture
def checkout(team: dict[str, User]) -> Service:
    return Service.objects.create(name="Checkout API", escalation_policy="Platform default")


def recipients() -> list[str]:
    return [m.to[0] for m in mail.outbox]


def at(minutes: float) -> time_machine.travel:
    return time_machine.travel(T0 + timedelta(minutes=minutes), tick=False)


def test_the_primary_is_paged_at_once_and_the_secondary_after_15_minutes(
    checkout: Service,
) -> None:
    with at(0):
        incident = incident_create(title="Checkout down", severity="P1", service=checkout)
        run_once()
        assert recipients() == ["alice@example.com"]
    with at(14.9):
        run_once()
        assert recipients() == ["alice@example.com"]
    with at(15):
        run_once()
        assert recipients() == ["alice@example.com", "bob@example.com"]
    with at(30):
        run_once()
        assert recipients()[-1] == "carol@example.com"
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds == ["triggered", "paged", "escalated", "escalated"]


def test_an_acknowledgement_stops_paging(checkout: Service, team: dict[str, User]) -> None:
    with at(0):
        incident = incident_create(title="Checkout down", service=checkout)
        run_once()
    with at(5):
        incident_acknowledge(incident=incident, by=team["alice"])
    with at(15):
        run_once()
    with at(60):
        run_once()
    assert recipients() == ["alice@example.com"]
    assert not Timer.objects.filter(kind="escalation.step", done_at__isnull=True).exists()


def test_the_page_mail_carries_one_click_links_and_threads_per_incident(
    checkout: Service,
) -> None:
    with at(0):
        incident_create(title="Checkout down", severity="P1", service=checkout)
        run_once()
    page = mail.outbox[0]
    assert page.subject == "[Tocsin] #1 P1 Checkout down"
    assert "/act/" in page.body
    assert page.extra_headers["References"].startswith("<incident-")
    html = page.alternatives[0]  # type: ignore[attr-defined]
    assert "Acknowledge" in html[0]


def test_a_step_run_twice_after_a_crash_pages_nobody_twice(checkout: Service) -> None:
    with at(0):
        incident = incident_create(title="Checkout down", service=checkout)
        step = Timer.objects.get(kind="escalation.step")
        escalation_step(incident_id=incident.pk, payload=step.payload)
        escalation_step(incident_id=incident.pk, payload=step.payload)  # the re-run
        run_once()
    assert recipients() == ["alice@example.com"]
    assert Delivery.objects.count() == 1


def test_a_later_contact_rule_is_not_sent_once_acknowledged(team: dict[str, User]) -> None:
    dave = person(
        "dave@example.com",
        rules=[(0, "email", "dave@example.com"), (120, "email", "dave-sms@example.com")],
    )
    policy("Dave only", [([{"user": dave.email}], 0)])
    service = Service.objects.create(name="Search", escalation_policy="Dave only")
    with at(0):
        incident = incident_create(title="Search slow", service=service)
        run_once()
    with at(1):
        incident_acknowledge(incident=incident, by=dave)
    with at(3):
        run_once()
    assert recipients() == ["dave@example.com"]
    assert Delivery.objects.get(target="dave-sms@example.com").status == "cancelled"


def test_repeat_runs_the_levels_again(team: dict[str, User]) -> None:
    policy("Once more", [([{"user": "bob@example.com"}], 10 * 60)], repeat=1)
    service = Service.objects.create(name="Billing", escalation_policy="Once more")
    with at(0):
        incident_create(title="Billing down", service=service)
        run_once()
    with at(10):
        run_once()
    with at(30):
        run_once()
    assert recipients() == ["bob@example.com", "bob@example.com"]


def test_the_policy_is_snapshotted_when_the_incident_starts(checkout: Service) -> None:
    from tocsin.escalation.models import EscalationLevel

    with at(0):
        incident_create(title="Checkout down", service=checkout)
        run_once()
    EscalationLevel.objects.filter(position=1).update(targets=[{"role": "Engineering Manager"}])
    with at(15):
        run_once()
    assert recipients() == ["alice@example.com", "bob@example.com"]


def test_a_permanent_failure_marks_the_method_failing_and_falls_back(
    team: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    frank = person("frank@example.com", rules=[(0, "webhook", "https://hooks.example.com/f")])
    ContactMethod.objects.create(
        user=frank, name="mail", kind="email", target="frank@example.com", position=5
    )

    class Refusing:
        def send(self, target: str, message: object) -> None:
            raise TransportError("webhook answered 410", permanent=True)

    monkeypatch.setitem(TRANSPORTS, "webhook", Refusing())
    policy("Frank", [([{"user": frank.email}], 0)])
    service = Service.objects.create(name="Frank svc", escalation_policy="Frank")
    with at(0):
        incident = incident_create(title="x", service=service)
        run_once()
        run_once()
    hook = ContactMethod.objects.get(user=frank, kind="webhook")
    assert hook.status == ContactMethod.Status.FAILING
    assert "410" in hook.last_error
    assert recipients() == ["frank@example.com"]
    assert incident.timeline.filter(kind="notification_failed").exists()


def test_a_temporary_failure_is_retried_later(
    team: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    class Flaky:
        def send(self, target: str, message: object) -> None:
            calls.append(target)
            if len(calls) == 1:
                raise TransportError("SMTP: connection refused")
            mail.outbox.append(mail.EmailMessage(to=[target]))

    monkeypatch.setitem(TRANSPORTS, "email", Flaky())
    policy("Bob", [([{"user": "bob@example.com"}], 0)])
    service = Service.objects.create(name="Bob svc", escalation_policy="Bob")
    with at(0):
        incident_create(title="x", service=service)
        run_once()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    with at(1):
        run_once()
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert calls == ["bob@example.com", "bob@example.com"]


def test_resolving_stops_everything(checkout: Service) -> None:
    with at(0):
        incident = incident_create(title="Checkout down", service=checkout)
        run_once()
        incident_resolve(incident=incident)
    with at(60):
        run_once()
    assert recipients() == ["alice@example.com"]
    assert Incident.objects.get().status == "resolved"


def test_an_acknowledgement_that_times_out_pages_again(team: dict[str, User]) -> None:
    p = policy("Timeout", [([{"user": "bob@example.com"}], 0)])
    p.ack_timeout_seconds = 30 * 60
    p.save()
    service = Service.objects.create(name="Timeout svc", escalation_policy="Timeout")
    with at(0):
        incident = incident_create(title="Disk filling", service=service)
        run_once()
    with at(5):
        incident_acknowledge(incident=incident, by=team["bob"])
    with at(34.9):
        run_once()
    assert recipients() == ["bob@example.com"]
    with at(35):
        run_once()
        run_once()
    incident.refresh_from_db()
    assert incident.status == "triggered"
    assert incident.timeline.filter(kind="unacknowledged").exists()
    assert recipients() == ["bob@example.com", "bob@example.com"]


def test_moving_an_incident_on_stops_the_acknowledgement_timeout(team: dict[str, User]) -> None:
    from tocsin.incidents.services import incident_set_phase

    p = policy("Timeout", [([{"user": "bob@example.com"}], 0)])
    p.ack_timeout_seconds = 30 * 60
    p.save()
    service = Service.objects.create(name="Timeout svc", escalation_policy="Timeout")
    with at(0):
        incident = incident_create(title="Disk filling", service=service)
        run_once()
    with at(5):
        incident = incident_acknowledge(incident=incident, by=team["bob"])
        incident_set_phase(incident=incident, status="investigating")
    with at(40):
        run_once()
    incident.refresh_from_db()
    assert incident.status == "investigating"
    assert recipients() == ["bob@example.com"]
