"""Signing in and out; every page but the login page needs a signed-in person."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tocsin.accounts.models import User
from tocsin.accounts.services import user_create
from tocsin.incidents.models import Incident

from .conftest import HTMX, MakeIncident

LOGIN = reverse("web:login")


@pytest.mark.parametrize("path", ["/", "/incidents/", "/services/"])
def test_a_stranger_is_sent_to_the_login_page(client: Client, db: None, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={path}"


def test_a_stranger_cannot_open_or_change_an_incident(
    client: Client, make_incident: MakeIncident
) -> None:
    incident = make_incident()
    detail = reverse("web:incident-detail", args=[incident.public_id])
    ack = reverse("web:incident-ack", args=[incident.public_id])

    assert client.get(detail)["Location"].startswith(f"{LOGIN}?next=")
    assert client.post(ack)["Location"].startswith(f"{LOGIN}?next=")
    assert client.post(reverse("web:incident-declare"), {"title": "x"}).status_code == 302
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED
    assert Incident.objects.count() == 1


def test_an_htmx_poll_after_the_session_ends_asks_for_a_full_page_login(
    client: Client, db: None
) -> None:
    # A 302 would be followed by the XHR and the login page swapped into the table.
    response = client.get(
        "/?status=open", headers={**HTMX, "HX-Current-URL": "http://testserver/?status=open"}
    )

    assert response.status_code == 401
    assert response["HX-Redirect"] == f"{LOGIN}?next=%2F%3Fstatus%3Dopen"


def test_alice_signs_in_with_her_email_in_any_case(client: Client, alice: User) -> None:
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert b'type="email"' in page.content

    response = client.post(LOGIN, {"username": "Alice@Example.com", "password": "alice-pass-123"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_refused_with_a_message(client: Client, alice: User) -> None:
    response = client.post(LOGIN, {"username": "alice@example.com", "password": "nope-nope-1"})

    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    assert client.get("/").status_code == 302


def test_login_returns_to_the_page_asked_for(client: Client, alice: User) -> None:
    response = client.post(
        f"{LOGIN}?next=/services/",
        {"username": "alice@example.com", "password": "alice-pass-123", "next": "/services/"},
    )

    assert response["Location"] == "/services/"


def test_logout_is_a_post_and_ends_the_session(browser: Client) -> None:
    assert browser.get(reverse("web:logout")).status_code == 405

    response = browser.post(reverse("web:logout"))

    assert response["Location"] == LOGIN
    assert browser.get("/").status_code == 302


def test_the_nav_links_admin_for_staff_only(browser: Client, db: None) -> None:
    page = browser.get("/").content.decode()
    assert 'href="/services/"' in page
    assert 'href="/admin/"' not in page
    assert "Log out" in page

    carol = user_create(email="carol@example.com", password="carol-pass-123", admin=True)
    browser.force_login(carol)

    assert 'href="/admin/"' in browser.get("/").content.decode()
