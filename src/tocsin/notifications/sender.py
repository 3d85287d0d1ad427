"""The sending side of the worker: claim due deliveries, send each once, record the outcome.

Sending happens outside any database transaction (a slow SMTP server must not hold the write
lock). The claim (attempts + 1, lease) commits before sending; a worker killed between sending
and recording re-sends after the lease: at-least-once, with the window one network call wide.

Storms: deliveries due at the same moment for the same destination go out as one message, and
each destination gets at most ``RATE_PER_MINUTE`` messages a minute; the rest wait and are
bundled into the next message. Every delivery row stays, pointing at the message that carried it.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from datetime import datetime, timedelta
from functools import partial

from django.db import connection
from django.db.models import F, Min
from django.utils import timezone

from tocsin.accounts.models import ContactMethod
from tocsin.dbwrite import atomic_polling
from tocsin.incidents.models import Incident
from tocsin.incidents.services import timeline_add
from tocsin.notifications.messages import bundle_message, page_message
from tocsin.notifications.models import Delivery
from tocsin.notifications.services import TEST_KIND, delivery_fallback
from tocsin.notifications.transports import TRANSPORTS, Message, TransportError

log = logging.getLogger("tocsin.notifications")

# How long a claimed message is ours while its transport works. Longer than any send can take
# (webhooks time out after 10 s, SMTP after 20 s per step, apprise's services after a few
# seconds per socket operation): a slow but live send must never be claimed and sent again by
# another worker. The price: a message in doubt after a worker was killed mid-send goes out
# again up to this long after.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
RATE_PER_MINUTE = 4
PER_DESTINATION = 200  # deliveries one message may carry (a bundle lists 50, then a count)
POSTPONE_PER_PASS = 1000  # a rate-limited destination's deliveries postponed in one pass
WINDOW = timedelta(minutes=1)
# Messages that call someone to an incident (policy pages, direct pages, their fallbacks): never
# sent once it is resolved. Notices (updates, reminders, breaches) are sent whatever the status.
PAGE_KINDS = frozenset({"page", "escalate", "fallback"})


def backoff(attempt: int) -> timedelta:
    """Exponential backoff with jitter: about 5 s, 10 s, 20 s ... capped at 10 minutes."""
    cap = min(5 * 2 ** (attempt - 1), 600)
    return timedelta(seconds=random.uniform(cap / 2, cap))


def _claim(delivery: Delivery, now: datetime) -> bool:
    claimed = Delivery.objects.filter(
        pk=delivery.pk,
        status=Delivery.Status.PENDING,
        attempts=delivery.attempts,
        due_at__lte=now,
    ).update(attempts=F("attempts") + 1, due_at=now + LEASE)
    if claimed:
        delivery.attempts += 1
    return claimed == 1


def _finish(delivery: Delivery, **fields: object) -> None:
    Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(**fields)


def _send_group(deliveries: list[Delivery], now: datetime) -> int:
    """Claim (and commit), send, then record one message for deliveries to one destination."""
    # atomic_polling: take SQLite's write lock as soon as alert ingestion lets go of it (in a
    # storm SQLite's busy handler would make every claim wait tens of milliseconds).
    wanted = atomic_polling(lambda: _claim_group(deliveries, now))
    if not wanted:
        return 0
    outcome = _transmit(wanted)
    return atomic_polling(lambda: _record(wanted, outcome))


def _claim_group(deliveries: list[Delivery], now: datetime) -> list[Delivery]:
    """Claim deliveries by compare-and-set (commit before sending); drop the unwanted ones.

    One statement for the whole group (a storm's bundle carries up to ``PER_DESTINATION``
    pages; a claim each made one send cost hundreds of round trips): a row is ours when it was
    still pending and due (a claim moves ``due_at`` to its lease end and counts an attempt).
    """
    if len(deliveries) == 1:
        claimed = [d for d in deliveries if _claim(d, now)]
    else:
        attempts = _claim_many([d.pk for d in deliveries], now, now + LEASE)
        claimed = [d for d in deliveries if d.pk in attempts]
        for d in claimed:
            d.attempts = attempts[d.pk]  # the fence that records the outcome
    # The incidents' status as of now, not as of the start of the pass: an acknowledgement
    # that came in while earlier messages of this pass were being sent stops these.
    statuses = dict(
        Incident.objects.filter(
            pk__in={d.incident_id for d in claimed if d.incident_id}
        ).values_list("pk", "status")
    )
    wanted, unwanted = [], []
    for d in claimed:
        incident = d.incident
        if incident is not None:
            incident.status = statuses.get(incident.pk, incident.status)
        if incident is not None and (
            (d.only_if_triggered and incident.status != Incident.Status.TRIGGERED)
            # A resolved incident pages nobody, whoever asked (direct pages, fallbacks).
            or (d.kind in PAGE_KINDS and not incident.is_open)
        ):
            unwanted.append(d)
        else:
            wanted.append(d)
    for status in {d.incident.status for d in unwanted if d.incident is not None}:
        _finish_many(
            [d for d in unwanted if d.incident is not None and d.incident.status == status],
            status=Delivery.Status.CANCELLED,
            error=f"not sent: incident {status}",
        )
    return wanted


def _claim_many(ids: list[int], now: datetime, lease_until: datetime) -> dict[int, int]:
    """Move the pending, due rows among ``ids`` to ``lease_until`` (attempts + 1) in one
    UPDATE; return {id: attempts} of the rows it moved (RETURNING: SQLite >= 3.35, PostgreSQL)."""
    adapt = connection.ops.adapt_datetimefield_value
    table = connection.ops.quote_name(Delivery._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET attempts = attempts + 1, due_at = %s "
            f"WHERE id IN ({marks}) AND status = %s AND due_at <= %s RETURNING id, attempts",
            [adapt(lease_until), *ids, Delivery.Status.PENDING, adapt(now)],
        )
        return {row[0]: row[1] for row in cursor.fetchall()}


def _finish_many(deliveries: list[Delivery], **fields: object) -> None:
    """``_finish`` for deliveries claimed together, one UPDATE per attempts count (the fence:
    a row that a later claim took over after the lease has moved on and is left alone)."""
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for d in deliveries:
        by_attempts[d.attempts].append(d.pk)
    for attempts, ids in by_attempts.items():
        Delivery.objects.filter(pk__in=ids, attempts=attempts).update(**fields)


def _transmit(wanted: list[Delivery]) -> TransportError | datetime:
    """Hand one message for ``wanted`` to its transport: the time it was handed, or the error.

    Runs outside any transaction: a slow SMTP server must not hold the database.
    """
    leader = wanted[0]
    transport = TRANSPORTS.get(leader.transport)
    if leader.body:
        message = Message(
            subject=leader.subject,
            text=leader.body,
            thread_id=f"incident-{leader.incident.public_id}" if leader.incident else "",
            data={
                "event": "contact_method.test" if leader.kind == TEST_KIND else "incident.update",
                "subject": leader.subject,
                "text": leader.body,
            },
        )
    else:
        # Several pages for one incident (a level and a direct page at once) are one page.
        one = len({d.incident_id for d in wanted}) == 1
        message = page_message(leader) if one else bundle_message(wanted)
    try:
        if transport is None:
            raise TransportError(f"unknown transport {leader.transport!r}", permanent=True)
        transport.send(leader.target, message)
    except TransportError as exc:
        return exc
    except Exception as exc:
        # A transport's own bug or a message it refuses must not stop the pass (every later
        # page in it would wait) nor leave this one claimed again and again: it is an error
        # like any other, retried with backoff, then failed over.
        log.exception("delivery %s (%s): the transport raised", leader.pk, leader.transport)
        return TransportError(f"{leader.transport}: {type(exc).__name__}: {exc}")
    return timezone.now()


def _record(wanted: list[Delivery], outcome: TransportError | datetime) -> int:
    """Record a message's outcome on its deliveries; return how many it carried."""
    if isinstance(outcome, TransportError):
        for d in wanted:
            _failed(d, outcome)
        return 0
    leader = wanted[0]
    _finish_many([leader], status=Delivery.Status.SENT, sent_at=outcome, error="")
    _finish_many(
        wanted[1:], status=Delivery.Status.SENT, sent_at=outcome, error="", bundled_into=leader
    )
    if leader.contact_method_id:
        ContactMethod.objects.filter(pk=leader.contact_method_id).exclude(
            status=ContactMethod.Status.OK
        ).update(status=ContactMethod.Status.OK, last_error="")
    return len(wanted)


