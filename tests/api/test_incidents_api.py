"""The incidents API: bearer tokens, list/filter/detail/timeline, declare, ack, resolve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tocsin.alerts.models import Service

pytestmark = pytest.mark.django_db

Api = Callable[..., tuple[int, Any]]


def test_requests_without_a_token_are_refused(db: None) -> None:
    response = Client().get("/api/v1/incidents")
    assert response.status_code == 401
    bad = Client().get("/api/v1/incidents", HTTP_AUTHORIZATION="Bearer nope")
    assert bad.status_code == 401


def test_alice_declares_lists_and_reads_an_incident(api: Api, service: Service) -> None:
    status, created = api(
        "post",
        "/incidents",
        {"title": "Checkout down", "severity": "P1", "service": "Checkout API"},
    )
    assert status == 201
    assert created["number"] == 1
    assert created["status"] == "triggered"
    assert created["service"]["name"] == "Checkout API"
    status, listing = api("get", "/incidents?status=open")
    assert status == 200
    assert listing["count"] == 1
    assert listing["items"][0]["id"] == created["id"]
    status, detail = api("get", "/incidents/1")
    assert detail["title"] == "Checkout down"
    status, timeline = api("get", f"/incidents/{created['id']}/timeline")
    assert [e["kind"] for e in timeline] == ["declared"]
    assert timeline[0]["actor"] == "Alice Ng"


def test_declaring_for_an_unknown_service_is_a_400(api: Api) -> None:
    status, body = api("post", "/incidents", {"title": "x", "service": "Nope"})
    assert status == 400
    assert "Nope" in body["detail"]


def test_declaring_without_a_title_is_a_422_naming_the_field(api: Api) -> None:
    status, body = api("post", "/incidents", {"severity": "P1"})
    assert status == 422
    assert "title" in str(body)


def test_acknowledge_and_resolve_through_the_api(api: Api) -> None:
    _, created = api("post", "/incidents", {"title": "Checkout down"})
    status, acked = api("post", f"/incidents/{created['id']}/acknowledge", {})
    assert status == 200
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == "Alice Ng"
    status, resolved = api("post", "/incidents/1/resolve", {"message": "fixed"})
    assert resolved["status"] == "resolved"
    status, body = api("post", "/incidents/1/acknowledge", {})
    assert status == 409
    assert "resolved" in body["detail"]


def test_unknown_incidents_and_bad_filters_are_clear_errors(api: Api) -> None:
    assert api("get", "/incidents/nope")[0] == 404
    status, body = api("get", "/incidents?status=sleeping")
    assert status == 400
    assert "status" in body["detail"]


def test_notes_are_added_to_the_timeline(api: Api) -> None:
    api("post", "/incidents", {"title": "Checkout down"})
    status, event = api("post", "/incidents/1/notes", {"text": "Rolling back"})
    assert status == 201
    assert event["kind"] == "note"


def test_services_list_shows_ingestion_urls(api: Api, service: Service) -> None:
    _status, services = api("get", "/services")
    urls = {i["kind"]: i["url"] for i in services[0]["integrations"]}
    assert urls["alertmanager"].endswith("/integrations/alertmanager/am-checkout-1")
    assert urls["pagerduty"].endswith("/v2/enqueue")


def test_the_openapi_document_is_published(db: None) -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/incidents" in response.json()["paths"]
