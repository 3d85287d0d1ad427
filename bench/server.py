"""Start and stop a real Tocsin (``tocsin serve``, or ``web`` and ``worker`` apart) in a temporary
data dir; read its database; the SMTP sink that receives its pages."""

from __future__ import annotations

import contextlib
import email
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 60.0, *, worker: bool = False) -> None:
    """Wait until ``url`` answers 2xx; with ``worker``, until /healthz also reports a worker
    heartbeat (``tocsin serve`` answers before its worker process has started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if not worker or json.loads(response.read())["worker"]["ok"]:
                    return
        except Exception:  # not up yet (refused, 503 while the database opens)
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer (worker: {worker}) within {timeout:.0f} s")


# ---- memory -------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_rss_mb(root: int) -> float:
    """VmRSS of ``root`` and all its descendants, in MiB."""
    tree, todo, total = _children(), [root], 0
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def descendants(root: int) -> list[int]:
    """The pids of ``root``'s descendants (not ``root`` itself)."""
    tree, todo, found = _children(), [root], []
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def find_worker(root: int) -> int | None:
    """The worker subprocess of a ``tocsin serve`` (its command line runs ``tocsin.cli worker``)."""
    for pid in descendants(root):
        args = cmdline(pid)
        if "tocsin.cli" in args and "worker" in args:
            return pid
    return None


class RssSampler:
    """Sample a process tree's RSS every ``every`` seconds; keep the peak."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every, self.peak = pid, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---- the SMTP sink ------------------------------------------------------------------------

_NUMBER = re.compile(r"^(?:Incident )?#(\d+)\b", re.MULTILINE)


@dataclass
class Mail:
    """One message the sink accepted: when, to whom, and its raw bytes (parsed on demand)."""

    at: float
    rcpts: tuple[str, ...]
    raw: bytes

    def text(self) -> str:
        parsed = email.message_from_bytes(self.raw)
        for part in parsed.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    return payload.decode(part.get_content_charset() or "utf-8", "replace")
        return ""

    def incident_numbers(self) -> list[int]:
        """The incidents the message lists (a bundle lists at most 50, then a count)."""
        return [int(n) for n in _NUMBER.findall(self.text())]


class Sink:
    """Accept every message (aiosmtpd); keep when it came and its recipients."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[float] = []
        self.mails: list[Mail] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                now = time.time()
                sink.received.append(now)
                raw = envelope.original_content or envelope.content or b""
                if isinstance(raw, str):
                    raw = raw.encode()
                sink.mails.append(Mail(now, tuple(envelope.rcpt_tos), raw))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def since(self, index: int) -> list[Mail]:
        return self.mails[index:]


# ---- PostgreSQL scratch databases -----------------------------------------------------------


def pg_scratch(url: str) -> tuple[str, str]:
    """Create an empty database next to ``url``'s; return (its URL, its name)."""
    import psycopg

    name = f"tocsin_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name)), name


