"""Drive the real ``tocsin`` programs: a throw-away server, its CLI, its API and helpers.

``TocsinServer`` runs ``tocsin serve`` (or ``web``) as a child in its own session, with a
temporary ``TOCSIN_DATA_DIR`` and a free port; ``spawn("worker")`` adds programs against the same
data. Each is stopped with SIGTERM, failing the test unless it exits cleanly (status 0, no
process left in its group) within 15 s.

Set ``TOCSIN_E2E_POSTGRES=postgresql://user:pass@host:port/postgres`` to run each server on its
own throw-away PostgreSQL database instead of SQLite.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]

START_TIMEOUT = 30.0  # seconds until /healthz answers (migrations run first)
STOP_TIMEOUT = 15.0  # seconds for a clean exit after SIGTERM/SIGINT
CLI_TIMEOUT = 90.0  # one `tocsin ...` command (Django start-up is slow on a loaded machine)

T = TypeVar("T")


def tocsin_executable() -> Path:
    """The ``tocsin`` console script of the project's virtualenv (else next to this Python)."""
    for candidate in (ROOT / ".venv" / "bin" / "tocsin", Path(sys.executable).parent / "tocsin"):
        if candidate.exists():
            return candidate
    raise RuntimeError("no tocsin executable: build the virtualenv first (make test)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_members(pgid: int) -> list[str]:
    """``pid command`` of every live process in the process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            pid = stat.parent.name
            try:
                cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmd = "?"
            members.append(f"{pid} {cmd.strip()}")
    return members


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.2,
    message: str = "condition",
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``.

    Polling is right here: the state lives in another process. Connection and decoding errors
    count as "not yet" (the last one is shown if time runs out); an AssertionError or any other
    exception from the predicate fails at once.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except (httpx.TransportError, OSError, ValueError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            extra = f"\n{diagnostics()}" if diagnostics else ""
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {message}; last value: {last!r}{extra}"
            )
        time.sleep(interval)


class ManagedProcess:
    """A child in its own session (so its whole process group can be checked and killed)."""

    def __init__(self, args: list[str], *, env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pgid = self.proc.pid  # session leader: pgid == pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- {self.log_path.name} (last {lines} lines) ---\n{tail}"

    def group(self) -> list[str]:
        return group_members(self.pgid)

    def stop(
        self,
        sig: signal.Signals = signal.SIGTERM,
        timeout: float = STOP_TIMEOUT,
        *,
        whole_group: bool = False,
    ) -> int:
        """Send ``sig`` to the main process (or, like Ctrl-C in a terminal, to its whole group);
        assert it exits 0 within ``timeout`` and leaves no process behind."""
        problems: list[str] = []
        if self.proc.poll() is not None:
            problems.append(f"exited on its own before {sig.name} (status {self.proc.returncode})")
        else:
            if whole_group:
                os.killpg(self.pgid, sig)
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"still running {timeout:g} s after {sig.name}: SIGKILLed")
        # A child orphaned by the main process stays in its group: that is a leak.
        deadline = time.monotonic() + 3.0
        while (left := self.group()) and time.monotonic() < deadline:
            time.sleep(0.1)
        if left:
            problems.append(f"processes left in the group after exit: {left}")
        self.kill()
        if not problems and self.proc.returncode != 0:
            problems.append(f"exit status {self.proc.returncode} after {sig.name} (expected 0)")
        if problems:
            raise AssertionError(f"{' '.join(self.args)}: {'; '.join(problems)}\n{self.log()}")
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL whatever is left of the process group (no assertions)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()


class _Postgres:
    """A throw-away database on the server named by ``TOCSIN_E2E_POSTGRES``."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.name = f"tocsin_e2e_{secrets.token_hex(6)}"
        parts = urlsplit(server_url)
        self.url = urlunsplit(parts._replace(path=f"/{self.name}"))

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class TocsinServer:
    """``with TocsinServer() as server:`` a live Tocsin on a free port with its own data."""

    def __init__(
        self,
        command: str = "serve",
        *,
        start_timeout: float = START_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> None:
        """``env``: extra environment for every program (e.g. ``TOCSIN_EMAIL_URL``)."""
        assert command in {"serve", "web"}, command
        self.command = command
        self.start_timeout = start_timeout
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._tmp = Path(tempfile.mkdtemp(prefix="tocsin-e2e-"))
        self.data_dir = self._tmp / "data"
        self.data_dir.mkdir()
        self.email = "e2e@example.com"
        self._token: str | None = None
        self._postgres: _Postgres | None = None
        self.process: ManagedProcess | None = None
        self.others: list[ManagedProcess] = []
        self.http = httpx.Client(base_url=self.base_url, timeout=15.0)
        self.env = self._environment() | (env or {})

    # ---- life cycle ---------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TOCSIN_", "DJANGO_")) and k != "DATABASE_URL"
        }
        env.update(
            TOCSIN_DATA_DIR=str(self.data_dir),
            TOCSIN_BASE_URL=self.base_url,
            TOCSIN_EMAIL_URL="console:",
            PYTHONUNBUFFERED="1",
        )
        pg_server = os.environ.get("TOCSIN_E2E_POSTGRES", "").strip()
        if pg_server:
            self._postgres = _Postgres(pg_server)
            env["DATABASE_URL"] = self._postgres.url
        return env

    def start(self) -> TocsinServer:
        if self._postgres:
            self._postgres.create()
        if self.command != "serve":
            self.cli("migrate")  # `serve` migrates by itself; `web` does not
        self.process = self.spawn(self.command, "--host", "127.0.0.1", "--port", str(self.port))
        self.wait_for(
            self._healthz_answers,
            self.start_timeout,
            interval=0.25,
            message=f"{self.base_url}/healthz to answer",
        )
        return self

    def _healthz_answers(self) -> bool:
        assert self.process is not None
        if not self.process.running:
            raise AssertionError(
                f"tocsin {self.command} exited with status {self.process.proc.returncode} "
                f"before answering /healthz\n{self.process.log()}"
            )
        return self.http.get("/healthz").status_code == 200

    def spawn(self, *args: str) -> ManagedProcess:
        """Start another ``tocsin`` program against the same data (stopped at exit)."""
        name = "-".join(a.lstrip("-") for a in args[:1])
        log_path = self._tmp / f"{name}-{len(self.others)}.log"
        proc = ManagedProcess([str(tocsin_executable()), *args], env=self.env, log_path=log_path)
        self.others.append(proc)
        return proc

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, whole_group: bool = False) -> int:
        """Stop the server as an operator would; assert a clean exit (see ManagedProcess)."""
        assert self.process is not None
        return self.process.stop(sig, whole_group=whole_group)

    def close(self) -> None:
        """Kill whatever still runs and remove the data (no assertions)."""
        for proc in self.others:
            proc.kill()
        self.http.close()
        if self._postgres:
            self._postgres.drop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> TocsinServer:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # A test that failed keeps its own error; otherwise an unclean stop fails it.
            if exc is None:
                for proc in reversed(self.others):
                    if proc.running:
                        proc.stop()
        finally:
            self.close()

    # ---- helpers for tests --------------------------------------------------------------

    def logs(self) -> str:
        return "\n".join(p.log() for p in self.others)

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float,
        *,
        interval: float = 0.2,
        message: str = "",
    ) -> T:
        """``wait_for`` with every process log in the failure message."""
        return wait_for(
            predicate,
            timeout,
            interval=interval,
            message=message or getattr(predicate, "__name__", "condition"),
            diagnostics=self.logs,
        )

    def cli(
        self, *args: str, check: bool = True, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run ``tocsin ARGS`` against this server's data; fail the test if it fails."""
        result = subprocess.run(
            [str(tocsin_executable()), *args],
            env=self.env,
            cwd=self._tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"tocsin {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-3000:]}"
            )
        return result

    @property
    def token(self) -> str:
        """An API token of a user created on first use."""
        if self._token is None:
            self.cli("createuser", "--email", self.email, "--password", "E2e-Pass-12345")
            out = self.cli("token", "create", "--email", self.email).stdout.strip()
            assert out, "tocsin token create printed nothing"
            self._token = out.splitlines()[-1].strip()
        return self._token

    def api(self, method: str, path: str, json: Any = None, *, expect: int = 200) -> Any:
        """Call ``/api/v1{path}`` with the token; assert the status; return the JSON body."""
        response = self.http.request(
            method.upper(),
            f"/api/v1{path}",
            json=json,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == expect, (
            f"{method.upper()} /api/v1{path} -> {response.status_code} (expected {expect}): "
            f"{response.text[:1000]}"
        )
        return response.json() if response.content else None

    def healthz(self) -> dict[str, Any]:
        response = self.http.get("/healthz")
        body: dict[str, Any] = response.json()
        return body

    def incidents(self, **params: str) -> list[dict[str, Any]]:
        """``GET /api/v1/incidents`` items (filters as keyword arguments)."""
        query = f"?{urlencode(params)}" if params else ""
        items: list[dict[str, Any]] = self.api("get", f"/incidents{query}")["items"]
        return items

    # ---- configuration ------------------------------------------------------------------

    def configure(self, services: list[dict[str, Any]]) -> str:
        """``tocsin apply`` a YAML file with these services; return its output.

        ``services``: ``[{"name": ..., "severity_map": {...}, "integrations":
        [{"kind": "alertmanager", "key": ...}, {"kind": "pagerduty", "key": <32 chars>}]}]``.
        """
        return self.apply({"services": services})

    def apply(self, document: dict[str, Any], *, name: str = "tocsin.yaml") -> str:
        """``tocsin apply`` a configuration (any sections, as in tocsin.yaml); return its output."""
        path = self._tmp / name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        result = self.cli("apply", str(path), check=False)
        assert result.returncode == 0, (
            f"tocsin apply {path} exited {result.returncode}\n{path.read_text()}\n"
            f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-3000:]}"
        )
        return result.stdout

    def shell(self, code: str) -> str:
        """Run Python ``code`` in ``tocsin django shell`` against this server's data; its stdout.

        For reading (or, in crash tests, nudging) state that no API exposes. Print one line of
        JSON last and read it with ``json.loads(out.splitlines()[-1])``.
        """
        return self.cli("django", "shell", "--no-imports", "-c", code).stdout


@dataclass
class Configured:
    """A running ``tocsin serve`` configured with one service per alert source under test."""

    server: TocsinServer
    alertmanager_key: str
    pagerduty_key: str
    alertmanager_service: str = "E2E Alertmanager"
    pagerduty_service: str = "E2E PagerDuty"

    def services(self) -> list[dict[str, Any]]:
        """The ``services:`` section that ``tocsin apply`` loads."""
        severity_map = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}
        return [
            {
                "name": self.alertmanager_service,
                "severity_map": severity_map,
                "integrations": [{"kind": "alertmanager", "key": self.alertmanager_key}],
            },
            {
                "name": self.pagerduty_service,
                "severity_map": severity_map,
                "integrations": [{"kind": "pagerduty", "key": self.pagerduty_key}],
            },
        ]
