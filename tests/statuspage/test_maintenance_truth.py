"""Maintenance windows against what else is true: open outages, other windows, incidents they
silenced, windows planned in the admin, windows given in a local time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from tests.factories import person, policy, weekly_schedule
from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.engine.models import Timer
from tocsin.engine.worker import run_once
from tocsin.escalation.models import EscalationRun
from tocsin.incidents.services import incident_acknowledge, incident_create
from tocsin.notifications.models import Delivery
from tocsin.statuspage.models import (
    Component,
    ComponentStatus,
    Notice,
    ScheduledMaintenance,
    Subscriber,
)
from tocsin.statuspage.services import (
    maintenance_complete,
    maintenance_schedule,
    public_incident_create,
    public_incident_update,
)

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)  # the window: 22:00-23:00 UTC


def at(minutes: float) -> time_machine.travel:
    return time_machine.travel(T0 + timedelta(minutes=minutes), tick=False)


def status(component: Component) -> str:
    component.refresh_from_db()
    return component.status


@pytest.fixture
def checkout(db: None) -> Service:
    alice = person("alice@example.com")
    weekly_schedule("Primary", [alice], tz="UTC", start=date(2026, 3, 2))
    policy("Default", [([{"schedule": "Primary"}], 600)])
    return Service.objects.create(name="Checkout API", escalation_policy="Default")


def window(
    name: str, start: float, end: float, *, components: list[Component], **kw: Any
) -> ScheduledMaintenance:
    with at(-120):
        return maintenance_schedule(
            name=name,
            scheduled_for=T0 + timedelta(minutes=start),
            scheduled_until=T0 + timedelta(minutes=end),
            components=components,
            **kw,
        )


# ---- a component's status is what is true now --------------------------------------------


def test_an_outage_open_across_the_window_shows_before_during_and_after_it(
    components: dict[str, Component],
) -> None:
    api = components["API"]
    window("DB upgrade", 0, 60, components=[api])
    with at(-10):
        public = public_incident_create(
            name="API errors",
            body="Investigating",
            impact="critical",
            components={api: ComponentStatus.MAJOR_OUTAGE},
        )
    with at(0):
        run_once()
    assert status(api) == ComponentStatus.MAJOR_OUTAGE  # worse than maintenance
    with at(60):
        run_once()
    assert status(api) == ComponentStatus.MAJOR_OUTAGE  # the outage is not over
    with at(90):
        public_incident_update(public_incident=public, status="resolved", body="Fixed")
    assert status(api) == ComponentStatus.OPERATIONAL


def test_resolving_an_incident_during_a_window_leaves_the_component_under_maintenance(
    components: dict[str, Component],
) -> None:
    api = components["API"]
    window("DB upgrade", 0, 60, components=[api])
    with at(0):
        run_once()
    with at(10):
        public = public_incident_create(
            name="API slow",
            body="Investigating",
            components={api: ComponentStatus.DEGRADED_PERFORMANCE},
        )
    assert status(api) == ComponentStatus.DEGRADED_PERFORMANCE
    with at(20):
        public_incident_update(public_incident=public, status="resolved", body="Fixed")
    assert status(api) == ComponentStatus.UNDER_MAINTENANCE
    with at(60):
        run_once()
    assert status(api) == ComponentStatus.OPERATIONAL


def test_the_worst_of_two_open_incidents_shows(components: dict[str, Component]) -> None:
    api = components["API"]
    with at(0):
        major = public_incident_create(
            name="API down", body="x", components={api: ComponentStatus.MAJOR_OUTAGE}
        )
        public_incident_create(
            name="API slow", body="x", components={api: ComponentStatus.DEGRADED_PERFORMANCE}
        )
    assert status(api) == ComponentStatus.MAJOR_OUTAGE
    with at(5):
        public_incident_update(public_incident=major, status="resolved", body="Back")
    assert status(api) == ComponentStatus.DEGRADED_PERFORMANCE


def test_the_first_of_overlapping_windows_to_end_does_not_end_the_second(
    components: dict[str, Component],
) -> None:
    api = components["API"]
    window("A", 0, 60, components=[api])
    b = window("B", 30, 120, components=[api])
    for minute in (0, 30, 60):
        with at(minute):
            run_once()
    b.refresh_from_db()
    assert b.status == "in_progress"
    assert status(api) == ComponentStatus.UNDER_MAINTENANCE
    with at(120):
        run_once()
    assert status(api) == ComponentStatus.OPERATIONAL


# ---- incidents silenced by a window page once it ends -------------------------------------


def test_an_incident_silenced_by_the_window_pages_once_when_it_ends(
    components: dict[str, Component], checkout: Service
) -> None:
    m = window("DB upgrade", 0, 60, components=[], services=[checkout])
    with at(0):
        run_once()
    with at(10):
        silenced = incident_create(title="DB errors", severity="P1", service=checkout)
        handled = incident_create(title="Disk full", severity="P1", service=checkout)
        run_once()
        incident_acknowledge(incident=handled)
    assert Delivery.objects.count() == 0
    with at(60):
        run_once()
    with at(61):
        run_once()
    assert Delivery.objects.filter(incident=silenced).count() == 1
    assert silenced.timeline.filter(kind="paging_resumed").count() == 1
    # never twice: completing the window again, or resuming its incidents again, pages nobody
    from tocsin.escalation.services import escalation_after_maintenance

    with at(62):
        m.refresh_from_db()
        assert maintenance_complete(maintenance=m) is False
        assert escalation_after_maintenance(maintenance_id=m.pk) == []
        run_once()
    assert Delivery.objects.filter(incident=silenced).count() == 1
    assert EscalationRun.objects.filter(incident=silenced).count() == 1
    assert Delivery.objects.filter(incident=handled).count() == 0  # someone is on it


# ---- the admin plans the window's timers --------------------------------------------------


def _admin_form(components: dict[str, Component], start: str, end: str) -> dict[str, Any]:
    return {
        "name": "DB upgrade",
        "status": "scheduled",
        "impact": "maintenance",
        "scheduled_for_0": "2026-03-10", "scheduled_for_1": start,
        "scheduled_until_0": "2026-03-10", "scheduled_until_1": end,
        "created_at_0": "2026-03-10", "created_at_1": "20:00:00",
        "updated_at_0": "2026-03-10", "updated_at_1": "20:00:00",
        "components": [components["API"].pk],
        "updates-TOTAL_FORMS": "0", "updates-INITIAL_FORMS": "0",
        "updates-MIN_NUM_FORMS": "0", "updates-MAX_NUM_FORMS": "1000",
    }  # fmt: skip


def test_a_window_added_then_moved_in_the_admin_starts_and_ends_at_its_new_times(
    components: dict[str, Component], client: Client
) -> None:
    client.force_login(User.objects.create_superuser(email="root@example.com", password="x-p-1"))
    with at(-120):
        response = client.post(
            "/admin/statuspage/scheduledmaintenance/add/",
            _admin_form(components, "22:00:00", "23:00:00"),
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        m = ScheduledMaintenance.objects.get()
        response = client.post(
            f"/admin/statuspage/scheduledmaintenance/{m.pk}/change/",
            _admin_form(components, "22:30:00", "23:30:00"),
        )
        assert response.status_code == 302, response.content.decode()[:2000]
    pending = Timer.objects.filter(payload__maintenance=m.pk, done_at__isnull=True)
    assert sorted(t.due_at for t in pending) == [
        T0 + timedelta(minutes=30),
        T0 + timedelta(minutes=90),
    ]
    with at(1):
        run_once()
    m.refresh_from_db()
    assert m.status == "scheduled"  # not at the old time
    with at(31):
        run_once()
    m.refresh_from_db()
    assert m.status == "in_progress"
    assert status(components["API"]) == ComponentStatus.UNDER_MAINTENANCE
    with at(91):
        run_once()
    m.refresh_from_db()
    assert m.status == "completed"


# ---- times in a local zone ----------------------------------------------------------------


def test_a_window_given_in_a_local_zone_is_announced_in_utc_and_runs_on_time(
    components: dict[str, Component],
) -> None:
    ny = ZoneInfo("America/New_York")
    Subscriber.objects.create(email="carol@example.org", confirmed_at=T0 - timedelta(days=1))
    with at(-120):
        m = maintenance_schedule(
            name="DB upgrade",
            scheduled_for=datetime(2026, 3, 10, 18, 0, tzinfo=ny),  # 22:00 UTC (EDT)
            scheduled_until=datetime(2026, 3, 10, 19, 0, tzinfo=ny),
            components=[components["API"]],
        )
    assert m.updates.get().body == (
        "Maintenance scheduled from 2026-03-10 22:00 UTC until 2026-03-10 23:00 UTC."
    )
    notice = Notice.objects.get(kind="maintenance")
    assert "Window: 2026-03-10 22:00 - 2026-03-10 23:00 UTC" in notice.text
    with at(0):
        run_once()
    m.refresh_from_db()
    assert m.status == "in_progress"
