"""How to point a monitoring tool at an integration: its URL and an example request."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tocsin.alerts.models import Integration
from tocsin.alerts.selectors import integration_url

_LABELS = {"alertname": "HighErrorRate", "severity": "critical", "service": "checkout"}
_ANNOTATIONS = {"summary": "Error rate above 5% for 5 minutes"}
_STARTS_AT = "2026-01-01T12:00:00Z"


@dataclass(frozen=True)
class IntegrationGuide:
    """What the services page shows for one integration."""

    kind: str
    name: str
    url: str
    routing_key: str  # PagerDuty only: the key travels in the body, not the URL
    curl: str


def _alertmanager_body(integration: Integration) -> dict[str, Any]:
    # The Alertmanager webhook payload, version 4:
    # https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
    alert = {"status": "firing", "labels": _LABELS, "annotations": _ANNOTATIONS}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": _LABELS,
        "commonAnnotations": _ANNOTATIONS,
        "externalURL": "http://alertmanager:9093",
        "alerts": [{**alert, "startsAt": _STARTS_AT, "fingerprint": "c0ffee00c0ffee00"}],
    }


def _grafana_body(integration: Integration) -> dict[str, Any]:
    # Grafana's webhook contact point sends the Alertmanager shape plus a few fields:
    # https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/
    body = _alertmanager_body(integration)
    body.update({"version": "1", "orgId": 1, "state": "alerting", "title": "[FIRING:1] Checkout"})
    return body


def _pagerduty_body(integration: Integration) -> dict[str, Any]:
    # PagerDuty Events API v2: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
    return {
        "routing_key": integration.key,
        "event_action": "trigger",
        "dedup_key": "checkout-error-rate",
        "payload": {
            "summary": _ANNOTATIONS["summary"],
            "source": "checkout",
            "severity": "critical",
        },
    }


def _webhook_body(integration: Integration) -> dict[str, Any]:
    return {"title": _ANNOTATIONS["summary"], "status": "firing", "severity": "critical"}


_BODIES: dict[str, Callable[[Integration], dict[str, Any]]] = {
    Integration.Kind.ALERTMANAGER: _alertmanager_body,
    Integration.Kind.GRAFANA: _grafana_body,
    Integration.Kind.PAGERDUTY: _pagerduty_body,
    Integration.Kind.WEBHOOK: _webhook_body,
}


def _one_key_a_line(body: dict[str, Any]) -> str:
    # Shorter than indent=2 and still easy to edit: one top-level field per line.
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in body.items()]
    return "{\n" + ",\n".join(lines) + "\n}"


def curl_example(integration: Integration) -> str:
    """A curl command that sends one firing alert to ``integration``."""
    body_for = _BODIES.get(integration.kind, _webhook_body)
    body = _one_key_a_line(body_for(integration))
    return (
        f"curl -X POST {shlex.quote(integration_url(integration))} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  --data-binary {shlex.quote(body)}"
    )


def integration_guide(integration: Integration) -> IntegrationGuide:
    """The URL, routing key and example request for one integration."""
    is_pagerduty = integration.kind == Integration.Kind.PAGERDUTY
    return IntegrationGuide(
        kind=integration.kind,
        name=integration.name,
        url=integration_url(integration),
        routing_key=integration.key if is_pagerduty else "",
        curl=curl_example(integration),
    )
