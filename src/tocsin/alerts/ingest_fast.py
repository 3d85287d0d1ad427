"""The lean ingestion path: a raw ASGI app in front of Django, and a group-commit writer.

Why: under Django's ASGI handler every sync view runs in one thread, one request at a time,
each with its own durable commit (an fsync on SQLite with ``synchronous=FULL``). That caps
ingestion at a few hundred alerts a second on a small machine. This module keeps the contract
of DESIGN rule 6 -- an accepted alert is committed before the 2xx -- and changes only how the
work is scheduled:

* ``IngestApp`` answers the ingestion paths (``/integrations/*``, ``/v2/enqueue``,
  ``/v2/change/enqueue``) itself, with the same parsers, the same services and the same reply
  bodies as the Django views (``tocsin.alerts.replies``); every other request goes to Django.
* ``GroupCommitWriter`` is one thread owning one database connection. Request handlers parse
  on the event loop, enqueue the parsed alerts with a future and await it. The writer takes
  everything queued (up to ``max_batch`` alerts), applies it in ONE transaction with
  ``services.alerts_ingest_prepared`` and resolves the futures only after COMMIT. While one commit
  is in flight the next batch collects, so a batch goes out as soon as the previous one is
  durable (well under 2 ms apart under load) and nothing waits on a timer when idle.
* A failed batch is rolled back and replayed item by item, so only the items that fail
  themselves get an error (503 / 429, as the Django views answer).
* The queue is bounded (``capacity`` alerts): when full the request is answered at once with
  503 + Retry-After (Alertmanager, Grafana, webhook) or 429 (PagerDuty), never queued.

Switch it off with ``TOCSIN_FAST_INGEST=0`` (then Django serves the ingestion paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http.request import split_domain_port, validate_host
from django.utils import timezone

from tocsin.alerts import replies, selectors, services
from tocsin.alerts.models import Integration
from tocsin.alerts.services import IngestItem, IngestResult
from tocsin.alerts.sources import PARSERS
from tocsin.alerts.sources.base import ParseError
from tocsin.alerts.sources.pagerduty import parser as pagerduty
from tocsin.alerts.views import grafana_signature_ok
from tocsin.dbwrite import atomic_polling

log = logging.getLogger("tocsin.alerts")

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BATCH = 1000  # alerts per transaction
CAPACITY = 20_000  # alerts queued or in flight; past it, new requests are refused at once
CACHE_SECONDS = 2.0  # how long a looked-up integration is reused


class Overloaded(Exception):
    """The writer's queue is full: answer "retry later" without queueing."""


@dataclass
class _Failure:
    error: BaseException


@dataclass
class _Job:
    """One request's work: an ingest item, or a callable (change events)."""

    item: IngestItem | None
    call: Callable[[], object] | None
    size: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _settle(pairs: list[tuple[asyncio.Future[Any], object]]) -> None:
    for future, outcome in pairs:
        if future.done():  # the request was cancelled (client gone)
            continue
        if isinstance(outcome, _Failure):
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome)


