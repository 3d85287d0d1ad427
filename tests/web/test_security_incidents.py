"""Security incidents: only the people working them (and staff) see them, in the list and page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.incidents.models import Incident, IncidentRole
from tocsin.incidents.services import incident_acknowledge, incident_assign_role
from tocsin.incidents.visibility import incident_visible_to

Declare = Callable[..., Incident]


@pytest.fixture
def breach(declare: Declare) -> Incident:
    """A P1 marked security; Dave is its commander (proposed from the rota)."""
    incident = declare("P1")
    incident.title = "Leaked API keys"
    incident.is_security = True
    incident.save(update_fields=["title", "is_security"])
    return incident


def signed_in(client: Client, email: str) -> Client:
    client.force_login(User.objects.get(email=email))
    return client


def detail(incident: Incident) -> str:
    return reverse("web:incident-detail", args=[incident.public_id])


def test_someone_without_a_role_neither_sees_it_listed_nor_opens_it(
    client: Client, breach: Incident, declare: Declare
) -> None:
    other = declare("P3")
    bob = signed_in(client, "bob@example.com")

    listing = bob.get("/").content.decode()

    assert "Leaked API keys" not in listing
    assert detail(other) in listing  # ordinary incidents are for everyone
    assert bob.get(detail(breach)).status_code == 404
    assert bob.get(f"/incidents/{breach.number}/").status_code == 404
    # ... and cannot act on it either.
    assert bob.post(reverse("web:incident-ack", args=[breach.public_id])).status_code == 404
    breach.refresh_from_db()
    assert breach.status == Incident.Status.TRIGGERED


def test_the_commander_sees_it(client: Client, breach: Incident) -> None:
    dave = signed_in(client, "dave@example.com")

    assert "Leaked API keys" in dave.get("/").content.decode()
    response = dave.get(detail(breach))
    assert response.status_code == 200
    assert "Security · restricted" in response.content.decode()


def test_a_backup_role_the_acknowledger_and_staff_see_it(client: Client, breach: Incident) -> None:
    carol, erin, bob = (
        User.objects.get(email=f"{n}@example.com") for n in ("carol", "erin", "bob")
    )
    incident_assign_role(incident=breach, role="scribe", user=carol, backup=True)
    incident_acknowledge(incident=breach, by=erin)
    bob.is_staff = True
    bob.save(update_fields=["is_staff"])

    for email in ("carol@example.com", "erin@example.com", "bob@example.com"):
        assert signed_in(Client(), email).get(detail(breach)).status_code == 200


def test_the_person_who_declared_it_sees_it(client: Client, declare: Declare) -> None:
    alice = User.objects.get(email="alice@example.com")
    incident = declare("P2", by=alice)
    Incident.objects.filter(pk=incident.pk).update(is_security=True)

    assert signed_in(client, "alice@example.com").get(detail(incident)).status_code == 200


def test_the_rule_keeps_one_row_per_incident(breach: Incident) -> None:
    dave = User.objects.get(email="dave@example.com")
    IncidentRole.objects.create(
        incident=breach, role="scribe", user=dave, assigned_at=breach.triggered_at
    )

    visible = Incident.objects.filter(incident_visible_to(user=dave))

    assert list(visible) == [breach]
    bob = User.objects.get(email="bob@example.com")
    assert not Incident.objects.filter(incident_visible_to(user=bob)).exists()
