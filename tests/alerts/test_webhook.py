"""The generic JSON webhook: defaults that fit common senders, and per-integration paths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.alerts.helpers import URLS, Post
from tests.conftest import fixture_json
from tocsin.alerts.models import Alert, Integration, Service
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident

URL = URLS["webhook"]


def configure(config: dict[str, Any]) -> None:
    integration = Integration.objects.get(key="wh-checkout-1")
    integration.config = config
    integration.save(update_fields=["config"])


@pytest.mark.parametrize(
    ("name", "title"),
    [
        (
            "datadog/codenow-fluffy_custom_payload_triggered.json",
            "[Triggered on {host:i-3b93aafb}] Dock is almost out of memory...",
        ),
        ("opsgenie/shoutrrr_create_alert_all_fields.json", "An example alert message"),
        ("opsgenie/shoutrrr_create_alert_minimal.json", "hello world"),
        (
            "sentry/zulip_sentry_legacy_webhook_plugin_python_exception.json",
            "ValueError: new sentry error.",
        ),
    ],
)
def test_common_senders_are_accepted_with_a_sensible_title(
    service: Service, post: Post, name: str, title: str
) -> None:
    response = post(URL, fixture_json(name))
    run_once()

    assert response.status_code == 202
    assert Alert.objects.get().title == title
    assert Incident.objects.get().title == title


def test_sentry_level_is_mapped_and_its_issue_id_deduplicates(service: Service, post: Post) -> None:
    payload = fixture_json("sentry/zulip_sentry_legacy_webhook_plugin_python_exception.json")
    post(URL, payload)
    post(URL, payload)

    alert = Alert.objects.get()
    assert (alert.fingerprint, alert.severity, alert.count) == ("1972208801", "P2", 2)
    assert alert.links[0]["href"].startswith("https://sentry.io/organizations/")


def test_opsgenie_alias_is_the_dedup_key(service: Service, post: Post) -> None:
    post(URL, fixture_json("opsgenie/shoutrrr_create_alert_all_fields.json"))

    assert Alert.objects.get().fingerprint == "Life is too short for no alias"


def test_a_body_without_key_deduplicates_on_its_content(service: Service, post: Post) -> None:
    post(URL, {"message": "disk full"})
    post(URL, {"message": "disk full"})
    post(URL, {"message": "disk almost full"})

    assert sorted(Alert.objects.values_list("count", flat=True)) == [1, 2]


def test_a_body_without_key_is_resolved_by_the_same_body_with_a_resolved_status(
    service: Service, post: Post
) -> None:
    configure({"fields": {"status": "check.state"}})
    firing = {"title": "Disk full on db-1", "status": "firing", "host": "db-1"}
    post(URL, firing)
    post(URL, {"title": "Backup late", "check": {"state": "alerting"}})
    run_once()
    assert Incident.objects.count() == 2

    post(URL, {**firing, "status": "resolved"})
    post(URL, {"title": "Backup late", "check": {"state": "ok"}})
    run_once()

    # The status is not part of what identifies the alert (default and configured paths).
    assert set(Alert.objects.values_list("status", flat=True)) == {"resolved"}
    assert Alert.objects.count() == 2
    assert set(Incident.objects.values_list("status", flat=True)) == {"resolved"}


def test_a_datadog_recovery_resolves_with_a_configured_dedup_path(
    service: Service, post: Post
) -> None:
    configure({"fields": {"dedup_key": "event_tags"}})
    post(URL, fixture_json("datadog/codenow-fluffy_custom_payload_triggered.json"))
    run_once()
    post(URL, fixture_json("datadog/codenow-fluffy_custom_payload_recovered.json"))
    run_once()

    assert Incident.objects.get().status == Incident.Status.RESOLVED


def test_configured_paths_follow_objects_and_array_indexes(service: Service, post: Post) -> None:
    configure(
        {
            "fields": {
                "title": "alert.rules.0.name",
                "dedup_key": "alert.id",
                "severity": "alert.sev",
                "status": "alert.phase",
            },
            "resolved_values": ["Done"],
        }
    )
    body = {"alert": {"id": 7, "sev": "CRITICAL", "phase": "open", "rules": [{"name": "CPU"}]}}
    post(URL, body)
    alert = Alert.objects.get()
    assert (alert.title, alert.fingerprint, alert.severity) == ("CPU", "7", "P1")

    post(URL, {**body, "alert": {**body["alert"], "phase": "done"}})

    assert Alert.objects.get().status == Alert.Status.RESOLVED


@pytest.mark.parametrize("value", ["resolved", "OK", "Recovered", "closed", "inactive", "normal"])
def test_the_default_resolved_values(service: Service, post: Post, value: str) -> None:
    post(URL, {"id": "a1", "title": "CPU"})
    post(URL, {"id": "a1", "status": value})

    assert Alert.objects.get().status == Alert.Status.RESOLVED


def test_a_configured_path_leading_to_an_object_is_refused(service: Service, post: Post) -> None:
    configure({"fields": {"title": "alert"}})

    response = post(URL, {"alert": {"name": "CPU"}})

    assert response.status_code == 400
    assert response.json()["errors"] == ["'alert' is invalid (must be a string or a number)"]


def test_a_default_field_holding_an_object_is_skipped(service: Service, post: Post) -> None:
    post(URL, {"title": {"text": "CPU"}, "summary": "CPU high"})

    assert Alert.objects.get().title == "CPU high"


def test_a_malformed_config_falls_back_to_the_defaults(service: Service, post: Post) -> None:
    configure({"fields": ["title"], "resolved_values": "ok"})

    response = post(URL, {"title": "CPU"})

    assert response.status_code == 202
    assert Alert.objects.get().title == "CPU"


def test_a_dedup_key_longer_than_the_column_still_resolves(service: Service, post: Post) -> None:
    key = "k" * 300
    post(URL, {"dedup_key": key, "title": "CPU"})
    post(URL, {"dedup_key": key + "-other", "title": "CPU"})
    post(URL, {"dedup_key": key, "status": "resolved"})

    assert sorted(Alert.objects.values_list("status", flat=True)) == ["firing", "resolved"]
