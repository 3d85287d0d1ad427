"""The policy runs on a live incident: matrix after acknowledgement, breaches, reminders,
deadlines, checklist gates, severity re-planning and the post-mortem due date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from tests.conftest import SHARED
from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident
from tocsin.incidents.services import (
    IncidentError,
    checklist_check,
    checklist_waive,
    incident_acknowledge,
    incident_assign_role,
    incident_close,
    incident_create,
    incident_post_update,
    incident_resolve,
    incident_set_phase,
    incident_set_severity,
)

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # Saturday 03:00 New York


@pytest.fixture
def checkout(db: None) -> Service:
    call_command("config_apply", str(SHARED / "examples" / "tocsin.yaml"))
    return Service.objects.get(name="Checkout API")


def at(minutes: float) -> time_machine.travel:
    return time_machine.travel(T0 + timedelta(minutes=minutes), tick=False)


def events(incident: Incident, kind: str) -> list[str]:
    return list(incident.timeline.filter(kind=kind).values_list("new", flat=True))


def start(service: Service, severity: str = "P1") -> Incident:
    with at(0):
        incident = incident_create(title="Checkout down", severity=severity, service=service)
        run_once()
    return incident


def test_the_commander_is_proposed_from_the_commander_schedule(checkout: Service) -> None:
    incident = start(checkout)
    commander = incident.roles.get(role="commander")
    assert commander.user.email == "dave@example.com"  # week 4: carol, dave -> dave
    assert incident.timeline.filter(kind="role_assigned").exists()


def test_an_unacknowledged_p1_breaches_its_response_target_at_5_minutes(
    checkout: Service,
) -> None:
    incident = start(checkout)
    with at(4.9):
        run_once()
    assert events(incident, "breach") == []
    with at(5):
        run_once()
    assert events(incident, "breach") == ["severities[P1].respond_within"]
    incident.refresh_from_db()
    assert incident.breaches == ["respond_within"]


def test_acknowledged_in_time_means_no_breach_but_the_matrix_keeps_running(
    checkout: Service,
) -> None:
    incident = start(checkout)
    with at(3):
        incident_acknowledge(incident=incident, by=User.objects.get(email="alice@example.com"))
    for minute in (5, 15, 30):
        with at(minute):
            run_once()
    assert events(incident, "breach") == []
    added = events(incident, "stakeholders_added")
    assert added == ["severities[P1].escalation_matrix[0]", "severities[P1].escalation_matrix[1]"]
    assert "carol@example.com" in [m.to[0] for m in mail.outbox]  # the Engineering Manager


def test_update_reminders_follow_the_cadence_and_reset_on_an_update(checkout: Service) -> None:
    incident = start(checkout)
    with at(15):
        run_once()
    assert incident.timeline.filter(kind="update_due").count() == 1
    with at(20):
        incident_post_update(incident=incident, body="Rolling back the 02:40 deploy")
    with at(30):
        run_once()  # the 30-minute reminder is void: an update was posted at 20
    assert incident.timeline.filter(kind="update_due").count() == 1
    with at(35):
        run_once()
    assert incident.timeline.filter(kind="update_due").count() == 2
    incident.refresh_from_db()
    assert incident.next_update_due == T0 + timedelta(minutes=50)


def test_named_deadlines_remind_the_commander(checkout: Service) -> None:
    incident = start(checkout)
    with at(15):
        run_once()
    (event,) = incident.timeline.filter(kind="deadline")
    assert "Rollback decision" in event.message
    assert "Dave Kim" in event.message


def test_resolve_is_refused_until_the_required_checklist_is_done(checkout: Service) -> None:
    incident = start(checkout)
    alice = User.objects.get(email="alice@example.com")
    with pytest.raises(IncidentError, match="resolution-immediate"):
        incident_resolve(incident=incident, by=alice)
    items = list(incident.checklist.filter(checklist="resolution-immediate"))
    checklist_check(item=items[0], by=alice)
    checklist_check(item=items[1], by=alice)
    with pytest.raises(IncidentError, match="reason"):
        checklist_waive(item=items[2], by=alice, reason=" ")
    checklist_waive(item=items[2], by=alice, reason="latency dashboards down, checked by hand")
    assert incident_resolve(incident=incident, by=alice).status == "resolved"
    assert incident.timeline.filter(kind="checklist_waived").exists()


def test_resolving_sets_the_postmortem_due_in_business_days_and_stops_the_clocks(
    checkout: Service,
) -> None:
    incident = start(checkout)
    for item in incident.checklist.all():
        checklist_check(item=item, by=None)
    with at(45):
        incident_resolve(incident=incident)
    with at(24 * 60):
        run_once()
    incident.refresh_from_db()
    # Resolved Saturday 03:45 New York: Mon (1), Tue (2), Wed (3) at 03:45.
    assert incident.postmortem_due_at == T0 + timedelta(minutes=45, days=4)
    assert events(incident, "stakeholders_added") == ["severities[P1].escalation_matrix[0]"]
    assert incident.timeline.filter(kind="update_due").count() == 0


def test_a_severity_change_replans_under_the_new_severity(checkout: Service) -> None:
    incident = start(checkout, severity="P3")
    with at(40):
        incident_set_severity(incident=incident, severity="P1")
        run_once()
    added = events(incident, "stakeholders_added")
    # P1's 0 and 30 minute steps are overdue at once; its 1 h step waits for 60 min.
    assert added == ["severities[P1].escalation_matrix[0]", "severities[P1].escalation_matrix[1]"]
    with at(60):
        run_once()
    assert events(incident, "stakeholders_added")[-1] == "severities[P1].escalation_matrix[2]"


def test_phases_imply_acknowledgement_and_monitoring_marks_mitigation(
    checkout: Service,
) -> None:
    incident = start(checkout)
    with at(2):
        incident = incident_set_phase(incident=incident, status="investigating")
    assert incident.acknowledged_at == T0 + timedelta(minutes=2)
    with at(20):
        incident = incident_set_phase(incident=incident, status="monitoring")
    assert incident.mitigated_at == T0 + timedelta(minutes=20)
    assert [e for e in events(incident, "status_changed")] == ["investigating", "monitoring"]


def test_role_handover_is_an_event_and_tells_both_people(checkout: Service) -> None:
    incident = start(checkout)
    mail.outbox.clear()
    carol = User.objects.get(email="carol@example.com")
    with at(1):
        incident_assign_role(incident=incident, role="commander", user=carol)
        run_once()
    (event,) = incident.timeline.filter(kind="role_handover")
    assert (event.old, event.new) == ("dave@example.com", "carol@example.com")
    assert sorted(m.to[0] for m in mail.outbox) == ["carol@example.com", "dave@example.com"]
    with pytest.raises(IncidentError, match="not a role"):
        incident_assign_role(incident=incident, role="janitor", user=carol)


def test_closing_waits_for_the_monitoring_period(checkout: Service) -> None:
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
        with pytest.raises(IncidentError, match="stable for 24h"):
            incident_close(incident=incident)
    with at(30 + 24 * 60):
        assert incident_close(incident=incident).status == "closed"


def test_a_business_hours_severity_queues_its_pages_until_monday(checkout: Service) -> None:
    incident = start(checkout, severity="P4")  # Saturday 03:00, P4 is page: business_hours
    assert mail.outbox == []
    (queued,) = incident.timeline.filter(kind="paging_queued")
    assert "Mon 2026-11-30 09:00 EST" in queued.message
    with time_machine.travel(datetime(2026, 11, 29, 23, 0, tzinfo=UTC), tick=False):
        run_once()  # Sunday evening: the 4 h response clock has not even started
    assert events(incident, "breach") == []
    with time_machine.travel(datetime(2026, 11, 30, 14, 0, tzinfo=UTC), tick=False):
        run_once()
    # Monday 30 November starts week 5: primary (alice, bob, erin) is bob.
    assert [m.to[0] for m in mail.outbox] == ["bob@example.com"]
    with time_machine.travel(datetime(2026, 11, 30, 18, 0, tzinfo=UTC), tick=False):
        run_once()  # 13:00 New York: 4 business hours after 09:00
    assert events(incident, "breach") == ["severities[P4].respond_within"]


def test_closing_is_refused_while_a_checklist_item_is_open(checkout: Service) -> None:
    incident = start(checkout)
    items = list(incident.checklist.all())
    for item in items:
        if item.required_to == "resolve":
            checklist_check(item=item, by=None)
    with at(30):
        incident = incident_resolve(incident=incident)
        with pytest.raises(IncidentError, match="checklist item"):
            incident_close(incident=incident)
        for item in items:
            checklist_check(item=item, by=None)
        assert incident_close(incident=incident).status == "closed"


def test_checklists_are_attached_when_their_phase_begins(tmp_path: Path) -> None:
    extra = """
