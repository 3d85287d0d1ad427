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
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from tocsin.dbwrite import atomic_polling, contention
from tocsin.engine.handlers import BATCH_HANDLERS, HANDLERS
from tocsin.engine.memo import batch_memo
from tocsin.engine.models import Timer, WorkerHeartbeat
from tocsin.engine.selectors import due_lanes, next_due_at, overdue_work
from tocsin.engine.services import (
    CHANNEL,
    BatchUnsuitable,
    timer_claim,
    timer_finish,
    timer_retry_later,
    timers_claim_due,
    timers_finish,
)
from tocsin.engine.wake import WakeSocket
from tocsin.notifications.sender import deliveries_send_due

log = logging.getLogger("tocsin.worker")

POLL_SECONDS = 0.25
MIN_WAIT_SECONDS = 0.01
HEARTBEAT_SECONDS = 5.0
AUDIT_SECONDS = 30.0
BATCH = 200  # timers claimed per transaction
MIN_CLAIM = 16
# ... and at most this long holding it. On SQLite a batch holds the one write lock, which alert
# ingestion waits for: measured here, 50 ms batches cut ingestion to 690 alerts/s, 10 ms ones
# let it reach 1,350/s (2,430/s with the worker stopped) but halved the worker's own throughput
# (87 instead of 166 escalation steps/s). So batches are short only while another writer
# contends for the lock (the last BEGIN had to wait, within ``CONTENDED_SECONDS``), and then
# claim at least CONTENDED_MIN_CLAIM timers instead of MIN_CLAIM.
BATCH_SECONDS = 0.05
CONTENDED_BATCH_SECONDS = 0.005
CONTENDED_MIN_CLAIM = 8
CONTENDED_SECONDS = 1.0
# ... and while contended, the worker holds the lock at most this share of the time between
# batches of an iteration: an alert is answered only once committed, and monitoring tools time
# out and retry, while work already committed waits safely (a storm's own incidents open a
# little later; other services' timers still come first in every batch, see the lanes).
# Measured here (2 cores, unique keys, worker with a backlog it cannot clear, 12 s runs):
# no pause 758 alerts/s (a slower machine); share 0.5 with batches of >= 16 and 10 ms,
# 3,400-4,200/s, p99 34-48 ms, the worker holding the lock 44 % of the time in holds of
# 10-16 ms; share 0.25 with batches of >= 8 and 5 ms, 4,900-5,400/s, p99 24-28 ms, holds of
# ~9 ms (the worker then opens ~110 incidents a second instead of ~260 while contended).
CONTENDED_SHARE = 0.25
LANES_SECONDS = 0.25  # how often the lanes with due work are looked up
ITERATION_SECONDS = 0.25  # batches run back to back this long, then deliveries get their turn


class _LostClaim(Exception):
    """Another worker took the timer over while we ran it: undo our work."""


def run_timer(timer: Timer) -> bool:
    """Claim and run one timer in its own transaction; True if it ran to completion here."""
    with transaction.atomic():
        token = timer_claim(timer_id=timer.id, token=timer.token, now=timezone.now())
        if token is None:
            return False
        timer.token = token
        return _run_claimed(timer, token)


def _run_claimed(timer: Timer, token: uuid.UUID) -> bool:
    """Run a timer claimed under ``token`` inside a savepoint of the caller's transaction.

    The handler's writes and the done mark commit together with the batch: a crash before the
    commit leaves the timer due again with nothing half-done; a lost claim (the token moved)
    or a failing handler rolls back this timer's savepoint only.
    """
    handler = HANDLERS.get(timer.kind)
    try:
        if handler is None:
            raise LookupError(f"no handler for timer kind {timer.kind!r}")
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


