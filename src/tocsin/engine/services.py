"""Timer rows: schedule, claim by compare-and-set, finish (DESIGN rules 2-3)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tocsin.dbwrite import datetime_adapter, insert_rows, insert_values
from tocsin.engine.deferred import defer_insert
from tocsin.engine.models import Timer
from tocsin.engine.wake import CHANNEL, wake_workers

__all__ = ["CHANNEL", "LEASE"]

LEASE = timedelta(seconds=60)


class BatchUnsuitable(Exception):
    """Raised by a batch handler for timers it cannot run together: the worker runs them one
    by one instead."""


def wake_worker() -> None:
    """Wake sleeping workers when the current transaction commits (see ``engine.wake``)."""
    wake_workers()


def timer_schedule(
    *,
    kind: str,
    due_at: datetime | None = None,
    incident_id: int | None = None,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
    lane: str = "",
) -> Timer | None:
    """Schedule work; with a ``key``, scheduling the same timer again is a no-op (returns None).

    ``lane`` (see ``service_lane``) keeps one service's backlog from delaying another's work.
    Inside ``deferred_inserts()`` the timer is written (or skipped) when the block ends.
    """
    timer = Timer(
        kind=kind,
        due_at=due_at or timezone.now(),
        incident_id=incident_id,
        payload=payload or {},
        key=key,
        lane=lane,
    )
    if defer_insert(timer, ignore_conflicts=True):
        return timer
    if key is None:
        timer.save()
    else:
        try:
            with transaction.atomic():
                timer.save()
        except IntegrityError:
            return None
    if timer.due_at <= timezone.now():
        wake_worker()
    return timer


def timers_insert(timers: list[Timer]) -> None:
    """Insert keyed timers built by a worker batch; one whose key exists already is skipped,
    as ``timer_schedule`` skips it."""
    if not timers:
        return
    insert_rows(timers, ignore_conflicts=True)
    if min(t.due_at for t in timers) <= timezone.now():
        wake_worker()


def timers_schedule_rows(*, kind: str, rows: list[tuple[datetime, dict[str, Any], str]]) -> None:
    """Insert many key-less timers of one kind, given as (due at, payload, lane) rows.

    Alert ingestion writes one per new alert in its group commit: from ``RAW_FROM`` rows on they
    go in one multi-row INSERT (the ORM's per-row ``bulk_create`` work was the largest cost of
    a batch); the rows are the ones ``bulk_create`` would write.
    """
    if not rows:
        return
    if len(rows) < RAW_FROM:
        Timer.objects.bulk_create(
            [Timer(kind=kind, due_at=at, payload=payload, lane=lane) for at, payload, lane in rows]
        )
    else:
        meta = Timer._meta
        ops = connection.ops
        # What the fields' get_db_prep_save gives, without their per-value dispatch (a fifth of
        # the group-commit writer's time went to preparing these rows): the JSON adapter of the
        # backend, a UUID or its hex, a due time adapted once per distinct instant.
        adapt_json = partial(ops.adapt_json_value, encoder=meta.get_field("payload").encoder)
        native_uuid = connection.features.has_native_uuid_field
        adapt_time = datetime_adapter()
        times = {at: adapt_time(at) for at in {at for at, _p, _l in rows}}
        created = adapt_time(timezone.now())
        head = (
            f"INSERT INTO {ops.quote_name(meta.db_table)} "
            "(kind, due_at, incident_id, payload, lane, key, token, attempts, last_error, "
            "created_at, done_at) VALUES "
        )
        row = "(%s, %s, NULL, %s, %s, NULL, %s, 0, '', %s, NULL)"
        params = [
            (
                kind,
                times[at],
                adapt_json(payload),
                lane,
                uuid.uuid4() if native_uuid else uuid.uuid4().hex,
                created,
            )
            for at, payload, lane in rows
        ]
        # Multi-row statements in the driver's own placeholders (``insert_values``). Not
        # executemany: sqlite3 steps once per row and lets go of the GIL at every step, to get
        # it back only when the event loop thread lets go in turn; psycopg binds and sends
        # each row apart (30 timers on PostgreSQL: 2.1-2.7 ms, 1.0 ms in one statement, and
        # half the writer's CPU per alert).
        insert_values(head, row, params)
    wake_worker()


RAW_FROM = 8


def timer_claim(*, timer_id: int, token: uuid.UUID, now: datetime) -> uuid.UUID | None:
    """Claim a due timer: move its token and lease forward only if nobody else did (CAS).

    Returns the new token, or None when another worker claimed it first. Works the same on
    SQLite and PostgreSQL because it relies on the UPDATE's row count, not on row locks.
    """
    new_token = uuid.uuid4()
    changed = Timer.objects.filter(
        id=timer_id, token=token, done_at__isnull=True, due_at__lte=now
    ).update(token=new_token, due_at=now + LEASE)
    return new_token if changed == 1 else None


def service_lane(service_id: int | None) -> str:
    """The fairness lane of a service's timers (alert processing, escalation, policy clocks)."""
    return f"service:{service_id}" if service_id else ""


