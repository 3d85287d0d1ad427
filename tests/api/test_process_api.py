"""The incident process over the API: phases, updates, roles, checklists, details, close."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command

from tests.conftest import SHARED

pytestmark = pytest.mark.django_db
Api = Callable[..., tuple[int, Any]]


@pytest.fixture
def p1(api: Api) -> str:
    call_command("config_apply", str(SHARED / "examples" / "tocsin.yaml"))
    _, incident = api(
        "post",
        "/incidents",
        {"title": "Checkout down", "severity": "P1", "service": "Checkout API"},
    )
    return str(incident["id"])


def test_phases_move_the_incident_and_monitoring_marks_it_mitigated(api: Api, p1: str) -> None:
    status, body = api("post", f"/incidents/{p1}/status", {"status": "investigating"})
    assert (status, body["status"]) == (200, "investigating")
    assert body["acknowledged_at"] is not None
    _, body = api("post", f"/incidents/{p1}/status", {"status": "monitoring"})
    assert body["mitigated_at"] is not None
    status, body = api("post", f"/incidents/{p1}/status", {"status": "sleeping"})
    assert status == 409
    assert "not a phase" in body["detail"]


def test_resolving_with_open_required_items_is_a_409_naming_them(api: Api, p1: str) -> None:
    status, body = api("post", f"/incidents/{p1}/resolve", {})
    assert status == 409
    assert "Service responding to health checks" in body["detail"]
    _, items = api("get", f"/incidents/{p1}/checklist")
    for item in items:
        if item["required_to"] == "resolve":
            status, done = api("post", f"/incidents/{p1}/checklist/{item['id']}", {})
            assert done["done"] is True
    status, body = api("post", f"/incidents/{p1}/resolve", {})
    assert (status, body["status"]) == (200, "resolved")
    _, process = api("get", f"/incidents/{p1}/process")
    assert process["postmortem_due_at"] is not None


def test_waiving_needs_a_reason(api: Api, p1: str) -> None:
    _, items = api("get", f"/incidents/{p1}/checklist")
    status, body = api("post", f"/incidents/{p1}/checklist/{items[0]['id']}", {"waive_reason": ""})
    assert status == 409
    assert "reason" in body["detail"]


def test_updates_reset_the_cadence_and_are_listed(api: Api, p1: str) -> None:
    status, update = api("post", f"/incidents/{p1}/updates", {"body": "Rolling back"})
    assert status == 201
    _, process = api("get", f"/incidents/{p1}/process")
    assert process["last_update_at"] == update["at"]
    assert process["next_update_due"] > update["at"]
    _, updates = api("get", f"/incidents/{p1}/updates")
    assert [u["body"] for u in updates] == ["Rolling back"]


def test_roles_are_handed_over(api: Api, p1: str) -> None:
    status, role = api(
        "put", f"/incidents/{p1}/roles", {"role": "comms_lead", "user": "erin@example.com"}
    )
    assert (status, role["user"]) == (200, "erin@example.com")
    status, body = api(
        "put", f"/incidents/{p1}/roles", {"role": "comms_lead", "user": "nobody@example.com"}
    )
    assert status == 400
    assert "nobody@example.com" in body["detail"]
    _, process = api("get", f"/incidents/{p1}/process")
    assert {r["role"] for r in process["roles"]} == {"commander", "comms_lead"}


def test_details_and_severity(api: Api, p1: str) -> None:
    status, body = api(
        "patch",
        f"/incidents/{p1}",
        {"impact": "All checkouts fail", "bridge_url": "https://meet.example.com/1"},
    )
    assert status == 200
    assert body["details"]["impact"] == "All checkouts fail"
    status, body = api("post", f"/incidents/{p1}/severity", {"severity": "P2"})
    assert (status, body["severity"]) == (200, "P2")
    status, body = api("post", f"/incidents/{p1}/severity", {"severity": "SEV9"})
    assert status == 400
    assert "P1" in body["detail"]


def test_closing_an_open_incident_is_refused(api: Api, p1: str) -> None:
    status, body = api("post", f"/incidents/{p1}/close", {})
    assert status == 409
    assert "resolved before" in body["detail"]


def test_security_incidents_are_visible_only_to_the_people_working_them(api: Api) -> None:
    from django.test import Client

    from tocsin.accounts.services import token_create, user_create
    from tocsin.incidents.models import IncidentRole
    from tocsin.incidents.services import incident_create

    incident = incident_create(title="Credential leak")
    incident.is_security = True
    incident.save(update_fields=["is_security"])
    erin = user_create(email="erin@example.com", password="erin-pass-123")
    token = token_create(user=erin)

    def erin_get(path: str) -> int:
        return Client().get("/api/v1" + path, HTTP_AUTHORIZATION=f"Bearer {token}").status_code

    assert erin_get(f"/incidents/{incident.public_id}") == 404
    assert erin_get(f"/incidents/{incident.public_id}/timeline") == 404
    listing = Client().get("/api/v1/incidents", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert listing["count"] == 0
    from django.utils import timezone

    IncidentRole.objects.create(
        incident=incident, role="scribe", user=erin, assigned_at=timezone.now()
    )
    assert erin_get(f"/incidents/{incident.public_id}") == 200
