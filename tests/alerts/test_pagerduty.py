"""PagerDuty Events API v2, as PagerDuty's own examples and official client send it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pagerduty
import pytest

from tests.alerts.helpers import PD_KEY, URLS, Post, with_pd_key
from tests.alerts.tls_server import TLSServer, tls_live_server
from tests.conftest import fixture_json
from tocsin.alerts.models import Alert, ChangeEvent, Integration, Service
from tocsin.alerts.services import alerts_ingest
from tocsin.alerts.sources.base import NormalizedAlert
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident

URL = URLS["pagerduty"]
INVALID = {"status": "invalid event", "message": "Event object is invalid"}


def trigger(**overrides: Any) -> dict[str, Any]:
    event = with_pd_key(fixture_json("pagerduty/pd-api-schema_v2_enqueue_trigger_example.json"))
    return {**event, **overrides}


def event(action: str, dedup_key: str) -> dict[str, Any]:
    return {"routing_key": PD_KEY, "event_action": action, "dedup_key": dedup_key}


def test_a_trigger_answers_like_pagerduty_and_opens_an_incident(
    service: Service, post: Post
) -> None:
    response = post(URL, trigger())

    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "srv01/mysql",
    }
    run_once()
    incident = Incident.objects.get()
    assert incident.title == "DISK at 99% on machine prod-datapipe03.example.com"
    assert incident.severity == "P1"
    alert = Alert.objects.get()
    assert alert.source == "prod-datapipe03.example.com"
    assert alert.details["custom_details"]["free space"] == "1%"
    assert {"href": "http://pagerduty.example.com", "text": "An example link."} in alert.links


def test_a_trigger_without_dedup_key_gets_one_and_can_be_resolved_with_it(
    service: Service, post: Post
) -> None:
    body = trigger()
    del body["dedup_key"]
    dedup_key = post(URL, body).json()["dedup_key"]
    run_once()

    assert len(dedup_key) == 32
    assert post(URL, event("resolve", dedup_key)).status_code == 202
    run_once()
    assert Incident.objects.get().status == Incident.Status.RESOLVED


def test_the_developer_docs_trigger_example_is_accepted(service: Service, post: Post) -> None:
    body = with_pd_key(fixture_json("pagerduty/pd-developer-docs_v2_trigger_example.json"))

    response = post(URL, body)

    assert response.status_code == 202
    assert response.json()["dedup_key"] == "samplekeyhere"


def test_an_acknowledge_acknowledges_the_incident(service: Service, post: Post) -> None:
    post(URL, trigger())
    run_once()
    ack = with_pd_key(fixture_json("pagerduty/pd-developer-docs_v2_acknowledge_example.json"))

    response = post(URL, {**ack, "dedup_key": "srv01/mysql"})
    run_once()

    assert response.status_code == 202
    assert Incident.objects.get().status == Incident.Status.ACKNOWLEDGED


def test_an_acknowledge_for_an_unknown_key_creates_nothing(service: Service, post: Post) -> None:
    ack = with_pd_key(fixture_json("pagerduty/pd-developer-docs_v2_acknowledge_example.json"))

    response = post(URL, ack)
    run_once()

    assert response.status_code == 202
    assert response.json()["dedup_key"] == "dedupkeyhere"
    assert not Alert.objects.exists()
    assert not Incident.objects.exists()


def test_ingesting_an_acknowledge_flag_never_creates_a_firing_alert(service: Service) -> None:
    integration = Integration.objects.get(kind="pagerduty")
    ack = NormalizedAlert(fingerprint="nobody-saw-me", status="firing", title="", acknowledge=True)

    result = alerts_ingest(integration=integration, alerts=[ack])

    assert (result.acknowledged, result.ignored) == (0, 1)
    assert not Alert.objects.exists()


def test_a_resolve_for_an_unknown_key_is_accepted_and_ignored(service: Service, post: Post) -> None:
    resolve = with_pd_key(fixture_json("pagerduty/pd-developer-docs_v2_resolve_example.json"))

    response = post(URL, resolve)

    assert response.status_code == 202
    assert not Alert.objects.exists()


def test_a_short_routing_key_is_refused_with_pagerdutys_own_error(
    service: Service, post: Post
) -> None:
    response = post(URL, trigger(routing_key="routingkeyhere"))

    assert response.status_code == 400
    assert response.json() == fixture_json(
        "pagerduty/alertmanager-test_v2_response_400_invalid_event.json"
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"event_action": "explode"}, "'event_action' is invalid (must be one of the following: "),
        ({"event_action": None}, "'event_action' is missing or blank"),
        ({"dedup_key": "k" * 256}, "Length of 'dedup_key' is incorrect"),
        ({"payload": None}, "'payload' is missing or blank"),
        ({"payload": {"source": "db1", "severity": "info"}}, "'payload.summary' is missing"),
        (
            {"payload": {"summary": "s" * 1025, "source": "db1", "severity": "info"}},
            "Length of 'payload.summary' is incorrect (should be at most 1024 characters)",
        ),
        ({"payload": {"summary": "Disk", "severity": "info"}}, "'payload.source' is missing"),
        ({"payload": {"summary": "Disk", "source": "db1"}}, "'payload.severity' is missing"),
        (
            {"payload": {"summary": "Disk", "source": "db1", "severity": "fatal"}},
            "'payload.severity' is invalid (must be one of the following: "
            "'critical', 'warning', 'error' or 'info')",
        ),
    ],
)
def test_a_trigger_breaking_a_rule_is_refused_with_the_reason(
    service: Service, post: Post, change: dict[str, Any], error: str
) -> None:
    response = post(URL, trigger(**change))

    assert response.status_code == 400
    body = response.json()
    assert {k: body[k] for k in INVALID} == INVALID
    assert any(e.startswith(error) for e in body["errors"]), body["errors"]


def test_every_broken_rule_is_listed(service: Service, post: Post) -> None:
    response = post(URL, {"routing_key": "short", "event_action": "trigger", "payload": {}})

    assert response.json()["errors"] == [
        "Length of 'routing_key' is incorrect (should be 32 characters)",
        "'payload.summary' is missing or blank",
        "'payload.source' is missing or blank",
        "'payload.severity' is missing or blank",
    ]


def test_a_resolve_needs_a_dedup_key(service: Service, post: Post) -> None:
    response = post(URL, {"routing_key": PD_KEY, "event_action": "resolve"})

    assert response.json()["errors"] == ["'dedup_key' is missing or blank"]


def test_a_body_that_is_not_json_is_an_unrecognized_object(service: Service, post: Post) -> None:
    response = post(URL, b"{not json")

    assert response.status_code == 400
    assert response.json() == fixture_json("pagerduty/pd-api-schema_v2_response_error_example.json")


def test_an_unknown_routing_key_is_a_404_in_pagerduty_shape(service: Service, post: Post) -> None:
    response = post(URL, trigger(routing_key="0" * 32))

    assert response.status_code == 404
    assert response.json()["status"] == "invalid event"
    assert response.json()["errors"]


@pytest.mark.parametrize(
    "name",
    [
        "pd-api-schema_v2_change_enqueue_build_example.json",
        "pd-api-schema_v2_change_enqueue_git_example.json",
    ],
)
def test_a_change_event_is_recorded_and_opens_nothing(
    service: Service, post: Post, name: str
) -> None:
    body = with_pd_key(fixture_json(f"pagerduty/{name}"))

    response = post(URLS["change"], body)
    run_once()

    assert response.status_code == 202
    change = ChangeEvent.objects.get()
    assert change.summary == body["payload"]["summary"]
    assert change.source == body["payload"]["source"]
    assert change.happened_at.isoformat() == "2015-07-17T08:42:58.315000+00:00"
    assert change.links[0]["href"] == "https://buildpipeline.com/pagerduty/deployment/builds/220"
    assert not Alert.objects.exists()
    assert not Incident.objects.exists()


def test_a_change_event_without_summary_is_refused(service: Service, post: Post) -> None:
    response = post(URLS["change"], {"routing_key": PD_KEY, "payload": {"source": "ci"}})

    assert response.status_code == 400
    assert response.json()["errors"] == ["'payload.summary' is missing or blank"]


@pytest.fixture
def tocsin_https(tmp_path: Path, transactional_db: None) -> Iterator[TLSServer]:
    try:
        with tls_live_server(tmp_path) as server:
            yield server
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def official_client(routing_key: str, server: TLSServer) -> pagerduty.EventsApiV2Client:
    # The client accepts only https:// base URLs; ``verify`` trusts the test certificate.
    return pagerduty.EventsApiV2Client(
        routing_key,
        base_url=server.url,
        verify=ssl.create_default_context(cafile=str(server.ca_file)),
    )


def test_the_official_pagerduty_client_works_against_tocsin(
    service: Service, tocsin_https: TLSServer
) -> None:
    with official_client(PD_KEY, tocsin_https) as client:
        dedup_key = client.trigger("Checkout latency over 2s", "web-1", severity="error")
        run_once()
        assert Incident.objects.get().severity == "P2"

        assert client.acknowledge(dedup_key) == dedup_key
        run_once()
        assert Incident.objects.get().status == Incident.Status.ACKNOWLEDGED

        assert client.resolve(dedup_key) == dedup_key
        run_once()
        assert Incident.objects.get().status == Incident.Status.RESOLVED

        # pagerduty 7.2.0's default change-event timestamp raises AttributeError
        # (datetime.timezone looked up on the datetime class): pass one explicitly.
        client.submit("Deployed v42", source="ci", timestamp="2026-01-02T03:04:05Z")
        assert ChangeEvent.objects.get().summary == "Deployed v42"


def test_the_official_client_sees_validation_errors(
    service: Service, tocsin_https: TLSServer
) -> None:
    with (
        official_client("short", tocsin_https) as client,
        pytest.raises(pagerduty.HttpError) as info,
    ):
        client.trigger("Checkout latency over 2s", "web-1")

    assert info.value.response is not None
    assert info.value.response.status_code == 400
