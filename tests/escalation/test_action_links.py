"""One-click links: a GET only shows a confirmation, a POST acts, bad links are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from tocsin.accounts.models import User
from tocsin.incidents.models import Incident
from tocsin.incidents.services import incident_create
from tocsin.notifications.links import action_url

pytestmark = pytest.mark.django_db


def link(incident: Incident, action: str, user: User | None = None) -> str:
    url = action_url(
        incident_public_id=incident.public_id, action=action, user_id=user.pk if user else None
    )
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def test_a_get_shows_a_confirmation_and_changes_nothing(alice: User) -> None:
    incident = incident_create(title="Checkout down")
    response = Client().get(link(incident, "acknowledge", alice))
    assert response.status_code == 200
    assert b"Acknowledge incident #1" in response.content
    incident.refresh_from_db()
    assert incident.status == "triggered"


def test_a_post_acknowledges_as_the_person_the_link_was_sent_to(alice: User) -> None:
    incident = incident_create(title="Checkout down")
    response = Client().post(link(incident, "acknowledge", alice))
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert incident.acknowledged_by == alice
    assert incident.timeline.get(kind="acknowledged").actor_label == "link"


def test_a_resolve_link_resolves(alice: User) -> None:
    incident = incident_create(title="Checkout down")
    Client().post(link(incident, "resolve", alice))
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_a_tampered_link_is_refused(db: None) -> None:
    incident = incident_create(title="Checkout down")
    url = link(incident, "acknowledge")
    response = Client().post(url.replace("/act/", "/act/x"))
    assert response.status_code == 400
    incident.refresh_from_db()
    assert incident.status == "triggered"


def test_a_link_expires_after_24_hours(db: None) -> None:
    incident = incident_create(title="Checkout down")
    url = link(incident, "acknowledge")
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        response = Client().post(url)
    assert response.status_code == 400
    assert b"expired" in response.content


def test_acknowledging_a_resolved_incident_says_so(alice: User) -> None:
    incident = incident_create(title="Checkout down")
    Client().post(link(incident, "resolve"))
    response = Client().post(link(incident, "acknowledge"))
    assert b"is resolved" in response.content


def test_a_link_sent_before_a_reopen_does_not_end_the_new_outage(alice: User, bob: User) -> None:
    from datetime import UTC, datetime

    from tocsin.incidents.services import incident_reopen

    start = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        incident = incident_create(title="Checkout down")
        old_link = link(incident, "resolve", alice)
        Client().post(old_link)
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        incident.refresh_from_db()
        incident_reopen(incident=incident, by=bob, message="errors are back")
        # Yesterday's page, clicked again: refused, on GET and POST alike.
        for response in (Client().get(old_link), Client().post(old_link)):
            assert response.status_code == 400
            assert b"sent before the incident was reopened" in response.content
        incident.refresh_from_db()
        assert incident.status == "investigating"
    with time_machine.travel(start + timedelta(hours=2, seconds=1), tick=False):
        # A link sent after the reopen works.
        Client().post(link(incident, "resolve", alice))
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_the_link_of_a_deactivated_person_no_longer_acts(alice: User) -> None:
    incident = incident_create(title="Checkout down")
    url = link(incident, "resolve", alice)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    response = Client().post(url)
    assert response.status_code == 400
    assert b"can no longer act" in response.content
    incident.refresh_from_db()
    assert incident.status == "triggered"
