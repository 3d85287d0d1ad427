"""Incident lifecycle: each change writes its timeline event and rotates the fencing token."""

from __future__ import annotations

import pytest

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.incidents.models import Incident
from tocsin.incidents.selectors import incident_get, incident_list
from tocsin.incidents.services import (
    IncidentError,
    incident_acknowledge,
    incident_add_note,
    incident_create,
    incident_resolve,
    incident_set_severity,
)

pytestmark = pytest.mark.django_db


def kinds(incident: Incident) -> list[str]:
    return list(incident.timeline.values_list("kind", flat=True))


def test_declaring_numbers_incidents_in_order(alice: User) -> None:
    first = incident_create(title="Checkout down", by=alice)
    second = incident_create(title="Search slow", by=alice)
    assert (first.number, second.number) == (1, 2)
    assert kinds(first) == ["declared"]
    assert first.timeline.get().actor == alice


def test_alice_acknowledges_then_resolves(alice: User) -> None:
    incident = incident_create(title="Checkout down", severity="P1")
    incident = incident_acknowledge(incident=incident, by=alice)
    assert incident.status == Incident.Status.ACKNOWLEDGED
    assert incident.acknowledged_by == alice
    assert incident.escalation_token == 1
    incident = incident_resolve(incident=incident, by=alice, message="rolled back")
    assert incident.status == Incident.Status.RESOLVED
    assert incident.escalation_token == 2
    assert kinds(incident) == ["triggered", "acknowledged", "resolved"]
    resolved = incident.timeline.get(kind="resolved")
    assert (resolved.old, resolved.new, resolved.message) == (
        "acknowledged",
        "resolved",
        "rolled back",
    )


def test_acknowledging_twice_writes_one_event(alice: User, bob: User) -> None:
    incident = incident_create(title="Checkout down")
    incident_acknowledge(incident=incident, by=alice)
    again = incident_acknowledge(incident=incident, by=bob)
    assert again.acknowledged_by == alice
    assert kinds(incident).count("acknowledged") == 1


def test_a_resolved_incident_cannot_be_acknowledged(alice: User) -> None:
    incident = incident_resolve(incident=incident_create(title="Checkout down"), by=alice)
    with pytest.raises(IncidentError, match="resolved"):
        incident_acknowledge(incident=incident, by=alice)


def test_resolving_from_triggered_skips_acknowledge(alice: User) -> None:
    incident = incident_resolve(incident=incident_create(title="Blip"), by=alice)
    assert incident.acknowledged_at is None
    assert incident.timeline.get(kind="resolved").old == "triggered"


def test_severity_change_is_an_event_and_leaves_the_escalation_token(alice: User) -> None:
    incident = incident_create(title="Checkout slow", severity="P3")
    incident = incident_set_severity(incident=incident, severity="P1", by=alice)
    event = incident.timeline.get(kind="severity_changed")
    assert (event.old, event.new) == ("P3", "P1")
    # A step already waiting keeps its time (tests/escalation/test_paging_edges.py).
    assert incident.escalation_token == 0


def test_notes_go_on_the_timeline(alice: User) -> None:
    incident = incident_create(title="Checkout down")
    incident_add_note(incident=incident, text="Looking at the deploy", by=alice)
    assert incident.timeline.get(kind="note").message == "Looking at the deploy"


def test_the_list_shows_open_incidents_first(alice: User, service: Service) -> None:
    old_open = incident_create(title="old open", service=service)
    resolved = incident_resolve(incident=incident_create(title="resolved"), by=alice)
    new_open = incident_create(title="new open", severity="P1")
    assert list(incident_list()) == [new_open, old_open, resolved]
    assert list(incident_list(status="open")) == [new_open, old_open]
    assert list(incident_list(severity="P1")) == [new_open]
    assert list(incident_list(service="Checkout API")) == [old_open]


def test_an_incident_is_found_by_number_or_public_id() -> None:
    incident = incident_create(title="Checkout down")
    assert incident_get(ref="#1") == incident
    assert incident_get(ref=incident.public_id) == incident
    assert incident_get(ref="999") is None
