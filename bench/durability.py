"""Crashes: escalation steps after a SIGKILLed worker, and acknowledged alerts over many SIGKILLs.

``bench_restart``: "after a SIGKILL and restart every overdue step fires within 5 s of the worker
being ready, exactly once". N incidents (``bench/seed.py``) have their escalation step due at
one instant; once the worker of ``tocsin serve`` has run some of them it is SIGKILLed, and a
replacement ``tocsin worker`` (same environment) is started. For each step the new worker ran:
``done_at`` minus the new worker's ``started_at`` (written with its first heartbeat). Exactly
once: one ``paged``/``escalated`` timeline event per incident and one delivery per (incident,
person, step) - the step read from the delivery key ``page:<incident>:<token>:<iteration>:
<level>:<user>:<method>:<after>``.

``bench_durability``: "0 acknowledged alerts lost over 50 SIGKILLs at random instants (ingest,
escalation, send)". ``tocsin web`` and ``tocsin worker`` run as two processes; the load
generator sends unique-key PagerDuty triggers, reconnects when the web server dies and logs
the dedup key of every 2xx; at random instants the web server or the worker (random choice)
is SIGKILLed and started again. At the end: every acknowledged key is a row (0 lost); after
the worker drained, every alert has an incident; nobody got two pages for one (incident,
step) - counted on the delivery rows and, as far as the messages list them, at the SMTP sink.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from bench.run import Report, percentile
from bench.server import ROOT, Sink, Tocsin, as_utc, find_worker, stop_process

TARGET_RESTART_S = 5.0
SEEDED = "i.group_key LIKE 'bench-esc-%'"


def _step_of(key: str) -> tuple[str, str] | None:
    """(iteration, level) of a page delivery key; None for other kinds of delivery."""
    parts = key.split(":")
    if len(parts) < 8 or parts[0] != "page":
        return None
    return parts[3], parts[4]


def duplicate_pages(tocsin: Tocsin, where: str) -> tuple[int, int, Counter[int]]:
    """(page rows, (incident, user, step) groups with more than one row, rows per incident).

    The step is (iteration, level), deliberately without the escalation token: a step run again
    under a new token would page the person twice for the same step.
    """
    rows = tocsin.query(
        "SELECT d.incident_id, d.user_id, d.key FROM notifications_delivery d "
        f"JOIN incidents_incident i ON i.id = d.incident_id WHERE d.kind = 'page' AND {where}"
    )
    groups: Counter[tuple[int, int, tuple[str, str]]] = Counter()
    per_incident: Counter[int] = Counter()
    for incident, user, key in rows:
        step = _step_of(key)
        if step is not None:
            groups[(incident, user, step)] += 1
            per_incident[incident] += 1
    return len(rows), sum(1 for n in groups.values() if n > 1), per_incident


# ---- escalation after SIGKILL -------------------------------------------------------------


def bench_restart(report: Report, tocsin: Tocsin, db: str, incidents: int, limit: float) -> None:
    """SIGKILL the worker of ``serve`` while it runs due steps; time the replacement's catch-up."""
    assert tocsin.proc is not None
    label = f"escalation after SIGKILL + restart, {incidents:,} steps due"
    due = float(tocsin.run_python("-m", "bench.seed", str(incidents), "bench-escalation"))
    seeded = (
        "FROM engine_timer t JOIN incidents_incident i ON i.id = t.incident_id "
        f"WHERE t.kind = 'escalation.step' AND {SEEDED}"
    )
    done_sql = f"SELECT COUNT(*) {seeded} AND t.done_at IS NOT NULL"
    # Kill once the worker has run a first step: it is then in the middle of the rest.
    deadline = due + 60
    while time.time() < deadline and not tocsin.scalar(done_sql):
        time.sleep(0.02)
    worker = find_worker(tocsin.proc.pid)
    if worker is None:
        report.add(label, db, "no worker process found under tocsin serve", "INCOMPLETE")
        report.incomplete.append(label)
        return
    os.kill(worker, signal.SIGKILL)
    killed = time.time()
    before_kill = int(tocsin.scalar(done_sql))
    replacement = tocsin.spawn("worker", log="worker-restarted.log")
    ready: float | None = None
    ready_by = time.monotonic() + 60
    while ready is None and time.monotonic() < ready_by and replacement.poll() is None:
        row = tocsin.query(
            f"SELECT started_at FROM engine_workerheartbeat WHERE pid = {replacement.pid}"
        )
        if row:
            ready = as_utc(row[0][0]).timestamp()
        else:
            time.sleep(0.05)
    if ready is None:
        report.add(label, db, "the replacement worker wrote no heartbeat within 60 s", "INCOMPLETE")
        report.incomplete.append(label)
        return
    pending_sql = f"SELECT COUNT(*) {seeded} AND t.done_at IS NULL"
    wait_end = time.monotonic() + limit
    while tocsin.scalar(pending_sql) and time.monotonic() < wait_end:
        time.sleep(0.25)
    done = [as_utc(d).timestamp() for (d,) in tocsin.query(f"SELECT t.done_at {seeded}") if d]
    after = [d - ready for d in done if d >= ready]
    early = len(done) - len(after)
    left = incidents - len(done)
    over = sum(1 for a in after if a > TARGET_RESTART_S)
    span = max(after, default=float("nan"))
    figure = (
        f"{len(after):,} overdue steps run by the new worker: p50 {percentile(after, 50):.1f} s, "
        f"p99 {percentile(after, 99):.1f} s, max {span:.1f} s after it was ready "
        f"({over:,} later than {TARGET_RESTART_S:.0f} s); worker ready {ready - killed:.1f} s "
        f"after the kill; {early:,} ran before the kill ({before_kill:,} counted at the kill)"
    )
    # Exactly once: one paged/escalated event and one page per (incident, person, step).
    events = Counter(
        int(n)
        for (_i, n) in tocsin.query(
            "SELECT i.id, COUNT(e.id) FROM incidents_incident i "
            "LEFT JOIN incidents_timelineevent e ON e.incident_id = i.id "
            f"AND e.kind IN ('paged', 'escalated') WHERE {SEEDED} GROUP BY i.id"
        )
    )
    rows, dup_groups, per_incident = duplicate_pages(tocsin, SEEDED)
    steps_per_incident = Counter(
        int(n)
        for (_i, n) in tocsin.query(
            "SELECT i.id, COUNT(t.id) FROM incidents_incident i LEFT JOIN engine_timer t "
            f"ON t.incident_id = i.id AND t.kind = 'escalation.step' WHERE {SEEDED} GROUP BY i.id"
        )
    )
    once = (
        events == Counter({1: incidents})
        and dup_groups == 0
        and rows == incidents
        and len(per_incident) == incidents
    )
    check = report.expect(
        once,
        f"exactly once: incidents with 1 paged event {events.get(1, 0):,}/{incidents:,}"
        + (f" (0: {events.get(0, 0):,}, >1: {sum(v for k, v in events.items() if k > 1):,})")
        + f"; page rows {rows:,} for {len(per_incident):,} incidents, duplicated (incident, "
        f"person, step) {dup_groups:,}; step timers per incident {dict(steps_per_incident)}",
    )
    if left:
        check = f"INCOMPLETE: {left:,} steps not run within {limit:.0f} s; " + check
        report.incomplete.append(label)
    elif not after:
        check = "INCOMPLETE: every step ran before the kill (raise --restart-incidents); " + check
        report.incomplete.append(label)
    target = ("met" if not left and over == 0 else "MISSED") + (
        f" (target: all within {TARGET_RESTART_S:.0f} s)"
    )
    report.add(label, db, figure, f"{check}; {target}")
    stop_process(replacement, timeout=20)


