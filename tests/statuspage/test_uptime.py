"""Uptime history from component status changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from tocsin.statuspage.models import Component, ComponentStatusChange
from tocsin.statuspage.selectors import uptime_days, uptime_percent
from tocsin.statuspage.services import component_set_status

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_a_two_hour_major_outage_costs_that_day_two_hours(db: None) -> None:
    with time_machine.travel(NOW - timedelta(days=30), tick=False):
        api = Component.objects.create(name="API")
    with time_machine.travel(NOW - timedelta(days=2, hours=2), tick=False):
        component_set_status(component=api, status="major_outage")
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        component_set_status(component=api, status="operational")
    changes = list(ComponentStatusChange.objects.filter(component=api))

    days = uptime_days(component=api, changes=changes, now=NOW, days=90)

    assert len(days) == 90 and days[-1].day == NOW.date()
    assert days[0].uptime is None and days[0].status == ""  # before the component existed
    outage = days[-3]
    assert outage.status == "major_outage" and outage.down_minutes == 120
    assert outage.uptime == pytest.approx(1 - 2 / 24)
    assert days[-2].status == "operational" and days[-2].uptime == 1.0
    assert uptime_percent(days) == pytest.approx(100 * (1 - (2 / 24) / 31), abs=0.01)


def test_a_partial_outage_counts_thirty_percent(db: None) -> None:
    with time_machine.travel(NOW - timedelta(days=5), tick=False):
        api = Component.objects.create(name="API")
    with time_machine.travel(NOW - timedelta(hours=10), tick=False):
        component_set_status(component=api, status="partial_outage")
    changes = list(ComponentStatusChange.objects.filter(component=api))
    today = uptime_days(component=api, changes=changes, now=NOW, days=90)[-1]
    assert today.status == "partial_outage"
    assert today.uptime == pytest.approx(1 - 0.3 * 10 / 12, abs=1e-4)


def test_the_page_draws_90_bars_per_component(client: Client, db: None) -> None:
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        api = Component.objects.create(name="API")
    with time_machine.travel(NOW, tick=False):
        component_set_status(component=api, status="degraded_performance")
        html = client.get("/status/").content.decode()
    bars = html.split('class="bars"', 1)[1].split("</div>", 1)[0]
    assert bars.count("<span") == 90
    assert bars.count("b-operational") == 3 and bars.count("b-degraded_performance") == 1
