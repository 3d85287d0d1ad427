"""The policy's clocks after a reopen, a severity change and a second resolve: they run again
where they should, and what already acted (a breach, a stakeholder notice) does not act twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.incidents.test_policy_runtime import T0, at, checkout, start
from tocsin.alerts.models import Service
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident
from tocsin.incidents.services import (
    checklist_check,
    incident_acknowledge,
    incident_create,
    incident_reopen,
    incident_resolve,
    incident_set_severity,
)

pytestmark = pytest.mark.django_db
__all__ = ["checkout"]  # the shared example's Checkout API (tests/incidents/test_policy_runtime.py)


def test_reopened_incident_gets_update_reminders_again(checkout: Service) -> None:
    incident = start(checkout)
    for item in incident.checklist.all():
        checklist_check(item=item, by=None)
    with at(10):
        incident = incident_resolve(incident=incident)
    with at(15):
        run_once()  # the 15m reminder: incident resolved, nothing
    with at(20):
        incident = incident_reopen(incident=incident, message="errors are back")
        run_once()
    for minute in (35, 50, 65, 80):
        with at(minute):
            run_once()
    incident.refresh_from_db()
    assert incident.is_open
    # P1 update_every 15m: an open, reopened incident with no update for an hour must be reminded
    assert incident.timeline.filter(kind="update_due").count() >= 1
    assert incident.next_update_due is not None and incident.next_update_due > T0 + timedelta(
        minutes=20
    )


def test_reopened_incident_can_breach_its_resolution_target(checkout: Service) -> None:
    incident = start(checkout)
    with at(1):
        incident_acknowledge(incident=incident)
    for item in incident.checklist.all():
        checklist_check(item=item, by=None)
    with at(10):
        incident = incident_resolve(incident=incident)
    with at(20):
        incident = incident_reopen(incident=incident, message="errors are back")
    for minute in (30, 61, 120, 180):
        with at(minute):
            run_once()
    incident.refresh_from_db()
    assert incident.is_open
    # resolve_within 1h: still unresolved 3h after the start -> a resolution breach
    assert "resolve_within" in incident.breaches


def test_re_resolving_after_reopen_moves_the_postmortem_reminder(checkout: Service) -> None:
    incident = start(checkout)
    for item in incident.checklist.all():
        checklist_check(item=item, by=None)
    with at(10):
        incident = incident_resolve(incident=incident)
    first_due = Incident.objects.get(pk=incident.pk).postmortem_due_at
    with at(20):
        incident = incident_reopen(incident=incident)
    with at(3 * 24 * 60):  # resolved again three days later (Tuesday 03:00 New York)
        incident = incident_resolve(incident=incident)
    incident.refresh_from_db()
    assert first_due is not None and incident.postmortem_due_at is not None
    assert incident.postmortem_due_at > first_due
    with time_machine.travel(first_due + timedelta(minutes=1), tick=False):
        run_once()  # the first resolve's due time: moot now
    assert not incident.timeline.filter(kind="postmortem_due").exists()
    with time_machine.travel(incident.postmortem_due_at + timedelta(minutes=1), tick=False):
        run_once()
    assert incident.timeline.filter(kind="postmortem_due").count() == 1


def test_severity_change_does_not_burst_update_reminders(checkout: Service) -> None:
    incident = start(checkout)  # P1: update every 15m
    for minute in (15, 30, 45, 60, 75, 90):
        with at(minute):
            run_once()
    before = incident.timeline.filter(kind="update_due").count()
    assert before == 6
    with at(95):
        incident_set_severity(incident=incident, severity="P2")  # update every 30m
        run_once()
        run_once()
        run_once()
    after = incident.timeline.filter(kind="update_due").count()
    # One reminder at the change (overdue under P2 too), not one per missed period since the start.
    assert after - before == 1


def test_breach_notice_once_when_severity_bounces(checkout: Service) -> None:
    incident = start(checkout)
    with at(5):
        run_once()  # P1 respond_within 5m breached
    with at(6):
        incident_set_severity(incident=incident, severity="P2")
        run_once()
    with at(7):
        incident_set_severity(incident=incident, severity="P1")
        run_once()
    incident.refresh_from_db()
    assert incident.breaches.count("respond_within") == 1, incident.breaches
    assert incident.timeline.filter(kind="breach", new="severities[P1].respond_within").count() == 1


def test_reopen_after_the_resolution_target_passed_still_breaches(checkout: Service) -> None:
    incident = start(checkout)
    with at(1):
        incident_acknowledge(incident=incident)
    for item in incident.checklist.all():
        checklist_check(item=item, by=None)
    with at(10):
        incident = incident_resolve(incident=incident)
    with at(61):
        run_once()  # resolve_within (1h) passes while resolved: nothing, correctly
    with at(70):
        incident = incident_reopen(incident=incident, message="errors are back")
    for minute in (80, 120, 240):
        with at(minute):
            run_once()
    incident.refresh_from_db()
    assert incident.is_open
    assert "resolve_within" in incident.breaches, incident.breaches


def test_close_after_reopen_needs_fresh_stable_monitoring(checkout: Service) -> None:
    from tocsin.incidents.services import IncidentError, incident_close, incident_set_phase

    incident = start(checkout)
    snapshot = incident.policy_snapshot
    snapshot["severities"]["P1"]["close_requires"] = {"monitoring_for": "24h"}
    Incident.objects.filter(pk=incident.pk).update(policy_snapshot=snapshot)
    incident.refresh_from_db()
    for item in incident.checklist.all():
        checklist_check(item=item, by=None)
    with at(30):
        incident = incident_set_phase(incident=incident, status="monitoring")
    with at(60):
        incident = incident_resolve(incident=incident)
    day = 24 * 60
    with at(2 * day):
        incident = incident_reopen(incident=incident, message="the fix did not hold")
    with at(2 * day + 60):
        incident = incident_set_phase(incident=incident, status="monitoring")
    with at(2 * day + 90):
        incident = incident_resolve(incident=incident)
        # only 30 minutes of monitoring since the new fix: closing must be refused
        with pytest.raises(IncidentError, match="stable for 24h"):
            incident_close(incident=incident)


def test_postmortem_reminder_survives_a_severity_change_after_resolution(
    checkout: Service,
) -> None:
    incident = start(checkout)
    for item in incident.checklist.all():
        checklist_check(item=item, by=None)
    with at(45):
        incident = incident_resolve(incident=incident)
    with at(60):
        incident_set_severity(incident=incident, severity="P2")  # reclassified in review
    incident.refresh_from_db()
    assert incident.postmortem_due_at is not None
    with time_machine.travel(incident.postmortem_due_at + timedelta(minutes=1), tick=False):
        run_once()
    assert incident.timeline.filter(kind="postmortem_due").count() == 1


def test_matrix_notice_not_repeated_when_severity_bounces(checkout: Service) -> None:
    incident = start(checkout)  # P1 matrix[0] at 0m: primary + secondary
    with at(6):
        incident_set_severity(incident=incident, severity="P2")
        run_once()
    with at(7):
        incident_set_severity(incident=incident, severity="P1")
        run_once()
    fired = list(incident.timeline.filter(kind="stakeholders_added").values_list("new", flat=True))
    assert fired.count("severities[P1].escalation_matrix[0]") == 1, fired


def test_the_matrix_notifies_nobody_during_a_maintenance_window(db: None) -> None:
    from datetime import date

    from tests.factories import person, policy, weekly_schedule
    from tocsin.notifications.models import Delivery
    from tocsin.policy.models import Severity
    from tocsin.statuspage.services import maintenance_schedule

    start_at = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)
    alice = person("alice@example.com")
    weekly_schedule("Primary", [alice], tz="UTC", start=date(2026, 3, 2))
    policy("Default", [([{"schedule": "Primary"}], 600)])
    service = Service.objects.create(name="Checkout API", escalation_policy="Default")
    Severity.objects.create(
        name="P1",
        spec={
            "name": "P1",
            "escalation_matrix": [{"after": "0m", "notify": [{"schedule": "Primary"}]}],
        },
    )
    with time_machine.travel(start_at - timedelta(hours=2), tick=False):
        maintenance_schedule(
            name="DB upgrade",
            scheduled_for=start_at,
            scheduled_until=start_at + timedelta(hours=1),
            services=[service],
        )
    with time_machine.travel(start_at + timedelta(minutes=5), tick=False):
        run_once()
        incident = incident_create(title="DB errors", severity="P1", service=service)
        run_once()
        run_once()
    # The window silences the escalation and the matrix alike; the timeline says so.
    assert not Delivery.objects.filter(incident=incident).exists()
    (added,) = incident.timeline.filter(kind="stakeholders_added")
    assert "not notified: paging silenced by maintenance 'DB upgrade'" in added.message
