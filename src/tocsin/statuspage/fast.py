"""The lean read path: a raw ASGI app that serves the status page snapshot from memory.

Django's ASGI handler costs a thread hop and a middleware chain per request, which caps a
small machine at a few thousand requests a second. The status page is read far more than it
changes (an outage sends every customer, every browser tab and every monitoring bot to it at
once), so GET/HEAD of a snapshot file is answered here from bytes already in memory; anything
else (the subscribe form, unsubscribe links, unknown paths) goes to Django.

The snapshot build id is re-read by a background thread once per ``CHECK_SECONDS``; a request
never waits on the database, and a database outage leaves the last good snapshot served.
Wire it with ``application = StatusPageApp(application)`` in ``tocsin/asgi.py``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.http.request import split_domain_port, validate_host

from tocsin.statuspage import serving
from tocsin.statuspage.snapshot import CHECK_SECONDS, Site, cache

log = logging.getLogger("tocsin.statuspage")

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/status/"


class Refresher:
    """A daemon thread that keeps ``cache`` current (its own database connection)."""

    def __init__(self, interval: float = CHECK_SECONDS) -> None:
        self.interval = interval
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def ensure(self) -> None:
        if self.thread is not None:
            return
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="statuspage", daemon=True)
                self.thread.start()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    close_old_connections()
                    cache.refresh()
                except Exception:  # never let the thread die: the page must keep being served
                    log.exception("status page refresh failed")
                self.stop.wait(self.interval)
        finally:
            connection.close()  # this thread's own connection

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (if it was started) and wait for it to close its connection."""
        self.stop.set()
        thread = self.thread
        if thread is not None:
            thread.join(timeout)


class StatusPageApp:
    """Serve snapshot files under /status/ with GET/HEAD; pass everything else to ``app``."""

    def __init__(self, app: ASGIApp, *, refresher: Refresher | None = None) -> None:
        self.app = app
        self.refresher = refresher or Refresher()
        self._headers: dict[tuple[str, bool], list[tuple[bytes, bytes]]] = {}
        self._headers_build = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        self.refresher.ensure()
        site = cache.site
        path = scope["path"][len(PREFIX) :]
        file = site.get(path) if site is not None else None
        # One pass over the request headers (this runs for every page view of an outage).
        host = accept = if_none_match = if_modified_since = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"accept-encoding":
                accept = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"if-modified-since":
                if_modified_since = value
        if site is None or file is None or (host is not None and not _host_ok(host)):
            await self.app(scope, receive, send)  # first request, 404s and bad hosts: Django
            return
        body, gzipped = file.body, False
        if file.gzip is not None and accept is not None and _accepts_gzip(accept):
            body, gzipped = file.gzip, True
        if (if_none_match or if_modified_since) and serving.not_modified(
            site,
            file,
            (if_none_match or b"").decode("latin-1"),
            (if_modified_since or b"").decode("latin-1"),
        ):
            headers = [
                h
                for h in self._encoded(site, path, file, body, gzipped)
                if h[0] not in (b"content-type", b"content-length", b"content-encoding")
            ]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = self._encoded(site, path, file, body, gzipped)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    def close(self) -> None:
        """Stop the refresher thread (at server shutdown, see ``tocsin.asgi``)."""
        self.refresher.close()

    def _encoded(
        self, site: Site, path: str, file: Any, body: bytes, gzipped: bool
    ) -> list[tuple[bytes, bytes]]:
        """Response headers, encoded once per build, path and representation."""
        if self._headers_build != site.build:
            self._headers, self._headers_build = {}, site.build
        key = (path, gzipped)
        cached = self._headers.get(key)
        if cached is None:
            pairs = serving.headers(site, file, is_api=path.startswith("api/"), gzipped=gzipped)
            pairs.append(("Content-Length", str(len(body))))
            cached = [(k.lower().encode(), v.encode("latin-1")) for k, v in pairs]
            self._headers[key] = cached
        return cached


_HOSTS: dict[bytes, bool] = {}


def _host_ok(value: bytes) -> bool:
    """Django's ALLOWED_HOSTS check, remembered per Host value (a bad host goes to Django)."""
    ok = _HOSTS.get(value)
    if ok is None:
        domain, _port = split_domain_port(value.decode("latin-1"))
        ok = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
        if len(_HOSTS) < 1000:
            _HOSTS[value] = ok
    return ok


_GZIP: dict[bytes, bool] = {}


def _accepts_gzip(value: bytes) -> bool:
    """``serving.accepts_gzip``, remembered per Accept-Encoding value (browsers send a few)."""
    ok = _GZIP.get(value)
    if ok is None:
        ok = serving.accepts_gzip(value.decode("latin-1"))
        if len(_GZIP) < 1000:
            _GZIP[value] = ok
    return ok
