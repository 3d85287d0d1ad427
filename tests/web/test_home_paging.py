"""The home page's paging panels: who is on call now, and what would page nobody."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.alerts.models import Service
from tocsin.oncall.models import Override, Schedule

from .conftest import HTMX, T0, MakeIncident

pytestmark = pytest.mark.django_db


def home(browser: Client) -> str:
    with time_machine.travel(T0, tick=False):
        return browser.get(reverse("web:incident-list")).content.decode()


def test_the_panel_names_who_is_on_call_and_until_when_in_the_viewers_zone(
    browser: Client, alice: User, rota: dict[str, User]
) -> None:
    alice.timezone = "Europe/Paris"
    alice.save(update_fields=["timezone"])

    html = home(browser)

    assert "Who is on call now" in html
    panel = html[html.index("Who is on call now") :]
    # Dana until the Monday 09:00 New York handoff: 14:00 UTC, 15:00 in Paris.
    primary = panel[panel.index("Platform primary") :]
    assert '<span class="oncall-who">Dana</span>' in primary[:600]
    assert "2026-11-30 15:00 CET" in primary[:600]
    secondary = panel[panel.index("Platform secondary") :]
    assert '<span class="oncall-who">Erin</span>' in secondary[:600]
    # The policy's first level reaches the primary's on-call person.
    level = panel[panel.index("Escalation policies: first level") :]
    assert "Platform default" in level
    assert '<span class="oncall-who">Dana</span>' in level
    assert "schedule Platform primary" in level


def test_an_override_shows_in_the_panel(
    browser: Client, alice: User, rota: dict[str, User]
) -> None:
    Override.objects.create(
        schedule=Schedule.objects.get(name="Platform primary"),
        user=rota["carol"],
        start=T0 - timedelta(hours=1),
        end=T0 + timedelta(hours=12),
    )

    html = home(browser)

    primary = html[html.index('">Platform primary</a>') :][:600]
    assert '<span class="oncall-who">Carol</span>' in primary
    assert ">2026-11-24 20:00 UTC</time> · override" in primary


def readiness(browser: Client, **headers: str) -> str:
    with time_machine.travel(T0, tick=False):
        return browser.get(reverse("web:readiness"), headers=headers).content.decode()


def test_the_home_page_loads_readiness_after_itself(browser: Client, rota: dict[str, User]) -> None:
    html = home(browser)

    assert 'hx-get="/readiness/" hx-trigger="load" hx-swap="outerHTML"' in html
    assert "Checking readiness" in html


def test_readiness_is_one_green_line_when_everything_pages_someone(
    browser: Client, rota: dict[str, User]
) -> None:
    Service.objects.create(name="Checkout", escalation_policy="Platform default")

    html = readiness(browser, **HTMX)

    assert html.strip().startswith('<div id="readiness">')
    assert "Ready: every service pages someone." in html
    assert "Not ready" not in html


def test_readiness_lists_the_problems(browser: Client, rota: dict[str, User]) -> None:
    Service.objects.create(name="Orphan")
    Schedule.objects.get(name="Platform secondary").layers.all().delete()

    html = readiness(browser, **HTMX)

    assert "Not ready" in html
    assert "service Orphan has no escalation policy: its alerts page nobody" in html
    assert "Platform secondary has nobody on call" in html
    assert "Ready: every service" not in html


def test_readiness_is_a_page_of_its_own_without_javascript(
    browser: Client, rota: dict[str, User]
) -> None:
    html = readiness(browser)

    assert "<h1>Readiness</h1>" in html
    assert "Ready: every service pages someone." in html


def test_the_10_second_poll_still_gets_only_the_table(
    browser: Client, rota: dict[str, User], make_incident: MakeIncident
) -> None:
    make_incident("Checkout down")

    html = browser.get(reverse("web:incident-list"), headers=HTMX).content.decode()

    assert html.strip().startswith('<section id="incidents"')
    assert 'hx-trigger="every 10s"' in html
    assert "Checkout down" in html
    assert "Who is on call now" not in html
