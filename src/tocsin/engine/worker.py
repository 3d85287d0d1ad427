"""The worker loop: claim due timers, run their handlers, record liveness.

One iteration (``run_once``) is what tests drive; ``run_forever`` adds polling and heartbeats.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import traceback
from datetime import datetime, timedelta
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from tocsin.engine.handlers import HANDLERS
from tocsin.engine.models import Timer, WorkerHeartbeat
from tocsin.engine.selectors import overdue_work
from tocsin.engine.services import CHANNEL, timer_claim, timer_finish, timer_retry_later
from tocsin.notifications.sender import deliveries_send_due

log = logging.getLogger("tocsin.worker")

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 5.0
AUDIT_SECONDS = 30.0
BATCH = 100


class _LostClaim(Exception):
    """Another worker took the timer over while we ran it: undo our work."""


def run_timer(timer: Timer) -> bool:
    """Claim and run one timer; True if it ran to completion here."""
    now = timezone.now()
    token = timer_claim(timer_id=timer.id, token=timer.token, now=now)
    if token is None:
        return False
    handler = HANDLERS.get(timer.kind)
    try:
        if handler is None:
            raise LookupError(f"no handler for timer kind {timer.kind!r}")
        # The handler's writes and the done mark commit together: a crash before the commit
        # leaves the timer due again with nothing half-done, a lost lease rolls back.
        with transaction.atomic():
            handler(timer)
            if not timer_finish(timer_id=timer.id, token=token, now=timezone.now()):
                raise _LostClaim
    except _LostClaim:
        log.warning("timer %s (%s): claim lost, work rolled back", timer.id, timer.kind)
        return False
    except Exception as exc:
        log.exception("timer %s (%s) failed", timer.id, timer.kind)
        timer_retry_later(
            timer_id=timer.id,
            token=token,
            attempts=timer.attempts,
            error=f"{exc!r}\n{traceback.format_exc(limit=5)}",
            now=timezone.now(),
        )
        return False
    return True


def run_timers(*, limit: int = BATCH) -> int:
    """Run every timer due now (up to ``limit``); return how many completed."""
    now = timezone.now()
    due = list(
        Timer.objects.filter(done_at__isnull=True, due_at__lte=now).order_by("due_at", "id")[:limit]
    )
    return sum(run_timer(t) for t in due)


def run_once(*, limit: int = BATCH) -> int:
    """One worker iteration: due timers, then the deliveries they (or earlier ones) made due."""
    done = run_timers(limit=limit)
    return done + deliveries_send_due(limit=limit)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat(*, name: str, started_at: datetime) -> None:
    """Record that this worker is alive (read by /healthz)."""
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": started_at,
            "beat_at": timezone.now(),
        },
    )


def worker_alive(*, within: timedelta = timedelta(seconds=30)) -> WorkerHeartbeat | None:
    """The most recent heartbeat younger than ``within``, if any."""
    return (
        WorkerHeartbeat.objects.filter(beat_at__gte=timezone.now() - within)
        .order_by("-beat_at")
        .first()
    )


class Waiter:
    """Sleep between iterations: poll on SQLite, wake on NOTIFY on PostgreSQL."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.listener: Any = None
        if connection.vendor == "postgresql":
            self._listen()

    def _listen(self) -> None:
        import psycopg

        db = connection.settings_dict
        try:
            self.listener = psycopg.connect(
                dbname=db["NAME"],
                user=db["USER"] or None,
                password=db["PASSWORD"] or None,
                host=db["HOST"] or None,
                port=db["PORT"] or None,
                autocommit=True,
                **db.get("OPTIONS", {}),
            )
            self.listener.execute(f"LISTEN {CHANNEL}")
        except Exception:
            log.exception("LISTEN failed; polling instead")
            self.listener = None

    def wait(self, seconds: float) -> None:
        """Return after ``seconds``, on a NOTIFY, or when asked to stop."""
        if self.listener is None:
            self.stop.wait(seconds)
            return
        try:
            for _ in self.listener.notifies(timeout=seconds, stop_after=1):
                pass
            # Drain the burst: one wake-up serves every notification queued so far.
            for _ in self.listener.notifies(timeout=0):
                pass
        except Exception:
            log.exception("LISTEN connection lost; reconnecting")
            self.close()
            self.stop.wait(seconds)
            self._listen()

    def close(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(Exception):
                self.listener.close()
            self.listener = None


def _audit(now_ts: float, last: float) -> float:
    """Log loudly when work is overdue (also shown on /healthz and the UI banner)."""
    if now_ts - last < AUDIT_SECONDS:
        return last
    overdue = overdue_work()
    if overdue.alert:
        log.error("auditor: %s", overdue.describe())
    return now_ts


def run_forever(stop: threading.Event) -> None:
    """Run iterations until ``stop`` is set, sleeping only when there is nothing due."""
    name, started = worker_name(), timezone.now()
    last_beat = last_audit = 0.0
    waiter = Waiter(stop)
    log.info("worker %s started (%s)", name, connection.vendor)
    while not stop.is_set():
        close_old_connections()
        try:
            now_ts = time.monotonic()
            if now_ts - last_beat >= HEARTBEAT_SECONDS:
                heartbeat(name=name, started_at=started)
                last_beat = now_ts
            last_audit = _audit(now_ts, last_audit)
            done = run_once()
        except Exception:
            log.exception("worker iteration failed; retrying")
            connection.close()
            done = 0
        if done < BATCH:
            waiter.wait(POLL_SECONDS)
    waiter.close()
    WorkerHeartbeat.objects.filter(name=name).delete()
    log.info("worker %s stopped", name)
