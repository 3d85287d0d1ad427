"""The contract every channel implements."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from socket import AF_INET, AF_INET6
from typing import Any, Protocol

from django.conf import settings


class TransportError(Exception):
    """Sending failed. ``permanent``: retrying will not help (bad address, 4xx)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass
class Message:
    subject: str
    text: str
    html: str = ""
    thread_id: str = ""  # one thread per incident (e-mail References, chat thread)
    data: dict[str, Any] = field(default_factory=dict)  # the webhook JSON body


class Transport(Protocol):
    def send(self, target: str, message: Message) -> None:
        """Send ``message`` to ``target``; raise TransportError on failure."""


# ---- the outbound guard -------------------------------------------------------------------
#
# Webhook and chat URLs are written by users; unguarded they could make the server call its own
# admin ports, the local network or a cloud metadata endpoint (SSRF). The guard checks the
# address each connection is actually made to, not the URL: an apprise URL's "host" is often a
# token (slack://T000/B000/XXX goes to hooks.slack.com), a name can resolve differently a moment
# later, and a library may follow a redirect. The guard is a context variable, so it follows
# the send into the threads that apprise runs services in (it copies the caller's context).


@dataclass
class _Guard:
    refused: str = ""


_guard: ContextVar[_Guard | None] = ContextVar("tocsin_outbound_guard", default=None)
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _refusal(sock: socket.socket, address: Any) -> str:
    """Why this connection must not be made ("" when it may)."""
    guard = _guard.get()
    if guard is None or sock.family not in (AF_INET, AF_INET6):
        return ""
    try:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    except ValueError:
        return ""  # not an address (cannot happen for INET sockets; let connect() say so)
    if ip.is_global:
        return ""
    guard.refused = f"{ip} is not a public address"
    return guard.refused


def _guarded_connect(sock: socket.socket, address: Any) -> None:
    refusal = _refusal(sock, address)
    if refusal:
        raise ConnectionRefusedError(f"outbound guard: {refusal}")
    _connect(sock, address)


def _guarded_connect_ex(sock: socket.socket, address: Any) -> int:
    if _refusal(sock, address):
        return errno.ECONNREFUSED
    return _connect_ex(sock, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]


@contextmanager
def outbound_guard(what: str) -> Iterator[None]:
    """Inside (and in the threads started with its context), connections go to public
    addresses only, unless the operator allows private networks
    (``TOCSIN_ALLOW_PRIVATE_NETWORKS``). A refused connection ends as a permanent
    ``TransportError`` whatever the library made of it (a connection error, a "not delivered"
    result): retrying would be refused again."""
    if settings.ALLOW_PRIVATE_NETWORKS:
        yield
        return
    guard = _Guard()
    token = _guard.set(guard)
    try:
        yield
    except Exception as exc:
        # A send that failed after a refusal failed because of it (apprise only says "not
        # delivered"). One that succeeded reached a public address of the name: it stands.
        if guard.refused:
            raise _refused(what, guard) from exc
        raise
    finally:
        _guard.reset(token)


def _refused(what: str, guard: _Guard) -> TransportError:
    return TransportError(
        f"{what}: {guard.refused}; set TOCSIN_ALLOW_PRIVATE_NETWORKS=1 to allow it",
        permanent=True,
    )
