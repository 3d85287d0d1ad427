"""Test messages: a person checks that a contact method reaches them (profile, API, CLI)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from tests.factories import person
from tocsin.accounts.models import ContactMethod, User
from tocsin.accounts.services import token_create
from tocsin.engine.worker import run_once
from tocsin.notifications.models import Delivery
from tocsin.notifications.services import TestTooSoon, contact_method_test
from tocsin.notifications.transports import TRANSPORTS, Message, TransportError

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # a Saturday, 03:00 in New York


def at(seconds: float) -> time_machine.travel:
    return time_machine.travel(T0 + timedelta(seconds=seconds), tick=False)


@pytest.fixture
def dana(db: None) -> User:
    return person("dana@example.com", rules=[(0, "email", "dana@example.com")])


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def method_of(user: User) -> ContactMethod:
    return ContactMethod.objects.get(user=user)


class Capture:
    def __init__(self, error: TransportError | None = None) -> None:
        self.sent: list[tuple[str, Message]] = []
        self.error = error

    def send(self, target: str, message: Message) -> None:
        self.sent.append((target, message))
        if self.error is not None:
            raise self.error


# ---- the service and the worker -------------------------------------------------------------


def test_a_test_message_is_sent_by_the_worker_and_recorded(dana: User) -> None:
    with at(0):
        delivery = contact_method_test(method=method_of(dana), by=dana)
        assert (delivery.kind, delivery.status, delivery.incident_id) == ("test", "pending", None)
        run_once()
    [message] = mail.outbox
    assert message.to == ["dana@example.com"]
    assert message.subject == "[Tocsin] Test message for email-0"
    assert "a page reaches you here" in message.body
    assert "at the request of Dana" in message.body
    delivery.refresh_from_db()
    assert (delivery.status, delivery.sent_at) == ("sent", T0)


def test_one_test_a_minute_per_method(dana: User) -> None:
    method = method_of(dana)
    with at(0):
        contact_method_test(method=method, by=dana)
    with at(45), pytest.raises(TestTooSoon) as raised:
        contact_method_test(method=method, by=dana)
    assert raised.value.wait == timedelta(seconds=15)
    assert "try again in 15 s" in str(raised.value)
    with at(61):
        contact_method_test(method=method, by=dana)
    assert Delivery.objects.filter(kind="test").count() == 2


def test_a_sent_test_marks_a_failing_method_working_again(dana: User) -> None:
    method = method_of(dana)
    ContactMethod.objects.filter(pk=method.pk).update(
        status="failing", last_error="550 mailbox unavailable", failing_since=T0
    )
    method.refresh_from_db()
    with at(0):
        contact_method_test(method=method, by=dana)
        run_once()
    method.refresh_from_db()
    assert (method.status, method.last_error) == ("ok", "")


def test_a_refused_test_marks_the_method_failing_and_tells_nobody_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    erin = person(
        "erin@example.com",
        rules=[(0, "webhook", "https://hooks.example.com/erin"), (60, "email", "erin@example.com")],
    )
    hook = ContactMethod.objects.get(user=erin, kind="webhook")
    capture = Capture(TransportError("webhook answered 410", permanent=True))
    monkeypatch.setitem(TRANSPORTS, "webhook", capture)
    with at(0):
        delivery = contact_method_test(method=hook, by=erin)
        run_once()
    delivery.refresh_from_db()
    hook.refresh_from_db()
    assert (delivery.status, delivery.error) == ("failed", "webhook answered 410")
    assert (hook.status, hook.last_error) == ("failing", "webhook answered 410")
    assert Delivery.objects.count() == 1  # no fallback message to the e-mail
    assert mail.outbox == []


def test_a_webhook_test_says_what_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    frank = person("frank@example.com", rules=[(0, "webhook", "https://hooks.example.com/f")])
    capture = Capture()
    monkeypatch.setitem(TRANSPORTS, "webhook", capture)
    with at(0):
        contact_method_test(method=method_of(frank), by=None)
        run_once()
    [(target, message)] = capture.sent
    assert target == "https://hooks.example.com/f"
    assert message.data["event"] == "contact_method.test"
    assert message.data["subject"] == "[Tocsin] Test message for webhook-0"
    assert "from the command line" in message.data["text"]


# ---- the profile page ---------------------------------------------------------------------


@pytest.fixture
def browser(client: Client, dana: User) -> Client:
    client.force_login(dana)
    return client


def test_the_profile_sends_a_test_and_shows_its_outcome(browser: Client, dana: User) -> None:
    url = reverse("web:contact-method-test", args=[method_of(dana).pk])
    with at(0):
        assert browser.get(url).status_code == 405  # a GET changes nothing
        queued = text(browser.post(url, follow=True).content.decode())
        assert "A test message to email-0 is on its way" in queued
        assert "Test queued 2026-11-28 08:00 UTC ." in queued
        run_once()
        page = text(browser.get(reverse("web:me")).content.decode())
    assert "Last test sent 2026-11-28 08:00 UTC ." in page
    assert len(mail.outbox) == 1


def test_the_profile_refuses_a_second_test_within_the_minute(browser: Client, dana: User) -> None:
    url = reverse("web:contact-method-test", args=[method_of(dana).pk])
    with at(0):
        browser.post(url)
    with at(20):
        page = browser.post(url, follow=True).content.decode()
    assert "Not sent: a test message to &#x27;email-0&#x27; was queued less than a minute ago" in (
        page
    )
    assert Delivery.objects.count() == 1


def test_nobody_tests_someone_elses_method_from_the_profile(browser: Client) -> None:
    other = person("gus@example.com")
    url = reverse("web:contact-method-test", args=[method_of(other).pk])
    assert browser.post(url).status_code == 404
    assert not Delivery.objects.exists()


# ---- the API --------------------------------------------------------------------------------


def api_as(user: User) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)}")


def test_the_api_sends_a_test_then_says_wait_with_retry_after(dana: User) -> None:
    client = api_as(dana)
    path = "/api/v1/people/dana@example.com/contact-methods/email-0/test"
    with at(0):
        first = client.post(path)
    assert first.status_code == 202
    assert first.json()["status"] == "pending"
    with at(10):
        second = client.post(path)
    assert second.status_code == 429
    assert second["Retry-After"] == "50"
    assert "try again in 50 s" in second.json()["detail"]
    with at(11):
        run_once()
        listed = client.get("/api/v1/people/dana@example.com/contact-methods").json()
    assert listed[0]["name"] == "email-0"
    assert listed[0]["status"] == "ok"
    assert listed[0]["last_test"]["id"] == first.json()["id"]
    assert listed[0]["last_test"]["status"] == "sent"


def test_only_the_person_or_an_administrator_may_test_or_list(dana: User) -> None:
    bob = person("bob@example.com")
    path = "/api/v1/people/dana@example.com/contact-methods"
    denied = api_as(bob).post(f"{path}/email-0/test")
    assert denied.status_code == 403
    assert api_as(bob).get(path).status_code == 403
    admin = User.objects.create_user(email="root@example.com", password="x" * 12, is_staff=True)
    assert api_as(admin).post(f"{path}/email-0/test").status_code == 202


def test_unknown_people_and_methods_are_named_in_a_404(dana: User) -> None:
    client = api_as(dana)
    missing = client.post("/api/v1/people/dana@example.com/contact-methods/pager/test")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "dana@example.com has no contact method named 'pager'"
    nobody = client.get("/api/v1/people/nobody@example.com/contact-methods")
    assert nobody.status_code == 404


# ---- the command line ---------------------------------------------------------------------


def test_the_cli_sends_now_and_says_so(dana: User) -> None:
    out = io.StringIO()
    with at(0):
        call_command("test_message", email="Dana@example.com", stdout=out)
    assert out.getvalue() == "email-0\temail\tsent 2026-11-28 08:00:00 UTC\n"
    assert len(mail.outbox) == 1


def test_the_cli_exits_1_with_the_error_when_a_method_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    person("hal@example.com", rules=[(0, "webhook", "https://hooks.example.com/h")])
    monkeypatch.setitem(TRANSPORTS, "webhook", Capture(TransportError("webhook answered 503")))
    out = io.StringIO()
    with at(0), pytest.raises(SystemExit) as exited:
        call_command("test_message", email="hal@example.com", stdout=out)
    assert exited.value.code == 1
    assert "webhook-0\twebhook\tnot sent yet: webhook answered 503 (the worker retries it)" in (
        out.getvalue()
    )


def test_the_cli_names_the_bad_argument(dana: User) -> None:
    with pytest.raises(CommandError, match=r"--email: no person 'x@example\.com'"):
        call_command("test_message", email="x@example.com")
    with pytest.raises(CommandError, match=r"no contact method named 'sms' \(has: email-0\)"):
        call_command("test_message", email="dana@example.com", method="sms")


def test_the_cli_can_leave_the_sending_to_the_worker(dana: User) -> None:
    out = io.StringIO()
    with at(0):
        call_command("test_message", email="dana@example.com", queue=True, stdout=out)
    assert out.getvalue() == "email-0\temail\tqueued: the worker sends it\n"
    assert mail.outbox == []
    with at(1):
        run_once()
    assert len(mail.outbox) == 1
