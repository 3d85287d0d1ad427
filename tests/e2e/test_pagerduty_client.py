"""PagerDuty's official Python client (``pagerduty`` on PyPI) talks to a live Tocsin.

The client only accepts an ``https://`` base URL (``ApiClient.url`` refuses anything else), so
it gets a made-up https base URL and an httpx2 transport that sends each request to Tocsin's
plain-HTTP port instead: the client's own request building, retries and response checks run.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from harness import Configured
from pagerduty import EventsApiV2Client

pytestmark = pytest.mark.e2e

TRANSITION = 20.0  # the worker applies each event within ~250 ms; generous for a loaded box


class ToLocalTocsin(httpx2.HTTPTransport):
    """Rewrite ``https://<anything>/path`` to ``http://127.0.0.1:<port>/path``."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.requests: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        response = super().handle_request(request)
        self.requests.append((request.method, request.url.path, response.status_code))
        return response


def _client(tocsin: Configured) -> tuple[EventsApiV2Client, ToLocalTocsin]:
    transport = ToLocalTocsin(tocsin.server.port)
    client = EventsApiV2Client(
        tocsin.pagerduty_key, base_url="https://events.tocsin.invalid", transport=transport
    )
    client.max_http_attempts = 3  # bounded, should Tocsin ever answer 429/5xx here
    return client, transport


def test_trigger_acknowledge_resolve_with_one_dedup_key(tocsin: Configured) -> None:
    server = tocsin.server
    client, transport = _client(tocsin)
    summary = f"E2E: checkout p99 latency above 2 s ({secrets.token_hex(3)})"
    dedup_key = f"e2e-{secrets.token_hex(6)}"

    def incident() -> dict[str, Any] | None:
        incidents = server.incidents(service=tocsin.pagerduty_service)
        found = [i for i in incidents if i["title"] == summary]
        assert len(found) <= 1, f"one dedup_key must make one incident: {found}"
        return found[0] if found else None

    def in_status(status: str) -> dict[str, Any] | None:
        current = incident()
        return current if current and current["status"] == status else None

    assert (
        client.trigger(summary, "checkout-7f9c", dedup_key=dedup_key, severity="error") == dedup_key
    )
    opened = server.wait_for(lambda: in_status("triggered"), TRANSITION, message="triggered")
    assert opened["severity"] == "P2", opened  # severity=error through severity_map
    assert opened["service"]["name"] == tocsin.pagerduty_service, opened

    assert client.acknowledge(dedup_key) == dedup_key
    acked = server.wait_for(lambda: in_status("acknowledged"), TRANSITION, message="acknowledged")
    assert acked["acknowledged_by"] is None, acked  # the source acknowledged, not a person

    assert client.resolve(dedup_key) == dedup_key
    done = server.wait_for(lambda: in_status("resolved"), TRANSITION, message="resolved")
    assert done["id"] == opened["id"], (opened, done)

    alerts: list[dict[str, Any]] = server.api("get", f"/incidents/{done['id']}/alerts")
    assert len(alerts) == 1, alerts
    assert alerts[0]["integration"] == "pagerduty" and alerts[0]["status"] == "resolved", alerts
    kinds = [e["kind"] for e in server.api("get", f"/incidents/{done['id']}/timeline")]
    assert kinds.index("acknowledged") < kinds.index("resolved"), kinds
    assert transport.requests == [("POST", "/v2/enqueue", 202)] * 3, transport.requests


def test_change_event_is_recorded_and_opens_nothing(tocsin: Configured) -> None:
    server = tocsin.server
    client, transport = _client(tocsin)
    summary = f"E2E deploy checkout v2.{secrets.token_hex(2)}"
    before = server.incidents(service=tocsin.pagerduty_service)

    # submit() without a timestamp crashes inside pagerduty 7.2.0 (its event_timestamp calls
    # datetime.timezone on the datetime class), so the test passes one, as callers must.
    client.submit(
        summary,
        source="ci",
        custom_details={"build": "1234", "commit": "abc123"},
        links=[{"href": "https://ci.example/builds/1234", "text": "build 1234"}],
        timestamp=datetime.now(UTC).isoformat(),
    )
    assert transport.requests == [("POST", "/v2/change/enqueue", 202)], transport.requests

    stored = server.cli(
        "django",
        "shell",
        "-c",
        "from tocsin.alerts.models import ChangeEvent; "
        f"c = ChangeEvent.objects.get(summary={summary!r}); "
        "print(c.service.name, '|', c.source, '|', c.integration.kind)",
    ).stdout.strip()
    assert stored.splitlines()[-1] == f"{tocsin.pagerduty_service} | ci | pagerduty", stored
    assert server.incidents(service=tocsin.pagerduty_service) == before
