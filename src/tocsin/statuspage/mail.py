"""Subscriber e-mail: one ``Notice`` row per message, sent by the worker after commit.

Mail goes through Django's mail backend (the same SMTP settings as pages) with RFC 8058
one-click unsubscribe headers, which the notifications ``Delivery`` rows (tied to people and
incidents) do not carry.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import UTC, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tocsin.engine.services import timer_schedule
from tocsin.statuspage.models import (
    Notice,
    PublicIncident,
    PublicIncidentUpdate,
    ScheduledMaintenance,
    Subscriber,
)
from tocsin.statuspage.tokens import unsubscribe_token

log = logging.getLogger("tocsin.statuspage")

NOTIFY = "statuspage.notify"
MAX_ATTEMPTS = 6
BATCH = 200


def _status_url() -> str:
    return f"{settings.BASE_URL}/status/"


def _queue(subscribers: list[Subscriber], *, key: str, kind: str, subject: str, text: str) -> int:
    """Create one notice per subscriber for this event (idempotent by key) and wake the worker."""
    notices = [
        Notice(key=f"{key}:{s.pk}"[:255], subscriber=s, kind=kind, subject=subject[:300], text=text)
        for s in subscribers
    ]
    Notice.objects.bulk_create(notices, ignore_conflicts=True)
    if notices:
        timer_schedule(kind=NOTIFY)
    return len(notices)


def _active() -> list[Subscriber]:
    return list(Subscriber.objects.filter(confirmed_at__isnull=False, unsubscribed_at__isnull=True))


def notify_confirm(*, subscriber: Subscriber, token: str) -> None:
    """Queue the double opt-in mail with its confirmation link."""
    link = f"{_status_url()}subscribe/confirm/{token}/"
    text = (
        f"Someone (hopefully you) asked to receive status updates at {subscriber.email}.\n\n"
        f"Confirm the subscription: {link}\n\n"
        "If you did not ask for this, ignore this message: nothing more will be sent.\n"
    )
    _queue(
        [subscriber],
        key=f"confirm:{subscriber.token}",
        kind="confirm",
        subject="Confirm your status page subscription",
        text=text,
    )


def notify_incident(*, public: PublicIncident, update: PublicIncidentUpdate) -> None:
    """Queue an incident update for every confirmed subscriber."""
    link = f"{_status_url()}incidents/{public.public_id}/"
    text = f"{update.status.title()}: {update.body}\n\n{public.name}\n{link}\n"
    _queue(
        _active(),
        key=f"incident:{update.public_id}",
        kind="incident",
        subject=f"[{update.status.title()}] {public.name}",
        text=text,
    )


def notify_maintenance(*, maintenance: ScheduledMaintenance, event: str) -> None:
    """Queue a maintenance notice (scheduled, started, completed) for confirmed subscribers."""
    m = maintenance
    link = f"{_status_url()}maintenance/{m.public_id}/"
    start, end = m.scheduled_for.astimezone(UTC), m.scheduled_until.astimezone(UTC)
    window = f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC"
    text = f"Maintenance {event}: {m.name}\nWindow: {window}\n{link}\n"
    _queue(
        _active(),
        key=f"maintenance:{m.pk}:{event}",
        kind="maintenance",
        subject=f"[Maintenance {event}] {m.name}",
        text=text,
    )


def _message(notice: Notice) -> EmailMessage:
    subscriber = notice.subscriber
    unsubscribe = f"{_status_url()}unsubscribe/{unsubscribe_token(subscriber)}/"
    footer = f"\n--\nUnsubscribe: {unsubscribe}\n"
    return EmailMessage(
        # A name may carry a line break (an alert summary); a header cannot.
        subject=" ".join(notice.subject.split()),
        body=notice.text + ("" if notice.kind == "confirm" else footer),
        to=[subscriber.email],
        headers={
            # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" to this URL.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def notices_send(*, limit: int = BATCH) -> int:
    """Send pending notices, each claimed by compare-and-set; return how many went out."""
    sent = 0
    pending = Notice.objects.filter(status=Notice.Status.PENDING).select_related("subscriber")
    for notice in pending.order_by("created_at", "id")[:limit]:
        claimed = Notice.objects.filter(
            pk=notice.pk, status=Notice.Status.PENDING, attempts=notice.attempts
        ).update(attempts=F("attempts") + 1)
        if not claimed:
            continue
        try:
            _message(notice).send()
        except smtplib.SMTPRecipientsRefused as exc:
            _fail(notice, f"recipient refused: {exc.recipients}", permanent=True)
            continue
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            _fail(notice, f"SMTP: {exc}", permanent=notice.attempts + 1 >= MAX_ATTEMPTS)
            continue
        except Exception as exc:
            # Never let one notice stop the others (it is the oldest, so first every pass).
            log.exception("status notice %s could not be sent", notice.pk)
            _fail(notice, f"{type(exc).__name__}: {exc}", permanent=True)
            continue
        Notice.objects.filter(pk=notice.pk).update(
            status=Notice.Status.SENT, sent_at=timezone.now()
        )
        sent += 1
    return sent


def _fail(notice: Notice, error: str, *, permanent: bool) -> None:
    log.warning("status notice %s failed: %s", notice.pk, error)
    status = Notice.Status.FAILED if permanent else Notice.Status.PENDING
    Notice.objects.filter(pk=notice.pk).update(status=status, error=error[:2000])
    if not permanent:
        delay = timedelta(seconds=min(30 * 2**notice.attempts, 3600))
        timer_schedule(kind=NOTIFY, due_at=timezone.now() + delay)


def notify_timer_fire() -> None:
    """Worker step: send after the step's transaction commits (never hold a lock over SMTP)."""
    transaction.on_commit(notices_send, robust=True)
