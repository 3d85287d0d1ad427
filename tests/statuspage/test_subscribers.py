"""Subscribers: double opt-in, confirm, one-click unsubscribe (a GET never unsubscribes)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from tocsin.engine.worker import run_once
from tocsin.statuspage.models import Component, Subscriber
from tocsin.statuspage.services import public_incident_create

pytestmark = pytest.mark.django_db


def send(captured: Any) -> None:
    with captured(execute=True):
        run_once()


def link(body: str, kind: str) -> str:
    match = re.search(rf"https?://\S+/status/{kind}/(\S+)/", body)
    assert match, body
    return match.group(0).split("/status/", 1)[1]


def subscribe(client: Client, captured: Any, email: str = "dana@example.org") -> str:
    response = client.post("/status/subscribe/", {"email": email})
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    send(captured)
    return link(mail.outbox[-1].body, "subscribe/confirm")


def test_a_subscription_starts_only_after_the_confirmation_link_is_followed(
    client: Client, components: dict[str, Component], django_capture_on_commit_callbacks: Any
) -> None:
    confirm = subscribe(client, django_capture_on_commit_callbacks)
    assert mail.outbox[0].to == ["dana@example.org"]
    assert Subscriber.objects.get().confirmed_at is None

    public_incident_create(name="Slow checkout", body="Looking into it.")
    send(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1  # unconfirmed: nothing sent

    assert client.get(f"/status/{confirm}").status_code == 200  # a scanner's GET
    assert Subscriber.objects.get().confirmed_at is None
    assert client.post(f"/status/{confirm}").status_code == 200
    assert Subscriber.objects.get().active

    public_incident_create(name="Slow search", body="Investigating slow search.")
    send(django_capture_on_commit_callbacks)
    assert mail.outbox[-1].subject == "[Investigating] Slow search"
    assert "Investigating slow search." in mail.outbox[-1].body


def test_a_forged_confirmation_link_does_nothing(client: Client, db: None) -> None:
    Subscriber.objects.create(email="eve@example.org")
    assert client.post("/status/subscribe/confirm/abc.def:ghi/").status_code == 404
    assert Subscriber.objects.get().confirmed_at is None


def test_an_invalid_address_is_refused(client: Client, db: None) -> None:
    assert client.post("/status/subscribe/", {"email": "not-an-address"}).status_code == 400
    assert not Subscriber.objects.exists()


def confirmed_with_mail(client: Client, captured: Any) -> Any:
    client.post(f"/status/{subscribe(client, captured)}")
    public_incident_create(name="Slow checkout", body="Looking into it.")
    send(captured)
    return mail.outbox[-1]


def test_unsubscribe_get_asks_and_post_unsubscribes(
    client: Client, components: dict[str, Component], django_capture_on_commit_callbacks: Any
) -> None:
    message = confirmed_with_mail(client, django_capture_on_commit_callbacks)
    url = "/status/" + link(message.body, "unsubscribe")

    page = client.get(url)
    assert page.status_code == 200 and "Unsubscribe dana@example.org?" in page.content.decode()
    assert Subscriber.objects.get().active  # GET changed nothing

    assert client.post(url).status_code == 200
    assert not Subscriber.objects.get().active
    assert client.post(url).status_code == 404  # the link is spent

    public_incident_create(name="Another", body="More trouble.")
    sent = len(mail.outbox)
    send(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == sent


def test_mail_carries_rfc_8058_one_click_headers_that_work(
    client: Client, components: dict[str, Component], django_capture_on_commit_callbacks: Any
) -> None:
    message = confirmed_with_mail(client, django_capture_on_commit_callbacks)
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    path = "/status/" + url.split("/status/", 1)[1]
    # What a mail client sends (RFC 8058 section 3.2): a POST with this body, no cookies.
    response = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert not Subscriber.objects.get().active


def test_subscribing_again_after_unsubscribing_needs_a_new_confirmation(
    client: Client, components: dict[str, Component], django_capture_on_commit_callbacks: Any
) -> None:
    message = confirmed_with_mail(client, django_capture_on_commit_callbacks)
    client.post("/status/" + link(message.body, "unsubscribe"))
    subscribe(client, django_capture_on_commit_callbacks)
    assert Subscriber.objects.get().confirmed_at is None


def test_the_public_form_mails_an_address_at_most_once_in_ten_minutes(
    client: Client, components: dict[str, Component], django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    import time_machine

    t0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    with time_machine.travel(t0, tick=False):
        first = subscribe(client, django_capture_on_commit_callbacks)
        for _ in range(5):
            client.post("/status/subscribe/", {"email": "dana@example.org"})
        send(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1  # not six: the form cannot flood an inbox
    with time_machine.travel(t0 + timedelta(minutes=11), tick=False):
        subscribe(client, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2
    assert first  # the first link was mailed