def _failed(delivery: Delivery, exc: TransportError) -> None:
    log.warning("delivery %s (%s) failed: %s", delivery.pk, delivery.transport, exc.message)
    if not exc.permanent and delivery.attempts < MAX_ATTEMPTS:
        _finish(
            delivery, error=exc.message[:2000], due_at=timezone.now() + backoff(delivery.attempts)
        )
        return
    _finish(delivery, status=Delivery.Status.FAILED, error=exc.message[:2000])
    if delivery.contact_method_id:
        ContactMethod.objects.filter(pk=delivery.contact_method_id).update(
            status=ContactMethod.Status.FAILING,
            last_error=exc.message[:2000],
            failing_since=timezone.now(),
        )
    # A test message's failure is for the person who asked (their profile shows it): no
    # fallback message, nothing on an incident's timeline.
    fallback = delivery_fallback(delivery=delivery) if delivery.kind != TEST_KIND else None
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


def _rate_limited_until(target: str, now: datetime) -> datetime | None:
    """When ``target`` may get its next message, if it had its fill this minute."""
    recent = Delivery.objects.filter(
        target=target,
        sent_at__gte=now - WINDOW,
        bundled_into__isnull=True,
        status=Delivery.Status.SENT,
    )
    if recent.count() < RATE_PER_MINUTE:
        return None
    oldest = recent.aggregate(t=Min("sent_at"))["t"]
    return (oldest or now) + WINDOW


