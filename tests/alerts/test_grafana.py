"""Grafana unified alerting webhooks (Grafana 9, 11 and 12), with optional HMAC signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.test import Client

from tests.alerts.helpers import URLS, Post
from tests.conftest import fixture_json
from tocsin.alerts.models import Alert, Integration, Service
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident

URL = URLS["grafana"]
FIXTURES = [
    "zulip_grafana9_firing.json",
    "zulip_grafana11_firing_values_imageURL.json",
    "derived_keep_grafana12_test_alert_firing.json",
]


@pytest.mark.parametrize("name", FIXTURES)
def test_each_grafana_version_opens_an_incident_per_group_key(
    service: Service, post: Post, name: str
) -> None:
    payload = fixture_json(f"grafana/{name}")

    response = post(URL, payload)
    run_once()

    assert response.status_code == 202
    alert = Alert.objects.get()
    assert alert.fingerprint == payload["alerts"][0]["fingerprint"]
    assert alert.title == payload["alerts"][0]["annotations"]["summary"]
    assert Incident.objects.get().group_key == payload["groupKey"]


def test_a_resolved_notification_resolves_the_incident(service: Service, post: Post) -> None:
    post(URL, fixture_json("grafana/zulip_grafana9_firing.json"))
    run_once()
    post(URL, fixture_json("grafana/zulip_grafana9_resolved.json"))
    run_once()

    assert Incident.objects.get().status == Incident.Status.RESOLVED


def test_a_relative_generator_url_is_resolved_against_the_external_url(
    service: Service, post: Post
) -> None:
    post(URL, fixture_json("grafana/derived_keep_grafana12_test_alert_firing.json"))

    links = {link["text"]: link["href"] for link in Alert.objects.get().links}
    assert links["Source"] == "https://grafana.example.com/?orgId=1"
    assert links["Panel"] == "https://grafana.example.com/d/dashboard_uid?viewPanel=1"


def test_values_are_kept_in_the_details(service: Service, post: Post) -> None:
    post(URL, fixture_json("grafana/zulip_grafana11_firing_values_imageURL.json"))

    assert Alert.objects.get().details["values"]["A"] == 2473545728


def test_an_alert_without_fingerprint_is_keyed_by_its_labels(service: Service, post: Post) -> None:
    payload = fixture_json("grafana/zulip_grafana9_firing.json")
    del payload["alerts"][0]["fingerprint"]

    post(URL, payload)
    post(URL, payload)

    assert Alert.objects.get().count == 2


def test_grafana_may_send_put(service: Service) -> None:
    body = json.dumps(fixture_json("grafana/zulip_grafana9_firing.json"))

    response = Client().put(URL, data=body, content_type="application/json")

    assert response.status_code == 202


# ---- signatures ---------------------------------------------------------------------------


@pytest.fixture
def signed(service: Service) -> Integration:
    integration = Integration.objects.get(key="gf-checkout-1")
    integration.config = {"secret": "s3cret"}
    integration.save(update_fields=["config"])
    return integration


def sign(body: bytes, secret: str = "s3cret") -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


BODY = json.dumps(fixture_json("grafana/zulip_grafana9_firing.json")).encode()


def test_a_correctly_signed_body_is_accepted(signed: Integration, post: Post) -> None:
    response = post(URL, BODY, HTTP_X_GRAFANA_ALERTING_SIGNATURE=sign(BODY))

    assert response.status_code == 202


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_GRAFANA_ALERTING_SIGNATURE": sign(BODY, "other")},
        {"HTTP_X_GRAFANA_ALERTING_SIGNATURE": sign(BODY + b" ")},
        {"HTTP_X_GRAFANA_ALERTING_SIGNATURE": "é" * 64},
    ],
    ids=["missing", "wrong secret", "other body", "not hex"],
)
def test_a_missing_or_wrong_signature_is_refused(
    signed: Integration, post: Post, headers: dict[str, str]
) -> None:
    response = post(URL, BODY, **headers)

    assert response.status_code == 401
    assert not Alert.objects.exists()


def test_with_a_timestamp_header_the_timestamp_is_signed_too(
    signed: Integration, post: Post
) -> None:
    signed.config["timestamp_header"] = "X-Grafana-Alerting-Timestamp"
    signed.save(update_fields=["config"])
    now = str(int(time.time()))
    stale = str(int(time.time()) - 3600)

    def headers(timestamp: str) -> dict[str, str]:
        signature = sign(f"{timestamp}:".encode() + BODY)
        return {
            "HTTP_X_GRAFANA_ALERTING_SIGNATURE": signature,
            "HTTP_X_GRAFANA_ALERTING_TIMESTAMP": timestamp,
        }

    assert post(URL, BODY, **headers(now)).status_code == 202
    assert post(URL, BODY, **headers(stale)).status_code == 401
    assert post(URL, BODY, HTTP_X_GRAFANA_ALERTING_SIGNATURE=sign(BODY)).status_code == 401
    # Absurd timestamps (too large for a float, past the int digit limit) are refused, not 500s.
    assert post(URL, BODY, **headers("9" * 400)).status_code == 401
    assert post(URL, BODY, **headers("9" * 5000)).status_code == 401
