"""``tocsin serve``, ``web`` and ``worker`` as an operator runs them: health, signals, exit."""

from __future__ import annotations

import signal

import httpx
import pytest
from harness import TocsinServer

pytestmark = pytest.mark.e2e

WORKER_UP = 15.0  # the worker beats on start, then every 5 s


def _worker_ok(server: TocsinServer) -> bool:
    return bool(server.healthz()["worker"]["ok"])


def _refuses_connections(server: TocsinServer) -> bool:
    try:
        httpx.get(f"{server.base_url}/healthz", timeout=2.0)
    except httpx.TransportError:
        return True
    return False


@pytest.mark.parametrize(
    ("sig", "whole_group"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
    ids=["SIGTERM", "SIGINT", "Ctrl-C-to-group"],
)
def test_serve_is_healthy_and_stops_web_and_worker(sig: signal.Signals, whole_group: bool) -> None:
    with TocsinServer("serve") as server:
        assert server.process is not None
        health = server.healthz()
        assert health["database"]["ok"] is True, health
        assert health["database"]["vendor"] in {"sqlite", "postgresql"}, health
        server.wait_for(lambda: _worker_ok(server), WORKER_UP, message="worker ok in /healthz")
        assert server.healthz()["status"] == "ok"
        members = server.process.group()
        assert len(members) == 2, f"expected serve + its worker in the group: {members}"
        assert any(" worker" in m for m in members), members

        # stop() sends the signal to `tocsin serve` only (a process manager's stop) or to the
        # group (Ctrl-C), and fails unless serve exits 0 within 15 s leaving no process (the
        # worker child) in its group.
        assert server.stop(sig, whole_group=whole_group) == 0
        assert _refuses_connections(server)
        log = server.process.log(200)
        assert "Traceback" not in log, log
        assert "worker" in log and "stopped" in log, log


def test_web_alone_runs_without_a_worker() -> None:
    with TocsinServer("web") as server:
        assert server.process is not None
        health = server.healthz()
        assert health["status"] == "degraded", health
        assert health["database"]["ok"] is True, health
        assert health["worker"]["ok"] is False, health
        assert len(server.process.group()) == 1, server.process.group()
        assert server.stop(signal.SIGTERM) == 0


def test_worker_alone_beats_and_exits_cleanly_on_sigterm() -> None:
    with TocsinServer("web") as server:
        worker = server.spawn("worker")
        server.wait_for(lambda: _worker_ok(server), WORKER_UP, message="worker ok in /healthz")
        assert server.healthz()["status"] == "ok"

        assert worker.stop(signal.SIGTERM) == 0
        assert "Traceback" not in worker.log(200), worker.log(200)
        # A clean stop removes the worker's heartbeat: health says so at once, not in 30 s.
        health = server.healthz()
        assert health["status"] == "degraded", health
        assert server.stop(signal.SIGTERM) == 0
