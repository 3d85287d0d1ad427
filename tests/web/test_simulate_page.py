"""What happens if this breaks? The current policy on a virtual clock, from the services page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tocsin.alerts.models import Service
from tocsin.engine.models import Timer
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.notifications.models import Delivery


@pytest.fixture
def checkout(example_config: None) -> Service:
    return Service.objects.get(name="Checkout API")


def simulate_url(service: Service) -> str:
    return reverse("web:service-simulate", args=[service.public_id])


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="sim kind-[a-z_]+">(.*?)</tr>', html, re.S)


def test_the_services_page_links_to_it(browser: Client, checkout: Service) -> None:
    html = browser.get(reverse("web:service-list")).content.decode()

    assert f'href="{simulate_url(checkout)}">What happens if this breaks?</a>' in html


def test_the_form_starts_at_the_coming_saturday_3am_in_the_calendar_zone(
    browser: Client, checkout: Service
) -> None:
    # Wednesday 2026-11-25 15:00 in New York.
    with time_machine.travel(datetime(2026, 11, 25, 20, 0, tzinfo=UTC), tick=False):
        html = browser.get(simulate_url(checkout)).content.decode()

    assert 'value="2026-11-28T03:00"' in html
    assert "America/New_York time" in html
    assert '<option value="P1" selected>P1</option>' in html
    assert rows(html) == []


def test_a_p1_at_3am_on_saturday_reaches_the_engineering_manager_after_30_minutes(
    browser: Client, checkout: Service
) -> None:
    counts = [m.objects.count() for m in (Incident, TimelineEvent, Delivery, Timer)]

    response = browser.get(
        simulate_url(checkout),
        {"severity": "P1", "at": "2026-11-28T03:00", "ack_after": "", "resolve_after": "2h"},
    )

    assert response.status_code == 200
    found = rows(response.content.decode())
    manager = [r for r in found if "escalation_matrix[1]" in r]
    assert len(manager) == 1
    assert '<td class="offset">+30m</td>' in manager[0]
    assert "Sat 28 Nov 03:30" in manager[0]
    assert '<td class="who">Carol Diaz</td>' in manager[0]
    assert '<span class="badge sim-kind kind-escalate">Escalate</span>' in manager[0]
    assert any("+2h00m" in r and "kind-resolved" in r for r in found)
    # Nothing was written: the simulator runs on a virtual clock.
    assert [m.objects.count() for m in (Incident, TimelineEvent, Delivery, Timer)] == counts


def test_acknowledging_stops_the_paging(browser: Client, checkout: Service) -> None:
    html = browser.get(
        simulate_url(checkout), {"severity": "P1", "at": "2026-11-28T03:00", "ack_after": "10m"}
    ).content.decode()

    levels = [r for r in rows(html) if "escalation_policies[Platform default]" in r]
    assert len(levels) == 1  # level 1 at +0m; acknowledged before level 2 at +15m


def test_a_bad_duration_is_shown_next_to_its_field(browser: Client, checkout: Service) -> None:
    response = browser.get(
        simulate_url(checkout), {"severity": "P1", "at": "2026-11-28T03:00", "ack_after": "soon"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index('<label for="id_ack_after"') :]
    field = field[: field.index('name="ack_after"')]
    assert "invalid duration &#x27;soon&#x27;" in field
    assert rows(html) == []


def test_htmx_gets_the_form_and_the_table_only(browser: Client, checkout: Service) -> None:
    response = browser.get(
        simulate_url(checkout),
        {"severity": "P2", "at": "2026-11-28T03:00"},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert html.strip().startswith('<div id="simulation">')
    assert rows(html)


def test_an_unknown_service_is_404(browser: Client, checkout: Service) -> None:
    assert browser.get("/services/zzzzzzzz/simulate/").status_code == 404
