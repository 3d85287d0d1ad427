"""A small HTTP/1.1 keep-alive load generator (asyncio + uvloop, raw sockets).

Run as its own process: ``python -m bench.loadgen '<json spec>'`` prints one JSON result.
Each connection sends a request, waits for the whole response, then sends the next one, until
the deadline; requests in flight at the deadline are waited for (not dropped), so the count
of 2xx answers is exact and can be checked against the database.

Spec keys: ``port``, ``kind`` (``unique``: a new dedup key per request; ``hot`` / ``cycle``:
request n uses key n mod ``hot_keys`` / ``keys``; ``batch``: Alertmanager batches),
``duration`` (s), ``connections``, and optionally:

* ``total``: stop sending after this many requests (``duration`` is then only a bound);
* ``rate``: at most this many requests a second in all (paced; default as fast as possible);
* ``reconnect``: a connection the server drops (a killed server) is opened again, retrying
  every 50 ms until the deadline; the request in flight then has no answer and is counted in
  ``lost_in_flight`` (its outcome is unknown: never a 2xx);
* ``ack_log``: a file to which the dedup key of every request answered 2xx is written, one a
  line (an acknowledged alert must be in the database).

SIGTERM or SIGINT ends the run early, as the deadline does (answers in flight are waited for).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import IO, Any, cast

PD_KEYS = {"unique": "b" * 32, "hot": "c" * 32, "latency": ""}


def _request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def pd_event(routing_key: str, dedup_key: str, n: int) -> bytes:
    body = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": f"Bench alert {n}: checkout latency above 2 s",
            "source": "bench-host-01",
            "severity": "critical",
            "custom_details": {"n": n},
        },
    }
    return _request("/v2/enqueue", json.dumps(body).encode())


def am_batch(path: str, prefix: str, n: int, size: int) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "instance": f"{prefix}-{n}-{i}",
                "severity": "critical",
            },
            "annotations": {"summary": f"Latency high on {prefix}-{n}-{i}"},
            "startsAt": "2026-01-05T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph",
            "fingerprint": f"{prefix}{n:08x}{i:04x}",
        }
        for i in range(size)
    ]
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="HighLatency", batch="{prefix}-{n}"}}',
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "truncatedAlerts": 0,
        "alerts": alerts,
    }
    return _request(path, json.dumps(body).encode())


def make_keys(spec: dict[str, Any]) -> Callable[[int], str]:
    """The dedup key of request n (for ``batch``: the batch's name)."""
    kind = spec["kind"]
    prefix = spec.get("prefix", "k")
    if kind == "unique":
        return lambda n: f"{prefix}-{n}"
    if kind == "hot":
        hot = int(spec.get("hot_keys", 1000))
        return lambda n: f"{prefix}-hot-{n % hot}"
    if kind == "cycle":
        keys = int(spec["keys"])
        return lambda n: f"{prefix}-{n % keys}"
    if kind == "batch":
        return lambda n: f"{prefix}-{n}"
    raise ValueError(kind)


def make_generator(spec: dict[str, Any]) -> Callable[[int], bytes]:
    kind = spec["kind"]
    prefix = spec.get("prefix", "k")
    if kind in {"unique", "hot", "cycle"}:
        key = make_keys(spec)
        return lambda n: pd_event(spec["routing_key"], key(n), n)
    if kind == "batch":
        size = int(spec.get("batch", 100))
        return lambda n: am_batch(spec["path"], prefix, n, size)
    raise ValueError(kind)


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.status: Counter[int] = Counter()
        self.errors = 0
        self.counter = 0
        self.last_done = 0.0
        self.lost_in_flight = 0
        self.reconnects = 0
        self.connect_failures = 0


class Run:
    """What every connection shares: the spec, the counters, the deadline, the ack log."""

    def __init__(self, spec: dict[str, Any], ack_log: IO[str] | None) -> None:
        self.port = int(spec["port"])
        self.make = make_generator(spec)
        self.key = make_keys(spec)
        self.total = int(spec.get("total") or 0)
        self.rate = float(spec.get("rate") or 0.0)
        self.reconnect = bool(spec.get("reconnect"))
        self.ack_log = ack_log
        self.stats = Stats()
        self.start = time.perf_counter()
        self.deadline = self.start + float(spec["duration"])
        self.reopening: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """End early: no new request; answers in flight are still waited for."""
        self.deadline = min(self.deadline, time.perf_counter())

    def over(self, now: float) -> bool:
        return now >= self.deadline or bool(self.total and self.stats.counter >= self.total)

    async def open(self, done: asyncio.Future[None]) -> None:
        """Open one connection (with ``reconnect``: retry until it opens or the deadline)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.create_connection(lambda: Connection(self, done), "127.0.0.1", self.port)
                return
            except OSError:
                if not self.reconnect:
                    raise
                self.stats.connect_failures += 1
            if self.over(time.perf_counter()):
                if not done.done():
                    done.set_result(None)
                return
            await asyncio.sleep(0.05)


class Connection(asyncio.Protocol):
    def __init__(self, run: Run, done: asyncio.Future[None]) -> None:
        self.run = run
        self.stats = run.stats
        self.done = done
        self.buf = bytearray()
        self.started = 0.0
        self.n = -1
        self.in_flight = False
        self.closing = False
        self.pacer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.send_next()

    def finish(self) -> None:
        assert self.transport is not None
        self.closing = True
        self.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    def send_next(self) -> None:
        now = time.perf_counter()
        if self.run.over(now):
            self.finish()
            return
        n = self.stats.counter
        self.stats.counter += 1
        if self.run.rate:
            at = self.run.start + n / self.run.rate
            if at > now:
                self.pacer = asyncio.get_running_loop().call_later(at - now, self.send, n)
                return
        self.send(n)

    def send(self, n: int) -> None:
        assert self.transport is not None
        self.pacer = None
        now = time.perf_counter()
        if now >= self.run.deadline:
            self.finish()
            return
        self.n = n
        self.buf.clear()
        self.started = now
        self.in_flight = True
        self.transport.write(self.run.make(n))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        eol = head.find(b"\r\n", at)
        length = int(head[at + 15 : eol if eol >= 0 else len(head)])
        if len(self.buf) < end + 4 + length:
            return
        now = time.perf_counter()
        self.in_flight = False
        status = int(self.buf[9:12])
        self.stats.latencies.append((now - self.started) * 1000)
        self.stats.status[status] += 1
        self.stats.last_done = now
        if self.run.ack_log is not None and 200 <= status < 300:
            self.run.ack_log.write(self.run.key(self.n) + "\n")
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pacer is not None:
            self.pacer.cancel()
            self.pacer = None
        if self.in_flight:
            self.stats.lost_in_flight += 1
            self.in_flight = False
        if self.closing or self.done.done():
            return
        if self.run.reconnect and not self.run.over(time.perf_counter()):
            self.stats.reconnects += 1
            task = asyncio.ensure_future(self.run.open(self.done))
            self.run.reopening.add(task)
            task.add_done_callback(self.run.reopening.discard)
            return
        self.stats.errors += 1
        self.done.set_result(None)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ack_log = open(spec["ack_log"], "w") if spec.get("ack_log") else None  # noqa: SIM115
    try:
        shared = Run(spec, ack_log)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shared.stop)
        stats = shared.stats
        futures = []
        for _ in range(int(spec["connections"])):
            done: asyncio.Future[None] = loop.create_future()
            await shared.open(done)
            futures.append(done)
        # Answers still missing a minute after the deadline count as errors.
        bound = max(0.0, shared.deadline - time.perf_counter()) + 60
        _done, stuck = await asyncio.wait(futures, timeout=bound)
        stats.errors += len(stuck)
    finally:
        if ack_log is not None:
            ack_log.close()
    elapsed = (stats.last_done or time.perf_counter()) - shared.start
    ok = sum(n for code, n in stats.status.items() if 200 <= code < 300)
    lat = stats.latencies
    return {
        "requests": len(lat),
        "sent": stats.counter,
        "ok": ok,
        "status": {str(k): v for k, v in sorted(stats.status.items())},
        "errors": stats.errors,
        "lost_in_flight": stats.lost_in_flight,
        "reconnects": stats.reconnects,
        "connect_failures": stats.connect_failures,
        "elapsed": elapsed,
        "rps": ok / elapsed if elapsed else 0.0,
        "p50": percentile(lat, 50),
        "p90": percentile(lat, 90),
        "p99": percentile(lat, 99),
        "max": max(lat) if lat else float("nan"),
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
