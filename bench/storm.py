"""Alert storm: many PagerDuty triggers over a few thousand dedup keys, plus one unrelated page.

The claim under test: "100,000 alerts over 2,000 distinct keys finish in <= 20 s with no
non-2xx, exactly 2,000 incidents, each person gets bundled messages rather than one per alert,
and an unrelated new critical alert on another service is still delivered within 2 s".

* One service (``storm``) whose escalation policy pages three people by email at once, and an
  unrelated service (``probe``) paging a fourth person.
* The load generator sends ``alerts`` triggers cycling over ``keys`` dedup keys (request n uses
  key n mod keys), 64 connections, as fast as possible.
* ``probe_after`` seconds into the storm one trigger goes to ``probe``; its latency is
  ``MIN(Delivery.sent_at) - Alert.first_seen`` (alert received -> page handed to SMTP).
* Then the bench waits (at most ``limit`` seconds after the storm) for the worker to process
  every ``alert.process`` and ``escalation.step`` timer and to send every page, and reads
  incidents, messages per recipient (SMTP sink) and pages carried (deliveries) per recipient.
* Peak RSS of the serve tree (uvicorn + worker) from the start of the storm to the end of the
  wait.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from functools import partial
from typing import Any

from bench.run import Report
from bench.server import ROOT, RssSampler, Sink, Tocsin, as_utc

STORM_KEY = "5" * 32
PROBE_KEY = "6" * 32
RECIPIENTS = ("storm-a@example.com", "storm-b@example.com", "storm-c@example.com")
PROBE_PERSON = "probe@example.com"
TARGET_SECONDS = 20.0
TARGET_PROBE_MS = 2000.0
TARGET_RSS_MB = 400.0


def storm_config() -> str:
    people = "".join(
        f"  - email: {email}\n    name: {email.split('@')[0]}\n"
        f"    contact: [{{name: work-email, email: {email}}}]\n"
        f"    notify: [{{after: 0m, via: work-email}}]\n"
        for email in (*RECIPIENTS, PROBE_PERSON)
    )
    storm_notify = ", ".join(f"{{user: {email}}}" for email in RECIPIENTS)
    return (
        "severities:\n  - {name: P1, title: Critical, respond_within: 5m}\n"
        "people:\n" + people + "escalation_policies:\n"
        f"  - name: storm-policy\n    levels:\n      - {{notify: [{storm_notify}]}}\n"
        f"  - name: probe-policy\n    levels:\n      - {{notify: [{{user: {PROBE_PERSON}}}]}}\n"
        "services:\n"
        "  - name: storm\n    escalation_policy: storm-policy\n"
        "    severity_map: {critical: P1}\n    integrations:\n"
        f"      - {{kind: pagerduty, key: '{STORM_KEY}'}}\n"
        "  - name: probe\n    escalation_policy: probe-policy\n"
        "    severity_map: {critical: P1}\n    integrations:\n"
        f"      - {{kind: pagerduty, key: '{PROBE_KEY}'}}\n"
    )


def _send_probe(port: int) -> tuple[int, float]:
    """One critical trigger to the unrelated service; (HTTP status, seconds to the answer)."""
    body = json.dumps(
        {
            "routing_key": PROBE_KEY,
            "event_action": "trigger",
            "dedup_key": "storm-probe",
            "payload": {"summary": "probe: disk full", "source": "bench", "severity": "critical"},
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/enqueue",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, time.monotonic() - started
    except OSError:
        return 0, time.monotonic() - started


class _Progress:
    """The worker's progress on the storm, read from the database."""

    def __init__(self, tocsin: Tocsin) -> None:
        self.tocsin = tocsin

    def pending(self, kind: str) -> int:
        return int(
            self.tocsin.scalar(
                f"SELECT COUNT(*) FROM engine_timer WHERE kind = '{kind}' AND done_at IS NULL"
            )
        )

    def pending_pages(self) -> int:
        return int(
            self.tocsin.scalar(
                "SELECT COUNT(*) FROM notifications_delivery d "
                "JOIN incidents_incident i ON i.id = d.incident_id "
                "JOIN alerts_service s ON s.id = i.service_id "
                "WHERE s.name = 'storm' AND d.status = 'pending'"
            )
        )

    def probe_latency_ms(self) -> float | None:
        rows = self.tocsin.query(
            "SELECT a.first_seen, MIN(d.sent_at) FROM alerts_alert a "
            "JOIN alerts_service s ON s.id = a.service_id "
            "JOIN notifications_delivery d ON d.incident_id = a.incident_id "
            "WHERE s.name = 'probe' AND d.sent_at IS NOT NULL GROUP BY a.id, a.first_seen"
        )
        if not rows:
            return None
        first, sent = rows[0]
        return (as_utc(sent) - as_utc(first)).total_seconds() * 1000


