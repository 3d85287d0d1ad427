"""``tocsin serve``, ``web`` and ``worker`` as an operator runs them: health, signals, exit."""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from datetime import UTC, datetime

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
        # granian: started and stopped without complaint (the ASGI lifespan is answered).
        assert "Listening at" in log and "Shutting down" in log, log
        assert not re.search(r"(WARNING|ERROR) _granian", log), log


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


def test_alerts_accepted_while_web_stops_are_all_stored() -> None:
    """SIGTERM during a stream of alerts: every 2xx answer was committed (the writer finishes)."""
    with TocsinServer("web") as server:
        server.configure(
            [
                {
                    "name": "Shutdown",
                    "severity_map": {"critical": "P1"},
                    "integrations": [{"kind": "alertmanager", "key": "am-shutdown"}],
                }
            ]
        )
        url = f"{server.base_url}/integrations/alertmanager/am-shutdown"
        accepted: list[int] = []
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")

        def post(sender: int) -> None:
            with httpx.Client(timeout=15.0) as client:
                for n in range(100_000):
                    labels = {"alertname": "ShutdownTest", "instance": f"{sender}-{n}"}
                    body = {"status": "firing", "alerts": [{"labels": labels, "startsAt": now}]}
                    try:
                        response = client.post(url, content=json.dumps(body))
                    except httpx.TransportError:
                        return  # the server has stopped
                    if response.status_code // 100 == 2:
                        accepted.append(1)

        senders = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for sender in senders:
            sender.start()
        time.sleep(1.5)
        assert server.stop(signal.SIGTERM) == 0
        for sender in senders:
            sender.join(20)
        assert accepted, "no alert was accepted before the stop"
        stored = server.shell(
            "from tocsin.alerts.models import Alert; print(Alert.objects.count())"
        ).split()[-1]
        assert int(stored) >= len(accepted), (stored, len(accepted))


def test_web_stops_within_its_grace_period_despite_a_stalled_upload() -> None:
    """A client that never sends its body does not keep the server from stopping."""
    with TocsinServer("web") as server:
        assert server.process is not None
        with socket.create_connection(("127.0.0.1", server.port)) as stalled:
            stalled.sendall(
                b"POST /integrations/webhook/stalled HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            time.sleep(0.5)  # the request is in the application, waiting for its body
            start = time.monotonic()
            assert server.stop(signal.SIGTERM) == 0
            assert time.monotonic() - start < 13
        assert "stopping without them" in server.process.log(50), server.process.log(50)
