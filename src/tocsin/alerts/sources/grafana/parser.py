"""Grafana unified alerting webhook bodies (``"version": "1"``, Grafana 9 and later).

Format: https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/
The body extends Alertmanager's webhook format, so the common part is read by that parser.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from tocsin.alerts.sources.alertmanager.parser import Group, read_alert, read_group
from tocsin.alerts.sources.base import NormalizedAlert
from tocsin.alerts.sources.fields import Fields, decode_object, web_link

SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
# How far the optional signed timestamp may be from our clock (replay protection).
MAX_CLOCK_SKEW_SECONDS = 300

_EXTRA_LINKS = (
    ("silenceURL", "Silence"),
    ("dashboardURL", "Dashboard"),
    ("panelURL", "Panel"),
    ("imageURL", "Image"),
)


def _read_alert(fields: Fields, *, group: Group) -> NormalizedAlert:
    alert = read_alert(fields, group=group)
    for key, text in _EXTRA_LINKS:
        # generatorURL can be relative ("?orgId=1", Grafana 12 test alerts): resolved against
        # externalURL by read_alert; the other links get the same treatment.
        link = web_link(fields.text(key), text, base=group.external_url)
        if link:
            alert.links.append(link)
    fields.integer("orgId")
    alert.details["values"] = fields.numbers("values")
    alert.details["valueString"] = fields.text("valueString")
    return alert


def parse(body: bytes, *, config: Mapping[str, Any] | None = None) -> list[NormalizedAlert]:
    """Parse a Grafana webhook body into one alert per entry of ``alerts``."""
    fields = Fields(decode_object(body))
    group = read_group(fields)
    for key in ("title", "state", "message", "appVersion"):
        fields.text(key)
    fields.integer("orgId")
    alerts = [_read_alert(item, group=group) for item in fields.objects("alerts", required=True)]
    fields.raise_if_errors("Invalid Grafana webhook payload")
    return alerts


def signature_valid(
    *,
    secret: str,
    body: bytes,
    signature: str,
    timestamp: str | None = None,
    now: float | None = None,
) -> bool:
    """Check Grafana's HMAC-SHA256 signature of the raw body (hex).

    With a timestamp header configured, Grafana signs ``timestamp + ":" + body`` and sends the
    Unix timestamp in that header; a stale one is refused so a captured request cannot be
    replayed. See "HMAC signature" in the webhook notifier docs linked above.
    """
    message = body
    if timestamp is not None:
        timestamp = timestamp.strip()
        # A Unix time in seconds has 10 digits; thousands would not even convert to a number.
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            return False
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
            return False
        message = f"{timestamp}:".encode() + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    # Compare bytes: compare_digest refuses str with non-ASCII characters (a forged header).
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())
