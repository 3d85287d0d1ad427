"""The incident list: open first, filters, the htmx poll, and declaring an incident."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.incidents.models import Incident, TimelineEvent

from .conftest import HTMX, MakeIncident


def numbers(html: bytes) -> list[int]:
    """Incident numbers in the order the table lists them."""
    return [int(n) for n in re.findall(r'<td class="number"><a [^>]*>#(\d+)</a>', html.decode())]


@pytest.fixture
def three(make_incident: MakeIncident, service: Service) -> dict[str, Incident]:
    """An old resolved P1, an acknowledged P2 on the service, a fresh triggered P1."""
    return {
        "resolved": make_incident(
            "Old outage", severity="P1", status="resolved", minutes_ago=1, service=service
        ),
        "acknowledged": make_incident(
            "Slow search", severity="P2", status="acknowledged", minutes_ago=30, service=service
        ),
        "triggered": make_incident(
            "Checkout down", severity="P1", minutes_ago=10, alerts=3, service=service
        ),
    }


def test_open_incidents_come_first_newest_first_then_resolved(
    browser: Client, three: dict[str, Incident]
) -> None:
    response = browser.get(reverse("web:incident-list"))

    assert response.status_code == 200
    # The resolved one is the newest, but it is over: it goes last.
    assert numbers(response.content) == [
        three["triggered"].number,
        three["acknowledged"].number,
        three["resolved"].number,
    ]


def test_the_list_is_also_at_incidents(browser: Client, three: dict[str, Incident]) -> None:
    assert numbers(browser.get("/incidents/").content) == numbers(browser.get("/").content)


def test_each_row_shows_severity_title_service_status_time_and_alert_count(
    browser: Client, three: dict[str, Incident]
) -> None:
    html = browser.get("/").content.decode()
    row = html[html.index('<tr class="row status-triggered">') :]
    row = row[: row.index("</tr>")]

    assert "P1" in row and "sev-0" in row
    assert "Checkout down" in row
    assert "Checkout API" in row
    assert ">Triggered<" in row
    assert "10 minutes ago" in row
    assert re.search(r'class="num alerts"[^>]*>3<', row)
    assert f'href="/incidents/{three["triggered"].public_id}/"' in row


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", ["triggered", "acknowledged"]),
        ("triggered", ["triggered"]),
        ("acknowledged", ["acknowledged"]),
        ("resolved", ["resolved"]),
        ("", ["triggered", "acknowledged", "resolved"]),
    ],
)
def test_it_filters_by_status(
    browser: Client, three: dict[str, Incident], status: str, expected: list[str]
) -> None:
    response = browser.get("/", {"status": status})

    assert numbers(response.content) == [three[name].number for name in expected]


def test_it_filters_by_severity(browser: Client, three: dict[str, Incident]) -> None:
    response = browser.get("/", {"severity": "P1"})

    assert numbers(response.content) == [three["triggered"].number, three["resolved"].number]


def test_it_filters_by_service(
    browser: Client, three: dict[str, Incident], make_incident: MakeIncident
) -> None:
    elsewhere = Service.objects.create(name="Search")
    other = make_incident("Index lag", service=elsewhere)

    assert numbers(browser.get("/", {"service": "Search"}).content) == [other.number]
    assert other.number not in numbers(browser.get("/", {"service": "Checkout API"}).content)


def test_filters_combine_and_unknown_values_are_ignored(
    browser: Client, three: dict[str, Incident]
) -> None:
    both = browser.get("/", {"status": "open", "severity": "P1"})
    unknown = browser.get("/", {"status": "sleeping", "severity": "P1"})

    assert numbers(both.content) == [three["triggered"].number]
    assert numbers(unknown.content) == [three["triggered"].number, three["resolved"].number]


def test_the_filter_form_is_a_plain_get_form_and_keeps_its_values(
    browser: Client, three: dict[str, Incident]
) -> None:
    html = browser.get("/", {"status": "open"}).content.decode()

    assert re.search(r'<form class="filters" method="get" action="/"', html)
    assert '<option value="open" selected>' in html
    assert '<option value="Checkout API">' in html


def test_the_table_polls_itself_every_10_seconds_with_the_current_filters(
    browser: Client, three: dict[str, Incident]
) -> None:
    html = browser.get("/", {"status": "open"}).content.decode()

    assert 'hx-get="/?status=open" hx-trigger="every 10s"' in html
    assert "htmx.min.js" in html


def test_an_htmx_poll_gets_the_table_alone(browser: Client, three: dict[str, Incident]) -> None:
    response = browser.get("/", {"status": "resolved"}, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "Declare incident" not in html
    assert html.strip().startswith('<section id="incidents"')
    assert numbers(response.content) == [three["resolved"].number]
    assert "HX-Request" in response["Vary"]


def test_a_history_restore_gets_the_whole_page(browser: Client, db: None) -> None:
    response = browser.get("/", headers={**HTMX, "HX-History-Restore-Request": "true"})

    assert b"<html" in response.content


def test_an_empty_list_says_so(browser: Client, db: None) -> None:
    assert b"No incidents. All quiet." in browser.get("/").content
    assert b"No incidents match these filters." in browser.get("/?status=open").content


def test_alice_declares_an_incident(browser: Client, alice: User, service: Service) -> None:
    response = browser.post(
        reverse("web:incident-declare"),
        {
            "title": "Payments failing",
            "severity": "P1",
            "service": service.public_id,
            "summary": "Card payments fail with 502",
        },
    )

    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.public_id}/"
    assert (incident.title, incident.severity, incident.service) == (
        "Payments failing",
        "P1",
        service,
    )
    assert incident.summary == "Card payments fail with 502"
    assert incident.created_by == alice
    event = TimelineEvent.objects.get(incident=incident)
    assert (event.kind, event.actor) == ("declared", alice)
    page = browser.get(response["Location"]).content.decode()
    assert f"Incident #{incident.number} declared." in page


def test_declaring_needs_a_title_and_a_known_severity(browser: Client, service: Service) -> None:
    response = browser.post(
        reverse("web:incident-declare"), {"title": "", "severity": "P9", "service": "nope"}
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert Incident.objects.count() == 0
    assert "This field is required." in html
    assert "Select a valid choice." in html
    assert '<details class="card declare" open>' in html


def test_declaring_is_a_post(browser: Client, db: None) -> None:
    assert browser.get(reverse("web:incident-declare")).status_code == 405
    assert Incident.objects.count() == 0


def test_the_declare_form_offers_the_severities_and_services(
    browser: Client, service: Service
) -> None:
    html = browser.get("/").content.decode()

    for name in ("P1", "P2", "P3", "P4"):
        assert f'<option value="{name}">{name}</option>' in html
    assert f'<option value="{service.public_id}">Checkout API</option>' in html
