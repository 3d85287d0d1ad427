"""An HTTPS live server: the official PagerDuty client refuses any base URL but https://."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test.testcases import LiveServerThread, _StaticFilesHandler


@dataclass
class TLSServer:
    url: str
    ca_file: Path


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Make a certificate for ``localhost`` with the openssl command (skip if it is missing)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _tls_thread_class(context: ssl.SSLContext) -> type[LiveServerThread]:
    class TLSWSGIServer(ThreadedWSGIServer):
        # Join request threads on shutdown: they close the shared database connection.
        daemon_threads = False

        def get_request(self) -> tuple[socket.socket, Any]:
            sock, address = super().get_request()
            return context.wrap_socket(sock, server_side=True), address

    class TLSLiveServerThread(LiveServerThread):
        server_class = TLSWSGIServer

    return TLSLiveServerThread


@contextmanager
def tls_live_server(directory: Path) -> Iterator[TLSServer]:
    """Serve the project over HTTPS on localhost from a thread, as LiveServerTestCase does."""
    cert, key = self_signed_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # An in-memory SQLite test database is visible only through the test's own connection.
    shared: dict[str, BaseDatabaseWrapper] = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()  # type: ignore[attr-defined]
    }
    for conn in shared.values():
        conn.inc_thread_sharing()
    thread = _tls_thread_class(context)("localhost", _StaticFilesHandler, shared)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield TLSServer(url=f"https://localhost:{thread.port}", ca_file=cert)
    finally:
        thread.terminate()
        thread.join()
        for conn in shared.values():
            conn.dec_thread_sharing()
