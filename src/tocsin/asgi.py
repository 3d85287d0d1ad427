"""ASGI entry point: ``tocsin.asgi:application``, served by granian (``tocsin web``).

Two lean ASGI apps sit in front of Django, each taking only its own paths and passing the rest
on: the ingestion endpoints with group commit (``tocsin.alerts.ingest_fast``;
``TOCSIN_FAST_INGEST=0`` hands them back to Django's views), and GET/HEAD of the public status
page, served from the in-memory snapshot (``tocsin.statuspage.fast``).

Outermost, ``Lifespan`` answers the ASGI ``lifespan`` scope (Django's handler refuses it): at
start-up there is nothing to do; at shutdown it waits for the requests still running (a
request whose client has gone can still be running a view in a thread), then stops the ingest
writer (what it has queued is committed first) and the status page refresher, and closes their
database connections.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
django_application = get_asgi_application()

log = logging.getLogger("tocsin.web")

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _fast_ingest_enabled() -> bool:
    return os.environ.get("TOCSIN_FAST_INGEST", "1").strip().lower() not in {"0", "false", "no"}


class Lifespan:
    """Answer ``lifespan`` scopes; pass every other scope to ``app``, counting those running.

    ``close()`` runs the ``closers`` once (the lifespan shutdown, or ``tocsin web`` itself when
    requests were still running at the end of its grace period).
    """

    def __init__(self, app: ASGIApp, *, closers: list[Callable[[], None]]) -> None:
        self.app = app
        self.closers = closers
        self.running = 0
        self._idle: asyncio.Event | None = None
        self._closed = False
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            self.running += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.running -= 1
                if self._idle is not None and not self.running:
                    self._idle.set()
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.running:  # the server bounds the whole shutdown (tocsin web: 10 s)
                    self._idle = asyncio.Event()
                    await self._idle.wait()
                try:
                    # Joins threads (the writer commits what is queued): not on the event loop.
                    await asyncio.get_running_loop().run_in_executor(None, self.close)
                except Exception as exc:
                    log.exception("shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for close in self.closers:
            close()


from tocsin.alerts.ingest_fast import IngestApp  # noqa: E402 (needs Django set up)
from tocsin.statuspage.fast import StatusPageApp  # noqa: E402

inner: Any = IngestApp(django_application) if _fast_ingest_enabled() else django_application
status_page = StatusPageApp(inner)
application = Lifespan(
    status_page,
    closers=[*([inner.close] if isinstance(inner, IngestApp) else []), status_page.close],
)
