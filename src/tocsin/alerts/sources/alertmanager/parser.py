"""Prometheus Alertmanager webhook bodies (version 4, and the legacy version 3).

Format: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
Grafana's webhook contact point sends the same shape with extra fields (see ``grafana``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tocsin.alerts.sources.base import NormalizedAlert, labels_fingerprint
from tocsin.alerts.sources.fields import Fields, decode_object, web_link

STATUSES = ("firing", "resolved")


@dataclass
class Group:
    """What every alert of one notification shares."""

    key: str
    status: str
    receiver: str
    external_url: str


def read_group(fields: Fields) -> Group:
    """Read the notification-level fields of an Alertmanager-shaped body."""
    # Version 3 (Alertmanager before 0.6) sent groupKey as an integer hash; version 4 sends
    # the group's label matchers as a string.
    group_key = fields.value("groupKey", (str, int), "a string")
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        fields.labels(key)
    fields.text("version")
    fields.integer("truncatedAlerts")
    return Group(
        key="" if group_key is None else str(group_key),
        status=fields.text("status", choices=STATUSES),
        receiver=fields.text("receiver"),
        external_url=fields.text("externalURL"),
    )


def alert_title(*, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The alert's summary annotation, else its alert name."""
    return annotations.get("summary") or labels.get("alertname") or "Alert"


def read_alert(fields: Fields, *, group: Group) -> NormalizedAlert:
    """Read one entry of ``alerts``."""
    labels = fields.labels("labels")
    annotations = fields.labels("annotations")
    # Resolution comes from each alert's own status, never from endsAt: a firing alert carries
    # a future endsAt (its resolve timeout) and hand-written senders put the zero time in a
    # resolved one. Trimmed senders omit the status: fall back to the notification's status.
    status = fields.text("status", choices=STATUSES) or group.status or "firing"
    generator_url = fields.text("generatorURL")
    ends_at = fields.text("endsAt")
    fields.time("endsAt")
    link = web_link(generator_url, "Source", base=group.external_url)
    return NormalizedAlert(
        fingerprint=fields.text("fingerprint") or labels_fingerprint(labels),
        status="resolved" if status == "resolved" else "firing",
        title=alert_title(labels=labels, annotations=annotations),
        group_key=group.key,
        source=labels.get("instance") or labels.get("job") or "",
        source_severity=labels.get("severity") or labels.get("priority") or "",
        labels=labels,
        annotations=annotations,
        details={"receiver": group.receiver, "endsAt": ends_at},
        links=[link] if link else [],
        starts_at=fields.time("startsAt"),
    )


def parse(body: bytes, *, config: Mapping[str, Any] | None = None) -> list[NormalizedAlert]:
    """Parse an Alertmanager webhook body into one alert per entry of ``alerts``."""
    fields = Fields(decode_object(body))
    group = read_group(fields)
    alerts = [read_alert(item, group=group) for item in fields.objects("alerts", required=True)]
    fields.raise_if_errors("Invalid Alertmanager webhook payload")
    return alerts
