"""``python -m bench``: ingestion, paging latency, escalation lateness, alert storm, crash
recovery, durability under SIGKILLs and memory of a real Tocsin.

Everything runs on 127.0.0.1: a Tocsin ``serve`` (web + worker) in a temporary data dir, an
SMTP sink (aiosmtpd) that receives the pages, and a load generator in its own process.
Benchmarks (``--only NAME[,NAME]`` runs some of them; default all): ingest, paging (delivery
latency + escalation lateness), naive (reference), storm (bench/storm.py), restart (escalation
after a SIGKILLed worker) and durability (SIGKILLs under load; both bench/durability.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.server import (
    BIN,
    ROOT,
    RssSampler,
    Sink,
    Tocsin,
    as_utc,
    free_port,
    latency_key,
    pg_drop,
    pg_scratch,
    tree_rss_mb,
)

HERE = Path(__file__).resolve().parent


# ---- helpers --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def machine(pg_version: str) -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": pg_version or "not run",
        "kernel": platform.release(),
    }


def load(port: int, **spec: Any) -> dict[str, Any]:
    """Run the load generator in its own process; return its JSON summary."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", json.dumps({"port": port, **spec})],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=float(spec["duration"]) + 120,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@dataclass
class Row:
    bench: str
    db: str
    figure: str
    check: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)

    def add(self, bench: str, db: str, figure: str, check: str = "") -> None:
        self.rows.append(Row(bench, db, figure, check))
        print(f"  {bench:<44} {db:<10} {figure}  {check}", flush=True)

    def expect(self, ok: bool, what: str) -> str:
        if not ok:
            self.failures.append(what)
        return ("OK: " if ok else "FAILED: ") + what


def rate_figure(r: dict[str, Any], unit: str, per_request: int = 1) -> str:
    rate = r["rps"] * per_request
    non2xx = {k: v for k, v in r["status"].items() if not k.startswith("2")}
    extra = f", non-2xx {non2xx}" if non2xx else ""
    return (
        f"{rate:,.0f} {unit}/s; accept p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
        f"max {r['max']:.0f} ms ({r['ok']:,} x 2xx in {r['elapsed']:.1f} s{extra})"
    )


# ---- benchmarks -----------------------------------------------------------------------------


def bench_ingest(
    report: Report, tocsin: Tocsin, db: str, *, duration: float, connections: int, label: str
) -> dict[str, Any]:
    port = tocsin.port
    time.sleep(1.0)
    idle = tocsin.rss_mb()
    results: dict[str, Any] = {"idle_rss_mb": idle}
    with RssSampler(tocsin.proc.pid if tocsin.proc else 0) as rss:
        unique = load(
            port,
            kind="unique",
            routing_key=tocsin.pd_keys["unique"],
            prefix="u",
            duration=duration,
            connections=connections,
        )
        rows = tocsin.scalar(
            "SELECT COUNT(*) FROM alerts_alert WHERE integration_id = "
            f"(SELECT id FROM alerts_integration WHERE key = '{tocsin.pd_keys['unique']}')"
        )
        report.add(
            f"ingest {label}: PagerDuty, unique keys, {connections} conn",
            db,
            rate_figure(unique, "alerts"),
            report.expect(rows == unique["ok"], f"rows {rows:,} == 2xx {unique['ok']:,}"),
        )
        hot = load(
            port,
            kind="hot",
            routing_key=tocsin.pd_keys["hot"],
            prefix="h",
            hot_keys=1000,
            duration=duration / 2,
            connections=connections,
        )
        total = tocsin.scalar(
            "SELECT COALESCE(SUM(count), 0) FROM alerts_alert WHERE integration_id = "
            f"(SELECT id FROM alerts_integration WHERE key = '{tocsin.pd_keys['hot']}')"
        )
        report.add(
            f"ingest {label}: PagerDuty, 1,000 hot keys, {connections} conn",
            db,
            rate_figure(hot, "alerts"),
            report.expect(total == hot["ok"], f"sum(count) {total:,} == 2xx {hot['ok']:,}"),
        )
        batch = load(
            port,
            kind="batch",
            path="/integrations/alertmanager/bench-am",
            prefix="b",
            batch=100,
            duration=duration / 2,
            connections=connections,
        )
        rows = tocsin.scalar(
            "SELECT COUNT(*) FROM alerts_alert WHERE integration_id = "
            "(SELECT id FROM alerts_integration WHERE key = 'bench-am')"
        )
        report.add(
            f"ingest {label}: Alertmanager, batches of 100, {connections} conn",
            db,
            rate_figure(batch, "alerts", per_request=100),
            report.expect(rows == batch["ok"] * 100, f"rows {rows:,} == 100 x 2xx {batch['ok']:,}"),
        )
    backlog = tocsin.scalar("SELECT COUNT(*) FROM engine_timer WHERE done_at IS NULL")
    report.add(
        f"memory {label}: RSS web + worker",
        db,
        f"idle {idle:.0f} MiB, peak under load {rss.peak:.0f} MiB",
        f"worker backlog after the runs: {backlog:,} timers",
    )
    results.update(unique=unique, hot=hot, batch=batch, peak_rss_mb=rss.peak, backlog=backlog)
    return results