def _groups(timers: list[Timer]) -> list[list[Timer]]:
    """The timers of a kind that runs set-based (``BATCH_HANDLERS``) form one group, run where
    the first of them stands in the claim order (fairness); every other timer is a group of
    its own. (In a storm the claim order interleaves alert processing and escalation steps.)"""
    groups: list[list[Timer]] = []
    by_kind: dict[str, list[Timer]] = {}
    for timer in timers:
        if timer.kind not in BATCH_HANDLERS:
            groups.append([timer])
        elif (group := by_kind.get(timer.kind)) is not None:
            group.append(timer)
        else:
            by_kind[timer.kind] = [timer]
            groups.append(by_kind[timer.kind])
    return groups


def _run_claimed_group(timers: list[Timer], token: uuid.UUID) -> int:
    """Run a group set-based in one savepoint; if that fails (a handler error, a lost claim,
    timers the handler cannot combine), run its timers one by one so only a failing one is
    retried later. Returns how many completed.

    A group of one runs set-based too: a new alert's incident is opened with about a third of
    the statements of the one-by-one path, which counts on PostgreSQL, where each is a round
    trip between the alert and its first page."""
    handler = BATCH_HANDLERS.get(timers[0].kind)
    if handler is None:
        return sum(_run_claimed(timer, token) for timer in timers)
    try:
        with transaction.atomic():
            handler(timers)
            ids = [timer.id for timer in timers]
            if timers_finish(timer_ids=ids, token=token, now=timezone.now()) != len(ids):
                raise _LostClaim
        return len(timers)
    except BatchUnsuitable:
        pass
    except Exception:
        log.warning(
            "%d %s timers failed together; running them one by one",
            len(timers),
            timers[0].kind,
            exc_info=True,
        )
    return sum(_run_claimed(timer, token) for timer in timers)


def run_timers(
    *, limit: int = BATCH, budget: float | None = None, iteration: float | None = None
) -> int:
    """Run the timers due now in batches, one transaction each; return how many completed.

    A batch is claimed and run in ONE transaction (one durable commit for up to ``limit``
    timers instead of two per timer). It stops taking more timers after ``budget`` seconds and
    commits, so on SQLite the write lock is never held longer than that (alert ingestion
    waits for it). Batches follow each other for up to ``iteration`` seconds; then the caller
    sends the deliveries they made, so in a storm of steps pages still go out every
    ``ITERATION_SECONDS``.
    """
    if budget is None:
        budget = CONTENDED_BATCH_SECONDS if contended() else BATCH_SECONDS
    until = time.monotonic() + (ITERATION_SECONDS if iteration is None else iteration)
    done = 0
    while True:
        started = time.monotonic()
        # Claim about as many as fit in the budget (claiming costs too: a row each), and never
        # fewer than MIN_CLAIM: the kinds that run set-based cost far less together than one by
        # one, and a batch of one would run them one by one and keep the estimate high. The
        # batch stops at its budget between groups; timers not reached are taken by the next.
        floor = CONTENDED_MIN_CLAIM if contended() else MIN_CLAIM
        want = max(min(limit, floor), min(limit, int(budget / _cost.seconds) + 1))

        lanes = _lanes.current()  # a read: before the write lock, not while holding it

        @batch_memo()
        def batch(
            want: int = want, started: float = started, lanes: list[str] = lanes
        ) -> tuple[int, int, int, float]:
            held_from = time.monotonic()  # this attempt got the write lock
            token = uuid.uuid4()
            claimed = timers_claim_due(now=timezone.now(), limit=want, token=token, lanes=lanes)
            completed = ran = 0
            for group in _groups(claimed):
                completed += _run_claimed_group(group, token)
                ran += len(group)
                if time.monotonic() - started > budget:
                    break
            return completed, ran, len(claimed), held_from

        completed, ran, claimed, held_from = atomic_polling(batch)
        done += completed
        now = time.monotonic()
        if ran:
            _cost.record((now - started) / ran)
        # Timers claimed but not reached keep their due time: the next batch takes them.
        if (claimed < want and ran == claimed) or now > until:
            return done
        if contended():
            # Alert ingestion is waiting for the write lock too: leave it (and the CPU) free
            # for as long as this batch held it before taking it again (see CONTENDED_SHARE).
            time.sleep((now - held_from) * (1 - CONTENDED_SHARE) / CONTENDED_SHARE)


