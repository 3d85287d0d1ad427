"""The incident page's paging: who was paged how, the escalation run, and "escalate now"."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident, TimelineEvent

from .conftest import HTMX, T0, MakeIncident

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def url(name: str, incident: Incident) -> str:
    return reverse(f"web:{name}", args=[incident.public_id])


def recipients() -> list[str]:
    return [m.to[0] for m in mail.outbox]


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def paged(rota: dict[str, User], make_incident: MakeIncident) -> Incident:
    """An incident on a service with the three-level policy, its first level paged."""
    checkout = Service.objects.create(name="Checkout", escalation_policy="Platform default")
    incident = make_incident("Checkout down", service=checkout, minutes_ago=0)
    run_once()
    assert recipients() == ["dana@example.com"]
    return incident


def test_the_paging_section_shows_deliveries_and_the_next_step(
    browser: Client, paged: Incident
) -> None:
    page = text(browser.get(url("incident-detail", paged)).content.decode())

    assert "Paging 1 message" in page
    assert "Escalation policy Platform default" in page
    assert "Level paged 1 of 3" in page
    assert "Next step level 2 at 2026-11-24 08:15:00 UTC" in page
    assert "Dana email (email-0) 2026-11-24 08:00:00 UTC Sent" in page
    assert "escalation level 1 (schedule Platform primary)" in page


def test_escalate_now_pages_the_next_level(browser: Client, paged: Incident) -> None:
    response = browser.post(
        url("incident-escalate", paged), {"to": "next", "message": "Dana is on a plane"}
    )

    assert response.status_code == 302
    run_once()
    assert recipients() == ["dana@example.com", "erin@example.com"]
    event = TimelineEvent.objects.filter(incident=paged, kind="escalate_requested").get()
    assert event.message == "Dana is on a plane"
    page = text(browser.get(response["Location"]).content.decode())
    assert "Escalating to the next level now." in page
    assert "Level paged 2 of 3" in page
    assert "Next step level 3 at 2026-11-24 08:15:00 UTC" in page


def test_escalate_pages_a_chosen_person(
    browser: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    incident = make_incident("Billing export stuck")  # no service: no policy pages anyone
    carol = rota["carol"]

    response = browser.post(
        url("incident-escalate", incident),
        {"to": f"user:{carol.public_id}", "message": "need a decision"},
        follow=True,
    )

    html = response.content.decode()
    assert "Paging Carol now." in html
    run_once()
    assert recipients() == ["carol@example.com"]
    page = text(browser.get(url("incident-detail", incident)).content.decode())
    assert "Carol email (email-0) 2026-11-24 08:00:00 UTC Sent" in page
    assert "No escalation policy runs for this incident (it has no service)" in page


def test_escalate_pages_everyone_in_a_role(
    browser: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    incident = make_incident("Billing export stuck")

    browser.post(url("incident-escalate", incident), {"to": "role:Engineering Manager"})
    run_once()

    assert recipients() == ["carol@example.com"]


def test_an_acknowledged_incident_cannot_be_escalated(
    browser: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    incident = make_incident("Billing export stuck", status="acknowledged")
    html = browser.get(url("incident-detail", incident)).content.decode()
    assert 'id="escalate-form"' not in html

    response = browser.post(
        url("incident-escalate", incident), {"to": f"user:{rota['carol'].public_id}"}, follow=True
    )

    n = incident.number
    assert f"Incident #{n} is acknowledged: not escalated." in response.content.decode()
    assert not TimelineEvent.objects.filter(incident=incident, kind="escalate_requested").exists()


def test_escalate_by_get_changes_nothing(
    browser: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    incident = make_incident("Billing export stuck")

    response = browser.get(url("incident-escalate", incident), {"to": "next"})

    assert response.status_code == 405
    assert not TimelineEvent.objects.filter(incident=incident, kind="escalate_requested").exists()


def test_htmx_escalate_answers_with_the_live_part_and_a_fresh_form(
    browser: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    incident = make_incident("Billing export stuck")

    response = browser.post(
        url("incident-escalate", incident),
        {"to": f"user:{rota['carol'].public_id}", "message": "need a decision"},
        headers=HTMX,
    )

    html = response.content.decode()
    assert html.strip().startswith('<div id="incident-live" ')
    assert '<form id="escalate-form"' in html and 'hx-swap-oob="true"' in html
    assert "need a decision" in html  # in the timeline, not left in the form
    form = html[html.index('<form id="escalate-form"') :]
    assert re.search(r'<textarea name="message"[^>]*>\s*</textarea>', form)
    assert 'id="note-form"' not in html  # a note being typed is left alone


def test_the_live_part_refreshes_every_10_seconds_without_the_forms(
    browser: Client, paged: Incident
) -> None:
    full = browser.get(url("incident-detail", paged)).content.decode()
    live = browser.get(url("incident-detail", paged), headers=HTMX).content.decode()

    assert f'hx-get="{url("incident-detail", paged)}" hx-trigger="every 10s"' in full
    live_part = full[full.index('<div id="incident-live"') : full.index('<div class="process">')]
    activity = full[
        full.index('<div id="incident-activity"') : full.index('class="incident-forms"')
    ]
    assert "<textarea" not in live_part and "<textarea" not in activity
    assert 'name="text"' in full and 'name="to"' in full
    assert "<textarea" not in live and "<select" not in live
    assert "Paging" in live and "Timeline" in live  # the activity, out of band


def test_escalating_to_an_empty_role_is_refused_in_the_form(
    browser: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    incident = make_incident("Billing export stuck")
    rota["carol"].org_roles.clear()

    response = browser.post(url("incident-escalate", incident), {"to": "role:Engineering Manager"})

    assert response.status_code == 400
    assert "Nobody has the role Engineering Manager." in response.content.decode()
    assert not TimelineEvent.objects.filter(incident=incident, kind="escalate_requested").exists()


def test_without_a_policy_there_is_no_next_level_to_choose(
    browser: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    incident = make_incident("Billing export stuck")  # no service, no escalation run
    assert 'value="next"' not in browser.get(url("incident-detail", incident)).content.decode()

    response = browser.post(url("incident-escalate", incident), {"to": "next"})

    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    assert not TimelineEvent.objects.filter(incident=incident, kind="escalate_requested").exists()


def test_a_chat_channels_url_is_not_shown_on_the_incident_page(
    browser: Client, paged: Incident
) -> None:
    from tocsin.notifications.services import message_delivery_create

    message_delivery_create(
        key="update:chat",
        incident=paged,
        transport="apprise",
        target="slack://T000SECRET/B000SECRET/xoxbSECRETTOKEN",
        subject="Update",
        body="Investigating",
        reason="status update to #incidents",
    )
    page = text(browser.get(url("incident-detail", paged)).content.decode())

    assert "apprise channel" in page
    assert "SECRET" not in page  # a chat token is for the channel's owner, not every responder