def bench_delivery(report: Report, tocsin: Tocsin, sink: Sink, db: str, probes: int) -> None:
    """Alert received -> first delivery handed to the transport, one probe at a time."""
    before = len(sink.received)
    for i in range(probes):
        body = json.dumps(
            {
                "routing_key": latency_key(i),
                "event_action": "trigger",
                "dedup_key": f"probe-{i}",
                "payload": {"summary": f"probe {i}", "source": "bench", "severity": "critical"},
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{tocsin.port}/v2/enqueue",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        time.sleep(0.1)
    sql = (
        "SELECT a.first_seen, MIN(d.sent_at) FROM alerts_alert a "
        "JOIN alerts_service s ON s.id = a.service_id "
        "JOIN notifications_delivery d ON d.incident_id = a.incident_id "
        "WHERE s.name LIKE 'lat-%' AND d.sent_at IS NOT NULL GROUP BY a.id, a.first_seen"
    )
    deadline = time.monotonic() + 60
    rows = tocsin.query(sql)
    while len(rows) < probes and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = tocsin.query(sql)
    lat = [(as_utc(sent) - as_utc(first)).total_seconds() * 1000 for first, sent in rows]
    report.add(
        "alert received -> first delivery handed to SMTP",
        db,
        f"p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} ms, "
        f"max {max(lat, default=float('nan')):.0f} ms ({len(lat)} probes, 100 ms apart)",
        report.expect(
            len(lat) == probes and len(sink.received) - before >= probes,
            f"{len(lat)}/{probes} delivered, sink got {len(sink.received) - before}",
        ),
    )


def bench_escalation(
    report: Report, tocsin: Tocsin, db: str, incidents: int, limit: float, spread: float = 0.0
) -> None:
    """N open incidents whose next escalation step falls due at one instant (a burst), or
    spread evenly over ``spread`` seconds (N pending, falling due at a steady rate)."""
    prefix = f"bench-esc-{int(spread)}-"
    due = float(
        tocsin.run_python(
            "-m", "bench.seed", str(incidents), "bench-escalation", str(spread), prefix
        )
    )
    seeded = (
        "FROM engine_timer t JOIN incidents_incident i ON i.id = t.incident_id "
        f"WHERE t.kind = 'escalation.step' AND i.group_key LIKE '{prefix}%'"
    )
    pending_sql = f"SELECT COUNT(*) {seeded} AND t.done_at IS NULL"
    deadline = time.time() + limit + spread
    with RssSampler(tocsin.proc.pid if tocsin.proc else 0) as rss:
        while tocsin.scalar(pending_sql) and time.time() < deadline:
            time.sleep(1.0)
    done = tocsin.query(f"SELECT i.group_key, t.done_at {seeded} AND t.done_at IS NOT NULL")
    late = [
        as_utc(d).timestamp() - (due + spread * int(key[len(prefix) :]) / incidents)
        for key, d in done
    ]
    late_ms = [x * 1000 for x in late]
    what = (
        f"{incidents:,} steps due at once"
        if not spread
        else f"{incidents:,} pending, due over {spread:.0f} s"
    )
    span = max(late, default=0.0)
    rate = (
        f"{len(late) / span if span > 0 else 0:,.0f} steps/s"
        if not spread
        else f"{incidents / spread:,.0f} steps/s due"
    )
    report.add(
        f"escalation lateness, {what}",
        db,
        f"p50 {percentile(late_ms, 50):,.0f} ms, p99 {percentile(late_ms, 99):,.0f} ms, "
        f"max {max(late_ms, default=float('nan')):,.0f} ms ({rate}; peak RSS {rss.peak:.0f} MiB)",
        # Lateness is a figure, not a correctness check: an unfinished run is reported as such.
        ("all " if len(late) == incidents else "INCOMPLETE: ")
        + f"{len(late):,}/{incidents:,} ran within {limit + spread:.0f} s",
    )


def bench_naive(report: Report, *, duration: float, connections: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tocsin-naive-") as tmp:
        port = free_port()
        db = Path(tmp) / "naive.sqlite3"
        proc = subprocess.Popen(
            [
                str(BIN / "uvicorn"),
                "bench.naive:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env={**os.environ, "BENCH_NAIVE_DB": str(db), "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
        )
        try:
            time.sleep(0.5)
            _wait_port(port)
            idle = tree_rss_mb(proc.pid)
            result = load(
                port,
                kind="unique",
                routing_key="n" * 32,
                prefix="n",
                duration=duration,
                connections=connections,
            )
        finally:
            proc.terminate()
            proc.wait()
        conn = sqlite3.connect(db)
        rows = conn.execute("SELECT COUNT(*) FROM alert").fetchone()[0]
        conn.close()
    report.add(
        f"naive reference (1 insert/request, sync=NORMAL), {connections} conn",
        "sqlite",
        rate_figure(result, "alerts"),
        report.expect(rows == result["ok"], f"rows {rows:,} == 2xx {result['ok']:,}")
        + f"; RSS {idle:.0f} MiB",
    )
    return result


def _wait_port(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


# ---- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (ingest + paging + naive: about a minute; storm, restart and "
        "durability add a few minutes)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TOCSIN_BENCH_POSTGRES", ""),
        help="PostgreSQL URL (a scratch database is created next to it and dropped after); "
        "default $TOCSIN_BENCH_POSTGRES; without it only SQLite runs",
    )
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgres"],
        action="append",
        help="run on this database only (repeatable; default SQLite, and PostgreSQL if given)",
    )
    parser.add_argument("--duration", type=float, help="seconds of the unique-key run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--incidents", type=int, help="escalation steps due at once")
    parser.add_argument("--workers", type=int, default=1, help="web server processes")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also measure ingestion through the Django views (TOCSIN_FAST_INGEST=0)",
    )
    parser.add_argument("--skip-paging", action="store_true", help="ingestion and naive only")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help=f"run only these benchmarks ({', '.join(BENCHES)}); repeatable",
    )
    storm = parser.add_argument_group("storm (bench/storm.py)")
    storm.add_argument("--storm-alerts", type=int, help="triggers sent (100,000; quick 20,000)")
    storm.add_argument("--storm-keys", type=int, help="distinct dedup keys (2,000; quick 500)")
    storm.add_argument(
        "--storm-wait",
        type=float,
        help="bound on the wait for the worker after the storm, s (180; quick 90)",
    )
    crash = parser.add_argument_group("restart and durability (bench/durability.py)")
    crash.add_argument(
        "--restart-incidents",
        type=int,
        help="steps due when the worker is killed (1,000; quick 200)",
    )
    crash.add_argument("--kills", type=int, help="SIGKILLs in the durability run (50; quick 10)")
    crash.add_argument(
        "--durability-rate",
        type=float,
        default=100.0,
        help="alerts/s offered during the kills (0: as fast as possible; default 100, so that "
        "the worker can drain the backlog at the end)",
    )
    crash.add_argument("--durability-connections", type=int, default=16)
    crash.add_argument(
        "--drain-wait", type=float, help="bound on the final worker drain, s (300; quick 120)"
    )
    crash.add_argument("--seed", type=int, default=1, help="random seed of the kill schedule")
    parser.add_argument(
        "--out",
        help="markdown table (default bench/last-run.md; with --only bench/last-run-NAMES.md)",
    )
    args = parser.parse_args(argv)
    only = {name.strip() for value in args.only for name in value.split(",") if name.strip()}
    unknown = only - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}: choose from {BENCHES}")
    args.only = sorted(only, key=BENCHES.index)
    if not args.out:
        suffix = f"-{'-'.join(args.only)}" if args.only else ""
        args.out = str(HERE / f"last-run{suffix}.md")
    return args


