"""Constants and types shared by the ingestion tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    # Only in django-stubs: the test client's response, with .json().
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

PD_KEY = "9f1c2d3e4b5a69788796a5b4c3d2e1f0"
URLS = {
    "alertmanager": "/integrations/alertmanager/am-checkout-1",
    "grafana": "/integrations/grafana/gf-checkout-1",
    "webhook": "/integrations/webhook/wh-checkout-1",
    "pagerduty": "/v2/enqueue",
    "change": "/v2/change/enqueue",
}


class Post(Protocol):
    def __call__(self, path: str, body: Any, **headers: Any) -> TestResponse: ...


def with_pd_key(event: dict[str, Any]) -> dict[str, Any]:
    """A PagerDuty fixture addressed to the test service's integration."""
    return {**event, "routing_key": PD_KEY}
