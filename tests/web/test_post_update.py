"""Posting an update from the incident page: pick a phase, edit each channel's draft, send."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.notifications.models import Delivery
from tocsin.policy.models import ConfigSection

from .conftest import HTMX, SAT

Declare = Callable[..., Incident]


def update_url(incident: Incident) -> str:
    return reverse("web:incident-update", args=[incident.public_id])


def checked(html: str, channel: str) -> bool:
    at = html.index(f'name="{channel}_send"')
    tag = html[html.rindex("<input", 0, at) :]
    return " checked" in tag[: tag.index(">")]


@pytest.fixture
def incident(declare: Declare) -> Incident:
    return declare("P1")


def test_the_page_offers_to_draft_an_update(browser: Client, incident: Incident) -> None:
    html = browser.get(reverse("web:incident-detail", args=[incident.public_id])).content.decode()

    assert f'method="get" action="{update_url(incident)}"' in html
    assert '<option value="declared" selected>Declared</option>' in html
    assert '<option value="postmortem_scheduled">Post-mortem scheduled</option>' in html


def test_drafts_are_filled_in_from_the_incident(browser: Client, incident: Incident) -> None:
    with time_machine.travel(SAT + timedelta(minutes=5), tick=False):
        response = browser.get(update_url(incident), {"phase": "declared", "message": ""})

    assert response.status_code == 200
    html = response.content.decode()
    # chat: the configured slack-initial template; email and status page: built-in ones.
    assert "Summary: Checkout down" in html
    assert "Incident Commander: Dave Kim" in html
    assert 'name="email_subject"' in html and 'name="status_page_subject"' in html
    assert 'name="bridge_body"' in html
    # Chat and e-mail by default; the status page too, since P1's audiences include it.
    assert checked(html, "chat") and checked(html, "email") and checked(html, "status_page")
    assert not checked(html, "bridge")


def test_the_status_page_is_not_ticked_when_the_audiences_leave_it_out(
    browser: Client, declare: Declare
) -> None:
    incident = declare("P2")

    html = browser.get(update_url(incident), {"phase": "update"}).content.decode()

    assert checked(html, "chat") and checked(html, "email")
    assert not checked(html, "status_page")


def test_the_message_goes_into_the_drafts(browser: Client, incident: Incident) -> None:
    html = browser.get(
        update_url(incident), {"phase": "update", "message": "Rolled back to v41"}
    ).content.decode()

    assert "INCIDENT UPDATE" in html and "Rolled back to v41" in html


def test_htmx_gets_only_the_compose_panel(browser: Client, incident: Incident) -> None:
    response = browser.get(update_url(incident), {"phase": "identified"}, headers=HTMX)

    html = response.content.decode()
    assert html.strip().startswith('<section id="update-compose"')
    assert "<html" not in html and "CAUSE IDENTIFIED" in html


def test_a_failed_template_is_shown_as_a_warning(browser: Client, incident: Incident) -> None:
    ConfigSection.objects.filter(name="templates").update(
        data=[{"id": "bad", "channel": "chat", "phase": "update", "body": "{{ x | nosuch }}"}]
    )

    html = browser.get(update_url(incident), {"phase": "update"}).content.decode()

    assert 'class="message warning"' in html
    assert "The chat template failed, so the built-in one is shown: template bad" in html


def test_sending_creates_deliveries_a_status_update_and_resets_the_clock(
    browser: Client, incident: Incident, alice: User
) -> None:
    at = SAT + timedelta(minutes=10)
    with time_machine.travel(at, tick=False):
        response = browser.post(
            update_url(incident),
            {
                "phase": "update",
                "chat_send": "on",
                "chat_body": "Rolled back; error rate falling.",
                "email_send": "on",
                "email_subject": "[Incident update] Checkout down",
                "email_body": "Rolled back at 03:08.",
                "status_page_subject": "not sent",
                "status_page_body": "not ticked",
            },
            follow=True,
        )

    html = response.content.decode()
    assert "Update sent to 4 destinations." in html
    targets = Delivery.objects.filter(incident=incident, kind="update")
    assert sorted(targets.values_list("target", flat=True)) == [
        "ceo@example.com",
        "cto@example.com",
        "json://chat.example.com/all",
        "json://chat.example.com/hook",
    ]
    update = StatusUpdate.objects.get(incident=incident)
    assert (update.body, update.author, update.public) == (
        "Rolled back; error rate falling.",
        alice,
        False,
    )
    incident.refresh_from_db()
    assert incident.next_update_due == at + timedelta(minutes=15)
    # The update is listed, and the composer is back to its first step.
    assert '<div class="update-body">Rolled back; error rate falling.</div>' in html
    assert "Next update due in 15 min" in html
    assert 'name="chat_body"' not in html


def test_a_channel_with_nowhere_to_go_is_reported(browser: Client, declare: Declare) -> None:
    incident = declare("P3")  # the leadership list only hears about P1

    response = browser.post(
        update_url(incident),
        {
            "phase": "update",
            "email_send": "on",
            "email_body": "hello",
            "chat_send": "on",
            "chat_body": "hello",
        },
        follow=True,
    )

    html = response.content.decode()
    assert "Update sent to 1 destination." in html
    assert "Nowhere configured for email: nothing sent there." in html


def test_nothing_ticked_or_an_empty_message_is_refused(browser: Client, incident: Incident) -> None:
    nothing = browser.post(update_url(incident), {"phase": "update", "chat_body": "x"})
    empty = browser.post(update_url(incident), {"phase": "update", "chat_send": "on"})

    assert nothing.status_code == 400
    assert "Tick at least one channel to send to." in nothing.content.decode()
    assert empty.status_code == 400
    assert "Write the chat message." in empty.content.decode()
    assert not StatusUpdate.objects.filter(incident=incident).exists()


def test_htmx_send_swaps_the_page_and_resets_the_composer(
    browser: Client, incident: Incident
) -> None:
    response = browser.post(
        update_url(incident),
        {"phase": "update", "chat_send": "on", "chat_body": "Still digging"},
        headers=HTMX,
    )

    html = response.content.decode()
    assert html.strip().startswith('<div id="incident-live" ')
    assert '<section id="update-compose" class="card compose"' in html
    assert 'hx-swap-oob="true"' in html
    assert '<div class="update-body">Still digging</div>' in html
    assert "Update sent to 2 destinations." in html


def test_updates_are_listed_with_phase_author_and_public_badge(
    browser: Client, incident: Incident, alice: User
) -> None:
    StatusUpdate.objects.create(
        incident=incident, at=SAT, status="identified", body="Found it", public=True, author=alice
    )

    html = browser.get(reverse("web:incident-detail", args=[incident.public_id])).content.decode()

    item = html[html.index('<li class="update">') :]
    item = item[: item.index("</li>")]
    assert '<span class="badge phase-identified">Identified</span>' in item
    assert '<span class="actor">Alice Ng</span>' in item
    assert ">public</span>" in item and "Found it" in item


def test_a_drills_status_page_post_is_withheld_and_the_page_says_why(
    browser: Client, incident: Incident
) -> None:
    Incident.objects.filter(pk=incident.pk).update(is_drill=True)

    response = browser.post(
        update_url(incident),
        {
            "phase": "update",
            "status_page_send": "on",
            "status_page_subject": "Checkout errors",
            "status_page_body": "Investigating.",
        },
        follow=True,
    )

    assert "Status page withheld: a drill is never published." in response.content.decode()
