"""``tocsin web``: serve ``tocsin.asgi:application`` with granian.

Why granian: on a 2-core machine (wrk, 256 connections, the same app) uvicorn served the status
page's summary.json at 11,000-14,500 req/s with a p99 of 1.1-1.3 s; granian serves it at
17,000-23,000 req/s with a p99 of 20-30 ms (``python -m bench.statuspage``). HTTP parsing and
connection handling run in granian's Rust runtime, on its own thread, so the event loop only
runs the application.

One web process (the default) runs granian's embedded server in this process's own uvloop event
loop: no supervisor process holding a second copy of Django (``tocsin serve`` is one web process
plus its worker, about 175 MiB idle; with granian's supervisor it was 253). ``--workers N`` (or
``TOCSIN_WEB_WORKERS``) > 1 runs granian's supervisor with N forked worker processes.

Options, as measured (README, "Serving"):

* task implementation ``asyncio``: granian's ``rust`` one had a better p99 on the status page
  (summary.json 26,000-27,000 req/s, p99 17-20 ms) but never resumed Django requests once they
  had awaited a thread (a suspended coroutine leaked per Django request, and a graceful stop
  waited for them until the grace period ended); the web process grew with traffic (193 MiB
  against 99 MiB after 20 s of ingestion);
* backpressure = backlog = 4096: granian's backpressure caps the *connections* a process
  accepts, not its requests; at 64 or 128, the other clients of a 256-connection run waited in
  the kernel's accept queue and were never served;
* HTTP/1.1 and HTTP/2 (``auto``): no measurable difference against HTTP/1.1 only;
* the garbage collector tuned (``_tune_gc``): its pauses were most of the p99.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import threading
from argparse import ArgumentParser
from types import FrameType
from typing import Any

import uvloop
from django.core.management.base import BaseCommand, CommandError
from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes, TaskImpl
from granian.log import LogLevels
from granian.server.embed import Server as EmbeddedServer
from granian.server.mp import MPServer

log = logging.getLogger("tocsin.web")

TARGET = "tocsin.asgi:application"
BACKLOG = 4096  # pending connections the kernel keeps for us (a burst of clients is queued)
# Connections a process serves at once (granian's "backpressure"); more wait, unanswered, in the
# accept queue. As many as the backlog: an outage brings thousands of keep-alive clients.
BACKPRESSURE = BACKLOG
TASK_IMPL = TaskImpl.asyncio
GC_THRESHOLDS = (10_000, 50, 100)  # see _tune_gc
GRACE_SECONDS = 10.0  # after a stop signal, how long requests in flight may take to finish

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_bind_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def exit_on_stop_signals() -> None:
    """Make SIGINT/SIGTERM end the process with SystemExit(0), so ``finally`` blocks run.

    While it serves, the web server handles both signals itself (a graceful stop, then
    ``run_web`` returns); outside of that, Python's default SIGTERM action would kill the
    process on the spot with no cleanup (``tocsin serve`` would orphan its worker).
    """
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _exit_cleanly)


def default_workers() -> int:
    """``TOCSIN_WEB_WORKERS`` (default 1): web server processes."""
    try:
        return max(1, int(os.environ.get("TOCSIN_WEB_WORKERS", "1")))
    except ValueError:
        return 1


def _log_level() -> LogLevels:
    """granian logs at Tocsin's level (``TOCSIN_LOG_LEVEL``), through Tocsin's handler."""
    name = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
    try:
        return LogLevels(name)
    except ValueError:
        return LogLevels.info


class _QuietExperimental(logging.Filter):
    """Drop granian's start-up notes that the embedded server is "experimental".

    Tocsin chose it knowingly (one process instead of two, see the module docstring) and the
    note would otherwise greet operators as a warning on every start.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


# granian's messages go to the root logger: Django's LOGGING (settings.py) formats them.
_LOGGING: dict[str, Any] = {
    "filters": {"quiet": {"()": _QuietExperimental}},
    "handlers": {},
    "loggers": {
        "_granian": {"filters": ["quiet"], "propagate": True},
        "granian.access": {"propagate": True},
    },
}