# ---- acknowledged alerts over many SIGKILLs ------------------------------------------------


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Parts:
    """``tocsin web`` and ``tocsin worker`` as two processes that can be killed and restarted."""

    def __init__(self, tocsin: Tocsin) -> None:
        self.tocsin = tocsin
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def start_web(self, timeout: float = 60.0) -> bool:
        self.web = self.tocsin.spawn(
            "web", "--host", "127.0.0.1", "--port", str(self.tocsin.port), log="web.log"
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.web.poll() is None:
            if _port_open(self.tocsin.port):
                return True
            time.sleep(0.05)
        return False

    def start_worker(self, timeout: float = 60.0) -> bool:
        self.worker = self.tocsin.spawn("worker", log="worker.log")
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.worker.poll() is None:
            if self.tocsin.query(
                f"SELECT 1 FROM engine_workerheartbeat WHERE pid = {self.worker.pid}"
            ):
                return True
            time.sleep(0.1)
        return False

    def kill(self, part: str) -> None:
        proc = self.web if part == "web" else self.worker
        assert proc is not None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def bench_durability(
    report: Report,
    tocsin: Tocsin,
    sink: Sink,
    db: str,
    *,
    kills: int,
    rate: float,
    connections: int,
    drain_limit: float,
    seed: int,
) -> dict[str, Any]:
    """Unique-key load while web and worker are SIGKILLed ``kills`` times; count what was lost.

    ``tocsin`` is prepared (``Tocsin.prepare``), not started: web and worker are run here.
    """
    label = f"durability: {kills} SIGKILLs (web or worker) under load"
    rng = random.Random(seed)
    parts = Parts(tocsin)
    mails_before = len(sink.mails)
    routing = tocsin.pd_keys["unique"]
    if not (parts.start_worker() and parts.start_web()):
        report.add(label, db, "web or worker did not start", "INCOMPLETE")
        report.incomplete.append(label)
        return {}
    acked_file = tocsin.data_dir / "acked.txt"
    bound = kills * 15.0 + 60
    spec = {
        "port": tocsin.port,
        "kind": "unique",
        "routing_key": routing,
        "prefix": "dur",
        "duration": bound,
        "connections": connections,
        "rate": rate,
        "reconnect": True,
        "ack_log": str(acked_file),
    }
    gen = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    killed: Counter[str] = Counter()
    broken = ""
    started = time.monotonic()
    for _ in range(kills):
        time.sleep(rng.uniform(0.3, 3.0))  # a random instant of ingest / processing / sending
        if gen.poll() is not None:
            broken = "the load generator ended early"
            break
        part = rng.choice(("web", "worker"))
        parts.kill(part)
        killed[part] += 1
        if not (parts.start_web() if part == "web" else parts.start_worker()):
            broken = f"the {part} did not come back within 60 s"
            break
    time.sleep(1.0)  # some load after the last restart
    gen.send_signal(signal.SIGTERM)
    try:
        out, err = gen.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        gen.kill()
        out, err = gen.communicate()
    loaded = time.monotonic() - started
    result: dict[str, Any] = json.loads(out) if gen.returncode == 0 and out else {}
    if not result:
        print(err[-1500:], file=sys.stderr)
        broken = broken or "the load generator failed"
    if parts.worker is None or parts.worker.poll() is not None:
        parts.start_worker()
    if parts.web is None or parts.web.poll() is not None:
        parts.start_web()

    # Drain: every alert.process and escalation.step timer done (bounded).
    pending_sql = (
        "SELECT COUNT(*) FROM engine_timer WHERE done_at IS NULL "
        "AND kind IN ('alert.process', 'escalation.step')"
    )
    drain_started = time.monotonic()
    while tocsin.scalar(pending_sql) and time.monotonic() - drain_started < drain_limit:
        time.sleep(0.5)
    drain = time.monotonic() - drain_started
    left = int(tocsin.scalar(pending_sql))

    acked = acked_file.read_text().split() if acked_file.exists() else []
    integration = f"(SELECT id FROM alerts_integration WHERE key = '{routing}')"
    stored = {
        str(f)
        for (f,) in tocsin.query(
            f"SELECT fingerprint FROM alerts_alert WHERE integration_id = {integration}"
        )
    }
    lost = [k for k in acked if k not in stored]
    orphans = int(
        tocsin.scalar(
            "SELECT COUNT(*) FROM alerts_alert WHERE incident_id IS NULL "
            f"AND integration_id = {integration}"
        )
    )
    twin_incidents = len(
        tocsin.query(
            "SELECT group_key FROM incidents_incident GROUP BY service_id, group_key "
            "HAVING COUNT(*) > 1"
        )
    )
    rows, dup_groups, _per_incident = duplicate_pages(tocsin, "1 = 1")
    # Re-sends the sink saw: one (recipient, incident) in two messages (bundles list <= 50).
    seen: Counter[tuple[str, int]] = Counter()
    for mail in sink.since(mails_before):
        for rcpt in mail.rcpts:
            for number in set(mail.incident_numbers()):
                seen[(rcpt, number)] += 1
    resent = sum(1 for n in seen.values() if n > 1)
    pages_left = int(
        tocsin.scalar("SELECT COUNT(*) FROM notifications_delivery WHERE status = 'pending'")
    )
    ok = result.get("ok", 0)
    non2xx = {k: v for k, v in result.get("status", {}).items() if not k.startswith("2")}
    report.add(
        f"{label}, {connections} conn" + (f" at <= {rate:,.0f}/s" if rate else ""),
        db,
        f"{sum(killed.values())} kills (web {killed['web']}, worker {killed['worker']}) in "
        f"{loaded:.0f} s; {ok:,} x 2xx, non-2xx {sum(non2xx.values()):,}"
        + (f" {non2xx}" if non2xx else "")
        + f", {result.get('lost_in_flight', 0):,} unanswered at a kill; {len(stored):,} alerts "
        f"stored ({len(stored) - len(acked) + len(lost):,} committed without an answer); "
        + (f"worker drained {drain:.0f} s after the load; " if not left else "")
        + f"{rows:,} pages, {len(sink.since(mails_before)):,} messages sent, "
        f"{pages_left:,} pages pending (4 messages a minute per person)",
        report.expect(not lost, f"lost {len(lost):,} of {len(acked):,} acknowledged")
        + "; "
        + report.expect(
            dup_groups == 0 and resent == 0 and twin_incidents == 0,
            f"duplicate pages {dup_groups:,} (rows per incident, person, step), "
            f"{resent:,} (re-sent, seen by the sink); duplicate incidents {twin_incidents:,}",
        )
        + "; "
        + (
            report.expect(orphans == 0, f"alerts without incident {orphans:,}")
            if not left
            else f"INCOMPLETE: {left:,} timers left after {drain_limit:.0f} s, "
            f"{orphans:,} alerts without incident"
        )
        + (f"; INCOMPLETE: {broken}" if broken else ""),
    )
    if left or broken:
        report.incomplete.append(label)
    if len(lost) and len(lost) <= 20:
        print(f"  lost keys: {lost}", flush=True)
    return {
        "kills": dict(killed),
        "load": result,
        "acked": len(acked),
        "stored": len(stored),
        "lost": len(lost),
        "duplicate_pages": dup_groups,
        "resent": resent,
        "orphans": orphans,
        "timers_left": left,
        "drain_seconds": drain,
    }
