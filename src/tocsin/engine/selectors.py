"""Engine reads: the auditor's view of work that should have happened already."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from tocsin.engine.models import Timer
from tocsin.notifications.models import Delivery

OVERDUE_AFTER = timedelta(minutes=1)


# A timer that failed this many times in a row (2 + 4 + 8 + 16 + 32 s of backoff: about a
# minute) is as late as one the worker never reached, though its due time keeps moving on.
FAILING_ATTEMPTS = 5  # the condition of the timer_failing index: change both together


@dataclass(frozen=True)
class Overdue:
    timers: int
    deliveries: int
    oldest_due_at: datetime | None
    failing: int = 0  # timers failing on every run for about a minute
    last_error: str = ""

    @property
    def alert(self) -> bool:
        return bool(self.timers or self.deliveries or self.failing)

    def describe(self) -> str:
        parts = []
        if self.timers or self.deliveries:
            parts.append(
                f"{self.timers} timer(s) and {self.deliveries} notification(s) overdue by more "
                f"than a minute (oldest due {self.oldest_due_at:%Y-%m-%d %H:%M:%S} UTC): "
                "is a worker running?"
            )
        if self.failing:
            parts.append(
                f"{self.failing} timer(s) failing on every run for a minute or more "
                f"(last error: {self.last_error[:200]})"
            )
        return "; ".join(parts)


def failing_timers() -> tuple[int, str]:
    """How many pending timers keep failing, and the newest error (the timer_failing index:
    its condition is written as a literal so that SQLite uses it)."""
    table = connection.ops.quote_name(Timer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), MAX(last_error) FROM {table} "
            f"WHERE done_at IS NULL AND attempts >= {FAILING_ATTEMPTS}"
        )
        count, error = cursor.fetchone()
    return int(count or 0), str(error or "")


def overdue_work(*, now: datetime | None = None) -> Overdue:
    """Timers and deliveries due more than a minute ago and still not done (partial indexes)."""
    limit = (now or timezone.now()) - OVERDUE_AFTER
    # Failing timers wait on their own backoff (their due_at moves forward), so only work the
    # worker never got to shows up here.
    timers = Timer.objects.filter(done_at__isnull=True, due_at__lt=limit)
    deliveries = Delivery.objects.filter(status=Delivery.Status.PENDING, due_at__lt=limit)
    oldest = [
        qs.order_by("due_at").values_list("due_at", flat=True).first()
        for qs in (timers, deliveries)
    ]
    present = [t for t in oldest if t is not None]
    failing, error = failing_timers()
    return Overdue(
        timers.count(),
        deliveries.count(),
        min(present) if present else None,
        failing=failing,
        last_error=error,
    )


def next_due_at() -> datetime | None:
    """When the earliest pending timer or delivery falls due (the worker sleeps until then)."""
    times = [
        qs.order_by("due_at").values_list("due_at", flat=True).first()
        for qs in (
            Timer.objects.filter(done_at__isnull=True),
            Delivery.objects.filter(status=Delivery.Status.PENDING),
        )
    ]
    present = [t for t in times if t is not None]
    return min(present) if present else None


def due_lanes(
    *, now: datetime | None = None, limit: int = 100, after: str | None = None
) -> list[str]:
    """The lanes that have due timers (the worker gives each a turn in every batch).

    A skip scan of the pending timers' (lane, due_at) index: two seeks per lane with pending
    timers (the next lane, its earliest due time), however many timers each has; the
    earliest-due test is a scalar MIN so that PostgreSQL cannot turn it into a join over every
    due timer, as it did an EXISTS. ``SELECT DISTINCT lane`` read every due timer: with
    a backlog of 300,000 alerts it took tens of milliseconds, four times a second.

    ``after``: only lanes after this one (the worker reads them round the alphabet, ``limit``
    at a time, so that the 101st lane gets its turn too).
    """
    table = connection.ops.quote_name(Timer._meta.db_table)
    first = "" if after is None else "AND lane > %s"
    start = [] if after is None else [after]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE lanes(lane) AS (
                SELECT MIN(lane) FROM {table} WHERE done_at IS NULL {first}
                UNION ALL
                SELECT (SELECT MIN(t.lane) FROM {table} t
                        WHERE t.done_at IS NULL AND t.lane > lanes.lane)
                FROM lanes WHERE lanes.lane IS NOT NULL
            )
            SELECT lane FROM lanes
            WHERE lane IS NOT NULL AND (
                SELECT MIN(t.due_at) FROM {table} t
                WHERE t.done_at IS NULL AND t.lane = lanes.lane
            ) <= %s
            LIMIT %s
            """,
            [*start, connection.ops.adapt_datetimefield_value(now or timezone.now()), limit],
        )
        return [lane for (lane,) in cursor.fetchall()]