class GroupCommitWriter:
    """One thread, one connection: many requests' alerts per transaction (group commit)."""

    def __init__(self, *, max_batch: int = MAX_BATCH, capacity: int = CAPACITY) -> None:
        self.max_batch = max_batch
        self.capacity = capacity
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self.batches = 0  # counters, for tests and diagnostics
        self.items = 0

    # ---- request side (event loop thread) ----

    def _submit(
        self, item: IngestItem | None, call: Callable[[], object] | None, size: int
    ) -> asyncio.Future[Any]:
        with self._lock:
            if self._pending and self._pending + size > self.capacity:
                raise Overloaded
            self._pending += size
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tocsin-ingest-writer", daemon=True
                )
                self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Job(item=item, call=call, size=size, loop=loop, future=future))
        return future

    async def ingest(self, item: IngestItem) -> IngestResult:
        """Store one delivery's alerts; returns after the COMMIT that made them durable."""
        result: IngestResult = await self._submit(item, None, max(1, len(item.alerts)))
        return result

    async def call(self, function: Callable[[], object]) -> object:
        """Run ``function`` in the writer's transaction (rare writes such as change events)."""
        return await self._submit(None, function, 1)

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    # ---- writer thread ----

    def _run(self) -> None:
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                batch, size, stop = [job], job.size, False
                while size < self.max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                    size += more.size
                self._write(batch)
                if stop:
                    return
        finally:
            connection.close()

    def _apply(self, batch: list[_Job]) -> list[object]:
        """Apply a batch in one transaction; on SQLite the write lock is polled for every
        0.5 ms (``tocsin.dbwrite``), not waited for in SQLite's 1-100 ms busy handler, which
        would make every request of the batch wait for nothing when the worker just let go.
        What writes nothing (ids, JSON, severities) is computed before: the lock is held for
        the writes only (measured: a third of the transaction's time)."""
        prepared = services.alerts_prepare([job.item for job in batch if job.item is not None])

        def work() -> list[object]:
            results = iter(services.alerts_ingest_prepared(prepared) if prepared else [])
            return [next(results) if job.call is None else job.call() for job in batch]

        return atomic_polling(work, dedicated=True)

    def _apply_alone(self, job: _Job) -> object:
        try:
            return self._apply([job])[0]
        except Exception as exc:
            self._after_error(exc)
            return _Failure(exc)

    def _after_error(self, exc: Exception) -> None:
        if isinstance(exc, DatabaseError):
            log.warning("ingest batch failed on the database: %s", exc)
            connection.close()  # reconnect on the next batch (server restart, broken socket)
        else:
            log.exception("ingest batch failed")

    def _write(self, batch: list[_Job]) -> None:
        outcomes: list[object]
        try:
            outcomes = self._apply(batch)
        except Exception as exc:
            self._after_error(exc)
            # Replay one by one: only the items that fail on their own get an error.
            outcomes = [_Failure(exc)] if len(batch) == 1 else [self._apply_alone(j) for j in batch]
        self.batches += 1
        self.items += len(batch)
        with self._lock:
            self._pending -= sum(job.size for job in batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], object]]] = {}
        for job, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, outcome))
        for loop, pairs in by_loop.items():
            # A closed loop (RuntimeError) has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, pairs)


