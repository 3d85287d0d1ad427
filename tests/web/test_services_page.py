"""The services page: where each monitoring tool should send its alerts, and recent changes."""

from __future__ import annotations

import json
import shlex
from datetime import timedelta
from html import unescape

from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tocsin.accounts.models import Team
from tocsin.alerts.models import ChangeEvent, Integration, Service
from tocsin.web.integrations import curl_example


def page(browser: Client) -> str:
    response = browser.get(reverse("web:service-list"))
    assert response.status_code == 200
    return unescape(response.content.decode())


def test_it_shows_each_integrations_ingestion_url(browser: Client, service: Service) -> None:
    html = page(browser)

    base = settings.BASE_URL
    for kind, key in [
        ("alertmanager", "am-checkout-1"),
        ("grafana", "gf-checkout-1"),
        ("webhook", "wh-checkout-1"),
    ]:
        assert f'<code class="copy">{base}/integrations/{kind}/{key}</code>' in html
    # PagerDuty senders post to one URL and carry the key in the body.
    assert f'<code class="copy">{base}/v2/enqueue</code>' in html
    assert '<code class="copy">9f1c2d3e4b5a69788796a5b4c3d2e1f0</code>' in html
    assert "/integrations/pagerduty/" not in html


def test_it_shows_team_escalation_policy_and_severity_map(
    browser: Client, service: Service
) -> None:
    service.team = Team.objects.create(name="Payments")
    service.escalation_policy = "checkout-primary"
    service.save(update_fields=["team", "escalation_policy"])

    html = page(browser)

    assert "Payments" in html
    assert "checkout-primary" in html
    assert '<code>critical</code> → <span class="badge sev sev-0">P1</span>' in html


def test_each_kind_has_a_curl_example(browser: Client, service: Service) -> None:
    html = page(browser)

    assert html.count("curl -X POST") == 4
    assert f"curl -X POST {settings.BASE_URL}/v2/enqueue" in html


def test_the_curl_examples_send_valid_json(service: Service) -> None:
    for integration in Integration.objects.filter(service=service):
        words = shlex.split(curl_example(integration).replace("\\\n", " "))
        body = json.loads(words[words.index("--data-binary") + 1])
        assert isinstance(body, dict)
        if integration.kind == "pagerduty":
            assert body["routing_key"] == integration.key
            assert body["event_action"] == "trigger"


def test_it_lists_the_five_most_recent_changes(browser: Client, service: Service) -> None:
    now = timezone.now()
    for n in range(7):
        ChangeEvent.objects.create(
            service=service,
            summary=f"Deploy v{40 + n}",
            source="ci",
            happened_at=now - timedelta(hours=7 - n),
            links=[{"href": f"https://ci.example.com/{n}", "text": "build"}],
        )

    html = page(browser)

    assert "Deploy v46" in html and "Deploy v42" in html
    assert "Deploy v41" not in html
    assert html.index("Deploy v46") < html.index("Deploy v45")
    assert 'href="https://ci.example.com/6"' in html


def test_change_links_that_are_not_http_are_dropped(browser: Client, service: Service) -> None:
    ChangeEvent.objects.create(
        service=service,
        summary="Config change",
        happened_at=timezone.now(),
        links=[{"href": "javascript:alert(1)", "text": "click"}],
    )

    html = page(browser)

    assert "Config change" in html
    assert "javascript:" not in html


def test_a_service_without_integrations_says_so(browser: Client, db: None) -> None:
    Service.objects.create(name="Search")

    html = page(browser)

    assert "No integrations: alerts cannot reach this service yet." in html
    assert "No change events." in html
