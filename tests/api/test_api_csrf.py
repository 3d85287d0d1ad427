"""A signed-in browser reads the API with its session; writing needs the CSRF token."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tocsin.accounts.models import User
from tocsin.incidents.models import Incident
from tocsin.incidents.services import incident_create

pytestmark = pytest.mark.django_db


def test_a_session_write_without_the_csrf_token_is_refused(alice: User) -> None:
    incident = incident_create(title="Payments down")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    # What a cross-site <form enctype="text/plain"> can send: the cookie, no token.
    response = browser.post(
        f"/api/v1/incidents/{incident.public_id}/resolve",
        data=json.dumps({"message": "x"}),
        content_type="text/plain",
    )
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == Incident.Status.TRIGGERED

    # Reading needs no token; writing with the token (as the UI does) works.
    assert browser.get("/api/v1/incidents").status_code == 200
    browser.get("/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        f"/api/v1/incidents/{incident.public_id}/resolve",
        data=json.dumps({"message": "x"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200
