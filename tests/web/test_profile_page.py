"""/me/: how the signed-in person is reached, their shifts, their calendar, what was sent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import ContactMethod, User
from tocsin.notifications.models import Delivery
from tocsin.oncall.views import person_feed_token

from .conftest import T0, MakeIncident

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def dana(client: Client, rota: dict[str, User]) -> Client:
    """A browser signed in as dana, on the primary schedule."""
    client.force_login(rota["dana"])
    return client


def me(browser: Client) -> str:
    with time_machine.travel(T0, tick=False):
        response = browser.get(reverse("web:me"))
    assert response.status_code == 200
    return response.content.decode()


def test_a_failing_contact_method_is_red_with_its_error_and_since_when(
    dana: Client, rota: dict[str, User]
) -> None:
    method = ContactMethod.objects.get(user=rota["dana"])
    method.status = ContactMethod.Status.FAILING
    method.last_error = "550 5.1.1 mailbox unavailable"
    method.failing_since = T0 - timedelta(hours=3)
    method.save(update_fields=["status", "last_error", "failing_since"])

    html = me(dana)

    item = html[html.index('<li class="method status-failing">') :]
    item = text(item[: item.index("</li>")])
    assert "email-0 email dana@example.com" in item
    assert "Failing since 2026-11-24 05:00 UTC : 550 5.1.1 mailbox unavailable" in item


def test_a_working_method_and_the_rules_read_plainly(dana: Client) -> None:
    page = text(me(dana))

    assert "email-0 email dana@example.com Working" in page
    assert "At once: email-0 (email)" in page


def test_the_profile_lists_upcoming_shifts_and_the_personal_calendar(
    dana: Client, rota: dict[str, User]
) -> None:
    page = text(me(dana))

    # Primary now (week 4) and secondary in week 6 (erin, frank, dana).
    assert "Platform primary now 2026-11-23 14:00 UTC 2026-11-30 14:00 UTC 7 days layer 1" in page
    assert "Platform secondary 2026-12-07 14:00 UTC 2026-12-14 14:00 UTC 7 days layer 1" in page
    user = rota["dana"]
    token = person_feed_token(user)
    assert f"http://127.0.0.1:8000/ical/person/{user.public_id}/{token}.ics" in page


def test_recent_deliveries_show_incident_transport_status_and_error(
    dana: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    incident = make_incident("Checkout down")
    user = rota["dana"]
    Delivery.objects.create(
        key="k1",
        incident=incident,
        user=user,
        contact_method=ContactMethod.objects.get(user=user),
        transport="email",
        target=user.email,
        status=Delivery.Status.FAILED,
        error="SMTP 421 try later",
        due_at=T0,
    )

    page = text(me(dana))

    assert f"#{incident.number} Checkout down email (email-0) Failed SMTP 421 try later" in page


def test_someone_with_no_contact_methods_is_told_pages_cannot_reach_them(
    browser: Client,
) -> None:
    page = text(me(browser))

    assert "No contact methods: a page cannot reach you." in page
    assert "No shifts in the next 4 weeks." in page


def test_without_rules_the_profile_says_where_pages_go(dana: Client, rota: dict[str, User]) -> None:
    from tocsin.accounts.models import NotificationRule

    NotificationRule.objects.filter(user=rota["dana"]).delete()
    page = text(me(dana))
    assert "No rules of your own: pages go to email-0 at once." in page

    ContactMethod.objects.filter(user=rota["dana"]).delete()
    page = text(me(dana))
    assert "No notification rules: pages to you go nowhere." in page
