"""Alerts after a hand-made resolve, and group keys too long for an index."""

from __future__ import annotations

import pytest

from tests.alerts.helpers import PD_KEY, URLS, Post
from tocsin.alerts.models import Alert, Service
from tocsin.engine.worker import run_once
from tocsin.incidents.models import Incident
from tocsin.incidents.services import incident_resolve

pytestmark = pytest.mark.django_db

TRIGGER = {
    "routing_key": PD_KEY,
    "event_action": "trigger",
    "dedup_key": "disk-full",
    "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"},
}


def test_a_trigger_after_a_hand_made_resolve_opens_a_new_incident(
    service: Service, post: Post
) -> None:
    assert post(URLS["pagerduty"], TRIGGER).status_code == 202
    run_once()
    first = Incident.objects.get()
    incident_resolve(incident=first, message="fixed, I think")
    # Resolving the incident resolved its alert, as PagerDuty does ...
    assert Alert.objects.get().status == Alert.Status.RESOLVED

    assert post(URLS["pagerduty"], TRIGGER).status_code == 202
    run_once()
    # ... so the same alert firing again opens a new incident instead of vanishing into the
    # resolved one.
    second = Incident.objects.exclude(pk=first.pk).get()
    assert second.status == Incident.Status.TRIGGERED
    assert second.alerts.get().fingerprint == "disk-full"
    assert Alert.objects.count() == 2


def test_a_group_key_too_long_for_the_index_still_groups(service: Service, post: Post) -> None:
    # 1,000 four-byte characters: 4,000 bytes, past PostgreSQL's 2,704-byte index row.
    long_key = "\U0001f525" * 999 + "a"
    other_key = "\U0001f525" * 999 + "b"
    for n, key in enumerate([long_key, long_key, other_key]):
        body = {
            "version": "4",
            "groupKey": key,
            "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": f"A{n}"}}],
        }
        assert post(URLS["alertmanager"], body).status_code == 202
    run_once()
    stored = set(Alert.objects.values_list("group_key", flat=True))
    assert len(stored) == 2  # the same key stored the same way, another key apart
    assert all(len(key.encode()) <= 1000 for key in stored)
    assert Incident.objects.count() == 2


def _trigger(severity: str) -> dict[str, object]:
    return {**TRIGGER, "payload": {**TRIGGER["payload"], "severity": severity}}  # type: ignore[dict-item]


def test_a_repeat_at_a_higher_severity_raises_the_incident(service: Service, post: Post) -> None:
    from tocsin.policy.models import Severity

    for rank, name in enumerate(["P1", "P2", "P3", "P4"]):
        Severity.objects.create(name=name, rank=rank)
    assert post(URLS["pagerduty"], _trigger("warning")).status_code == 202
    run_once()
    assert Incident.objects.get().severity == "P3"
    # Repeats at the same severity change nothing and are not processed again.
    assert post(URLS["pagerduty"], _trigger("warning")).status_code == 202
    from tocsin.engine.models import Timer

    assert not Timer.objects.filter(kind="alert.process", done_at__isnull=True).exists()

    assert post(URLS["pagerduty"], _trigger("critical")).status_code == 202
    run_once()
    alert = Alert.objects.get()
    assert (alert.count, alert.severity, alert.previous_severity) == (3, "P1", "P3")
    incident = Incident.objects.get()
    assert incident.severity == "P1"
    assert incident.timeline.get(kind="severity_changed").message == (
        "Raised by alert 'Disk full on db-1'"
    )
    # A later, milder repeat does not lower it.
    assert post(URLS["pagerduty"], _trigger("warning")).status_code == 202
    run_once()
    assert Incident.objects.get().severity == "P1"