def contended() -> bool:
    """On SQLite: did this worker find the write lock taken (by ingestion) within the last
    ``CONTENDED_SECONDS``?"""
    return connection.vendor == "sqlite" and contention.seconds_since() < CONTENDED_SECONDS


class _Lanes:
    """The lanes with due work, re-read at most every ``LANES_SECONDS`` (a scan of the due
    timers), so that every batch can give each of them a turn."""

    def __init__(self, *, limit: int = 100) -> None:
        self.lanes: list[str] = []
        self.read_at = -LANES_SECONDS
        self.limit = limit
        self.after: str | None = None  # where the next read goes on, round the alphabet

    def current(self) -> list[str]:
        now = time.monotonic()
        if now - self.read_at >= LANES_SECONDS:
            # "" is a lane too (incidents without a service, status page work): it gets its turn.
            lanes = due_lanes(after=self.after, limit=self.limit)
            if len(lanes) < self.limit and self.after is not None:  # past the last: wrap
                rest = due_lanes(limit=self.limit - len(lanes))
                lanes += [lane for lane in rest if lane not in lanes]
            self.lanes = [lane for lane in lanes if lane is not None]
            self.after = self.lanes[-1] if len(self.lanes) >= self.limit else None
            self.read_at = now
        return self.lanes


_lanes = _Lanes()


class _Cost:
    """A moving average of the seconds one timer takes (claim, run and commit share)."""

    def __init__(self, seconds: float = 0.002) -> None:
        self.seconds = seconds

    def record(self, seconds: float) -> None:
        self.seconds = max(0.8 * self.seconds + 0.2 * seconds, 1e-5)


_cost = _Cost()


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
    """Sleep between iterations until new work commits (NOTIFY on PostgreSQL, a datagram on
    the wake socket on SQLite: see ``engine.wake``), or at most ``seconds``."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.listener: Any = None
        self.socket: WakeSocket | None = None
        if connection.vendor == "postgresql":
            self._listen()
        else:
            try:
                self.socket = WakeSocket()
            except OSError as exc:
                log.warning("no wake socket (%s): polling every %.2f s", exc, POLL_SECONDS)

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
        """Return after ``seconds``, on a wake-up, or when asked to stop."""
        if self.socket is not None:
            self.socket.wait(seconds)
            return
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
        if self.socket is not None:
            self.socket.close()
            self.socket = None
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


def _idle_wait() -> float:
    """How long to sleep when nothing ran: until the next due work, at most ``POLL_SECONDS``.

    At least ``MIN_WAIT_SECONDS``: work that is due but not ours (another worker holds it)
    must not make this loop spin.
    """
    try:
        due = next_due_at()
    except Exception:
        log.exception("reading the next due time failed")
        return POLL_SECONDS
    if due is None:
        return POLL_SECONDS
    seconds = (due - timezone.now()).total_seconds()
    return min(max(seconds, MIN_WAIT_SECONDS), POLL_SECONDS)


def _keep_connection() -> None:
    """The worker is one thread with one connection: keep it between iterations.

    The web's ``CONN_MAX_AGE = 0`` (see ``envconfig``) made ``close_old_connections`` reconnect
    every iteration: on PostgreSQL a new session (~6 % of the worker's time while pages trickle
    in, on the path between an alert and its page), on SQLite the connection's PRAGMAs again.
    ``close_old_connections`` still replaces a connection that broke (health check). The
    settings change on this thread's connection only (a copy: the dict is shared by threads).
    """
    connection.close()
    connection.settings_dict = {
        **connection.settings_dict,
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
    }


def run_forever(stop: threading.Event) -> None:
    """Run iterations until ``stop`` is set, sleeping only when there is nothing due."""
    name, started = worker_name(), timezone.now()
    last_beat = last_audit = 0.0
    _keep_connection()
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
        if done == 0:
            waiter.wait(_idle_wait())
    waiter.close()
    WorkerHeartbeat.objects.filter(name=name).delete()
    log.info("worker %s stopped", name)
