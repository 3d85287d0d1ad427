"""The red banner on every page when pages cannot go out: no worker, or work overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.engine.services import timer_schedule
from tocsin.engine.worker import heartbeat
from tocsin.notifications.models import Delivery

from .conftest import T0

pytestmark = pytest.mark.django_db

NO_WORKER = "No worker is running: nobody will be paged."


@pytest.fixture
def worker() -> None:
    """A worker that beat a second ago."""
    heartbeat(name="worker-1", started_at=T0 - timedelta(hours=1))


def page(browser: Client, name: str = "web:service-list") -> str:
    return browser.get(reverse(name)).content.decode()


def test_no_banner_while_a_worker_runs_and_nothing_is_late(browser: Client) -> None:
    with time_machine.travel(T0, tick=False):
        heartbeat(name="worker-1", started_at=T0)
        html = page(browser)

    assert 'class="auditor"' not in html


def test_the_banner_says_nobody_will_be_paged_without_a_worker(browser: Client) -> None:
    with time_machine.travel(T0, tick=False):
        heartbeat(name="worker-1", started_at=T0)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        for name in ("web:incident-list", "web:schedule-list", "web:me"):
            html = page(browser, name)
            assert '<div class="auditor" role="alert">' in html
            assert NO_WORKER in html


def test_the_banner_reports_a_timer_overdue_by_more_than_a_minute(browser: Client) -> None:
    with time_machine.travel(T0, tick=False):
        timer_schedule(kind="escalation.step", due_at=T0 - timedelta(seconds=30))
        heartbeat(name="worker-1", started_at=T0)
        assert 'class="auditor"' not in page(browser)  # 30 s late: the worker may be on it

    with time_machine.travel(T0 + timedelta(seconds=45), tick=False):
        heartbeat(name="worker-1", started_at=T0)
        html = page(browser)

    assert "1 timer(s) and 0 notification(s) overdue by more than a minute" in html
    assert "(oldest due 2026-11-24 07:59:30 UTC)" in html
    assert NO_WORKER not in html


def test_the_check_costs_two_small_queries(browser: Client, alice: User) -> None:
    # The heartbeat, then one query for late or failing work of every kind.
    from tocsin.web.paging import auditor_warnings

    with time_machine.travel(T0, tick=False):
        heartbeat(name="worker-1", started_at=T0)
        with CaptureQueriesContext(connection) as queries:
            assert auditor_warnings() == []

    assert len(queries) == 2, [q["sql"] for q in queries.captured_queries]


def test_the_sign_in_page_has_no_banner(client: Client) -> None:
    assert NO_WORKER not in client.get(reverse("web:login")).content.decode()


def test_the_banner_reports_an_overdue_notification(browser: Client, alice: User) -> None:
    with time_machine.travel(T0, tick=False):
        heartbeat(name="worker-1", started_at=T0)
        Delivery.objects.create(
            key="late",
            user=alice,
            transport="email",
            target=alice.email,
            due_at=T0 - timedelta(minutes=2),
        )
        html = page(browser)

    assert "0 timer(s) and 1 notification(s) overdue by more than a minute" in html
