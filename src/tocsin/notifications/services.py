"""Delivery writes: turn a page into rows per the person's own notification rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NotRequired, TypedDict, Unpack

from django.db import IntegrityError, transaction
from django.utils import timezone

from tocsin.accounts.models import ContactMethod, User
from tocsin.dbwrite import insert_rows
from tocsin.engine.memo import memoized
from tocsin.engine.services import wake_worker
from tocsin.incidents.models import Incident
from tocsin.notifications.models import Delivery


def _rules(user: User) -> list[tuple[int, ContactMethod]]:
    """(delay seconds, contact method) per the person's rules; first contact method at once."""
    return memoized(("rules", user.pk), lambda: _read_rules(user))


def _read_rules(user: User) -> list[tuple[int, ContactMethod]]:
    rules = [
        (rule.after_seconds, rule.contact_method)
        for rule in user.notification_rules.select_related("contact_method")
    ]
    if rules:
        return rules
    first = user.contact_methods.order_by("position", "id").first()
    return [(0, first)] if first else []


def _fallback(method: ContactMethod) -> ContactMethod | None:
    """The person's next working contact method after a failing one."""
    return (
        ContactMethod.objects.filter(user_id=method.user_id, status=ContactMethod.Status.OK)
        .exclude(pk=method.pk)
        .order_by("position", "id")
        .first()
    )


class RowFields(TypedDict):
    """A delivery to one of a person's contact methods (``delivery_create``, ``_row``)."""

    key: str
    incident: Incident | None
    user: User
    method: ContactMethod
    due_at: datetime
    reason: str
    kind: NotRequired[str]
    only_if_triggered: NotRequired[bool]


def delivery_create(**fields: Unpack[RowFields]) -> Delivery | None:
    """Create one delivery row; None if a row with this key already exists (idempotent)."""
    return _insert_one(_row(**fields))


def _row(
    *,
    key: str,
    incident: Incident | None,
    user: User,
    method: ContactMethod,
    due_at: datetime,
    reason: str,
    kind: str = "page",
    only_if_triggered: bool = True,
) -> Delivery:
    """A delivery to one of a person's contact methods, not saved yet."""
    return Delivery(
        key=key[:255],
        incident=incident,
        user=user,
        contact_method=method,
        transport=method.kind,
        target=method.target,
        kind=kind,
        reason=reason[:500],
        due_at=due_at,
        only_if_triggered=only_if_triggered,
    )


def _insert_one(delivery: Delivery) -> Delivery | None:
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
    except IntegrityError:
        return None
    if delivery.due_at <= timezone.now():
        wake_worker()
    return delivery


class PageFields(TypedDict):
    """What a page is (``page_user``, ``page_rows``)."""

    incident: Incident
    user: User
    step_key: str
    reason: str
    now: NotRequired[datetime | None]
    kind: NotRequired[str]


def page_user(**page: Unpack[PageFields]) -> list[Delivery]:
    """Page a person for an incident through their rules (email now, chat after 2 min ...).

    ``step_key`` names the escalation step (token, iteration, level), so a step that runs twice
    after a worker crash finds its rows already there and pages nobody twice. Pages (kind
    "page") stop once someone acknowledges; policy notices (stakeholders added, breaches,
    reminders) go out whatever the status.
    """
    return [row for row in page_rows(**page) if _insert_one(row) is not None]


def page_rows(
    *,
    incident: Incident,
    user: User,
    step_key: str,
    reason: str,
    now: datetime | None = None,
    kind: str = "page",
) -> list[Delivery]:
    """The deliveries ``page_user`` creates, not saved yet (worker batches bulk-insert them
    with ``deliveries_insert``); a failing contact method is replaced by the next working one."""
    now = now or timezone.now()
    rows = []
    for after, method in _rules(user):
        if method.status == ContactMethod.Status.FAILING:
            replacement = _fallback(method)
            if replacement is None:
                continue
            method = replacement
        rows.append(
            _row(
                key=f"{kind}:{incident.pk}:{step_key}:{user.pk}:{method.pk}:{after}",
                incident=incident,
                user=user,
                method=method,
                due_at=now + timedelta(seconds=after),
                reason=reason,
                kind=kind,
                only_if_triggered=kind == "page",
            )
        )
    return rows


