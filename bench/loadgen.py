"""A small HTTP/1.1 keep-alive load generator (asyncio + uvloop, raw sockets).

Run as its own process: ``python -m bench.loadgen '<json spec>'`` prints one JSON result.
Each connection sends a request, waits for the whole response, then sends the next one, until
the deadline; requests in flight at the deadline are waited for (not dropped), so the count
of 2xx answers is exact and can be checked against the database.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any, cast

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


def make_generator(spec: dict[str, Any]) -> Callable[[int], bytes]:
    kind = spec["kind"]
    prefix = spec.get("prefix", "k")
    if kind == "unique":
        return lambda n: pd_event(spec["routing_key"], f"{prefix}-{n}", n)
    if kind == "hot":
        keys = int(spec.get("hot_keys", 1000))
        return lambda n: pd_event(spec["routing_key"], f"{prefix}-hot-{n % keys}", n)
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


class Connection(asyncio.Protocol):
    def __init__(
        self,
        make: Callable[[int], bytes],
        stats: Stats,
        deadline: float,
        done: asyncio.Future[None],
    ) -> None:
        self.make = make
        self.stats = stats
        self.deadline = deadline
        self.done = done
        self.buf = bytearray()
        self.started = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.send_next()

    def send_next(self) -> None:
        assert self.transport is not None
        now = time.perf_counter()
        if now >= self.deadline:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        n = self.stats.counter
        self.stats.counter += 1
        self.buf.clear()
        self.started = now
        self.transport.write(self.make(n))

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
        self.stats.latencies.append((now - self.started) * 1000)
        self.stats.status[int(self.buf[9:12])] += 1
        self.stats.last_done = now
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.stats.errors += 1
            self.done.set_result(None)


def _same(protocol: Connection) -> Connection:
    return protocol


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    make = make_generator(spec)
    start = time.perf_counter()
    deadline = start + float(spec["duration"])
    futures = []
    for _ in range(int(spec["connections"])):
        done: asyncio.Future[None] = loop.create_future()
        protocol = Connection(make, stats, deadline, done)
        await loop.create_connection(partial(_same, protocol), "127.0.0.1", int(spec["port"]))
        futures.append(done)
    # Answers still missing a minute after the deadline count as errors.
    _done, stuck = await asyncio.wait(futures, timeout=float(spec["duration"]) + 60)
    stats.errors += len(stuck)
    elapsed = (stats.last_done or time.perf_counter()) - start
    ok = sum(n for code, n in stats.status.items() if 200 <= code < 300)
    lat = stats.latencies
    return {
        "requests": len(lat),
        "ok": ok,
        "status": {str(k): v for k, v in sorted(stats.status.items())},
        "errors": stats.errors,
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
