"""Small safeguards: tokens record their use, admin actions that silence paging need the
change permission, https deployments get secure cookies, status mail survives odd names."""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from tocsin.accounts.models import ApiToken, User
from tocsin.accounts.services import token_create

pytestmark = pytest.mark.django_db


def test_a_token_records_its_last_use_to_the_minute(alice: User) -> None:
    raw = token_create(user=alice)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    t0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        assert client.get("/api/v1/incidents").status_code == 200
    with time_machine.travel(t0 + timedelta(seconds=30), tick=False):
        client.get("/api/v1/incidents")  # within the minute: not written again
    assert ApiToken.objects.get().last_used_at == t0
    with time_machine.travel(t0 + timedelta(minutes=2), tick=False):
        client.get("/api/v1/incidents")
    assert ApiToken.objects.get().last_used_at == t0 + timedelta(minutes=2)


def test_view_only_staff_cannot_start_or_complete_a_maintenance(db: None) -> None:
    from tocsin.statuspage.models import ScheduledMaintenance

    viewer = User.objects.create_user("viewer@example.com", password="x" * 12, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_scheduledmaintenance"))
    now = timezone.now()
    window = ScheduledMaintenance.objects.create(
        name="DB upgrade",
        scheduled_for=now,
        scheduled_until=now + timedelta(hours=1),
        created_at=now,
        updated_at=now,
    )
    client = Client()
    client.force_login(viewer)
    url = "/admin/statuspage/scheduledmaintenance/"
    for action in ("start_now", "complete_now"):
        client.post(url, {"action": action, "_selected_action": [window.pk]})
    window.refresh_from_db()
    assert window.status == ScheduledMaintenance.Status.SCHEDULED


def test_https_base_url_makes_cookies_secure() -> None:
    import tocsin.settings as settings_module

    with mock.patch.dict(os.environ, {"TOCSIN_BASE_URL": "https://tocsin.example.com"}):
        secure = importlib.reload(settings_module)
        assert secure.SESSION_COOKIE_SECURE and secure.CSRF_COOKIE_SECURE
    plain = importlib.reload(settings_module)
    assert not plain.SESSION_COOKIE_SECURE


def test_a_status_notice_with_a_line_break_in_its_name_is_sent(db: None) -> None:
    from django.core import mail

    from tocsin.statuspage.mail import notices_send
    from tocsin.statuspage.models import Notice, Subscriber
    from tocsin.statuspage.services import public_incident_create

    Subscriber.objects.create(email="fan@example.com", confirmed_at=timezone.now(), token="t1")
    public_incident_create(name="Checkout down\n", body="Investigating")
    public_incident_create(name="Search slow", body="Investigating")

    notices_send()

    assert set(Notice.objects.values_list("status", flat=True)) == {"sent"}
    assert sorted(m.subject for m in mail.outbox) == [
        "[Investigating] Checkout down",
        "[Investigating] Search slow",
    ]