def deliveries_insert(rows: list[Delivery]) -> None:
    """Insert deliveries, skipping any whose key exists already (a step run again after a
    crash pages nobody twice); wake the sender when some are due now."""
    if not rows:
        return
    insert_rows(rows, ignore_conflicts=True)
    if min(row.due_at for row in rows) <= timezone.now():
        wake_worker()


def delivery_fallback(*, delivery: Delivery) -> Delivery | None:
    """After a permanent failure, tell the person through their next contact method."""
    if delivery.contact_method is None or delivery.user is None:
        return None
    method = _fallback(delivery.contact_method)
    if method is None:
        return None
    return delivery_create(
        key=f"fallback:{delivery.pk}:{method.pk}",
        incident=delivery.incident,
        user=delivery.user,
        method=method,
        due_at=timezone.now(),
        reason=f"{delivery.reason} (fallback: {delivery.contact_method.name} failed)",
        kind="fallback",
        # As the message it stands in for: a direct page still goes out once acknowledged.
        only_if_triggered=delivery.only_if_triggered,
    )


def message_delivery_create(
    *,
    key: str,
    incident: Incident | None,
    transport: str,
    target: str,
    subject: str,
    body: str,
    reason: str,
    kind: str = "update",
) -> Delivery | None:
    """Queue a message with its own text to a destination that is not a person (a chat
    channel, a stakeholder address); None if this key was queued already."""
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                key=key[:255],
                incident=incident,
                transport=transport,
                target=target,
                kind=kind,
                subject=subject[:500],
                body=body,
                reason=reason[:500],
                due_at=timezone.now(),
                only_if_triggered=False,
            )
    except IntegrityError:
        return None
    wake_worker()
    return delivery


# ---- test messages ------------------------------------------------------------------------

TEST_KIND = "test"
TEST_EVERY = timedelta(minutes=1)  # one test message per contact method a minute


class TestTooSoon(Exception):
    """A test message went to this contact method less than ``TEST_EVERY`` ago."""

    __test__ = False  # not a pytest test class

    def __init__(self, method: ContactMethod, wait: timedelta) -> None:
        self.wait = wait
        seconds = max(1, int(wait.total_seconds() + 0.999))
        super().__init__(
            f"a test message to {method.name!r} was queued less than a minute ago; "
            f"try again in {seconds} s"
        )


def _test_text(*, method: ContactMethod, by: User | None, now: datetime) -> str:
    asked = f"at the request of {by}" if by is not None else "from the command line"
    return (
        f"This is a test message from Tocsin, queued at {now:%Y-%m-%d %H:%M:%S} UTC {asked}.\n\n"
        f"It went to {method.user}'s contact method {method.name!r} ({method.kind}). If you "
        "can read it, a page reaches you here. Nothing needs doing.\n"
    )


def contact_method_test(
    *, method: ContactMethod, by: User | None, now: datetime | None = None
) -> Delivery:
    """Queue a test message to one of a person's contact methods; the worker sends it like a
    page (same transport, retries, rate limit, delivery row). Sent, it marks a failing method
    working again; refused for good, it marks the method failing (nobody else is told: the
    person asked and sees the outcome on their profile).

    At most one a minute per method (``TestTooSoon``): a double click sends one message.
    """
    now = now or timezone.now()
    last = contact_method_last_test(method=method)
    if last is not None and now - last.created_at < TEST_EVERY:
        raise TestTooSoon(method, TEST_EVERY - (now - last.created_at))
    delivery = Delivery(
        # The minute in the key: two requests racing past the check above make one row.
        key=f"{TEST_KIND}:{method.pk}:{int(now.timestamp()) // 60}",
        user_id=method.user_id,
        contact_method=method,
        transport=method.kind,
        target=method.target,
        kind=TEST_KIND,
        only_if_triggered=False,
        subject=f"[Tocsin] Test message for {method.name}"[:500],
        body=_test_text(method=method, by=by, now=now),
        reason=(f"test requested by {by}" if by is not None else "test from the command line")[
            :500
        ],
        due_at=now,
    )
    if _insert_one(delivery) is None:
        raise TestTooSoon(method, TEST_EVERY)
    return delivery


def contact_method_last_test(*, method: ContactMethod) -> Delivery | None:
    """The latest test message of a contact method, if it ever had one."""
    return (
        Delivery.objects.filter(contact_method=method, kind=TEST_KIND)
        .order_by("-created_at", "-id")
        .first()
    )
