"""Ingestion endpoints: read the body, parse it, store its alerts durably, then answer.

The 2xx goes out only after ``alerts_ingest`` returned, i.e. after the commit: a sender that
got it may forget the alert. Grouping into incidents and paging happen in the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from tocsin.alerts import replies, selectors, services
from tocsin.alerts.models import Integration
from tocsin.alerts.sources import PARSERS
from tocsin.alerts.sources.base import ParseError
from tocsin.alerts.sources.grafana import parser as grafana
from tocsin.alerts.sources.pagerduty import parser as pagerduty

log = logging.getLogger("tocsin.alerts")

RETRY_AFTER_SECONDS = replies.RETRY_AFTER_SECONDS

View = Callable[..., HttpResponse]


class BodyTooLarge(Exception):
    """The body is over ``settings.MAX_ALERT_BODY_BYTES``."""


def ingestion_endpoint(*methods: str) -> Callable[[View], View]:
    """Exempt a view from CSRF and answer other methods with a JSON 405."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return respond(replies.method_not_allowed(str(request.method), methods))
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refused past the limit: by Content-Length first, then by what arrived.

    Content-Length can be absent or understated (chunked bodies under ASGI), so the read itself
    stops one byte past the limit instead of trusting the header.
    """
    limit = settings.MAX_ALERT_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


def respond(reply: replies.Reply) -> JsonResponse:
    """The Django response for a shared ``Reply``."""
    response = JsonResponse(reply.body, status=reply.status)
    for name, value in reply.headers.items():
        response[name] = value
    return response


def grafana_signature_ok(
    header: Callable[[str], str], integration: Integration, body: bytes
) -> bool:
    """Check the HMAC signature when the integration has a secret (else accept).

    ``header(name)`` returns a request header by case-insensitive name, "" when absent.
    """
    config = integration.config or {}
    secret = config.get("secret")
    if not secret:
        return True
    name = str(config.get("signature_header") or grafana.SIGNATURE_HEADER)
    timestamp_header = config.get("timestamp_header")
    return grafana.signature_valid(
        secret=str(secret),
        body=body,
        signature=header(name),
        timestamp=header(str(timestamp_header)) if timestamp_header else None,
    )


def _receive(request: HttpRequest, *, kind: str, key: str) -> HttpResponse:
    """Ingest one Alertmanager-style delivery (Alertmanager, Grafana, generic webhook)."""
    try:
        body = read_body(request)
    except BodyTooLarge:
        return respond(replies.too_large())
    try:
        integration = selectors.integration_for(kind=kind, key=key)
        if integration is None:
            return respond(replies.unknown_key(kind))
        if kind == Integration.Kind.GRAFANA and not grafana_signature_ok(
            lambda name: request.headers.get(name, ""), integration, body
        ):
            return respond(replies.bad_signature())
        alerts = PARSERS[kind](body, config=integration.config or {})
        result = services.alerts_ingest(integration=integration, alerts=alerts)
    except ParseError as exc:
        return respond(replies.error(400, exc.message, exc.errors))
    except DatabaseError:
        log.exception("%s ingest failed on the database", kind)
        return respond(replies.unavailable())
    return respond(replies.accepted(result))


@ingestion_endpoint("POST")
def alertmanager_receive(request: HttpRequest, key: str) -> HttpResponse:
    """Receive a Prometheus Alertmanager webhook notification."""
    return _receive(request, kind=Integration.Kind.ALERTMANAGER, key=key)


# Grafana's webhook contact point can be set to send PUT instead of POST.
@ingestion_endpoint("POST", "PUT")
def grafana_receive(request: HttpRequest, key: str) -> HttpResponse:
    """Receive a Grafana unified alerting webhook notification."""
    return _receive(request, kind=Integration.Kind.GRAFANA, key=key)


@ingestion_endpoint("POST")
def webhook_receive(request: HttpRequest, key: str) -> HttpResponse:
    """Receive any JSON object as one alert."""
    return _receive(request, kind=Integration.Kind.WEBHOOK, key=key)


# ---- PagerDuty Events API v2 --------------------------------------------------------------


@ingestion_endpoint("POST")
def pagerduty_enqueue(request: HttpRequest) -> HttpResponse:
    """Receive a PagerDuty Events API v2 alert event (trigger, acknowledge or resolve)."""
    try:
        event = pagerduty.parse_event(read_body(request))
    except BodyTooLarge:
        return respond(replies.pd_too_large())
    except ParseError as exc:
        return respond(replies.pd_parse_error(exc))
    try:
        integration = selectors.integration_for(
            kind=Integration.Kind.PAGERDUTY, key=event.routing_key
        )
        if integration is None:
            return respond(replies.pd_unknown_key())
        if event.action == "acknowledge":
            services.alerts_acknowledge(integration=integration, fingerprint=event.dedup_key)
        else:
            # A resolve for a key Tocsin has no firing alert for is accepted and ignored.
            services.alerts_ingest(integration=integration, alerts=[event.alert])
    except DatabaseError:
        log.exception("pagerduty ingest failed on the database")
        return respond(replies.pd_busy())
    return respond(replies.pd_accepted(event.dedup_key))


@ingestion_endpoint("POST")
def pagerduty_change_enqueue(request: HttpRequest) -> HttpResponse:
    """Receive a PagerDuty change event: recorded on the service, opens nothing."""
    try:
        change = pagerduty.parse_change(read_body(request))
    except BodyTooLarge:
        return respond(replies.pd_too_large())
    except ParseError as exc:
        return respond(replies.pd_parse_error(exc))
    try:
        integration = selectors.integration_for(
            kind=Integration.Kind.PAGERDUTY, key=change.routing_key
        )
        if integration is None:
            return respond(replies.pd_unknown_key())
        services.change_event_record(
            integration=integration,
            summary=change.summary,
            source=change.source,
            happened_at=change.timestamp,
            links=change.links,
            details=change.details,
        )
    except DatabaseError:
        log.exception("pagerduty change event failed on the database")
        return respond(replies.pd_busy())
    return respond(replies.pd_change_accepted())
