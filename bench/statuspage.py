"""Status page benchmark: Tocsin serving /status/ vs nginx serving the static export.

Run: ``python -m bench.statuspage`` (writes bench/STATUSPAGE.md). Needs ``wrk`` and
``nginx`` on PATH. It seeds a temporary SQLite install with a major outage, then measures with
wrk at 256 connections:

* ``tocsin web`` exactly as an operator runs it (granian, ``tocsin.asgi.application``: the
  status page's lean read path in front of Django);
* nginx serving the static export of the same snapshot.

Then it checks, against ``tocsin web``, that a change written by another process shows within
2 s, and that with the database gone the last good page is still served (100 % 2xx).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.server import BIN, ROOT, free_port, tree_rss_mb, wait_http

CONNECTIONS = 256
WEB = "tocsin web (granian)"
NGINX = "nginx (static export)"
PATHS = ("/status/api/v2/summary.json", "/status/")
# Each path is measured as wrk asks by default (no Accept-Encoding: the full body) and as
# browsers and HTTP libraries ask (Accept-Encoding: gzip: the compressed body).
ENCODINGS = ("identity", "gzip")

SEED = """
import django, os
django.setup()
from tocsin.policy.config import schema
from tocsin.policy.config.apply import config_apply
from tocsin.statuspage import services, snapshot
from tocsin.statuspage.models import Component
snapshot._on_commit = lambda fn: fn()
config_apply(config=schema.Config.model_validate({"status_page": {"title": "Bench", "components": [
    {"name": f"Component {i}", "group": "Group A" if i < 4 else None} for i in range(10)]}}))
c = list(Component.objects.filter(is_group=False))
inc = services.public_incident_create(name="Major outage", body="Investigating.", impact="major",
    components={c[0]: "major_outage", c[1]: "partial_outage"})
services.public_incident_update(public_incident=inc, status="investigating", body="Still on it.")
site = snapshot.snapshot_rebuild()
snapshot.snapshot_export(directory=os.environ["TOCSIN_STATUS_EXPORT_DIR"], site=site)
"""

CHANGE = """
import django
django.setup()
from tocsin.statuspage import services, snapshot
from tocsin.statuspage.models import Component
snapshot._on_commit = lambda fn: fn()
services.component_set_status(component=Component.objects.get(name="Component 5"),
    status="degraded_performance")
"""


@dataclass
class Result:
    server: str
    path: str
    encoding: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    """A wrk duration (``786.15us``, ``15.27ms``, ``1.10s``, ``2.00m``) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        return float("nan")
    value, unit = match.groups()
    return float(value) * _UNITS_MS[unit]


def _percentile(out: str, percent: int) -> float:
    """The ``--latency`` distribution line, e.g. ``     99%    1.10s``.

    Anchored to the start of its line: the thread stats above it end in percentages too
    (``+/- Stdev`` such as ``87.50%``), and an unanchored ``50%\\s+(\\S+)`` took the first word
    of the next line ("Req/Sec") for the latency, which parsed as nan.
    """
    match = re.search(rf"^\s*{percent}%\s+(\S+)\s*$", out, re.MULTILINE)
    return _ms(match.group(1)) if match else float("nan")


def wrk(
    url: str, *, seconds: int, connections: int = CONNECTIONS, encoding: str = "identity"
) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx/3xx + socket errors, requests) from one wrk run."""
    header = [] if encoding == "identity" else ["-H", f"Accept-Encoding: {encoding}"]
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *header, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50, p99 = _percentile(out, 50), _percentile(out, 99)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return rps, p50, p99, errors, requests


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log.open("w")
        self.p = subprocess.Popen(
            args,
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
        self.log.close()


def nginx_conf(tmp: Path, port: int, root: Path) -> Path:
    conf = tmp / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""
        worker_processes auto;
        pid {tmp}/nginx.pid;
        error_log {tmp}/nginx-error.log;
        daemon off;
        events {{ worker_connections 4096; }}
        http {{
          access_log off;
          client_body_temp_path {tmp}/nginx-body;
          proxy_temp_path {tmp}/nginx-proxy;
          fastcgi_temp_path {tmp}/nginx-fcgi;
          uwsgi_temp_path {tmp}/nginx-uwsgi;
          scgi_temp_path {tmp}/nginx-scgi;
          include /etc/nginx/mime.types;
          server {{
            listen 127.0.0.1:{port};
            {_nginx_location(root)}
          }}
        }}
        """)
    )
    return conf


def _nginx_location(root: Path) -> str:
    """The README's snippet, with the export at /status/."""
    return textwrap.dedent(f"""
        location /status/ {{
              alias {root}/;
              index index.html;
              gzip_static on;
              add_header Cache-Control "public, max-age=2";
              location /status/api/ {{
                add_header Access-Control-Allow-Origin "*";
                add_header Cache-Control "public, max-age=2";
              }}
            }}""")