def run_web(*, host: str, port: int, workers: int | None = None) -> bool:
    """Serve the ASGI application (UI, API, ingestion) until SIGINT/SIGTERM.

    Returns True after a clean stop: requests in flight finished, the ingest writer committed
    what it had queued (ASGI lifespan shutdown, ``tocsin.asgi``). Returns False when requests
    were still running ``GRACE_SECONDS`` after the signal: the caller must then end the
    process with ``exit_now()`` once it has cleaned up (threads of those requests may wait
    forever on the stopped event loop, and a normal interpreter exit would wait for them).

    One process by default: the ingestion writer commits many requests at once, and SQLite has
    a single writer anyway. ``workers`` > 1 runs that many granian processes (each with its
    own group-commit writer), which can help on PostgreSQL with spare cores.
    """
    count = workers or default_workers()
    try:
        if count == 1:
            return _serve_embedded(host, port)
        _serve_processes(host, port, count)
        return True
    finally:
        exit_on_stop_signals()


def exit_now() -> None:
    """End the process at once (after ``run_web`` returned False), flushing logs first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _tune_gc() -> None:
    """Fewer, shorter garbage-collector pauses while serving (they were the p99 at load).

    ``gc.freeze()`` moves everything loaded so far (Django, the apps: hundreds of thousands of
    objects) out of the collector's sight, so a full collection no longer walks them; the
    higher first threshold collects the young generation after 10,000 allocations instead of
    700. With wrk at 256 connections, summary.json's p99 went from 27-185 ms to 14-24 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _server_options() -> dict[str, Any]:
    """What the embedded server and the supervisor share (see the module docstring)."""
    return {
        "interface": Interfaces.ASGI,
        "websockets": False,
        "backlog": BACKLOG,
        "backpressure": BACKPRESSURE,
        "task_impl": TASK_IMPL,
        "http": HTTPModes.auto,
        "log_level": _log_level(),
        "log_dictconfig": _LOGGING,
    }


def _serve_embedded(host: str, port: int) -> bool:
    from tocsin.asgi import application  # the apps in front of Django, and Django itself

    _tune_gc()
    server = EmbeddedServer(
        application,
        address=host,
        port=port,
        **_server_options(),
    )

    async def serve() -> bool:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        serving = asyncio.ensure_future(server.serve())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not serving.done():
                # Stop accepting, finish the requests in flight, then the lifespan shutdown.
                server.stop()  # type: ignore[no-untyped-call]
                await asyncio.wait({serving}, timeout=GRACE_SECONDS)
        finally:
            stopping.cancel()
            await asyncio.gather(stopping, return_exceptions=True)
            for sig in _STOP_SIGNALS:
                loop.remove_signal_handler(sig)
        if not serving.done():
            log.warning(
                "requests still running %.0f s after the stop signal: stopping without them",
                GRACE_SECONDS,
            )
            # The writer commits what it has queued; bounded, as a hung database must not hang us.
            closing = threading.Thread(target=application.close, daemon=True)
            closing.start()
            closing.join(GRACE_SECONDS)
            return False
        try:
            serving.result()
        except RuntimeError as exc:  # granian's start-up errors: "Address already in use ..."
            if "os error" not in str(exc):
                raise
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from None
        if server.interrupt_children:  # the server's task ended without being asked to
            raise SystemExit("the web server stopped unexpectedly (see the log above)")
        return True

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        clean = loop.run_until_complete(serve())
        if clean:
            loop.run_until_complete(loop.shutdown_default_executor())
        return clean
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _serve_processes(host: str, port: int, workers: int) -> None:
    from django.db import connections

    connections.close_all()  # worker processes are forked from this one: share no connection
    server = MPServer(
        TARGET,
        address=host,
        port=port,
        workers=workers,
        loop=Loops.uvloop,
        runtime_mode=RuntimeModes.st,  # one Rust thread per process: "mt" measured slower here
        workers_kill_timeout=int(GRACE_SECONDS),
        **_server_options(),
    )
    server.serve()  # handles SIGINT/SIGTERM itself: returns once the workers have stopped


class Command(BaseCommand):
    help = "Run the web server only (UI, API, ingestion endpoints)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_bind_arguments(parser)
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="web server processes (default: $TOCSIN_WEB_WORKERS or 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not run_web(host=options["host"], port=options["port"], workers=options["workers"]):
            exit_now()
