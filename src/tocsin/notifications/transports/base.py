"""The contract every channel implements."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

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


def check_outbound(url: str) -> None:
    """Refuse URLs that point at loopback or private networks, unless the operator allows it.

    Webhook and chat URLs are written by users; without this guard they could make the server
    call its own admin ports or cloud metadata endpoints (SSRF).
    """
    if settings.ALLOW_PRIVATE_NETWORKS:
        return
    host = urlsplit(url).hostname
    if not host:
        return  # not a network URL (e.g. an apprise scheme without a host)
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise TransportError(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise TransportError(
                f"{host} resolves to non-public address {address}; "
                "set TOCSIN_ALLOW_PRIVATE_NETWORKS=1 to allow it",
                permanent=True,
            )