def _postpone(ids: list[int], until: datetime) -> int:
    """Rate-limited: the destination's pending deliveries wait until ``until``."""
    return Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING).update(due_at=until)


def delivery_send(delivery: Delivery, now: datetime | None = None) -> bool:
    """Claim and send one due delivery; True when it was handed to its transport."""
    return _send_group([delivery], now or timezone.now()) == 1


def deliveries_send_due(*, limit: int = 500) -> int:
    """Send what is due now, one message per destination; return deliveries handed over.

    Each message is claimed (compare-and-set on ``attempts``, with a lease) and committed just
    before it is sent, and recorded just after: a worker killed while sending leaves at most
    one message in doubt (re-sent after the lease: at-least-once, the window one network call
    wide), never a whole batch.
    """
    now = timezone.now()
    due = Delivery.objects.filter(status=Delivery.Status.PENDING, due_at__lte=now)
    # Every destination with due work gets its turn in this pass (a storm's thousands of
    # pages to three people must not hold back a fourth person's page), oldest first.
    destinations = list(due.order_by().values_list("transport", "target").distinct()[:limit])
    groups: dict[tuple[str, str, int], list[Delivery]] = defaultdict(list)
    for transport, target in destinations:
        until = _rate_limited_until(target, now)
        if until is not None:
            # Had its fill this minute: what is due for it waits, by id, without loading the
            # rows (in a storm, hundreds per person every pass); at most POSTPONE_PER_PASS a
            # pass, so that thousands coming due at once do not stall the worker's steps in
            # one long UPDATE (measured on PostgreSQL: escalation lateness max 0.5-0.9 s).
            pending = due.filter(transport=transport, target=target).order_by("due_at", "id")
            ids = list(pending.values_list("id", flat=True)[:POSTPONE_PER_PASS])
            atomic_polling(partial(_postpone, ids, until))
            continue
        for delivery in (
            due.filter(transport=transport, target=target)
            .select_related("incident__service", "user")
            .order_by("due_at", "id")[:PER_DESTINATION]
        ):
            # Pages to one destination are bundled; a message with its own text goes alone.
            alone = delivery.pk if delivery.body else 0
            groups[(transport, target, alone)].append(delivery)
    handed = 0
    for (_transport, target, _alone), items in sorted(
        groups.items(), key=lambda group: (group[1][0].due_at, group[1][0].pk)
    ):
        until = _rate_limited_until(target, now)
        if until is not None:
            atomic_polling(partial(_postpone, [d.pk for d in items], until))
            continue
        handed += _send_group(items, now)
    return handed