def _run_loadgen(spec: dict[str, Any], bound: float) -> tuple[subprocess.Popen[str], float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    return proc, time.monotonic() + bound


def bench_storm(
    report: Report,
    tocsin: Tocsin,
    sink: Sink,
    db: str,
    *,
    alerts: int,
    keys: int,
    connections: int,
    probe_after: float,
    send_bound: float,
    limit: float,
) -> dict[str, Any]:
    """Run the storm against a fresh Tocsin started with ``storm_config()``."""
    assert tocsin.proc is not None
    label = f"storm: {alerts:,} triggers over {keys:,} keys"
    time.sleep(1.0)
    idle = tocsin.rss_mb()
    mails_before = len(sink.mails)
    progress = _Progress(tocsin)
    spec = {
        "port": tocsin.port,
        "kind": "cycle",
        "keys": keys,
        "total": alerts,
        "routing_key": STORM_KEY,
        "prefix": "storm",
        "duration": send_bound,
        "connections": connections,
    }
    with RssSampler(tocsin.proc.pid) as rss:
        gen, gen_deadline = _run_loadgen(spec, send_bound + 90)
        started = time.monotonic()
        while time.monotonic() - started < probe_after and gen.poll() is None:
            time.sleep(0.05)
        probe_at = time.monotonic() - started
        storm_running = gen.poll() is None
        probe_status, probe_answer = _send_probe(tocsin.port)
        try:
            out, err = gen.communicate(timeout=max(1.0, gen_deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            gen.kill()
            out, err = gen.communicate()
        storm_end = time.monotonic()
        result: dict[str, Any] = json.loads(out) if gen.returncode == 0 and out else {}
        if not result:
            print(err[-1500:], file=sys.stderr)
        # The worker's drain, bounded: alert.process, escalation steps, pages, the probe.
        drained: dict[str, float] = {}
        probe_ms: float | None = None
        wait_end = storm_end + limit
        stages = (
            ("alert.process", partial(progress.pending, "alert.process")),
            ("escalation.step", partial(progress.pending, "escalation.step")),
            ("pages", progress.pending_pages),
        )
        while time.monotonic() < wait_end:
            # In order: steps are all scheduled once alerts are processed, pages once steps ran.
            for what, pending in stages:
                if what not in drained:
                    if pending() == 0:
                        drained[what] = time.monotonic() - storm_end
                    else:
                        break
            if probe_ms is None:
                probe_ms = progress.probe_latency_ms()
            if len(drained) == len(stages) and probe_ms is not None:
                break
            time.sleep(0.5)
        waited = time.monotonic() - storm_end

    sent = result.get("sent", 0)
    ok = result.get("ok", 0)
    non2xx = {k: v for k, v in result.get("status", {}).items() if not k.startswith("2")}
    bad = sum(non2xx.values()) + result.get("errors", 0)
    elapsed = result.get("elapsed", float("nan"))
    complete = bool(result) and sent >= alerts and result.get("requests", 0) == sent
    integration = f"(SELECT id FROM alerts_integration WHERE key = '{STORM_KEY}')"
    rows, total = tocsin.query(
        f"SELECT COUNT(*), COALESCE(SUM(count), 0) FROM alerts_alert WHERE integration_id = "
        f"{integration}"
    )[0]
    figure = (
        f"{elapsed:.1f} s for {ok:,} x 2xx ({result.get('rps', 0):,.0f} alerts/s; accept p50 "
        f"{result.get('p50', float('nan')):.0f} ms, p99 {result.get('p99', float('nan')):.0f} ms)"
        f"; non-2xx {sum(non2xx.values()):,}"
        + (f" {non2xx}" if non2xx else "")
        + (f", connection errors {result['errors']}" if result.get("errors") else "")
        + ("" if complete else f"; INCOMPLETE: {sent:,}/{alerts:,} sent within {send_bound:.0f} s")
    )
    target = (
        "met" if complete and elapsed <= TARGET_SECONDS and bad == 0 else "MISSED"
    ) + f" (target <= {TARGET_SECONDS:.0f} s, 0 non-2xx)"
    report.add(
        f"{label}, {connections} conn",
        db,
        figure,
        report.expect(
            rows == keys and total == ok,
            f"rows {rows:,} == {keys:,} keys, sum(count) {total:,} == 2xx {ok:,}",
        )
        + f"; {target}",
    )

    incidents = int(
        tocsin.scalar(
            "SELECT COUNT(*) FROM incidents_incident i JOIN alerts_service s "
            "ON s.id = i.service_id WHERE s.name = 'storm'"
        )
    )

    def when(what: str) -> str:
        at = drained.get(what)
        return f"{at:.1f} s" if at is not None else f"not within {limit:.0f} s"

    drain_figure = (
        f"{incidents:,} incidents; worker drained alert.process {when('alert.process')} after "
        f"the storm ended ({(storm_end - started):.1f} s after it began), escalation steps "
        f"{when('escalation.step')}"
    )
    if "alert.process" in drained:
        drain_check = report.expect(incidents == keys, f"incidents {incidents:,} == {keys:,}")
    else:
        left = progress.pending("alert.process")
        drain_check = f"INCOMPLETE: {left:,} alert.process timers left after {waited:.0f} s"
        report.incomplete.append(f"{label}: worker drain")
    report.add(f"{label}: worker, incidents", db, drain_figure, drain_check)

    # Bundling: messages each storm recipient got vs the pages (deliveries) they carried.
    mails = sink.since(mails_before)
    per_rcpt: Counter[str] = Counter(r for m in mails for r in m.rcpts)
    carried: dict[str, dict[str, int]] = {r: Counter() for r in RECIPIENTS}
    for email, status, bundled, count in tocsin.query(
        "SELECT u.email, d.status, d.bundled_into_id IS NULL, COUNT(*) "
        "FROM notifications_delivery d JOIN accounts_user u ON u.id = d.user_id "
        "JOIN incidents_incident i ON i.id = d.incident_id "
        "JOIN alerts_service s ON s.id = i.service_id "
        "WHERE s.name = 'storm' GROUP BY u.email, d.status, d.bundled_into_id IS NULL"
    ):
        carried.setdefault(email, Counter())[status] += int(count)
        if status == "sent" and bool(bundled):
            carried[email]["messages"] += int(count)
    parts, bundled_ok, all_sent, db_matches = [], True, True, True
    for r in RECIPIENTS:
        c = carried[r]
        messages, pages = per_rcpt[r], c["sent"]
        parts.append(
            f"{r.split('@')[0]}: {messages:,} messages for {pages:,} pages"
            + (f" ({c['pending']:,} pending)" if c["pending"] else "")
            + (f" ({c['failed']:,} failed)" if c["failed"] else "")
        )
        bundled_ok &= messages * 10 <= max(pages, 1) and pages > 0
        all_sent &= c["pending"] == 0 and pages == incidents
        db_matches &= c["messages"] == messages
    bundle_figure = (
        f"{'; '.join(parts)} ({ok:,} alerts, {incidents:,} incidents; last page sent "
        f"{when('pages')} after the storm ended)"
    )
    if all_sent:
        bundle_check = report.expect(
            bundled_ok and db_matches,
            "bundled (>= 10 pages per message), sink count == sent messages in the database",
        )
    else:
        # Judged on a part only: the first messages of a storm carry few pages.
        bundle_check = (
            f"INCOMPLETE: not every page sent within {waited:.0f} s; so far "
            + ("bundled" if bundled_ok else "NOT bundled")
            + " (>= 10 pages per message); "
            + report.expect(db_matches, "sink count == sent messages in the database")
        )
        report.incomplete.append(f"{label}: pages sent")
    report.add(f"{label}: messages per storm recipient", db, bundle_figure, bundle_check)

    if probe_ms is not None:
        probe_figure = f"{probe_ms:,.0f} ms"
        probe_check = ("met" if probe_ms <= TARGET_PROBE_MS else "MISSED") + (
            f" (target <= {TARGET_PROBE_MS:,.0f} ms)"
        )
    else:
        probe_figure = f"> {waited * 1000:,.0f} ms (not delivered before the wait ended)"
        probe_check = "INCOMPLETE; MISSED (target <= 2,000 ms)"
        report.incomplete.append(f"{label}: probe")
    probe_figure += (
        f" (sent {probe_at:.1f} s into the storm"
        + ("" if storm_running else ", after it had ended")
        + f"; HTTP {probe_status} in {probe_answer * 1000:,.0f} ms)"
    )
    probe_mail = per_rcpt[PROBE_PERSON]
    report.add(
        f"{label}: unrelated critical alert -> page handed to SMTP",
        db,
        probe_figure,
        report.expect(probe_status == 202, f"probe accepted (HTTP {probe_status})")
        + f", sink got {probe_mail}; {probe_check}",
    )
    report.add(
        f"{label}: memory RSS web + worker",
        db,
        f"idle {idle:.0f} MiB, peak {rss.peak:.0f} MiB (storm + {waited:.0f} s of drain)",
        ("met" if rss.peak < TARGET_RSS_MB else "MISSED") + f" (target < {TARGET_RSS_MB:.0f} MiB)",
    )
    return {
        "load": result,
        "rows": rows,
        "sum_count": total,
        "incidents": incidents,
        "drained": drained,
        "messages": dict(per_rcpt),
        "pages": {r: dict(c) for r, c in carried.items()},
        "probe_ms": probe_ms,
        "peak_rss_mb": rss.peak,
        "idle_rss_mb": idle,
    }
