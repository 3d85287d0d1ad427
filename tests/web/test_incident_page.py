"""The incident page: header, alerts, timeline; acknowledge, resolve and notes by POST or htmx."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.incidents.services import incident_add_note

from .conftest import HTMX, MakeIncident


def url(name: str, incident: Incident) -> str:
    return reverse(f"web:{name}", args=[incident.public_id])


@pytest.fixture
def incident(make_incident: MakeIncident, service: Service) -> Incident:
    return make_incident("Checkout down", severity="P1", service=service, alerts=2)


def test_the_page_shows_the_header_alerts_and_timeline(browser: Client, incident: Incident) -> None:
    html = browser.get(url("incident-detail", incident)).content.decode()

    assert f"#{incident.number}" in html
    assert "<h1>Checkout down</h1>" in html
    assert 'class="badge sev sev-0">P1<' in html
    assert ">Triggered<" in html
    assert "Checkout API" in html
    # Alerts: title, status, count, labels.
    assert "HighErrorRate 1" in html
    assert ">Firing<" in html
    assert '<span class="label-key">instance</span>=web-1' in html
    # Timeline and the forms that change the incident.
    assert '<span class="kind">triggered</span>' in html
    for name in ("incident-ack", "incident-resolve", "incident-note"):
        assert f'action="{url(name, incident)}"' in html
    assert html.count('name="csrfmiddlewaretoken"') >= 4  # logout, ack, resolve, note


def test_the_timeline_reads_oldest_first(browser: Client, incident: Incident, alice: User) -> None:
    incident_add_note(incident=incident, text="First look: 502s from the gateway", by=alice)
    incident_add_note(incident=incident, text="Rolled back to v41", by=alice)

    html = browser.get(url("incident-detail", incident)).content.decode()

    assert html.index("triggered</span>") < html.index("First look") < html.index("Rolled back")


def test_times_are_in_the_viewers_zone_with_its_name(
    browser: Client, alice: User, make_incident: MakeIncident
) -> None:
    alice.timezone = "Europe/Paris"
    alice.save(update_fields=["timezone"])
    with time_machine.travel(datetime(2026, 1, 15, 9, 0, tzinfo=UTC), tick=False):
        incident = make_incident(minutes_ago=0)
        html = browser.get(url("incident-detail", incident)).content.decode()

    assert "2026-01-15 10:00:00 CET" in html
    assert "Times are shown in Europe/Paris." in html


def test_times_are_in_utc_for_people_without_a_zone(
    browser: Client, make_incident: MakeIncident
) -> None:
    with time_machine.travel(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), tick=False):
        incident = make_incident(minutes_ago=0)
        html = browser.get(url("incident-detail", incident)).content.decode()

    assert "2026-07-01 09:00:00 UTC" in html
    assert "Times are shown in UTC." in html


def test_an_unknown_incident_is_404_and_a_number_redirects_to_the_public_id(
    browser: Client, incident: Incident
) -> None:
    assert browser.get("/incidents/zzzzzzzzzzzz/").status_code == 404

    response = browser.get(f"/incidents/{incident.number}/")

    assert response.status_code == 302
    assert response["Location"] == url("incident-detail", incident)


def test_alice_acknowledges_then_resolves(browser: Client, incident: Incident, alice: User) -> None:
    response = browser.post(url("incident-ack", incident))

    assert response.status_code == 302
    assert response["Location"] == url("incident-detail", incident)
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == ("acknowledged", alice)
    html = browser.get(response["Location"]).content.decode()
    assert f"Incident #{incident.number} acknowledged." in html
    assert "by Alice Ng" in html
    assert 'class="btn ack"' not in html  # only Resolve is left

    browser.post(url("incident-resolve", incident))

    incident.refresh_from_db()
    assert (incident.status, incident.resolved_by) == ("resolved", alice)
    kinds = list(TimelineEvent.objects.filter(incident=incident).values_list("kind", "actor"))
    assert kinds[-2:] == [("acknowledged", alice.pk), ("resolved", alice.pk)]
    html = browser.get(url("incident-detail", incident)).content.decode()
    assert 'class="btn resolve' not in html  # what is left: close or reopen
    assert f'action="{url("incident-close", incident)}"' in html


@pytest.mark.parametrize("name", ["incident-ack", "incident-resolve", "incident-note"])
def test_a_get_changes_nothing(browser: Client, incident: Incident, name: str) -> None:
    events = TimelineEvent.objects.filter(incident=incident).count()

    response = browser.get(url(name, incident), {"text": "hello"})

    assert response.status_code == 405
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED
    assert TimelineEvent.objects.filter(incident=incident).count() == events


def test_acknowledging_a_resolved_incident_shows_the_error(
    browser: Client, make_incident: MakeIncident
) -> None:
    incident = make_incident(status="resolved")

    response = browser.post(url("incident-ack", incident), follow=True)

    html = response.content.decode()
    assert response.status_code == 200
    n = incident.number
    assert f"Could not acknowledge incident #{n}: incident #{n} is resolved." in html
    assert 'class="message error"' in html
    incident.refresh_from_db()
    assert incident.status == Incident.Status.RESOLVED


def test_htmx_acknowledge_swaps_the_incident_in_place(browser: Client, incident: Incident) -> None:
    response = browser.post(url("incident-ack", incident), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<div id="incident-live" ')
    assert ">Acknowledged<" in html
    assert '<span class="kind">acknowledged</span>' in html
    # The message travels out of band into the page's message area.
    assert '<div id="messages" class="messages" hx-swap-oob="true">' in html
    assert f"Incident #{incident.number} acknowledged." in html


def test_htmx_acknowledge_of_a_resolved_incident_shows_the_error_in_place(
    browser: Client, make_incident: MakeIncident
) -> None:
    incident = make_incident(status="resolved")

    response = browser.post(url("incident-ack", incident), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-swap-oob="true"' in html
    assert "is resolved" in html and 'class="message error"' in html


def test_the_page_answers_htmx_with_the_live_part(browser: Client, incident: Incident) -> None:
    response = browser.get(url("incident-detail", incident), headers=HTMX)

    assert response.content.decode().strip().startswith('<div id="incident-live" ')
    assert "HX-Request" in response["Vary"]


def test_alice_adds_a_note(browser: Client, incident: Incident, alice: User) -> None:
    response = browser.post(url("incident-note", incident), {"text": "  Rolled back to v41  "})

    assert response.status_code == 302
    note = TimelineEvent.objects.get(incident=incident, kind="note")
    assert (note.message, note.actor) == ("Rolled back to v41", alice)
    assert "Note added." in browser.get(response["Location"]).content.decode()


def test_htmx_note_comes_back_with_the_timeline(browser: Client, incident: Incident) -> None:
    response = browser.post(url("incident-note", incident), {"text": "Paged the DBA"}, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert '<div class="event-message">Paged the DBA</div>' in html
    assert "Note added." in html


def test_an_empty_note_is_refused(browser: Client, incident: Incident) -> None:
    plain = browser.post(url("incident-note", incident), {"text": "   "})
    htmx = browser.post(url("incident-note", incident), {"text": ""}, headers=HTMX)

    assert plain.status_code == 400
    assert b"Write the note first." in plain.content
    assert htmx.status_code == 200  # htmx swaps only 2xx answers
    assert b"Write the note first." in htmx.content
    assert not TimelineEvent.objects.filter(incident=incident, kind="note").exists()


def test_text_from_alerts_and_notes_is_escaped(
    browser: Client, incident: Incident, alice: User
) -> None:
    incident_add_note(incident=incident, text="<script>alert(1)</script>", by=alice)

    html = browser.get(url("incident-detail", incident)).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