def env_for(data: Path, export: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env |= {
        "TOCSIN_DATA_DIR": str(data),
        "TOCSIN_STATUS_EXPORT_DIR": str(export),
        "DJANGO_SETTINGS_MODULE": "tocsin.settings",
        "PYTHONPATH": str(ROOT),
    }
    return env


def measure(server: str, base: str, seconds: int) -> list[Result]:
    results = []
    for path in PATHS:
        for encoding in ENCODINGS:
            wrk(base + path, seconds=2, encoding=encoding)  # warm up
            rps, p50, p99, errors, n = wrk(base + path, seconds=seconds, encoding=encoding)
            results.append(Result(server, path, encoding, rps, p50, p99, errors, n))
            print(
                f"  {server:<22} {path:<30} {encoding:<8} {rps:>9.0f} req/s  p99 {p99:6.1f} ms  "
                f"errors {errors}"
            )
    return results


def change_latency(env: dict[str, str], base: str) -> float:
    """Seconds from a write in another process to the change showing in summary.json."""
    start = time.monotonic()
    subprocess.run([str(BIN / "python"), "-c", CHANGE], env=env, cwd=ROOT, check=True)
    written = time.monotonic()
    while time.monotonic() - written < 10:
        with urllib.request.urlopen(base + "/status/api/v2/summary.json") as r:
            body = json.load(r)
        if any(c["status"] == "degraded_performance" for c in body["components"]):
            return time.monotonic() - written
        time.sleep(0.02)
    del start
    return float("inf")


def database_down(data: Path, base: str, seconds: int) -> tuple[int, int]:
    """Move the SQLite files away (the database is gone) and load the page; (errors, requests)."""
    moved = []
    for f in data.glob("tocsin.sqlite3*"):
        f.rename(f.with_name(f.name + ".away"))
        moved.append(f)
    try:
        time.sleep(1.5)  # at least one failed version check
        errors = requests = 0
        for path in PATHS:
            _rps, _p50, _p99, e, n = wrk(base + path, seconds=seconds, connections=64)
            errors, requests = errors + e, requests + n
        return errors, requests
    finally:
        for f in data.glob("tocsin.sqlite3*"):
            if not f.name.endswith(".away"):
                f.unlink()
        for f in moved:
            f.with_name(f.name + ".away").rename(f)


def run(seconds: int, out: Path) -> None:
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install {tool}")
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-sp-bench-"))
    tmp.chmod(0o755)  # nginx workers run as an unprivileged user
    data, export = tmp / "data", tmp / "export" / "site"
    data.mkdir()
    env = env_for(data, export)
    subprocess.run(
        [str(BIN / "tocsin"), "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    subprocess.run([str(BIN / "python"), "-c", SEED], env=env, cwd=ROOT, check=True)
    results: list[Result] = []
    facts: dict[str, Any] = {}
    procs: list[Proc] = []
    try:
        port = free_port()
        web = Proc([str(BIN / "tocsin"), "web", "--port", str(port)], env, tmp / "web.log")
        procs.append(web)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/status/")
        time.sleep(1)
        facts["idle_rss_mb"] = tree_rss_mb(web.p.pid)
        results += measure(WEB, base, seconds)
        facts["loaded_rss_mb"] = tree_rss_mb(web.p.pid)
        facts["change_seconds"] = change_latency(env, base)
        facts["down_errors"], facts["down_requests"] = database_down(
            data, base, max(3, seconds // 2)
        )
        web.stop()

        port = free_port()
        nginx = Proc(
            ["nginx", "-c", str(nginx_conf(tmp, port, export.resolve()))], env, tmp / "nginx.log"
        )
        procs.append(nginx)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/status/")
        results += measure(NGINX, base, seconds)
    finally:
        for p in procs:
            p.stop()
    write_report(out, results, facts, seconds)
    shutil.rmtree(tmp, ignore_errors=True)


def write_report(out: Path, results: list[Result], facts: dict[str, Any], seconds: int) -> None:
    by = {(r.server, r.path, r.encoding): r for r in results}
    lines = [
        "# Status page benchmark",
        "",
        f"`python -m bench.statuspage` on {os.cpu_count()} CPUs (wrk on the same machine, "
        f"2 threads, {CONNECTIONS} connections, {seconds} s per run, SQLite).",
        "",
        "| server | path | Accept-Encoding | req/s | p50 ms | p99 ms | errors | vs nginx |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ref = by.get((NGINX, r.path, r.encoding))
        ratio = f"{r.rps / ref.rps:.2f}" if ref else "-"
        lines.append(
            f"| {r.server} | `{r.path}` | {r.encoding} | {r.rps:,.0f} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.errors} | {ratio} |"
        )
    change = facts.get("change_seconds", float("inf"))
    lines += [
        "",
        f"- A change written by another process showed in summary.json after {change:.2f} s "
        "(target: within 2 s).",
        f"- Database gone (SQLite files moved away): {facts.get('down_requests', 0):,} requests, "
        f"{facts.get('down_errors', 0)} non-2xx or socket errors.",
        f"- `tocsin web` resident memory: {facts.get('idle_rss_mb', 0):.0f} MiB idle, "
        f"{facts.get('loaded_rss_mb', 0):.0f} MiB after the runs.",
        "- Target from the issue: >= 15,000 req/s with p99 <= 20 ms served by Tocsin itself.",
        "",
    ]
    out.write_text("\n".join(lines))
    print(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "STATUSPAGE.md")
    args = parser.parse_args()
    run(args.seconds, args.out)


if __name__ == "__main__":
    main()