def pg_drop(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- the server ---------------------------------------------------------------------------


def config_yaml(*, latency_services: int, pd_keys: dict[str, str]) -> str:
    """People, policies and services: the load services, one service per latency probe."""
    people, policies, services = [], [], []

    def person(email: str) -> None:
        people.append(
            f"  - email: {email}\n    name: {email.split('@')[0]}\n"
            f"    contact: [{{name: work-email, email: {email}}}]\n"
            f"    notify: [{{after: 0m, via: work-email}}]\n"
        )

    def service(name: str, email: str, integrations: list[str]) -> None:
        policies.append(
            f"  - name: {name}-policy\n    levels:\n      - {{notify: [{{user: {email}}}]}}\n"
        )
        lines = "".join(f"      - {i}\n" for i in integrations)
        services.append(
            f"  - name: {name}\n    escalation_policy: {name}-policy\n"
            f"    severity_map: {{critical: P1}}\n    integrations:\n{lines}"
        )

    person("oncall@example.com")
    service(
        "bench-load",
        "oncall@example.com",
        [
            f"{{kind: pagerduty, key: '{pd_keys['unique']}'}}",
            f"{{kind: pagerduty, key: '{pd_keys['hot']}'}}",
            "{kind: alertmanager, key: bench-am}",
        ],
    )
    service("bench-escalation", "oncall@example.com", [f"{{kind: pagerduty, key: '{'e' * 32}'}}"])
    for i in range(latency_services):
        email = f"lat{i}@example.com"
        person(email)
        service(f"lat-{i}", email, [f"{{kind: pagerduty, key: '{latency_key(i)}'}}"])
    return (
        "severities:\n  - {name: P1, title: Critical, respond_within: 5m}\n"
        + "people:\n"
        + "".join(people)
        + "escalation_policies:\n"
        + "".join(policies)
        + "services:\n"
        + "".join(services)
    )


def latency_key(i: int) -> str:
    return f"{i:032x}"


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL of its whole process group after ``timeout`` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Tocsin:
    """One Tocsin (``serve``: web + worker) on a free port, with its own data dir.

    ``config`` replaces the generated configuration; ``prepare`` + ``spawn`` run ``tocsin web``
    and ``tocsin worker`` as separate processes instead (``stop`` ends them too).
    """

    smtp_port: int
    database_url: str = ""
    fast_ingest: bool = True
    workers: int = 1
    latency_services: int = 100
    pd_keys: dict[str, str] = field(default_factory=lambda: {"unique": "b" * 32, "hot": "c" * 32})
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    data_dir: Path = Path()
    config: str = ""
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    log: Any = None
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[Any] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "TOCSIN_DATA_DIR": str(self.data_dir),
            "TOCSIN_EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "TOCSIN_LOG_LEVEL": "ERROR",
            "TOCSIN_FAST_INGEST": "1" if self.fast_ingest else "0",
            "TOCSIN_WEB_WORKERS": str(self.workers),
            "PYTHONPATH": str(ROOT),
        }
        env.pop("DATABASE_URL", None)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def tocsin(self, *args: str) -> None:
        subprocess.run(
            [str(BIN / "tocsin"), *args], env=self.env(), check=True, stdout=subprocess.DEVNULL
        )

    def prepare(self) -> Tocsin:
        """Data dir, port, migrated database and applied configuration; nothing running."""
        self._tmp = tempfile.TemporaryDirectory(prefix="tocsin-bench-")
        self.data_dir = Path(self._tmp.name)
        self.port = free_port()
        self.tocsin("migrate")
        config = self.data_dir / "bench.yaml"
        config.write_text(
            self.config or config_yaml(latency_services=self.latency_services, pd_keys=self.pd_keys)
        )
        self.tocsin("apply", str(config))
        return self

    def spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        """Run ``tocsin ARGS`` in its own session (its own process group), output to ``log``."""
        out = (self.data_dir / log).open("ab")
        self._logs.append(out)
        proc = subprocess.Popen(
            [str(BIN / "tocsin"), *args],
            env=self.env(),
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.extra.append(proc)
        return proc

    def start(self) -> Tocsin:
        self.prepare()
        self.log = (self.data_dir / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "tocsin"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env(),
            start_new_session=True,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        # Measurements start once the worker runs too: they are of a running Tocsin, not of
        # its start-up (the restart benchmark measures that).
        wait_http(f"http://127.0.0.1:{self.port}/healthz", worker=True)
        return self

    def stop(self) -> None:
        for proc in self.extra:
            stop_process(proc, timeout=20)
        self.extra.clear()
        for out in self._logs:
            out.close()
        self._logs.clear()
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None
            self.log.close()
        if self._tmp is not None:
            for log in sorted(self.data_dir.glob("*.log")):
                errors = log.read_text(errors="replace")
                if "Traceback" in errors:
                    print(f"{log.name}: ...{errors[-1500:]}", file=sys.stderr)
            self._tmp.cleanup()
            self._tmp = None

    def rss_mb(self) -> float:
        assert self.proc is not None
        return tree_rss_mb(self.proc.pid)

    def run_python(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, *args], env=self.env(), check=True, capture_output=True, text=True
        )
        return out.stdout

    # ---- reading the database ----

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url) as conn:
                return list(conn.execute(sql.encode()).fetchall())
        import sqlite3

        lite = sqlite3.connect(self.data_dir / "tocsin.sqlite3", timeout=60)
        try:
            return list(lite.execute(sql).fetchall())
        finally:
            lite.close()

    def scalar(self, sql: str) -> Any:
        return self.query(sql)[0][0]


def as_utc(value: Any) -> datetime:
    """A timestamp column as an aware UTC datetime (SQLite stores naive UTC text)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
