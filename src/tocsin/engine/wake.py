"""Wake sleeping workers when new work commits, on SQLite too.

PostgreSQL workers LISTEN for a NOTIFY sent inside the committing transaction. SQLite has no
such thing, so each SQLite worker binds a Unix datagram socket in ``<data dir>/wake/`` and
whoever commits new work (alert ingestion, a web request scheduling a timer) sends one byte to
every socket there after the commit. A lost datagram costs nothing but latency: workers still
poll (``POLL_SECONDS``), so correctness never depends on a wake-up arriving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

log = logging.getLogger("tocsin.worker")

CHANNEL = "tocsin_work"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin


def wake_dir() -> Path:
    return Path(settings.DATA_DIR) / "wake"


class _Sender:
    """Sends wake-ups to the sockets in the wake directory (listed again when it changes)."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.paths: list[str] = []
        self.listed: tuple[str, int] | None = None  # (directory, mtime) of the listing

    def _targets(self) -> list[str]:
        directory = wake_dir()
        try:
            stamp = (str(directory), directory.stat().st_mtime_ns)
        except FileNotFoundError:
            return []
        if stamp != self.listed:
            try:
                self.paths = [str(directory / n) for n in os.listdir(directory)]
            except FileNotFoundError:
                self.paths = []
            self.listed = stamp
        return self.paths

    def send(self) -> None:
        targets = self._targets()
        if not targets:
            return
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.setblocking(False)
        for path in targets:
            try:
                self.sock.sendto(b"!", path)
            except BlockingIOError:
                pass  # its queue is full: it has wake-ups pending already
            except (ConnectionRefusedError, FileNotFoundError):
                pass  # a worker died without removing its socket: the next one sweeps it
            except OSError as exc:  # never let a wake-up break the caller
                log.debug("wake-up to %s failed: %s", path, exc)


_sender = _Sender()


def _send_after_commit() -> None:
    _sender.send()


def wake_workers() -> None:
    """Wake sleeping workers once the current transaction commits (at once outside one)."""
    if connection.vendor == "postgresql":
        # NOTIFY is transactional (delivered at commit, dropped on rollback) and PostgreSQL
        # folds identical notifications of one transaction into one.
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")
        return
    if not connection.in_atomic_block:
        _sender.send()
        return
    # One wake-up per transaction, however many timers it schedules.
    if not any(entry[1] is _send_after_commit for entry in connection.run_on_commit):
        transaction.on_commit(_send_after_commit, robust=True)


class WakeSocket:
    """A worker's end: a Unix datagram socket in the wake directory (removed on close)."""

    def __init__(self) -> None:
        directory = wake_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{socket.gethostname()}-{os.getpid()}.sock"
        if len(str(path)) > _MAX_SOCKET_PATH:
            raise OSError(f"wake socket path too long for a Unix socket: {path}")
        self._sweep(directory)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)

    @staticmethod
    def _sweep(directory: Path) -> None:
        """Remove sockets of workers that died without closing theirs (nobody answers)."""
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        probe.setblocking(False)
        try:
            for entry in directory.iterdir():
                try:
                    probe.sendto(b"!", str(entry))
                except ConnectionRefusedError:
                    with contextlib.suppress(FileNotFoundError):
                        entry.unlink()
                except OSError:
                    pass
        finally:
            probe.close()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a wake-up; True when one came. Drains the queue."""
        ready, _, _ = select.select([self.sock], [], [], max(seconds, 0.0))
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while self.sock.recv(64):
                pass
        return True

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