BENCHES = ("ingest", "paging", "naive", "storm", "restart", "durability")


@contextlib.contextmanager
def fresh(
    args: argparse.Namespace, db: str, sink: Sink, *, start: bool = True, **options: Any
) -> Iterator[Tocsin]:
    """A new Tocsin (and, on PostgreSQL, a new scratch database), stopped and dropped after."""
    url, name = pg_scratch(args.postgres) if db == "postgres" else ("", "")
    tocsin = Tocsin(smtp_port=sink.port, database_url=url, **options)
    try:
        if start:
            tocsin.start()
        else:
            tocsin.prepare()
        yield tocsin
    finally:
        tocsin.stop()
        if name:
            pg_drop(args.postgres, name)


def guarded(report: Report, name: str, db: str, run: Callable[[], object]) -> None:
    """Run one benchmark; an exception (server that never came up ...) is reported, not raised."""
    try:
        run()
    except Exception as exc:
        report.add(name, db, f"aborted: {type(exc).__name__}: {str(exc)[:300]}", "INCOMPLETE")
        report.incomplete.append(f"{name} ({db})")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    selected = set(args.only or BENCHES)
    if args.skip_paging:
        selected &= {"ingest", "naive"}
    quick = args.quick
    duration = args.duration or (8.0 if quick else 60.0)
    incidents = args.incidents or (1_000 if quick else 10_000)
    probes = 20 if quick else 100
    pg_version = ""
    if args.postgres:
        import psycopg

        with psycopg.connect(args.postgres) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            pg_version = str(row[0]) if row else "?"
    report = Report()
    info = machine(pg_version)
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    print("Note: the load generator runs on the same cores as the server.", flush=True)
    print(f"Benchmarks: {', '.join(b for b in BENCHES if b in selected)}", flush=True)
    dbs = args.db or ["sqlite", *(["postgres"] if args.postgres else [])]
    if "postgres" in dbs and not args.postgres:
        raise SystemExit("--db postgres needs --postgres URL or $TOCSIN_BENCH_POSTGRES")
    started = time.monotonic()
    naive: dict[str, Any] = {}
    with Sink() as sink:
        for db in dbs:
            if "ingest" in selected:
                for fast in [True, False] if args.baseline else [True]:
                    label = "lean+group commit" if fast else "Django views"
                    with fresh(
                        args,
                        db,
                        sink,
                        fast_ingest=fast,
                        workers=args.workers,
                        latency_services=probes,
                    ) as tocsin:
                        report.raw[f"{db}/{label}"] = bench_ingest(
                            report,
                            tocsin,
                            db,
                            duration=duration,
                            connections=args.connections,
                            label=label,
                        )
            if "paging" in selected:
                with fresh(args, db, sink, latency_services=probes) as tocsin:
                    bench_delivery(report, tocsin, sink, db, probes)
                    bench_escalation(report, tocsin, db, incidents, limit=60.0 if quick else 120.0)
                    # The target's case: N pending, falling due at a steady rate.
                    bench_escalation(
                        report, tocsin, db, incidents, limit=30.0, spread=incidents / 100
                    )
            if "storm" in selected:
                guarded(report, "storm", db, partial(run_storm, report, args, db, sink))
            if "restart" in selected:
                guarded(report, "restart", db, partial(run_restart, report, args, db, sink))
            if "durability" in selected:
                guarded(report, "durability", db, partial(run_durability, report, args, db, sink))
        if "naive" in selected:
            naive = bench_naive(report, duration=duration / 2, connections=args.connections)
    ours = report.raw.get("sqlite/lean+group commit", {}).get("unique")
    if ours and naive:
        ratio = ours["rps"] / naive["rps"] if naive["rps"] else float("nan")
        report.add(
            "ratio Tocsin / naive (unique keys, SQLite)",
            "sqlite",
            f"{ratio:.2f}x ({ours['rps']:,.0f} / {naive['rps']:,.0f} alerts/s)",
        )
    write_markdown(Path(args.out), info, report, time.monotonic() - started, args)
    if report.incomplete:
        print("INCOMPLETE: " + "; ".join(report.incomplete), flush=True)
    if report.failures:
        print("FAILED checks: " + "; ".join(report.failures), flush=True)
        raise SystemExit(1)


