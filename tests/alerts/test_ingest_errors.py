"""What every ingestion endpoint answers to bad requests: never a 500."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import OperationalError
from django.test import Client

from tests.alerts.helpers import PD_KEY, URLS, Post
from tests.conftest import FIXTURES
from tocsin.alerts import services, views
from tocsin.alerts.models import Alert, Service

SOURCE_FIXTURES = {
    "alertmanager": ["alertmanager"],
    "grafana": ["grafana"],
    "webhook": ["datadog", "opsgenie", "sentry"],
    "pagerduty": ["pagerduty"],
}
ALERT_SOURCES = ["alertmanager", "grafana", "webhook"]
VALID = {
    "alertmanager": "alertmanager/alertmanager-bot_firing.json",
    "grafana": "grafana/zulip_grafana9_firing.json",
    "webhook": "opsgenie/shoutrrr_create_alert_minimal.json",
    "pagerduty": "pagerduty/pd-api-schema_v2_enqueue_trigger_example.json",
    "change": "pagerduty/pd-api-schema_v2_change_enqueue_git_example.json",
}


def valid_body(source: str) -> dict[str, Any]:
    body = json.loads((FIXTURES / VALID[source]).read_text())
    if source in {"pagerduty", "change"}:
        body["routing_key"] = PD_KEY
    assert isinstance(body, dict)
    return body


def fixture_files() -> Iterator[tuple[str, Path]]:
    for source, directories in SOURCE_FIXTURES.items():
        for directory in directories:
            for path in sorted((FIXTURES / directory).glob("*.json")):
                yield source, path


@pytest.mark.parametrize("source", [*ALERT_SOURCES])
def test_an_unknown_key_is_a_json_404(service: Service, post: Post, source: str) -> None:
    response = post(f"/integrations/{source}/no-such-key", valid_body(source))

    assert response.status_code == 404
    assert "error" in response.json()


def test_a_key_of_another_kind_is_unknown(service: Service, post: Post) -> None:
    response = post("/integrations/alertmanager/gf-checkout-1", valid_body("alertmanager"))

    assert response.status_code == 404


@pytest.mark.parametrize("source", [*ALERT_SOURCES])
def test_malformed_json_is_a_400_with_the_reason(service: Service, post: Post, source: str) -> None:
    response = post(URLS[source], b'{"alerts": [')

    assert response.status_code == 400
    assert response.json()["error"].startswith("Body is not valid JSON")


@pytest.mark.parametrize("source", [*ALERT_SOURCES, "pagerduty", "change"])
def test_a_body_over_the_limit_is_a_413(service: Service, post: Post, source: str) -> None:
    body = valid_body(source)
    body["padding"] = "x" * settings.MAX_ALERT_BODY_BYTES

    response = post(URLS[source], body)

    assert response.status_code == 413
    assert not Alert.objects.exists()


def test_a_body_longer_than_its_content_length_is_measured(service: Service) -> None:
    # A chunked request under ASGI has no Content-Length: the read itself must stop.
    body = b'{"title": "' + b"x" * settings.MAX_ALERT_BODY_BYTES + b'"}'
    scope = {
        "type": "http",
        "method": "POST",
        "path": URLS["webhook"],
        "headers": [(b"host", b"testserver"), (b"transfer-encoding", b"chunked")],
    }
    request = ASGIRequest(scope, io.BytesIO(body))

    response = views.webhook_receive(request, key="wh-checkout-1")

    assert response.status_code == 413


@pytest.mark.parametrize("source", [*ALERT_SOURCES, "pagerduty", "change"])
def test_other_methods_are_a_405(service: Service, source: str) -> None:
    response = Client().get(URLS[source])

    assert response.status_code == 405
    assert response["Allow"].startswith("POST")


@pytest.mark.parametrize("source", ALERT_SOURCES)
def test_a_locked_database_asks_alertmanager_style_senders_to_retry(
    service: Service, post: Post, source: str
) -> None:
    with mock.patch.object(
        services, "alerts_ingest", side_effect=OperationalError("database is locked")
    ):
        response = post(URLS[source], valid_body(source))

    assert response.status_code == 503
    assert response["Retry-After"] == str(views.RETRY_AFTER_SECONDS)


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("alerts_ingest", valid_body("pagerduty")),
        (
            "alerts_acknowledge",
            {"routing_key": PD_KEY, "event_action": "acknowledge", "dedup_key": "x"},
        ),
    ],
)
def test_a_locked_database_answers_pagerduty_clients_429(
    service: Service, post: Post, target: str, body: dict[str, Any]
) -> None:
    with mock.patch.object(services, target, side_effect=OperationalError("database is locked")):
        response = post(URLS["pagerduty"], body)

    assert response.status_code == 429
    assert response["Retry-After"]
    assert response.json()["status"] == "throttle event"


def test_an_unavailable_database_during_the_key_lookup_is_a_503(
    service: Service, post: Post
) -> None:
    with mock.patch(
        "tocsin.alerts.selectors.integration_for", side_effect=OperationalError("gone")
    ):
        response = post(URLS["alertmanager"], valid_body("alertmanager"))

    assert response.status_code == 503


def test_an_alert_is_committed_before_the_answer(service: Service, post: Post) -> None:
    with mock.patch.object(services, "alerts_ingest", wraps=services.alerts_ingest) as ingest:
        response = post(URLS["alertmanager"], valid_body("alertmanager"))

    assert ingest.call_count == 1
    assert response.status_code == 202
    assert Alert.objects.count() == 1


def test_a_trailing_slash_is_accepted(service: Service, post: Post) -> None:
    response = post(URLS["alertmanager"] + "/", valid_body("alertmanager"))

    assert response.status_code == 202


# ---- nothing gives a 500 ------------------------------------------------------------------


def url_for(source: str, path: Path) -> str:
    if source == "pagerduty" and "change_enqueue" in path.name:
        return URLS["change"]
    return URLS[source]


def assert_client_error(response: Any, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.content!r}"


@pytest.mark.parametrize(("source", "path"), list(fixture_files()), ids=lambda v: str(v)[-40:])
def test_truncated_fixtures_are_refused(
    service: Service, post: Post, source: str, path: Path
) -> None:
    raw = path.read_bytes().rstrip()  # some fixtures end in whitespace
    for cut in sorted({0, 1, 2, 10, len(raw) // 3, len(raw) // 2, len(raw) - 2}):
        assert_client_error(post(url_for(source, path), raw[:cut]), f"cut at {cut}")


@pytest.mark.parametrize("source", [*ALERT_SOURCES, "pagerduty", "change"])
@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"x"',
        b"null",
        b"1",
        b"true",
        b"",
        b"\xff\xfe{}",
        b'{"a": "\xc3\x28"}',
        b"[" * 100_000,
    ],
    ids=["array", "string", "null", "number", "bool", "empty", "bom16", "bad utf8", "deep"],
)
def test_bodies_that_are_not_objects_are_refused(
    service: Service, post: Post, source: str, body: bytes
) -> None:
    assert_client_error(post(URLS[source], body), repr(body[:20]))


@pytest.mark.parametrize("source", [*ALERT_SOURCES, "pagerduty", "change"])
@pytest.mark.parametrize(
    "body",
    [b'{"title": "a\\u0000b"}', b'{"title": "\\ud800"}', b'{"x": NaN}', b'{"x": 1e999}'],
    ids=["nul", "lone surrogate", "nan", "infinity"],
)
def test_values_no_database_can_store_are_refused(
    service: Service, post: Post, source: str, body: bytes
) -> None:
    response = post(URLS[source], body)

    assert response.status_code == 400
    assert not Alert.objects.exists()


def wrong_type(value: Any) -> Any:
    """A value of a type no field of that kind accepts."""
    return "x" if isinstance(value, list) else [1]


def mutations(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every copy of ``data`` with one field (at any depth) replaced by a wrong type."""
    if isinstance(data, dict):
        items: list[tuple[str | int, Any]] = list(data.items())
    elif isinstance(data, list):
        items = list(enumerate(data))
    else:
        return
    for key, value in items:
        where = (*path, key)
        copy = json.loads(json.dumps(data))
        copy[key] = wrong_type(value)
        yield ".".join(map(str, where)), copy
        # custom_details is free-form by definition: any value is right there.
        if key != "custom_details":
            for name, child in mutations(value, where):
                changed = json.loads(json.dumps(data))
                changed[key] = child
                yield name, changed


STRICT_FIXTURES = [
    (source, path)
    for source, path in fixture_files()
    if source != "webhook" and "response" not in path.name and "v1_" not in path.name
]


@pytest.mark.parametrize(("source", "path"), STRICT_FIXTURES, ids=lambda v: str(v)[-40:])
def test_a_wrong_type_in_any_field_is_refused(
    service: Service, post: Post, source: str, path: Path
) -> None:
    payload = json.loads(path.read_text())
    if source == "pagerduty":
        payload["routing_key"] = PD_KEY
    for name, changed in mutations(payload):
        if name == "routing_key" and source == "pagerduty":
            continue
        assert_client_error(post(url_for(source, path), changed), name)
    assert not Alert.objects.exists()


@pytest.mark.parametrize("field", ["title", "dedup_key", "severity", "status", "source"])
def test_a_configured_webhook_field_of_the_wrong_type_is_refused(
    service: Service, post: Post, field: str
) -> None:
    from tocsin.alerts.models import Integration

    Integration.objects.filter(key="wh-checkout-1").update(config={"fields": {field: "f"}})

    for wrong in ([1], {"a": 1}):
        assert_client_error(post(URLS["webhook"], {"f": wrong}), f"{field}={wrong!r}")
