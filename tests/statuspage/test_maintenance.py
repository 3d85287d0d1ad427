"""Maintenance windows: started and ended by the worker, paging silenced, subscribers told."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client

from tests.factories import person, policy, weekly_schedule
from tocsin.alerts.models import Service
from tocsin.engine.worker import run_once
from tocsin.escalation.services import escalation_start
from tocsin.incidents.services import incident_create
from tocsin.notifications.models import Delivery
from tocsin.statuspage.models import Component, ScheduledMaintenance, Subscriber
from tocsin.statuspage.selectors import maintenance_silencing
from tocsin.statuspage.services import maintenance_schedule

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)  # the window: 22:00-23:00 UTC


def at(minutes: float) -> time_machine.travel:
    return time_machine.travel(T0 + timedelta(minutes=minutes), tick=False)


@pytest.fixture
def checkout(db: None) -> Service:
    alice = person("alice@example.com")
    weekly_schedule("Primary", [alice], tz="UTC", start=date(2026, 3, 2))
    policy("Default", [([{"schedule": "Primary"}], 600)])
    return Service.objects.create(name="Checkout API", escalation_policy="Default")


@pytest.fixture
def window(components: dict[str, Component], checkout: Service) -> ScheduledMaintenance:
    Subscriber.objects.create(email="carol@example.org", confirmed_at=T0 - timedelta(days=1))
    with at(-120):
        return maintenance_schedule(
            name="Database upgrade",
            scheduled_for=T0,
            scheduled_until=T0 + timedelta(hours=1),
            components=[components["API"]],
            services=[checkout],
        )


def worker(captured: Any) -> None:
    with captured(execute=True):
        run_once()


def test_the_worker_starts_and_ends_the_window_on_time(
    window: ScheduledMaintenance, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with at(-1):
        worker(django_capture_on_commit_callbacks)
        window.refresh_from_db()
        assert window.status == "scheduled"
        upcoming = client.get("/status/api/v2/scheduled-maintenances/upcoming.json").json()
        assert [m["name"] for m in upcoming["scheduled_maintenances"]] == ["Database upgrade"]
    with at(0):
        worker(django_capture_on_commit_callbacks)
        window.refresh_from_db()
        assert window.status == "in_progress"
        summary = client.get("/status/api/v2/summary.json").json()
        assert summary["status"]["indicator"] == "maintenance"
        api = next(c for c in summary["components"] if c["name"] == "API")
        assert api["status"] == "under_maintenance"
        active = client.get("/status/api/v2/scheduled-maintenances/active.json").json()
        assert active["scheduled_maintenances"][0]["status"] == "in_progress"
        assert active["scheduled_maintenances"][0]["scheduled_for"] == "2026-03-10T22:00:00.000Z"
        assert "Maintenance in progress" in client.get("/status/").content.decode()
    with at(60):
        worker(django_capture_on_commit_callbacks)
        window.refresh_from_db()
        assert window.status == "completed"
        summary = client.get("/status/api/v2/summary.json").json()
        assert summary["status"]["indicator"] == "none"
        assert summary["scheduled_maintenances"] == []
    subjects = [m.subject for m in mail.outbox]
    assert subjects == [
        "[Maintenance scheduled] Database upgrade",
        "[Maintenance started] Database upgrade",
        "[Maintenance completed] Database upgrade",
    ]
    assert all(m.to == ["carol@example.org"] for m in mail.outbox)


def test_alerts_of_a_silenced_service_open_an_incident_but_page_nobody(
    window: ScheduledMaintenance, checkout: Service, django_capture_on_commit_callbacks: Any
) -> None:
    with at(0):
        worker(django_capture_on_commit_callbacks)
    with at(5):
        incident = incident_create(title="DB errors", severity="P1", service=checkout)
        worker(django_capture_on_commit_callbacks)
    assert Delivery.objects.count() == 0
    event = incident.timeline.get(kind="paging_silenced")
    assert "Database upgrade" in event.message
    assert event.data == {"maintenance": window.public_id}


def test_paging_resumes_after_the_window(
    window: ScheduledMaintenance, checkout: Service, django_capture_on_commit_callbacks: Any
) -> None:
    with at(61):
        worker(django_capture_on_commit_callbacks)
        incident = incident_create(title="DB errors again", severity="P1", service=checkout)
        worker(django_capture_on_commit_callbacks)
    assert not incident.timeline.filter(kind="paging_silenced").exists()
    assert Delivery.objects.filter(incident=incident).count() == 1


def test_a_late_worker_still_silences_inside_the_announced_window(
    window: ScheduledMaintenance, checkout: Service
) -> None:
    assert window.status == "scheduled"
    assert maintenance_silencing(service=checkout, at=T0 + timedelta(minutes=1)) == window
    assert maintenance_silencing(service=checkout, at=T0 - timedelta(minutes=1)) is None
    other = Service.objects.create(name="Search")
    assert maintenance_silencing(service=other, at=T0 + timedelta(minutes=1)) is None


def test_escalation_start_returns_none_when_silenced(
    window: ScheduledMaintenance, checkout: Service
) -> None:
    with at(10):
        incident = incident_create(title="x", severity="P1", service=checkout)
        incident.timeline.filter(kind="paging_silenced").delete()
        assert escalation_start(incident=incident) is None
        assert incident.timeline.filter(kind="paging_silenced").count() == 1


def test_a_rescheduled_window_ignores_its_old_timers(
    window: ScheduledMaintenance, django_capture_on_commit_callbacks: Any
) -> None:
    window.scheduled_for = T0 + timedelta(hours=2)
    window.scheduled_until = T0 + timedelta(hours=3)
    window.save(update_fields=["scheduled_for", "scheduled_until"])
    with at(0):
        worker(django_capture_on_commit_callbacks)
    window.refresh_from_db()
    assert window.status == "scheduled"