def run_storm(report: Report, args: argparse.Namespace, db: str, sink: Sink) -> None:
    from bench.storm import bench_storm, storm_config

    quick = args.quick
    with fresh(args, db, sink, config=storm_config(), latency_services=0) as tocsin:
        report.raw[f"{db}/storm"] = bench_storm(
            report,
            tocsin,
            sink,
            db,
            alerts=args.storm_alerts or (20_000 if quick else 100_000),
            keys=args.storm_keys or (500 if quick else 2_000),
            connections=args.connections,
            probe_after=2.0 if quick else 3.0,
            send_bound=120.0 if quick else 300.0,
            limit=args.storm_wait or (90.0 if quick else 180.0),
        )


def run_restart(report: Report, args: argparse.Namespace, db: str, sink: Sink) -> None:
    from bench.durability import bench_restart

    with fresh(args, db, sink, latency_services=0) as tocsin:
        # The wait outlasts a 60 s claim lease, so a step leased by the dead worker is seen.
        bench_restart(
            report,
            tocsin,
            db,
            args.restart_incidents or (200 if args.quick else 1_000),
            limit=90.0,
        )


def run_durability(report: Report, args: argparse.Namespace, db: str, sink: Sink) -> None:
    from bench.durability import bench_durability

    quick = args.quick
    with fresh(args, db, sink, start=False, latency_services=0) as tocsin:
        report.raw[f"{db}/durability"] = bench_durability(
            report,
            tocsin,
            sink,
            db,
            kills=args.kills or (10 if quick else 50),
            rate=args.durability_rate,
            connections=args.durability_connections,
            drain_limit=args.drain_wait or (120.0 if quick else 300.0),
            seed=args.seed,
        )


def write_markdown(
    path: Path, info: dict[str, str], report: Report, seconds: float, args: argparse.Namespace
) -> None:
    lines = [
        f"# Benchmark run ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + ".",
        f"Options: {' '.join(sys.argv[1:]) or '(default)'}; took {seconds:.0f} s. "
        "The load generator shares the cores with the server.",
        "",
        "| benchmark | DB | figure | check |",
        "|---|---|---|---|",
        *(f"| {r.bench} | {r.db} | {r.figure} | {r.check} |" for r in report.rows),
        "",
        *(
            [f"INCOMPLETE (bounded waits ran out): {'; '.join(report.incomplete)}.", ""]
            if report.incomplete
            else []
        ),
    ]
    path.write_text("\n".join(lines))
    print(f"\nwrote {path}", flush=True)
    print("\n".join(lines), flush=True)