def timers_claim_due(
    *, now: datetime, limit: int, token: uuid.UUID, lanes: Iterable[str] = ()
) -> list[Timer]:
    """Claim up to ``limit`` due timers for the caller's transaction; return them in run order.

    Fairness: besides the oldest due timers, the oldest due timer of each of ``lanes`` (the
    lanes with due work, see ``selectors.due_lanes``) not represented already is claimed too,
    so a service in an alert storm delays another service's first page by one batch at most.

    The claim is the same compare-and-set as ``timer_claim``, for a batch: one UPDATE moves
    the token of every candidate still pending and due to ``token``, and only the rows that
    carry ``token`` afterwards are returned. Call it inside the transaction that runs the
    timers and marks them done: a worker killed mid-batch leaves every timer due as before,
    with nothing half-done, and no lease to wait for. On PostgreSQL the candidates are read
    with ``FOR UPDATE SKIP LOCKED`` so that concurrent workers take disjoint batches (an
    optimisation: the compare-and-set alone keeps them from running a timer twice).
    """
    candidates = Timer.objects.filter(done_at__isnull=True, due_at__lte=now).order_by(
        "due_at", "id"
    )
    if connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True)
    taken = list(candidates.values_list("id", "lane")[:limit])
    ids = [i for i, _lane in taken]
    heads = []  # other lanes' oldest due timers, taken for fairness
    for lane in set(lanes) - {lane for _i, lane in taken}:
        head = candidates.filter(lane=lane).values_list("id", flat=True).first()
        if head is not None:
            heads.append(head)
    if not ids and not heads:
        return []
    Timer.objects.filter(id__in=ids + heads, done_at__isnull=True, due_at__lte=now).update(
        token=token
    )
    claimed = list(Timer.objects.filter(id__in=ids + heads, token=token).order_by("due_at", "id"))
    # The other lanes' heads run first: a batch cut short by its time budget after one timer
    # (in a storm each batch is) has then served a quiet service, and the storm's own timers
    # are taken again by the next batches anyway. The rest: round robin over lanes.
    fair = set(heads)
    first = [t for t in claimed if t.id in fair]
    rank_in_lane: dict[str, int] = {}
    rest = []
    for timer in claimed:
        if timer.id not in fair:
            rank = rank_in_lane[timer.lane] = rank_in_lane.get(timer.lane, -1) + 1
            rest.append((rank, timer))
    return first + [timer for _rank, timer in sorted(rest, key=lambda pair: pair[0])]


def timer_finish(*, timer_id: int, token: uuid.UUID, now: datetime) -> bool:
    """Mark a claimed timer done; False when the claim was lost (the caller rolls back)."""
    return (
        Timer.objects.filter(id=timer_id, token=token, done_at__isnull=True).update(done_at=now)
        == 1
    )


def timers_finish(*, timer_ids: list[int], token: uuid.UUID, now: datetime) -> int:
    """Mark claimed timers done; returns how many still carried ``token`` (all, unless a claim
    was lost: the caller then rolls the whole group back)."""
    return Timer.objects.filter(id__in=timer_ids, token=token, done_at__isnull=True).update(
        done_at=now
    )


def timer_retry_later(
    *, timer_id: int, token: uuid.UUID, attempts: int, error: str, now: datetime
) -> None:
    """Record a failed run and make the timer due again with capped exponential backoff."""
    delay = min(2 ** min(attempts + 1, 10), 600)  # 2 s, 4 s, 8 s ... 10 min
    Timer.objects.filter(id=timer_id, token=token, done_at__isnull=True).update(
        attempts=attempts + 1, last_error=error[:4000], due_at=now + timedelta(seconds=delay)
    )


def timers_cancel(*, incident_id: int, kinds: list[str] | None = None) -> int:
    """Mark an incident's pending timers done without running them."""
    qs = Timer.objects.filter(incident_id=incident_id, done_at__isnull=True)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return qs.update(done_at=timezone.now(), last_error="cancelled")