class IntegrationCache:
    """Integrations by (kind, key), reused for ``seconds``; looked up off the event loop.

    Only hits are kept, so a new integration works at once; an edited or deleted one is seen
    within ``seconds`` (an alert for a just-deleted integration then fails its foreign key and
    is answered "retry later", never stored).
    """

    def __init__(self, *, seconds: float = CACHE_SECONDS, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[tuple[str, str], tuple[Integration, float]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tocsin-lookup")

    @staticmethod
    def _load(kind: str, key: str) -> Integration | None:
        try:
            return selectors.integration_for(kind=kind, key=key)
        except DatabaseError:
            connection.close()
            raise

    async def get(self, kind: str, key: str) -> Integration | None:
        now = time.monotonic()
        entry = self._entries.get((kind, key))
        if entry is not None and entry[1] > now:
            return entry[0]
        loop = asyncio.get_running_loop()
        integration = await loop.run_in_executor(self._executor, self._load, kind, key)
        if integration is not None:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[(kind, key)] = (integration, now + self.seconds)
        return integration

    def close(self) -> None:
        def _close() -> None:
            connection.close()

        self._executor.submit(_close).result()
        self._executor.shutdown()


# ---- the ASGI app -------------------------------------------------------------------------

_ALERT_SOURCE = re.compile(r"^/integrations/(alertmanager|grafana|webhook)/([^/]+)/?$")
_PD_EVENT = re.compile(r"^/v2/enqueue/?$")
_PD_CHANGE = re.compile(r"^/v2/change/enqueue/?$")

# What Django's middleware adds to every answer (SecurityMiddleware, XFrameOptionsMiddleware).
_COMMON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class _Disconnected(Exception):
    pass


class _Request:
    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.headers: dict[str, str] = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    async def body(self) -> bytes | None:
        """The body, or None past ``MAX_ALERT_BODY_BYTES`` (by Content-Length, then as read)."""
        limit: int = settings.MAX_ALERT_BODY_BYTES
        try:
            declared = int(self.header("content-length") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def host_allowed(self) -> bool:
        allowed: list[str] = settings.ALLOWED_HOSTS
        if "*" in allowed:
            return True
        domain, _port = split_domain_port(self.header("host"))
        return bool(domain) and validate_host(domain, allowed)


class IngestApp:
    """Serve the ingestion paths with the group-commit writer; pass the rest to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        writer: GroupCommitWriter | None = None,
        integrations: IntegrationCache | None = None,
    ) -> None:
        self.app = app
        self.writer = writer or GroupCommitWriter()
        self.integrations = integrations or IntegrationCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        handler: Callable[[_Request], Awaitable[replies.Reply]]
        match = _ALERT_SOURCE.match(path)
        if match is not None:
            kind, key = match.group(1), match.group(2)

            async def handler(request: _Request) -> replies.Reply:
                return await self._receive(request, kind=kind, key=key)

            methods: tuple[str, ...] = ("POST", "PUT") if kind == "grafana" else ("POST",)
        elif _PD_EVENT.match(path):
            handler, methods = self._pd_event, ("POST",)
        elif _PD_CHANGE.match(path):
            handler, methods = self._pd_change, ("POST",)
        else:
            await self.app(scope, receive, send)
            return
        request = _Request(scope, receive)
        if not request.host_allowed():
            reply = replies.error(400, "Invalid HTTP_HOST header")
        elif request.method not in methods:
            reply = replies.method_not_allowed(request.method, methods)
        else:
            try:
                reply = await handler(request)
            except _Disconnected:
                return
        await _send(send, reply)

    def close(self) -> None:
        self.writer.close()
        self.integrations.close()

    async def _receive(self, request: _Request, *, kind: str, key: str) -> replies.Reply:
        """Alertmanager-style senders: Alertmanager, Grafana, generic webhook."""
        received = timezone.now()
        body = await request.body()
        if body is None:
            return replies.too_large()
        try:
            integration = await self.integrations.get(kind, key)
        except DatabaseError:
            log.exception("%s ingest failed on the database", kind)
            return replies.unavailable()
        if integration is None:
            return replies.unknown_key(kind)
        if kind == Integration.Kind.GRAFANA and not grafana_signature_ok(
            request.header, integration, body
        ):
            return replies.bad_signature()
        try:
            alerts = PARSERS[kind](body, config=integration.config or {})
        except ParseError as exc:
            return replies.error(400, exc.message, exc.errors)
        try:
            result = await self.writer.ingest(
                IngestItem(integration=integration, alerts=alerts, now=received)
            )
        except Overloaded:
            return replies.unavailable()
        except DatabaseError:
            log.exception("%s ingest failed on the database", kind)
            return replies.unavailable()
        return replies.accepted(result)

    async def _pd_event(self, request: _Request) -> replies.Reply:
        received = timezone.now()
        body = await request.body()
        if body is None:
            return replies.pd_too_large()
        try:
            event = pagerduty.parse_event(body)
        except ParseError as exc:
            return replies.pd_parse_error(exc)
        try:
            integration = await self.integrations.get(Integration.Kind.PAGERDUTY, event.routing_key)
            if integration is None:
                return replies.pd_unknown_key()
            # An acknowledge is the alert with ``acknowledge`` set: alerts_ingest applies it as
            # alerts_acknowledge does; a resolve for an unknown key is accepted and ignored.
            await self.writer.ingest(
                IngestItem(integration=integration, alerts=[event.alert], now=received)
            )
        except Overloaded:
            return replies.pd_busy()
        except DatabaseError:
            log.exception("pagerduty ingest failed on the database")
            return replies.pd_busy()
        return replies.pd_accepted(event.dedup_key)

    async def _pd_change(self, request: _Request) -> replies.Reply:
        body = await request.body()
        if body is None:
            return replies.pd_too_large()
        try:
            change = pagerduty.parse_change(body)
        except ParseError as exc:
            return replies.pd_parse_error(exc)
        try:
            integration = await self.integrations.get(
                Integration.Kind.PAGERDUTY, change.routing_key
            )
            if integration is None:
                return replies.pd_unknown_key()

            def record() -> object:
                assert integration is not None
                return services.change_event_record(
                    integration=integration,
                    summary=change.summary,
                    source=change.source,
                    happened_at=change.timestamp,
                    links=change.links,
                    details=change.details,
                )

            await self.writer.call(record)
        except Overloaded:
            return replies.pd_busy()
        except DatabaseError:
            log.exception("pagerduty change event failed on the database")
            return replies.pd_busy()
        return replies.pd_change_accepted()


async def _send(send: Send, reply: replies.Reply) -> None:
    content = reply.content()
    headers = [
        *_COMMON_HEADERS,
        (b"content-length", str(len(content)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in reply.headers.items()),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