checklists:
  - {id: triage, title: Triage, phase: triage, items: [Assess severity]}
  - {id: fix, title: Fix, phase: mitigation, items: [Deploy the fix]}
  - {id: gate, title: Before resolving, phase: resolution, required_to: resolve,
     items: [Error rate back to normal]}
  - {id: close, title: Closure, phase: closure, items: [Schedule the PIR]}
"""
    text = (SHARED / "examples" / "tocsin.yaml").read_text()
    text = text.replace(
        "checklists: [triage, resolution-immediate]", "checklists: [triage, fix, gate, close]"
    )
    text = text[: text.index("\nchecklists:")] + extra + text[text.index("\ntemplates:") :]
    path = tmp_path / "tocsin.yaml"
    path.write_text(text)
    call_command("config_apply", str(path))
    service = Service.objects.get(name="Checkout API")

    def attached() -> list[str]:
        return sorted(set(incident.checklist.values_list("checklist", flat=True)))

    with at(0):
        incident = incident_create(title="Checkout down", severity="P1", service=service)
    assert attached() == ["gate", "triage"]  # a gating checklist is there from the start
    with at(5):
        incident = incident_set_phase(incident=incident, status="identified")
    assert attached() == ["fix", "gate", "triage"]
    with at(10), pytest.raises(IncidentError, match="Error rate back to normal"):
        incident_resolve(incident=incident)
    checklist_check(item=incident.checklist.get(checklist="gate"), by=None)
    with at(12):
        incident = incident_resolve(incident=incident)
    assert attached() == ["close", "fix", "gate", "triage"]


def pages(incident: Incident) -> list[str]:
    """Who the escalation paged, step by step (not the severity's stakeholder notices)."""
    steps = incident.timeline.filter(kind__in=["paged", "escalated"]).order_by("at", "id")
    return [email for step in steps for email in step.data["users"]]


def test_raising_a_queued_business_hours_incident_to_p1_pages_at_once(checkout: Service) -> None:
    incident = start(checkout, severity="P4")  # Saturday 03:00: queued until Monday 09:00
    assert pages(incident) == []
    with at(10):
        incident_set_severity(incident=incident, severity="P1", actor_label="alertmanager")
        run_once()
    # P1 pages at any hour: the primary now (week 4: alice), not on Monday.
    assert pages(incident) == ["alice@example.com"]
    with time_machine.travel(datetime(2026, 11, 30, 14, 0, tzinfo=UTC), tick=False):
        run_once()
    assert incident.timeline.filter(kind="paged").count() == 1  # the queued step was retired


def test_lowering_to_a_severity_that_pages_nobody_stops_the_escalation(checkout: Service) -> None:
    incident = start(checkout, severity="P2")
    assert pages(incident) == ["alice@example.com"]
    snapshot = incident.policy_snapshot
    snapshot["severities"]["P3"]["page"] = "none"
    Incident.objects.filter(pk=incident.pk).update(policy_snapshot=snapshot)
    incident.refresh_from_db()
    with at(5):
        incident_set_severity(incident=incident, severity="P3")
    with at(60):
        run_once()
    assert pages(incident) == ["alice@example.com"]  # no second level
    assert "paging stopped" in incident.timeline.get(kind="paging_skipped").message


def test_raising_an_incident_that_paged_nobody_starts_its_escalation(checkout: Service) -> None:
    with at(0):
        incident = incident_create(title="Checkout slow", severity="P3", service=checkout)
        snapshot = incident.policy_snapshot
        snapshot["severities"]["P3"]["page"] = "none"
        Incident.objects.filter(pk=incident.pk).update(policy_snapshot=snapshot)
        incident.refresh_from_db()
    # (The incident was opened before the snapshot edit, so pretend it paged nobody.)
    from tocsin.engine.models import Timer
    from tocsin.escalation.models import EscalationRun

    EscalationRun.objects.filter(incident=incident).delete()
    Timer.objects.filter(incident=incident, kind="escalation.step").delete()
    with at(3):
        incident_set_severity(incident=incident, severity="P1")
        run_once()
    assert pages(incident) == ["alice@example.com"]
