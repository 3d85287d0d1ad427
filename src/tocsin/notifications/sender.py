"""The sending side of the worker: claim due deliveries, send each once, record the outcome.

Sending happens outside any database transaction (a slow SMTP server must not hold the write
lock). The claim (attempts + 1, lease) commits before sending; a worker killed between sending
and recording re-sends after the lease: at-least-once, with the window one network call wide.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from tocsin.accounts.models import ContactMethod
from tocsin.incidents.models import Incident
from tocsin.incidents.services import timeline_add
from tocsin.notifications.messages import page_message
from tocsin.notifications.models import Delivery
from tocsin.notifications.services import delivery_fallback
from tocsin.notifications.transports import TRANSPORTS, TransportError

log = logging.getLogger("tocsin.notifications")

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8


def backoff(attempt: int) -> timedelta:
    """Exponential backoff with full jitter: up to 5 s, 10 s, 20 s ... capped at 10 minutes."""
    cap = min(5 * 2 ** (attempt - 1), 600)
    return timedelta(seconds=random.uniform(cap / 2, cap))


def _claim(delivery: Delivery, now: datetime) -> bool:
    return (
        Delivery.objects.filter(
            pk=delivery.pk,
            status=Delivery.Status.PENDING,
            attempts=delivery.attempts,
            due_at__lte=now,
        ).update(attempts=F("attempts") + 1, due_at=now + LEASE)
        == 1
    )


def _finish(delivery: Delivery, attempts: int, **fields: object) -> None:
    Delivery.objects.filter(pk=delivery.pk, attempts=attempts).update(**fields)


def delivery_send(delivery: Delivery, now: datetime | None = None) -> bool:
    """Claim and send one due delivery; True when it was handed to its transport."""
    now = now or timezone.now()
    if not _claim(delivery, now):
        return False
    attempts = delivery.attempts + 1
    incident = delivery.incident
    if (
        delivery.only_if_triggered
        and incident is not None
        and incident.status != Incident.Status.TRIGGERED
    ):
        _finish(
            delivery,
            attempts,
            status=Delivery.Status.CANCELLED,
            error=f"not sent: incident {incident.status}",
        )
        return False
    transport = TRANSPORTS.get(delivery.transport)
    try:
        if transport is None:
            raise TransportError(f"unknown transport {delivery.transport!r}", permanent=True)
        transport.send(delivery.target, page_message(delivery))
    except TransportError as exc:
        _failed(delivery, attempts, exc)
        return False
    _finish(delivery, attempts, status=Delivery.Status.SENT, sent_at=timezone.now(), error="")
    if delivery.contact_method_id:
        ContactMethod.objects.filter(pk=delivery.contact_method_id).exclude(
            status=ContactMethod.Status.OK
        ).update(status=ContactMethod.Status.OK, last_error="")
    return True


def _failed(delivery: Delivery, attempts: int, exc: TransportError) -> None:
    log.warning("delivery %s (%s) failed: %s", delivery.pk, delivery.transport, exc.message)
    if not exc.permanent and attempts < MAX_ATTEMPTS:
        _finish(
            delivery, attempts, error=exc.message[:2000], due_at=timezone.now() + backoff(attempts)
        )
        return
    _finish(delivery, attempts, status=Delivery.Status.FAILED, error=exc.message[:2000])
    if delivery.contact_method_id:
        ContactMethod.objects.filter(pk=delivery.contact_method_id).update(
            status=ContactMethod.Status.FAILING,
            last_error=exc.message[:2000],
            failing_since=timezone.now(),
        )
    fallback = delivery_fallback(delivery=delivery)
    if delivery.incident is not None:
        timeline_add(
            incident=delivery.incident,
            kind="notification_failed",
            actor_label="notifications",
            message=(
                f"{delivery.transport} to {delivery.user} failed: {exc.message}"
                + (f"; trying {fallback.transport}" if fallback else "")
            ),
        )


def deliveries_send_due(*, limit: int = 100) -> int:
    """Send every delivery due now (up to ``limit``); return how many were sent."""
    now = timezone.now()
    due = (
        Delivery.objects.filter(status=Delivery.Status.PENDING, due_at__lte=now)
        .select_related("incident__service", "user")
        .order_by("due_at", "id")[:limit]
    )
    return sum(delivery_send(d, now) for d in list(due))
