"""Prometheus Alertmanager notifications, replayed from recorded payloads."""

from __future__ import annotations

import copy

import pytest

from tests.alerts.helpers import URLS, Post
from tests.conftest import fixture_json
from tocsin.alerts.models import Alert, Service
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident

URL = URLS["alertmanager"]


def test_a_v4_notification_opens_one_incident_per_group_key(service: Service, post: Post) -> None:
    response = post(URL, fixture_json("alertmanager/zulip_alert_firing_2alerts.json"))

    assert response.status_code == 202
    assert response.json()["new"] == 2
    run_once()
    incident = Incident.objects.get()
    assert incident.group_key == "{}/{}:{}"
    assert incident.title == "High CPU core temperature"
    assert sorted(incident.alerts.values_list("fingerprint", flat=True)) == [
        "a1bc48475b20e73d",
        "c2ea85182f28cbd9",
    ]


def test_the_legacy_v3_payload_with_an_integer_group_key_is_accepted(
    service: Service, post: Post
) -> None:
    response = post(URL, fixture_json("alertmanager/alerta_prometheus_v3_legacy_firing.json"))

    assert response.status_code == 202
    run_once()
    assert Incident.objects.get().group_key == "5615590933959184469"


def test_a_repeat_of_a_firing_alert_counts_instead_of_duplicating(
    service: Service, post: Post
) -> None:
    payload = fixture_json("alertmanager/alerta_prometheus_v4_firing.json")
    post(URL, payload)
    response = post(URL, payload)

    assert response.json()["repeated"] == 1
    assert Alert.objects.get().count == 2


def test_a_firing_alert_with_a_future_ends_at_stays_firing(service: Service, post: Post) -> None:
    post(URL, fixture_json("alertmanager/alertmanager-bot_firing.json"))
    run_once()

    assert Alert.objects.get().status == Alert.Status.FIRING
    assert Incident.objects.get().status == Incident.Status.TRIGGERED


def test_a_resolved_status_resolves_the_incident_even_with_a_zero_ends_at(
    service: Service, post: Post
) -> None:
    firing = fixture_json("alertmanager/zulip_alert_firing_2alerts.json")
    firing["alerts"] = firing["alerts"][:1]
    post(URL, firing)
    run_once()
    post(URL, fixture_json("alertmanager/zulip_single_alert_resolved.json"))
    run_once()

    assert Alert.objects.get().status == Alert.Status.RESOLVED
    assert Incident.objects.get().status == Incident.Status.RESOLVED


def test_an_incident_stays_open_while_one_of_its_alerts_fires(service: Service, post: Post) -> None:
    post(URL, fixture_json("alertmanager/zulip_alert_firing_2alerts.json"))
    run_once()
    post(URL, fixture_json("alertmanager/zulip_single_alert_resolved.json"))
    run_once()

    assert Incident.objects.get().status == Incident.Status.TRIGGERED


def test_a_resolved_notification_resolves_what_the_firing_one_opened(
    service: Service, post: Post
) -> None:
    post(URL, fixture_json("alertmanager/alertmanager-bot_firing.json"))
    run_once()
    post(URL, fixture_json("alertmanager/alertmanager-bot_resolved.json"))
    run_once()

    assert Incident.objects.get().status == Incident.Status.RESOLVED


@pytest.mark.parametrize(("top_level", "expected"), [("firing", "firing"), ("resolved", None)])
def test_an_alert_without_status_takes_the_notification_status(
    service: Service, post: Post, top_level: str, expected: str | None
) -> None:
    payload = fixture_json("alertmanager/prometheus-msteams_prom_post_request_firing.json")
    payload["status"] = top_level

    response = post(URL, payload)

    assert response.status_code == 202
    # A resolved alert Tocsin never saw firing is accepted and ignored.
    assert list(Alert.objects.values_list("status", flat=True)) == ([expected] if expected else [])


def test_an_alert_without_any_status_is_firing(service: Service, post: Post) -> None:
    payload = fixture_json("alertmanager/prometheus-msteams_prom_post_request_firing.json")
    del payload["status"]

    post(URL, payload)

    assert Alert.objects.get().status == Alert.Status.FIRING


def test_the_title_is_the_summary_else_the_alert_name_else_alert(
    service: Service, post: Post
) -> None:
    payload = fixture_json("alertmanager/alertmanager-bot_firing.json")  # no summary
    nameless = copy.deepcopy(payload)
    nameless["alerts"][0]["labels"] = {"team": "checkout"}
    post(URL, payload)
    post(URL, nameless)

    assert sorted(Alert.objects.values_list("title", flat=True)) == ["Alert", "Fire"]


def test_the_severity_label_is_mapped_through_the_service_severity_map(
    service: Service, post: Post
) -> None:
    post(URL, fixture_json("alertmanager/prometheus-msteams_prom_post_request_firing.json"))
    run_once()

    alert = Alert.objects.get()
    assert (alert.source_severity, alert.severity) == ("warning", "P3")
    assert Incident.objects.get().severity == "P3"


def test_a_priority_label_stands_in_for_severity(service: Service, post: Post) -> None:
    payload = fixture_json("alertmanager/alertmanager-bot_firing.json")
    payload["alerts"][0]["labels"] = {"alertname": "Fire", "priority": "critical"}

    post(URL, payload)

    assert Alert.objects.get().severity == "P1"


def test_labels_annotations_and_the_generator_url_are_kept(service: Service, post: Post) -> None:
    post(URL, fixture_json("alertmanager/alertmanager-bot_firing.json"))

    alert = Alert.objects.get()
    assert alert.labels == {"alertname": "Fire", "severity": "critical"}
    assert alert.annotations == {"message": "Something is on fire"}
    assert alert.links == [
        {"href": "http://localhost:9090/graph?g0.expr=vector%28666%29&g0.tab=1", "text": "Source"}
    ]


def test_alerts_without_a_fingerprint_are_told_apart_by_their_labels(
    service: Service, post: Post
) -> None:
    payload = fixture_json("alertmanager/alertmanager-bot_firing.json")
    other = copy.deepcopy(payload)
    other["alerts"][0]["labels"]["instance"] = "web-2"
    post(URL, payload)
    post(URL, payload)
    post(URL, other)

    assert Alert.objects.count() == 2


def test_a_status_other_than_firing_or_resolved_is_refused(service: Service, post: Post) -> None:
    payload = fixture_json("alertmanager/alertmanager-bot_firing.json")
    payload["alerts"][0]["status"] = "pending"

    response = post(URL, payload)

    assert response.status_code == 400
    assert "'alerts[0].status' is invalid" in response.json()["errors"][0]


def test_one_notification_resolving_two_alerts_records_both_before_the_incident_closes(
    service: Service,
) -> None:
    from tocsin.alerts.services import alerts_ingest
    from tocsin.alerts.sources.base import NormalizedAlert
    from tocsin.engine.worker import run_once
    from tocsin.incidents.models import Incident

    integration = service.integrations.get(kind="alertmanager")
    firing = [
        NormalizedAlert(fingerprint=f, status="firing", title=f, group_key="g") for f in ("a", "b")
    ]
    alerts_ingest(integration=integration, alerts=firing)
    run_once()
    resolved = [
        NormalizedAlert(fingerprint=f, status="resolved", title=f, group_key="g")
        for f in ("a", "b")
    ]
    alerts_ingest(integration=integration, alerts=resolved)
    run_once()
    run_once()
    incident = Incident.objects.get()
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds[-3:] == ["alert_resolved", "alert_resolved", "resolved"]
