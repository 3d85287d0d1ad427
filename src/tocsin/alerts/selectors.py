"""Alert and service reads."""

from __future__ import annotations

from django.conf import settings

from tocsin.alerts.models import Integration


def integration_url(integration: Integration) -> str:
    """The URL a monitoring tool posts to for this integration."""
    if integration.kind == Integration.Kind.PAGERDUTY:
        # PagerDuty clients post to /v2/enqueue and carry the key as routing_key in the body.
        return f"{settings.BASE_URL}/v2/enqueue"
    return f"{settings.BASE_URL}/integrations/{integration.kind}/{integration.key}"


def integration_for(*, kind: str, key: str) -> Integration | None:
    """The integration of ``kind`` with ``key``, with its service loaded."""
    if "\x00" in key:  # no key has one (PostgreSQL would refuse the query: not "retry later")
        return None
    return Integration.objects.select_related("service").filter(kind=kind, key=key).first()
